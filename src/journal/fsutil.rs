//! File-system helpers for incident directories: private files and directories (R21), directory
//! fsync (R2), atomic replacement (R15), the local-file-system check (R10) and free space (R18).

use std::fs::{self, DirBuilder, File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::error::JournalError;

/// Free space the engine requires before a side-effecting step (R18): 64 MiB, 64 times the
/// largest record.
pub const MIN_FREE: u64 = 64 * 1024 * 1024;
/// Mode of incident directories.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in an incident directory.
pub const FILE_MODE: u32 = 0o600;

/// Bytes available to an unprivileged user on the file system holding `dir` (`statvfs`).
pub fn free_bytes(dir: &Path) -> Result<u64, JournalError> {
    let stat = nix::sys::statvfs::statvfs(dir)
        .map_err(|e| JournalError::io("query free space of", dir, io::Error::from(e)))?;
    #[allow(clippy::useless_conversion)] // the field types differ between platforms
    let avail = u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size()));
    Ok(avail)
}

/// Makes the entries of `dir` (created, renamed or removed files) durable.
pub fn fsync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("fsync the directory", dir, e))
}

/// The effective uid of this process.
pub(crate) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Refuses a file or directory that is owned by another uid or accessible by group or others.
pub(crate) fn check_private(path: &Path, meta: &Metadata, wanted: u32) -> Result<(), JournalError> {
    let uid = euid();
    if meta.uid() != uid {
        return Err(JournalError::WrongOwner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(JournalError::InsecurePermissions {
            path: path.to_path_buf(),
            mode,
            wanted,
        });
    }
    Ok(())
}

/// Checks an opened journal, lock or quarantine file: a regular file, ours, mode 0600 or
/// stricter.
pub(crate) fn check_private_file(path: &Path, file: &File) -> Result<(), JournalError> {
    let meta = file
        .metadata()
        .map_err(|e| JournalError::io("inspect", path, e))?;
    if !meta.file_type().is_file() {
        return Err(JournalError::WrongFileType {
            path: path.to_path_buf(),
            expected: "regular file",
        });
    }
    check_private(path, &meta, FILE_MODE)
}

/// Checks that `dir` can hold an incident: a directory, owned by us, not accessible by group or
/// others, on a local file system.
pub fn check_incident_dir(dir: &Path) -> Result<(), JournalError> {
    let meta = fs::metadata(dir)
        .map_err(|e| JournalError::io("inspect the incident directory", dir, e))?;
    if !meta.is_dir() {
        return Err(JournalError::WrongFileType {
            path: dir.to_path_buf(),
            expected: "directory",
        });
    }
    check_private(dir, &meta, DIR_MODE)?;
    check_local_filesystem(dir)
}

/// `statfs` magic numbers of network file systems, whose locks and fsync cannot be trusted.
const NETWORK_FILESYSTEMS: [(u64, &str); 7] = [
    (0x6969, "NFS"),
    (0x517b, "SMB"),
    (0xff53_4d42, "CIFS"),
    (0xfe53_4d42, "SMB2"),
    (0x00c3_6400, "CephFS"),
    (0x5346_414f, "AFS"),
    (0x0102_1997, "9P"),
];

/// The name of the network file system a `statfs` magic number stands for, if it is one.
pub fn network_filesystem(magic: u64) -> Option<&'static str> {
    let magic = magic & 0xffff_ffff;
    NETWORK_FILESYSTEMS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// Refuses network file systems (NFS, SMB/CIFS, CephFS, AFS, 9P), whose locks and fsync
/// cannot be trusted.
pub fn check_local_filesystem(dir: &Path) -> Result<(), JournalError> {
    #[cfg(target_os = "linux")]
    {
        let stat = nix::sys::statfs::statfs(dir)
            .map_err(|e| JournalError::io("query the file system of", dir, io::Error::from(e)))?;
        if let Some(fs) = network_filesystem(stat.filesystem_type().0 as u64) {
            return Err(JournalError::NetworkFilesystem {
                path: dir.to_path_buf(),
                fs,
            });
        }
    }
    Ok(())
}

/// Creates a new file with mode 0600 whatever the umask (`O_CREAT|O_EXCL|O_NOFOLLOW`,
/// close-on-exec). With `append`, writes go to the end of the file.
pub(crate) fn create_private_file(path: &Path, append: bool) -> Result<File, JournalError> {
    let file = OpenOptions::new()
        .write(true)
        .append(append)
        .create_new(true)
        .mode(FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| JournalError::io("create", path, e))?;
    file.set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(|e| JournalError::io("set the permissions of", path, e))?;
    Ok(file)
}

/// Whether an incident id is usable as a directory name.
fn valid_incident_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Creates `dir` with mode 0700 if it does not exist (and, the same way, any missing parent),
/// fsyncing each parent so that the new entries survive a crash. Existing directories keep
/// their mode: `root` may be a directory canton-dr does not own.
fn create_private_dirs(dir: &Path) -> Result<(), JournalError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dirs(parent)?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => return Ok(()),
        Err(e) => return Err(JournalError::io("create the directory", dir, e)),
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(DIR_MODE))
        .map_err(|e| JournalError::io("set the permissions of", dir, e))?;
    match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => fsync_dir(parent),
        None => Ok(()),
    }
}

