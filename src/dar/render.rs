//! The text shown by `canton-dr dar inspect`.

use std::fmt::Write;

use super::{DarInfo, NameSource};

/// A human-readable summary: name, version, SDK, main package, one line per package and the
/// warnings.
pub fn render_text(info: &DarInfo) -> String {
    let mut out = String::new();
    let unknown = "(unknown)";
    let name = info.name.as_deref().unwrap_or(unknown);
    let derived = match info.name_source {
        NameSource::Manifest => "",
        NameSource::MainDalfPath => "  (no Name in the manifest; taken from the main dalf)",
    };
    let _ = writeln!(out, "Name          {name}{derived}");
    let _ = writeln!(
        out,
        "Version       {}",
        info.version.as_deref().unwrap_or(unknown)
    );
    let _ = writeln!(
        out,
        "SDK           {}",
        info.sdk_version.as_deref().unwrap_or(unknown)
    );
    let _ = writeln!(out, "Main package  {}", info.main_package_id);
    let _ = writeln!(out, "Packages      {}", info.packages.len());
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  {:<64}  {:>5}  {:>9}  DALF",
        "PACKAGE ID", "LF", "PAYLOAD"
    );
    for p in &info.packages {
        let file = p.path.rsplit('/').next().unwrap_or(&p.path);
        let _ = writeln!(
            out,
            "{} {:<64}  {:>5}  {:>9}  {}",
            if p.main { '*' } else { ' ' },
            p.package_id,
            p.lf_version.as_deref().unwrap_or("?"),
            p.payload_size,
            file
        );
    }
    if !info.warnings.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Warnings");
        for w in &info.warnings {
            let _ = writeln!(out, "  - {w}");
        }
    }
    out
}
