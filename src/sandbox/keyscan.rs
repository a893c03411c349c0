//! Looking for key material where it must not be: every regular file under some directories
//! (symbolic links are not followed, excluded directories are skipped) is searched for each
//! key's bytes as is, in base64 (standard and URL-safe, padded or not, also inside a longer
//! base64 text), in hex (either case) and JSON-escaped.
//!
//! The report names files only, never what was found in them.

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};

use aho_corasick::AhoCorasick;
use zeroize::Zeroizing;

/// Files larger than this are not read (and reported as not scanned).
const MAX_FILE: u64 = 512 * 1024 * 1024;

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Files searched.
    pub files: usize,
    /// Bytes searched.
    pub bytes: u64,
    /// Files holding key material.
    pub hits: Vec<PathBuf>,
    /// Files that could not be searched, and why.
    pub unsearched: Vec<(PathBuf, String)>,
}

impl ScanReport {
    /// Every file was searched and none holds key material.
    pub fn clean(&self) -> bool {
        self.hits.is_empty() && self.unsearched.is_empty()
    }
}

/// Every form of every key in `keys` to search for.
pub fn needles<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for key in keys {
        for form in crate::secret::literal_forms(key) {
            if !out.iter().any(|n| **n == *form) {
                out.push(form);
            }
        }
    }
    out
}

/// Searches every file under `roots` (each file once, however the roots overlap), except
/// under `exclude`, for any of `needles`.
pub fn scan(roots: &[PathBuf], exclude: &[PathBuf], needles: &[Zeroizing<Vec<u8>>]) -> ScanReport {
    let mut report = ScanReport::default();
    let matcher = match AhoCorasick::new(needles.iter().map(|n| n.as_slice())) {
        Ok(m) => m,
        Err(e) => {
            report.unsearched.push((
                PathBuf::new(),
                format!("the search could not be built: {e}"),
            ));
            return report;
        }
    };
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()))
        .collect();
    let mut files = BTreeSet::new();
    for root in roots {
        let root = match std::fs::canonicalize(root) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                report.unsearched.push((root.clone(), e.to_string()));
                continue;
            }
        };
        walk(&root, &exclude, &mut files, &mut report);
    }
    for file in files {
        match read(&file) {
            Ok(Some(bytes)) => {
                report.files += 1;
                report.bytes += bytes.len() as u64;
                if matcher.is_match(&bytes[..]) {
                    report.hits.push(file);
                }
            }
            Ok(None) => {}
            Err(why) => report.unsearched.push((file, why)),
        }
    }
    report
}

fn walk(dir: &Path, exclude: &[PathBuf], files: &mut BTreeSet<PathBuf>, report: &mut ScanReport) {
    if exclude.iter().any(|x| dir.starts_with(x)) {
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            report.unsearched.push((dir.to_path_buf(), e.to_string()));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, exclude, files, report);
        } else if meta.is_file() && !exclude.iter().any(|x| path.starts_with(x)) {
            files.insert(path);
        }
    }
}

/// A file's bytes, wiped after the search; `None` when it vanished meanwhile.
fn read(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    if meta.len() > MAX_FILE {
        return Err(format!("larger than {} MiB", MAX_FILE / (1024 * 1024)));
    }
    match std::fs::read(path) {
        Ok(b) => Ok(Some(Zeroizing::new(b))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn every_encoding_is_found_and_excluded_directories_and_links_are_not_searched() {
        let root = tempfile::tempdir().unwrap();
        let key: &[u8] = &[
            0x00, 0xff, 0x10, 0x80, 0x7f, 0x42, 0x99, 0xaa, 0x01, 0x02, 0x03, 0x04,
        ];
        let d = root.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::create_dir_all(d.join("store")).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(key);
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
        std::fs::write(d.join("raw.bin"), [b"x".as_slice(), key].concat()).unwrap();
        std::fs::write(d.join("a/b64.json"), format!("{{\"k\":\"{b64}\"}}")).unwrap();
        std::fs::write(d.join("a/b/url.txt"), url).unwrap();
        std::fs::write(d.join("a/hex.txt"), hex::encode_upper(key)).unwrap();
        let mut long = b"prefix-".to_vec();
        long.extend_from_slice(key);
        long.extend_from_slice(b"-suffix");
        std::fs::write(
            d.join("embedded.txt"),
            base64::engine::general_purpose::STANDARD.encode(&long),
        )
        .unwrap();
        std::fs::write(d.join("store/kept.json"), &b64).unwrap();
        std::fs::write(d.join("clean.txt"), "nothing here").unwrap();
        std::os::unix::fs::symlink(d.join("store/kept.json"), d.join("link")).unwrap();

        let n = needles([key]);
        let r = scan(&[d.to_path_buf(), d.join("a")], &[d.join("store")], &n);
        let names: Vec<String> = r
            .hits
            .iter()
            .map(|p| {
                p.strip_prefix(std::fs::canonicalize(d).unwrap())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "a/b/url.txt",
                "a/b64.json",
                "a/hex.txt",
                "embedded.txt",
                "raw.bin"
            ]
        );
        assert_eq!(r.files, 6, "each file once, the store and the link skipped");
        assert!(!r.clean());
        let r = scan(
            &[d.join("store")],
            &[],
            &needles([b"absent-key-material".as_slice()]),
        );
        assert!(r.clean() && r.files == 1);
    }
}
