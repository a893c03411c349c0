//! Where a profile's secrets come from: an environment variable or a private file.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The largest secret file that is read (a token, a password or a PEM key is far smaller).
pub const MAX_SECRET_FILE: u64 = 1024 * 1024;

/// Where a profile secret is read from.
///
/// In a profile: `{ env = "NAME" }` or `{ file = "path" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SecretSource {
    /// An environment variable of the tool's own process.
    Env(String),
    /// A file readable by its owner only (mode 0600 or stricter).
    File(PathBuf),
}

impl std::fmt::Display for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "environment variable {name}"),
            SecretSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// Why a secret could not be loaded. Messages name the variable or the path, never the value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The variable is not set, or set to the empty string.
    #[error("secret environment variable {name} is not set or is empty")]
    EnvMissing { name: String },
    /// The variable holds bytes that are not UTF-8.
    #[error("secret environment variable {name} is not valid UTF-8")]
    EnvNotUnicode { name: String },
    /// The file could not be opened or read.
    #[error("cannot read secret file {}: {source}", path.display())]
    FileRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file may be read by its group or by anyone.
    #[error(
        "secret file {} is readable by group or others (mode {mode:04o}); restrict it with `chmod 600`",
        path.display()
    )]
    FileTooOpen { path: PathBuf, mode: u32 },
    /// The path is a directory, a device or a socket.
    #[error("secret file {} is not a regular file or a pipe", path.display())]
    NotAFile { path: PathBuf },
    /// The file is larger than [`MAX_SECRET_FILE`].
    #[error("secret file {} is larger than {MAX_SECRET_FILE} bytes", path.display())]
    FileTooLarge { path: PathBuf },
    /// The file is empty (or holds a single newline).
    #[error("secret file {} is empty", path.display())]
    FileEmpty { path: PathBuf },
    /// The file holds bytes that are not UTF-8.
    #[error("secret file {} is not valid UTF-8", path.display())]
    FileNotUnicode { path: PathBuf },
}

/// Loads a secret from its source.
///
/// - `Env`: the variable must be set and non-empty; its value is taken as is.
/// - `File`: the file must be a regular file (or a pipe, e.g. process substitution) that neither
///   its group nor others may read; one trailing newline (`\n` or `\r\n`) is removed.
pub fn load(source: &SecretSource) -> Result<SecretString, SecretError> {
    match source {
        SecretSource::Env(name) => load_env(name),
        SecretSource::File(path) => load_file(path),
    }
}

fn load_env(name: &str) -> Result<SecretString, SecretError> {
    from_env_value(name, std::env::var_os(name))
}

fn from_env_value(
    name: &str,
    raw: Option<std::ffi::OsString>,
) -> Result<SecretString, SecretError> {
    let Some(raw) = raw else {
        return Err(SecretError::EnvMissing { name: name.into() });
    };
    if raw.is_empty() {
        return Err(SecretError::EnvMissing { name: name.into() });
    }
    match raw.into_string() {
        Ok(value) => Ok(SecretString::from(value)),
        Err(raw) => {
            drop(Zeroizing::new(raw.into_encoded_bytes()));
            Err(SecretError::EnvNotUnicode { name: name.into() })
        }
    }
}

