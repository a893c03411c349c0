//! Reading a DAR's zip container and checking each archive's hash.

use std::io::{Cursor, Read};

use prost::Message;
use sha2::{Digest, Sha256};
use zip::ZipArchive;
use zip::result::ZipError;

use super::manifest::{Manifest, split_name_version};
use super::{DalfInfo, DarInfo, DarProblem, Limits, NameSource};
use crate::probe::canton::proto::daml_lf;

const MANIFEST: &str = "META-INF/MANIFEST.MF";
const ZIP_LOCAL_HEADER: &[u8] = b"PK\x03\x04";

struct Budget {
    left: u64,
    limit: u64,
}

fn open(bytes: &[u8]) -> Result<ZipArchive<Cursor<&[u8]>>, DarProblem> {
    ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        let detail = e.to_string();
        if bytes.starts_with(ZIP_LOCAL_HEADER) {
            // It begins like a zip; the directory at the end is what is missing or broken.
            match e {
                ZipError::Io(_) | ZipError::InvalidArchive(_) => DarProblem::Truncated {
                    detail: format!("the zip directory at the end is missing or cut ({detail})"),
                },
                _ => DarProblem::BadZip { detail },
            }
        } else {
            DarProblem::NotZip { detail }
        }
    })
}

fn read_entry(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    limits: &Limits,
    budget: &mut Budget,
) -> Result<Option<Vec<u8>>, DarProblem> {
    let mut file = match zip.by_name(name) {
        Ok(file) => file,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(e) => {
            return Err(entry_error(name, &e.to_string(), is_eof_zip(&e)));
        }
    };
    if file.is_dir() {
        return Ok(None);
    }
    let declared = file.size();
    if declared > limits.max_entry_size {
        return Err(DarProblem::EntryTooLarge {
            entry: name.to_string(),
            limit: limits.max_entry_size,
        });
    }
    if declared > budget.left {
        return Err(DarProblem::TooLargeInTotal {
            limit: budget.limit,
        });
    }
    // The declared size can lie: never read more than the limits allow.
    let cap = limits.max_entry_size.min(budget.left);
    let mut out = Vec::with_capacity(usize::try_from(declared.min(16 * 1024 * 1024)).unwrap_or(0));
    let read = (&mut file)
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| {
            entry_error(
                name,
                &e.to_string(),
                e.kind() == std::io::ErrorKind::UnexpectedEof,
            )
        })?;
    let read = read as u64;
    if read > cap {
        return Err(if cap == limits.max_entry_size {
            DarProblem::EntryTooLarge {
                entry: name.to_string(),
                limit: limits.max_entry_size,
            }
        } else {
            DarProblem::TooLargeInTotal {
                limit: budget.limit,
            }
        });
    }
    budget.left -= read;
    Ok(Some(out))
}

fn is_eof_zip(e: &ZipError) -> bool {
    matches!(e, ZipError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof)
}

fn entry_error(name: &str, detail: &str, eof: bool) -> DarProblem {
    if eof {
        DarProblem::Truncated {
            detail: format!("entry {name} ends early ({detail})"),
        }
    } else {
        DarProblem::Entry {
            entry: name.to_string(),
            detail: detail.to_string(),
        }
    }
}

struct Checked {
    package_id: String,
    payload_size: u64,
    lf_version: Option<String>,
}

/// Decodes an archive, checks its hash and reads the Daml-LF version from its payload header.
fn check_archive(entry: &str, bytes: &[u8]) -> Result<Checked, DarProblem> {
    let malformed = |detail: String| DarProblem::MalformedArchive {
        entry: entry.to_string(),
        detail,
    };
    let archive = daml_lf::Archive::decode(bytes).map_err(|e| malformed(e.to_string()))?;
    if archive.hash_function != daml_lf::HashFunction::Sha256 as i32 {
        return Err(DarProblem::UnsupportedHash {
            entry: entry.to_string(),
            function: archive.hash_function,
        });
    }
    if archive.payload.is_empty() {
        return Err(malformed("the payload is empty".into()));
    }
    let computed = hex::encode(Sha256::digest(&archive.payload));
    if archive.hash != computed {
        return Err(DarProblem::HashMismatch {
            entry: entry.to_string(),
            declared: archive.hash.chars().take(80).collect(),
            computed,
        });
    }
    let payload = daml_lf::ArchivePayload::decode(archive.payload.as_slice())
        .map_err(|e| malformed(format!("the payload is not an ArchivePayload ({e})")))?;
    let lf_version = match &payload.sum {
        Some(daml_lf::archive_payload::Sum::DamlLf1(_)) => Some(format!("1.{}", payload.minor)),
        Some(daml_lf::archive_payload::Sum::DamlLf2(_)) => Some(format!("2.{}", payload.minor)),
        None => return Err(malformed("the payload holds no Daml-LF package".into())),
    };
    Ok(Checked {
        package_id: computed,
        payload_size: archive.payload.len() as u64,
        lf_version,
    })
}

