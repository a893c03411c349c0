//! Reads the packages of an uploaded DAR: the manifest, then every `.dalf` it lists, each
//! checked against its own hash. The package id is the SHA-256 of the archive payload.

use std::io::{Cursor, Read};

use prost::Message;
use sha2::{Digest, Sha256};

use super::packages::DarPackage;
use crate::probe::canton::proto::daml_lf::Archive;

/// Largest entry read from a DAR (a guard against zip bombs).
const MAX_ENTRY: u64 = 256 * 1024 * 1024;
const MANIFEST: &str = "META-INF/MANIFEST.MF";

/// Why a DAR was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DarError {
    #[error("the DAR is not a zip archive: {0}")]
    NotZip(String),
    #[error("the DAR has no {MANIFEST}")]
    NoManifest,
    #[error("{MANIFEST}: {0}")]
    Manifest(String),
    #[error("the DAR has no entry {0}, which the manifest lists")]
    MissingDalf(String),
    #[error("{path}: {reason}")]
    BadDalf { path: String, reason: String },
}

/// Every package of a DAR, the main package first.
pub fn read_dar(bytes: &[u8]) -> Result<Vec<DarPackage>, DarError> {
    let mut zip =
        zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| DarError::NotZip(e.to_string()))?;
    let manifest = read_entry(&mut zip, MANIFEST).map_err(|e| match e {
        EntryError::Missing => DarError::NoManifest,
        EntryError::Bad(reason) => DarError::Manifest(reason),
    })?;
    let manifest =
        String::from_utf8(manifest).map_err(|_| DarError::Manifest("not UTF-8".into()))?;
    let attrs = parse_manifest(&manifest);
    let get = |key: &str| {
        attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| DarError::Manifest(format!("no {key} attribute")))
    };
    let format = get("Format")?;
    if format != "daml-lf" {
        return Err(DarError::Manifest(format!(
            "Format is {format}, not daml-lf"
        )));
    }
    let main = get("Main-Dalf")?;
    let mut paths: Vec<String> = get("Dalfs")?
        .split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect();
    paths.retain(|p| p != &main);
    paths.insert(0, main.clone());
    let main_name = attrs
        .iter()
        .find(|(k, _)| k == "Name")
        .map(|(_, v)| v.clone());

    let mut out = Vec::new();
    for path in paths {
        let dalf = read_entry(&mut zip, &path).map_err(|e| match e {
            EntryError::Missing => DarError::MissingDalf(path.clone()),
            EntryError::Bad(reason) => DarError::BadDalf {
                path: path.clone(),
                reason,
            },
        })?;
        let package_id = package_id(&dalf).map_err(|reason| DarError::BadDalf {
            path: path.clone(),
            reason,
        })?;
        let full_name = if path == main {
            main_name
                .clone()
                .unwrap_or_else(|| file_stem(&path, &package_id))
        } else {
            file_stem(&path, &package_id)
        };
        let (name, version) = split_name_version(&full_name);
        out.push(DarPackage {
            package_id,
            name,
            version,
            size: dalf.len() as u64,
        });
    }
    Ok(out)
}

enum EntryError {
    Missing,
    Bad(String),
}

fn read_entry(zip: &mut zip::ZipArchive<Cursor<&[u8]>>, name: &str) -> Result<Vec<u8>, EntryError> {
    let file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Err(EntryError::Missing),
        Err(e) => return Err(EntryError::Bad(e.to_string())),
    };
    if file.size() > MAX_ENTRY {
        return Err(EntryError::Bad(format!("larger than {MAX_ENTRY} bytes")));
    }
    let mut out = Vec::new();
    file.take(MAX_ENTRY + 1)
        .read_to_end(&mut out)
        .map_err(|e| EntryError::Bad(e.to_string()))?;
    if out.len() as u64 > MAX_ENTRY {
        return Err(EntryError::Bad(format!("larger than {MAX_ENTRY} bytes")));
    }
    Ok(out)
}