fn load_file(path: &Path) -> Result<SecretString, SecretError> {
    let read_err = |source| SecretError::FileRead {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(read_err)?;
    // Check the object actually opened (fstat), not the path, so a swapped file cannot slip by.
    let meta = file.metadata().map_err(read_err)?;
    let kind = meta.file_type();
    if !(kind.is_file() || kind.is_fifo()) {
        return Err(SecretError::NotAFile {
            path: path.to_path_buf(),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o044 != 0 {
        return Err(SecretError::FileTooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Zeroizing::new(Vec::new());
    file.take(MAX_SECRET_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_SECRET_FILE {
        return Err(SecretError::FileTooLarge {
            path: path.to_path_buf(),
        });
    }
    if bytes.ends_with(b"\r\n") {
        let keep = bytes.len() - 2;
        bytes.truncate(keep);
    } else if bytes.ends_with(b"\n") {
        let keep = bytes.len() - 1;
        bytes.truncate(keep);
    }
    if bytes.is_empty() {
        return Err(SecretError::FileEmpty {
            path: path.to_path_buf(),
        });
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::FileNotUnicode {
        path: path.to_path_buf(),
    })?;
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::io::Write;

    fn write_file(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
        let path = dir.join(name);
        let mut f = File::create(&path).expect("create");
        f.write_all(content).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn file_source_strips_one_trailing_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = write_file(dir.path(), "a", b"s3cr3t-value\n\n", 0o600);
        let s = load(&SecretSource::File(p)).expect("load");
        assert_eq!(s.expose_secret(), "s3cr3t-value\n");
        let p = write_file(dir.path(), "b", b"s3cr3t-value\r\n", 0o400);
        let s = load(&SecretSource::File(p)).expect("load");
        assert_eq!(s.expose_secret(), "s3cr3t-value");
        let p = write_file(dir.path(), "c", b"  spaced  ", 0o600);
        let s = load(&SecretSource::File(p)).expect("load");
        assert_eq!(s.expose_secret(), "  spaced  ");
    }

    #[test]
    fn file_source_refuses_group_or_world_readable_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        for mode in [0o640, 0o604, 0o644, 0o660] {
            let p = write_file(dir.path(), "open", b"canary-file-secret", mode);
            let err = load(&SecretSource::File(p.clone())).expect_err("must refuse");
            let msg = err.to_string();
            assert!(matches!(err, SecretError::FileTooOpen { .. }), "{msg}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(!msg.contains("canary-file-secret"), "{msg}");
        }
        // Writable by the group but not readable is no leak.
        let p = write_file(dir.path(), "w", b"ok-secret", 0o620);
        assert!(load(&SecretSource::File(p)).is_ok());
    }

    #[test]
    fn file_source_errors_name_the_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope");
        let err = load(&SecretSource::File(missing.clone())).expect_err("missing");
        assert!(err.to_string().contains(&missing.display().to_string()));
        let err = load(&SecretSource::File(dir.path().to_path_buf())).expect_err("dir");
        assert!(matches!(err, SecretError::NotAFile { .. }), "{err}");
        let p = write_file(dir.path(), "empty", b"\n", 0o600);
        let err = load(&SecretSource::File(p)).expect_err("empty");
        assert!(matches!(err, SecretError::FileEmpty { .. }), "{err}");
        let p = write_file(dir.path(), "bin", b"\xff\xfe\xfd\xfc", 0o600);
        let err = load(&SecretSource::File(p)).expect_err("binary");
        assert!(matches!(err, SecretError::FileNotUnicode { .. }), "{err}");
    }

    #[test]
    fn env_source_treats_empty_as_missing_and_names_the_variable() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let name = "CANTON_DR_TEST_SECRET";
        let expected = format!("secret environment variable {name} is not set or is empty");
        let err = from_env_value(name, None).expect_err("unset");
        assert_eq!(err.to_string(), expected);
        let err = from_env_value(name, Some(OsString::new())).expect_err("empty");
        assert_eq!(err.to_string(), expected);
        let err = from_env_value(name, Some(OsString::from_vec(b"ab\xffcd".to_vec())))
            .expect_err("not utf-8");
        assert!(matches!(err, SecretError::EnvNotUnicode { .. }), "{err}");
        let ok = from_env_value(name, Some(OsString::from(" tok en\n"))).expect("set");
        assert_eq!(ok.expose_secret(), " tok en\n");
        // The real lookup: an unset variable, and PATH, which the harness always sets.
        assert!(load(&SecretSource::Env(format!("{name}_NEVER_SET"))).is_err());
        let path = load(&SecretSource::Env("PATH".into())).expect("PATH is set");
        assert_eq!(
            Some(path.expose_secret().to_string()),
            std::env::var("PATH").ok()
        );
    }

    #[test]
    fn source_parses_from_toml_and_rejects_unknown_keys() {
        #[derive(Deserialize)]
        struct Holder {
            s: SecretSource,
        }
        let h: Holder = toml::from_str(r#"s = { env = "DB_PASSWORD" }"#).expect("env");
        assert_eq!(h.s, SecretSource::Env("DB_PASSWORD".into()));
        let h: Holder = toml::from_str(r#"s = { file = "/etc/x/token" }"#).expect("file");
        assert_eq!(h.s, SecretSource::File("/etc/x/token".into()));
        assert!(toml::from_str::<Holder>(r#"s = { vault = "x" }"#).is_err());
        assert!(toml::from_str::<Holder>(r#"s = { env = "A", file = "b" }"#).is_err());
        assert!(toml::from_str::<Holder>(r#"s = "plain""#).is_err());
    }
}
