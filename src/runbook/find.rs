//! Finding a runbook by path or by name.

use std::path::{Path, PathBuf};

/// Where a runbook name was looked for, for the error message.
#[derive(Debug, thiserror::Error)]
#[error("no runbook '{name}': looked for {}", tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
pub struct NotFound {
    pub name: String,
    pub tried: Vec<PathBuf>,
}

/// Resolves `name`: an existing file path as is; otherwise `NAME.toml` in `./runbooks/`, then in
/// `<config>/runbooks/`, then in the directory of the canton-dr sources (for `cargo run`).
pub fn find(name: &str, config_dir: &Path) -> Result<PathBuf, NotFound> {
    let direct = PathBuf::from(name);
    if direct.is_file() {
        return Ok(direct);
    }
    let file = if name.ends_with(".toml") {
        name.to_owned()
    } else {
        format!("{name}.toml")
    };
    let tried = vec![
        PathBuf::from("runbooks").join(&file),
        config_dir.join("runbooks").join(&file),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("runbooks")
            .join(&file),
    ];
    match tried.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None => Err(NotFound {
            name: name.to_owned(),
            tried,
        }),
    }
}

/// The directories searched for runbooks by name, in order.
pub fn search_dirs(config_dir: &Path) -> Vec<PathBuf> {
    vec![
        PathBuf::from("runbooks"),
        config_dir.join("runbooks"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks"),
    ]
}
