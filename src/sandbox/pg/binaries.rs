//! Locating the PostgreSQL server binaries (`initdb` and `postgres`).

use std::path::{Path, PathBuf};

use super::PgError;

/// The directory holding `initdb` and `postgres`, and the two programs themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinaries {
    /// The `initdb` program.
    pub initdb: PathBuf,
    /// The `postgres` server program.
    pub postgres: PathBuf,
}

/// Where distribution packages install versioned server binaries.
const VERSIONED_ROOT: &str = "/usr/lib/postgresql";

impl ServerBinaries {
    /// Finds the server binaries: an explicit directory if given, else `initdb` and `postgres`
    /// on `PATH`, else the highest version under `/usr/lib/postgresql/*/bin`.
    pub fn find(explicit_dir: Option<&Path>) -> Result<ServerBinaries, PgError> {
        if let Some(dir) = explicit_dir {
            return in_dir(dir).ok_or_else(|| PgError::BinariesNotFound {
                looked: format!("{} (given explicitly)", dir.display()),
            });
        }
        let path = std::env::var_os("PATH").unwrap_or_default();
        for dir in std::env::split_paths(&path) {
            if let Some(found) = in_dir(&dir) {
                return Ok(found);
            }
        }
        if let Some(found) = highest_versioned(Path::new(VERSIONED_ROOT)) {
            return Ok(found);
        }
        Err(PgError::BinariesNotFound {
            looked: format!("on PATH and in {VERSIONED_ROOT}/*/bin"),
        })
    }
}

/// Both programs in one directory, or nothing.
fn in_dir(dir: &Path) -> Option<ServerBinaries> {
    let initdb = dir.join("initdb");
    let postgres = dir.join("postgres");
    (is_executable(&initdb) && is_executable(&postgres))
        .then_some(ServerBinaries { initdb, postgres })
}

/// The highest numeric version directory under `root` that holds both programs.
fn highest_versioned(root: &Path) -> Option<ServerBinaries> {
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let version = name
                .split('.')
                .map(|part| part.parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort();
    versions.into_iter().rev().find_map(|(_, bin)| in_dir(&bin))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed assertion
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        for name in ["initdb", "postgres"] {
            let p = dir.join(name);
            std::fs::write(&p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn picks_the_highest_numeric_version() {
        let root = tempfile::tempdir().unwrap();
        fake_install(&root.path().join("9.6/bin"));
        fake_install(&root.path().join("15/bin"));
        fake_install(&root.path().join("13/bin"));
        std::fs::create_dir_all(root.path().join("17/bin")).unwrap(); // empty: not an install
        std::fs::create_dir_all(root.path().join("misc")).unwrap();
        let found = highest_versioned(root.path()).unwrap();
        assert_eq!(found.initdb, root.path().join("15/bin/initdb"));
    }

    #[test]
    fn an_explicit_directory_without_binaries_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = ServerBinaries::find(Some(dir.path())).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("PostgreSQL server binaries not found"),
            "{msg}"
        );
        assert!(msg.contains("postgresql-15"), "{msg}");
        assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
    }

    #[test]
    fn a_directory_with_only_one_program_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        fake_install(dir.path());
        std::fs::remove_file(dir.path().join("postgres")).unwrap();
        assert!(in_dir(dir.path()).is_none());
    }
}