/// Creates the directory of a new incident, `root/id`, with mode 0700. Missing parents
/// (including `root`) are created with mode 0700 too; an existing `root` is left as it is. The
/// new directory is fsynced into its parent and checked like [`check_incident_dir`].
pub fn create_incident_dir(root: &Path, id: &str) -> Result<PathBuf, JournalError> {
    if !valid_incident_id(id) {
        return Err(JournalError::InvalidIncidentId { id: id.to_string() });
    }
    create_private_dirs(root)?;
    let dir = root.join(id);
    match DirBuilder::new().mode(DIR_MODE).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(JournalError::IncidentExists { path: dir });
        }
        Err(e) => return Err(JournalError::io("create the incident directory", &dir, e)),
    }
    fs::set_permissions(&dir, fs::Permissions::from_mode(DIR_MODE))
        .map_err(|e| JournalError::io("set the permissions of", &dir, e))?;
    fsync_dir(root)?;
    check_incident_dir(&dir)?;
    Ok(dir)
}

/// Replaces (or creates) `dir/name` atomically with `bytes` (R15): a temporary file in the same
/// directory, mode 0600, `sync_all`, rename, directory fsync. Readers see the old content or the
/// new one, never a mix; a crash leaves at most a `.<name>.*.tmp` file, never a partial `name`.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, JournalError> {
    let target = dir.join(name);
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(FILE_MODE))
        .tempfile_in(dir)
        .map_err(|e| JournalError::io("create a temporary file in", dir, e))?;
    let tmp_path = tmp.path().to_path_buf();
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(FILE_MODE))
        .map_err(|e| JournalError::io("set the permissions of", &tmp_path, e))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| JournalError::io("write", &tmp_path, e))?;
    tmp.persist(&target)
        .map_err(|e| JournalError::io("rename a temporary file to", &target, e.error))?;
    fsync_dir(dir)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_ids_are_plain_names() {
        for ok in ["2026-11-22T03-15-00Z-validator-restore", "a", "x.y_z-1"] {
            assert!(valid_incident_id(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in ["", ".", "..", ".hidden", "a/b", "a b", "ä", long.as_str()] {
            assert!(!valid_incident_id(bad), "{bad}");
        }
    }

    #[test]
    fn incident_dirs_are_private_and_unique() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data").join("incidents");
        let dir = create_incident_dir(&root, "inc-1").unwrap();
        for d in [&dir, &root, &tmp.path().join("data")] {
            let mode = fs::metadata(d).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", d.display());
        }
        check_incident_dir(&dir).unwrap();
        let again = create_incident_dir(&root, "inc-1").unwrap_err();
        assert!(
            matches!(again, JournalError::IncidentExists { .. }),
            "{again}"
        );
        let bad = create_incident_dir(&root, "../escape").unwrap_err();
        assert!(
            matches!(bad, JournalError::InvalidIncidentId { .. }),
            "{bad}"
        );
        assert!(!tmp.path().join("data").join("escape").exists());
    }

    #[test]
    fn open_incident_dir_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = create_incident_dir(tmp.path(), "inc").unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
        let err = check_incident_dir(&dir).unwrap_err();
        assert!(
            matches!(err, JournalError::InsecurePermissions { mode: 0o750, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 700"), "{err}");
        let file = tmp.path().join("plain");
        fs::write(&file, b"x").unwrap();
        let err = check_incident_dir(&file).unwrap_err();
        assert!(matches!(err, JournalError::WrongFileType { .. }), "{err}");
    }

    #[test]
    fn network_file_systems_are_told_from_local_ones() {
        assert_eq!(network_filesystem(0x6969), Some("NFS"));
        assert_eq!(network_filesystem(0xfe53_4d42), Some("SMB2"));
        // statfs reports the magic sign-extended on some platforms.
        assert_eq!(network_filesystem(0xffff_ffff_ff53_4d42), Some("CIFS"));
        for local in [
            0xef53,      /* ext2/3/4 */
            0x5846_5342, /* XFS */
            0x0102_1994, /* tmpfs */
        ] {
            assert_eq!(network_filesystem(local), None, "{local:#x}");
        }
        // The directory the tests run in is local: it is accepted.
        let dir = tempfile::tempdir().unwrap();
        check_local_filesystem(dir.path()).unwrap();
        let refused = JournalError::NetworkFilesystem {
            path: dir.path().to_path_buf(),
            fs: "NFS",
        }
        .to_string();
        assert!(refused.contains("NFS"), "{refused}");
        assert!(
            refused.contains(&dir.path().display().to_string()),
            "{refused}"
        );
    }

    #[test]
    fn free_bytes_reports_a_plausible_figure() {
        let tmp = tempfile::tempdir().unwrap();
        let free = free_bytes(tmp.path()).unwrap();
        assert!(free > 0);
        let missing = free_bytes(&tmp.path().join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"), "{missing}");
    }

    #[test]
    fn atomic_write_replaces_the_whole_file_and_leaves_no_temporaries() {
        let tmp = tempfile::tempdir().unwrap();
        let path = write_atomic(tmp.path(), "export.md", b"first").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(tmp.path(), "export.md", b"second version").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second version");
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("export.md")]);
    }
}