/// The package id of an encoded `Archive`, after checking its hash.
fn package_id(dalf: &[u8]) -> Result<String, String> {
    let archive = Archive::decode(dalf).map_err(|e| format!("not a Daml-LF archive: {e}"))?;
    if archive.hash_function != 0 {
        return Err(format!("unknown hash function {}", archive.hash_function));
    }
    let actual = hex::encode(Sha256::digest(&archive.payload));
    if archive.hash != actual {
        return Err(format!(
            "mismatching hashes: the archive says {}, its payload hashes to {actual}",
            archive.hash
        ));
    }
    Ok(actual)
}

/// `Key: value` attributes of a manifest, continuation lines rejoined.
fn parse_manifest(text: &str) -> Vec<(String, String)> {
    let joined = text.replace("\r\n ", "").replace("\n ", "");
    joined
        .lines()
        .filter_map(|line| line.split_once(": "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The file name of a dalf without directory, extension and trailing package id.
fn file_stem(path: &str, package_id: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.strip_suffix(".dalf").unwrap_or(file);
    stem.strip_suffix(package_id)
        .map(|s| s.trim_end_matches('-'))
        .unwrap_or(stem)
        .to_string()
}

/// Splits `name-1.2.3` at the last `-` that is followed by a digit.
fn split_name_version(full: &str) -> (String, String) {
    let split = full
        .char_indices()
        .filter(|(i, c)| *c == '-' && full[i + 1..].starts_with(|d: char| d.is_ascii_digit()))
        .map(|(i, _)| i)
        .next_back();
    match split {
        Some(i) => (full[..i].to_string(), full[i + 1..].to_string()),
        None => (full.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::darsim::{PackageSpec, build_dar, exchange_treasury_dar};
    use super::*;

    #[test]
    fn reads_every_package_of_a_synthetic_dar() {
        let dar = exchange_treasury_dar().expect("dar");
        let packages = read_dar(&dar.bytes).expect("read");
        let ids: Vec<&str> = packages.iter().map(|p| p.package_id.as_str()).collect();
        assert_eq!(
            ids,
            dar.package_ids
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
        );
        assert_eq!(packages[0].name, "exchange-treasury");
        assert_eq!(packages[0].version, "1.0.0");
        assert_eq!(packages[1].name, "splice-api-token-holding-v1");
        assert_eq!(packages[1].version, "1.0.0");
        assert!(packages.iter().all(|p| p.size > 0));
    }

    #[test]
    fn refuses_what_is_not_a_dar() {
        assert!(matches!(read_dar(b"hello"), Err(DarError::NotZip(_))));
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        if zip.start_file("x.txt", options).is_ok() {
            let _ = std::io::Write::write_all(&mut zip, b"x");
        }
        let bytes = zip.finish().map(|c| c.into_inner()).unwrap_or_default();
        assert_eq!(read_dar(&bytes), Err(DarError::NoManifest));
    }

    #[test]
    fn refuses_a_tampered_dalf() {
        let dar = build_dar(&PackageSpec::new("p", "1.0.0"), &[]).expect("dar");
        // Flip a byte inside the stored (deflated) data: either the zip CRC or the hash check
        // must catch it.
        let mut bytes = dar.bytes.clone();
        let needle = b".dalf";
        let pos = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or(0)
            + 20;
        bytes[pos] ^= 0xff;
        assert!(read_dar(&bytes).is_err());
    }

    #[test]
    fn splits_names_and_versions() {
        assert_eq!(
            split_name_version("token-adapter-2.1.0"),
            ("token-adapter".into(), "2.1.0".into())
        );
        assert_eq!(split_name_version("a-b-c"), ("a-b-c".into(), String::new()));
        assert_eq!(file_stem("d/x-1.0.0-abc.dalf", "abc"), "x-1.0.0");
    }
}
