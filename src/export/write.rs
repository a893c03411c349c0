//! Writing exports and checkpoint notes atomically into a private place (R15, R21).
//!
//! A temporary file in the target's directory (created exclusively, mode 0600, never through
//! a symbolic link) receives the bytes and is synced, then renamed over the target, then the
//! directory is synced. Readers see the old file or the new one, never a mix; a crash leaves at
//! most a `.NAME.XXXXXXXX.tmp` file, never a partial NAME. The directory must not be writable
//! by group or others (anyone who can write there could replace the transcript) and must belong
//! to this user or to root.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::journal::fsync_dir;

use super::ExportError;

/// Mode of every export and checkpoint file.
pub const EXPORT_MODE: u32 = 0o600;

/// Defines functions for failpoints that, configured to `return`, fail the write as a disk
/// error would, and configured to `panic`, stop it as a crash would (active only with the
/// `failpoints` feature).
macro_rules! io_failpoints {
    ($($fn_name:ident => $name:literal),* $(,)?) => {$(
        fn $fn_name() -> io::Result<()> {
            fail::fail_point!($name, |_| Err(io::Error::other(concat!(
                "injected failure at failpoint ",
                $name
            ))));
            Ok(())
        }
    )*};
}

io_failpoints! {
    fp_after_write => "export::after_write",
    fp_before_rename => "export::before_rename",
    fp_after_rename => "export::after_rename",
}

