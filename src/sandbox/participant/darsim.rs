//! Small synthetic DARs for the sandbox, so that it needs no fixture files.
//!
//! Each DAR is a real zip with `META-INF/MANIFEST.MF` (lines broken at 72 bytes like damlc
//! writes them) and one `.dalf` per package; each `.dalf` is an `Archive` whose payload is an
//! encoded `ArchivePayload` and whose package id is the SHA-256 of that payload. The Daml-LF
//! package inside the payload is placeholder bytes: nothing in canton-dr interprets it.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use prost::Message;
use sha2::{Digest, Sha256};

use crate::probe::canton::proto::daml_lf::{
    Archive, ArchivePayload, HashFunction, archive_payload,
};

/// The Daml-LF minor version written into synthetic packages.
const LF_MINOR: &str = "1";
/// The SDK version written into synthetic manifests.
const SDK_VERSION: &str = "3.4.9";

/// The name and version of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageSpec {
    pub name: String,
    pub version: String,
}

impl PackageSpec {
    /// A package named `name` at `version`.
    pub fn new(name: &str, version: &str) -> PackageSpec {
        PackageSpec {
            name: name.to_string(),
            version: version.to_string(),
        }
    }

    /// `name-version`.
    pub fn full_name(&self) -> String {
        format!("{}-{}", self.name, self.version)
    }
}

/// A generated DAR and what it contains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticDar {
    /// A file name for it, e.g. `exchange-treasury-1.0.0.dar`.
    pub file_name: String,
    /// The main package.
    pub main: PackageSpec,
    /// The package id of the main package.
    pub main_package_id: String,
    /// Every package id in the DAR (main first).
    pub package_ids: Vec<String>,
    /// The zip file itself.
    pub bytes: Vec<u8>,
}

/// Why a DAR could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write the synthetic DAR {name}: {source}")]
pub struct DarWriteError {
    name: String,
    #[source]
    source: zip::result::ZipError,
}

/// The encoded `Archive` of a placeholder package, and its package id.
pub fn synthetic_dalf(spec: &PackageSpec) -> (Vec<u8>, String) {
    let package = format!(
        "canton-dr synthetic Daml-LF package\nname: {}\nversion: {}\n",
        spec.name, spec.version
    );
    let payload = ArchivePayload {
        minor: LF_MINOR.to_string(),
        patch: 0,
        sum: Some(archive_payload::Sum::DamlLf2(package.into_bytes())),
    }
    .encode_to_vec();
    let hash = hex::encode(Sha256::digest(&payload));
    let archive = Archive {
        hash_function: HashFunction::Sha256 as i32,
        payload,
        hash: hash.clone(),
    };
    (archive.encode_to_vec(), hash)
}

/// Builds a DAR whose main package is `main` and which also carries `dependencies`.
pub fn build_dar(
    main: &PackageSpec,
    dependencies: &[PackageSpec],
) -> Result<SyntheticDar, DarWriteError> {
    let wrap = |source| DarWriteError {
        name: main.full_name(),
        source,
    };
    let (main_dalf, main_id) = synthetic_dalf(main);
    let dir = format!("{}-{}", main.full_name(), main_id);
    let main_path = format!("{dir}/{dir}.dalf");
    let mut entries = vec![(main_path.clone(), main_dalf)];
    let mut package_ids = vec![main_id.clone()];
    for dep in dependencies {
        let (dalf, id) = synthetic_dalf(dep);
        entries.push((format!("{dir}/{}-{id}.dalf", dep.full_name()), dalf));
        package_ids.push(id);
    }
    let dalfs: Vec<&str> = entries.iter().map(|(p, _)| p.as_str()).collect();
    let manifest = manifest(&[
        ("Manifest-Version", "1.0"),
        ("Created-By", "canton-dr sandbox"),
        ("Name", &main.full_name()),
        ("Sdk-Version", SDK_VERSION),
        ("Main-Dalf", &main_path),
        ("Dalfs", &dalfs.join(", ")),
        ("Format", "daml-lf"),
        ("Encryption", "non-encrypted"),
    ]);

    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(zip::DateTime::DEFAULT);
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    zip.start_file("META-INF/MANIFEST.MF", options)
        .map_err(wrap)?;
    zip.write_all(manifest.as_bytes())
        .map_err(|e| wrap(zip::result::ZipError::Io(e)))?;
    for (path, bytes) in &entries {
        zip.start_file(path.as_str(), options).map_err(wrap)?;
        zip.write_all(bytes)
            .map_err(|e| wrap(zip::result::ZipError::Io(e)))?;
    }
    let bytes = zip.finish().map_err(wrap)?.into_inner();
    Ok(SyntheticDar {
        file_name: format!("{}.dar", main.full_name()),
        main: main.clone(),
        main_package_id: main_id,
        package_ids,
        bytes,
    })
}

/// A JAR-style manifest: `Key: value` lines broken at 72 bytes, continuations starting with
/// one space, CRLF line ends, a blank line at the end.
fn manifest(attributes: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (key, value) in attributes {
        let line = format!("{key}: {value}");
        let mut rest = line.as_str();
        let mut first = true;
        while !rest.is_empty() {
            let room = if first { 72 } else { 71 };
            let mut cut = rest.len().min(room);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if !first {
                out.push(' ');
            }
            out.push_str(&rest[..cut]);
            out.push_str("\r\n");
            rest = &rest[cut..];
            first = false;
        }
    }
    out.push_str("\r\n");
    out
}