fn file_stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.strip_suffix(".dalf").unwrap_or(name)
}

/// Reads and checks a whole DAR.
pub(super) fn read(bytes: &[u8], limits: &Limits) -> Result<DarInfo, DarProblem> {
    let mut zip = open(bytes)?;
    if zip.len() > limits.max_entries {
        return Err(DarProblem::TooManyEntries {
            count: zip.len(),
            limit: limits.max_entries,
        });
    }
    let mut budget = Budget {
        left: limits.max_total_size,
        limit: limits.max_total_size,
    };
    let manifest_bytes =
        read_entry(&mut zip, MANIFEST, limits, &mut budget)?.ok_or(DarProblem::NoManifest)?;
    let manifest = Manifest::parse(&manifest_bytes)?;
    let format = manifest.get("Format").ok_or(DarProblem::MissingAttribute {
        attribute: "Format",
    })?;
    if format.trim() != "daml-lf" {
        return Err(DarProblem::WrongFormat {
            found: format.chars().take(80).collect(),
        });
    }
    let main = manifest
        .get("Main-Dalf")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or(DarProblem::MissingAttribute {
            attribute: "Main-Dalf",
        })?
        .to_string();
    let listed = manifest
        .list("Dalfs")
        .ok_or(DarProblem::MissingAttribute { attribute: "Dalfs" })?;

    let mut warnings = Vec::new();
    let mut order = vec![main.clone()];
    if !listed.contains(&main) {
        warnings.push(format!("Main-Dalf {main} is not listed in Dalfs"));
    }
    for entry in listed {
        if order.contains(&entry) {
            if entry != main {
                warnings.push(format!("Dalfs lists {entry} more than once"));
            }
        } else {
            order.push(entry);
        }
    }

    let mut packages = Vec::with_capacity(order.len());
    for (index, entry) in order.iter().enumerate() {
        let is_main = index == 0;
        let data = read_entry(&mut zip, entry, limits, &mut budget)?.ok_or_else(|| {
            if is_main {
                DarProblem::MainDalfMissing {
                    entry: entry.clone(),
                }
            } else {
                DarProblem::DalfMissing {
                    entry: entry.clone(),
                }
            }
        })?;
        let checked = check_archive(entry, &data)?;
        if let Some(lf) = &checked.lf_version {
            if lf.starts_with("1.") {
                warnings.push(format!(
                    "{} is Daml-LF {lf}; Canton 3.x participants accept only Daml-LF 2.x packages",
                    checked.package_id
                ));
            } else if lf.ends_with(".dev") {
                warnings.push(format!(
                    "{} is Daml-LF {lf}; only participants running in dev mode accept it",
                    checked.package_id
                ));
            }
        }
        packages.push(DalfInfo {
            path: entry.clone(),
            package_id: checked.package_id,
            size: data.len() as u64,
            payload_size: checked.payload_size,
            lf_version: checked.lf_version,
            main: is_main,
        });
    }
    let main_package_id = packages
        .first()
        .map(|p| p.package_id.clone())
        .unwrap_or_default();

    let (name, version, name_source) = match manifest.get("Name").map(str::trim) {
        Some(full) if !full.is_empty() => {
            let (name, version) = split_name_version(full);
            (Some(name), version, NameSource::Manifest)
        }
        _ => {
            let stem = file_stem(&main);
            let stem = stem
                .strip_suffix(&main_package_id)
                .and_then(|s| s.strip_suffix('-'))
                .unwrap_or(stem);
            let (name, version) = split_name_version(stem);
            let name = (!name.is_empty()).then_some(name);
            (name, version, NameSource::MainDalfPath)
        }
    };
    let sdk_version = manifest
        .get("Sdk-Version")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);

    Ok(DarInfo {
        name,
        version,
        name_source,
        sdk_version,
        main_package_id,
        packages,
        warnings,
    })
}