fn io_error(op: &'static str, path: &Path, source: io::Error) -> ExportError {
    ExportError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `dir` is a directory that only this user (or root) can change.
pub fn check_directory(dir: &Path) -> Result<(), ExportError> {
    let meta = fs::metadata(dir).map_err(|e| io_error("inspect the directory", dir, e))?;
    if !meta.is_dir() {
        return Err(ExportError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ExportError::UnsafeDirectory {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(ExportError::ForeignDirectory {
            dir: dir.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    Ok(())
}

/// The points of an atomic write where a failure or crash can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The bytes are written to the temporary file, not yet synced.
    AfterWrite,
    /// The temporary file is synced, not yet renamed.
    BeforeRename,
    /// The rename is done, the directory not yet synced.
    AfterRename,
}

/// The failpoints, by stage.
fn failpoint(stage: Stage) -> io::Result<()> {
    match stage {
        Stage::AfterWrite => fp_after_write(),
        Stage::BeforeRename => fp_before_rename(),
        Stage::AfterRename => fp_after_rename(),
    }
}

/// Replaces (or creates) the file at `path` with `bytes`, atomically and with mode 0600.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<PathBuf, ExportError> {
    write_staged(path, bytes, &mut failpoint)
}

/// [`write_private`] with `hook` called at each [`Stage`]; an error from it fails the write
/// there, a panic in it stops the write there as a crash would.
pub(crate) fn write_staged(
    path: &Path,
    bytes: &[u8],
    hook: &mut dyn FnMut(Stage) -> io::Result<()>,
) -> Result<PathBuf, ExportError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ExportError::NotAFile {
            path: path.to_path_buf(),
        })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    check_directory(&dir)?;
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => {
            return Err(ExportError::NotAFile {
                path: path.to_path_buf(),
            });
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error("inspect", path, e)),
    }
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.{:08x}.tmp", rand::random::<u32>()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(EXPORT_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(|e| io_error("create", &tmp, e))?;
    let staged = file
        .set_permissions(fs::Permissions::from_mode(EXPORT_MODE))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| hook(Stage::AfterWrite))
        .and_then(|()| file.sync_all())
        .and_then(|()| hook(Stage::BeforeRename));
    drop(file);
    if let Err(e) = staged.and_then(|()| fs::rename(&tmp, &target)) {
        // Best effort: the temporary file is garbage either way and never mistaken for the
        // target, whose old content (if any) is untouched.
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", &target, e));
    }
    hook(Stage::AfterRename).map_err(|e| io_error("write", &target, e))?;
    fsync_dir(&dir)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private_dir() -> tempfile::TempDir {
        let tmp = tempfile::tempdir().unwrap();
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o700)).unwrap();
        tmp
    }

    #[test]
    fn replaces_the_whole_file_with_mode_0600_and_leaves_no_temporaries() {
        let tmp = private_dir();
        let path = tmp.path().join("t.md");
        write_private(&path, b"first version, longer").unwrap();
        write_private(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("t.md")]);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_crash_or_failure_at_any_stage_leaves_the_old_file_or_the_new_one() {
        let stages = [Stage::AfterWrite, Stage::BeforeRename, Stage::AfterRename];
        for stage in stages {
            for had_old in [true, false] {
                let tmp = private_dir();
                let path = tmp.path().join("t.md");
                if had_old {
                    write_private(&path, b"old transcript").unwrap();
                }
                let new = b"new transcript, a longer one".to_vec();
                // A crash: the write stops at `stage` without any cleanup.
                let crashed = std::panic::catch_unwind(|| {
                    write_staged(&path, &new, &mut |s| {
                        if s == stage {
                            panic!("simulated crash at {s:?}");
                        }
                        Ok(())
                    })
                });
                assert!(crashed.is_err());
                let now = fs::read(&path).ok();
                if stage == Stage::AfterRename {
                    assert_eq!(now.as_deref(), Some(&new[..]), "{stage:?}");
                } else if had_old {
                    assert_eq!(now.as_deref(), Some(&b"old transcript"[..]), "{stage:?}");
                } else {
                    assert_eq!(now, None, "{stage:?}");
                }
                for name in names(tmp.path()).into_iter().filter(|n| n != "t.md") {
                    assert!(
                        name.starts_with(".t.md.") && name.ends_with(".tmp"),
                        "{stage:?}: stray {name}"
                    );
                }
                // A failure: reported, the temporary file removed, the target as before.
                let tmp = private_dir();
                let path = tmp.path().join("t.md");
                if had_old {
                    write_private(&path, b"old transcript").unwrap();
                }
                let err = write_staged(&path, &new, &mut |s| {
                    if s == stage {
                        Err(io::Error::other("injected"))
                    } else {
                        Ok(())
                    }
                })
                .unwrap_err();
                assert!(err.to_string().contains("injected"), "{err}");
                let now = fs::read(&path).ok();
                if stage == Stage::AfterRename {
                    assert_eq!(now.as_deref(), Some(&new[..]), "{stage:?}");
                } else if had_old {
                    assert_eq!(now.as_deref(), Some(&b"old transcript"[..]), "{stage:?}");
                } else {
                    assert_eq!(now, None, "{stage:?}");
                }
                let expected: Vec<String> = if now.is_some() {
                    vec!["t.md".into()]
                } else {
                    vec![]
                };
                assert_eq!(names(tmp.path()), expected, "{stage:?}");
            }
        }
    }

    #[test]
    fn refuses_open_directories_and_odd_targets() {
        let tmp = private_dir();
        for mode in [0o770, 0o702, 0o777, 0o1777] {
            let dir = tmp.path().join(format!("d{mode:o}"));
            fs::create_dir(&dir).unwrap();
            fs::set_permissions(&dir, fs::Permissions::from_mode(mode)).unwrap();
            let err = write_private(&dir.join("t.md"), b"x").unwrap_err();
            assert!(
                matches!(err, ExportError::UnsafeDirectory { .. }),
                "{mode:o}: {err}"
            );
            assert!(
                err.to_string().contains("writable by group or others"),
                "{err}"
            );
            assert!(!dir.join("t.md").exists());
        }
        let sub = tmp.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let err = write_private(&sub, b"x").unwrap_err();
        assert!(matches!(err, ExportError::NotAFile { .. }), "{err}");
        std::os::unix::fs::symlink(tmp.path().join("elsewhere"), tmp.path().join("link")).unwrap();
        let err = write_private(&tmp.path().join("link"), b"x").unwrap_err();
        assert!(matches!(err, ExportError::NotAFile { .. }), "{err}");
        assert!(!tmp.path().join("elsewhere").exists());
    }
}