/// The token-standard interface package both sandbox DARs depend on.
fn holding_interface() -> PackageSpec {
    PackageSpec::new("splice-api-token-holding-v1", "1.0.0")
}

/// `exchange-treasury-1.0.0`: the package of the treasury's `Holding` and `TransferReceipt`
/// templates, with its dependency.
pub fn exchange_treasury_dar() -> Result<SyntheticDar, DarWriteError> {
    build_dar(
        &PackageSpec::new("exchange-treasury", "1.0.0"),
        &[holding_interface()],
    )
}

/// `token-adapter-2.1.0`: a token onboarding package, the kind of DAR uploaded after a backup.
pub fn token_adapter_dar() -> Result<SyntheticDar, DarWriteError> {
    build_dar(
        &PackageSpec::new("token-adapter", "2.1.0"),
        &[holding_interface()],
    )
}

/// The package id of `exchange-treasury-1.0.0`, used in every treasury template id.
pub fn exchange_treasury_package_id() -> String {
    synthetic_dalf(&PackageSpec::new("exchange-treasury", "1.0.0")).1
}

/// Every DAR of the sandbox's own DAR directory.
pub fn sandbox_dars() -> Result<Vec<SyntheticDar>, DarWriteError> {
    Ok(vec![exchange_treasury_dar()?, token_adapter_dar()?])
}

/// Writes every sandbox DAR into `dir` (created if missing); returns the files written.
pub fn write_sandbox_dars(dir: &Path) -> Result<Vec<PathBuf>, DarDirError> {
    let wrap = |source| DarDirError::Io {
        dir: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(wrap)?;
    let mut written = Vec::new();
    for dar in sandbox_dars()? {
        let path = dir.join(&dar.file_name);
        std::fs::write(&path, &dar.bytes).map_err(wrap)?;
        written.push(path);
    }
    Ok(written)
}

/// Why the sandbox DAR directory could not be written.
#[derive(Debug, thiserror::Error)]
pub enum DarDirError {
    #[error(transparent)]
    Build(#[from] DarWriteError),
    #[error("cannot write the sandbox DARs into {}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn read_entry(bytes: &[u8], name: &str) -> Vec<u8> {
        let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).expect("zip");
        let mut file = zip.by_name(name).expect(name);
        let mut out = Vec::new();
        file.read_to_end(&mut out).expect("read");
        out
    }

    #[test]
    fn dalf_package_id_is_sha256_of_payload() {
        let (dalf, id) = synthetic_dalf(&PackageSpec::new("p", "1.0.0"));
        let archive = Archive::decode(dalf.as_slice()).expect("archive");
        assert_eq!(archive.hash, id);
        assert_eq!(hex::encode(Sha256::digest(&archive.payload)), id);
        let payload = ArchivePayload::decode(archive.payload.as_slice()).expect("payload");
        assert_eq!(payload.minor, LF_MINOR);
        assert!(matches!(
            payload.sum,
            Some(archive_payload::Sum::DamlLf2(_))
        ));
    }

    #[test]
    fn dar_holds_manifest_and_every_dalf() {
        let dar = exchange_treasury_dar().expect("dar");
        assert_eq!(dar.file_name, "exchange-treasury-1.0.0.dar");
        assert_eq!(dar.package_ids.len(), 2);
        assert_eq!(dar.package_ids[0], exchange_treasury_package_id());
        let manifest =
            String::from_utf8(read_entry(&dar.bytes, "META-INF/MANIFEST.MF")).expect("utf8");
        assert!(manifest.contains("Format: daml-lf\r\n"), "{manifest}");
        // Long values are broken at 72 bytes with a leading space on continuation lines.
        assert!(manifest.lines().all(|l| l.len() <= 72), "{manifest}");
        let joined = manifest.replace("\r\n ", "");
        let main_path = joined
            .lines()
            .find_map(|l| l.strip_prefix("Main-Dalf: "))
            .expect("Main-Dalf");
        let main =
            Archive::decode(read_entry(&dar.bytes, main_path).as_slice()).expect("main dalf");
        assert_eq!(main.hash, dar.main_package_id);
        let dalfs = joined
            .lines()
            .find_map(|l| l.strip_prefix("Dalfs: "))
            .expect("Dalfs");
        assert_eq!(dalfs.split(", ").count(), 2);
    }

    #[test]
    fn sandbox_dar_directory_is_written_and_readable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = write_sandbox_dars(&dir.path().join("dars")).expect("written");
        let names: Vec<String> = files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            names,
            vec!["exchange-treasury-1.0.0.dar", "token-adapter-2.1.0.dar"]
        );
        let listed = crate::dar::dar_files(&dir.path().join("dars")).expect("listed");
        assert_eq!(listed, files);
        let info = crate::dar::inspect(&files[1]).expect("a valid DAR");
        assert_eq!(info.name.as_deref(), Some("token-adapter"));
        assert_eq!(info.version.as_deref(), Some("2.1.0"));
        assert!(info.warnings.is_empty(), "{:?}", info.warnings);
    }

    #[test]
    fn generation_is_deterministic_and_dars_differ() {
        let a = exchange_treasury_dar().expect("dar");
        let b = token_adapter_dar().expect("dar");
        assert_eq!(a.bytes, exchange_treasury_dar().expect("dar").bytes);
        assert_ne!(a.main_package_id, b.main_package_id);
        // Both carry the same dependency.
        assert_eq!(a.package_ids[1], b.package_ids[1]);
    }
}
