//! DAR reading against the real DARs in `shared/fixtures/dars/` and against broken DARs built
//! here.
//!
//! The expected package ids were computed independently of this crate: each DAR was opened
//! with Python's `zipfile`, the manifest's continuation lines rejoined, every `.dalf` listed
//! in `Dalfs` parsed with a 30-line hand-written protobuf reader (field 3 = payload, field 4 =
//! declared hash) and the payload hashed with `hashlib.sha256`. For every fixture the
//! declared hash equalled the computed one; the ids embedded in the file names agree as well.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use canton_dr::dar::{self, DarProblem, Limits, NameSource};
use prost::Message;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/dars")
        .join(name)
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("read fixture")
}

#[test]
fn ping_dar_packages_are_hashed_from_the_payload() {
    let info = dar::inspect(fixture("canton-builtin-admin-workflow-ping.dar")).expect("inspect");
    assert_eq!(
        info.main_package_id,
        "de2cc2f90eb523414ff54e899951dadd8789a4c07e0f71f6d6c9eaf57d412a54"
    );
    assert_eq!(
        info.name.as_deref(),
        Some("canton-builtin-admin-workflow-ping")
    );
    assert_eq!(info.version.as_deref(), Some("3.4.0"));
    assert_eq!(info.name_source, NameSource::Manifest);
    assert_eq!(
        info.sdk_version.as_deref(),
        Some("3.4.0-snapshot.20251020.14338.0.v0c8ae53c")
    );
    assert_eq!(info.packages.len(), 30);
    assert!(info.packages[0].main);
    assert_eq!(info.packages[0].payload_size, 148_192);
    assert_eq!(info.packages[0].size, 148_262);
    let ids: Vec<&str> = info
        .packages
        .iter()
        .map(|p| p.package_id.as_str())
        .collect();
    // daml-prim and one of its exception packages, from the reference computation.
    assert!(ids.contains(&"590736e6f7bc01492007ecb27f3fe75995c19fbd3d41b384aada69619fd4f76c"));
    assert!(ids.contains(&"ee33fb70918e7aaa3d3fc44d64a399fb2bf5bcefc54201b1690ecd448551ba88"));
    assert!(info.packages.iter().all(|p| p.lf_version.is_some()));
}

#[test]
fn definitions_service_dar_has_its_dependency_and_warns_about_lf_dev() {
    let info = dar::inspect(fixture("DamlDefinitionsServiceMain.dar")).expect("inspect");
    assert_eq!(
        info.main_package_id,
        "14f62ac81f5802d0a02aaf6516ac066a96b0ccb170bd64d271cc69ff4bd92da8"
    );
    assert_eq!(info.name.as_deref(), Some("DamlDefinitionsServiceMain"));
    assert_eq!(info.version.as_deref(), Some("3.4.0"));
    assert_eq!(info.packages.len(), 31);
    let dep = info
        .packages
        .iter()
        .find(|p| p.path.contains("DamlDefinitionsServiceDep"))
        .expect("dependency listed");
    assert_eq!(
        dep.package_id,
        "8647afd5a9d03559ca543929fd840e28dfe8c76cd495f049d9df781c5ac387ee"
    );
    let stdlib = info
        .packages
        .iter()
        .find(|p| p.path.contains("daml-stdlib-3.4.0"))
        .expect("stdlib listed");
    assert_eq!(
        stdlib.package_id,
        "4a510225d8af4aa915d0349c980500f3e275367ead5cecd368a64edcbcb70471"
    );
    // The main package is Daml-LF 2.dev.
    assert_eq!(info.packages[0].lf_version.as_deref(), Some("2.dev"));
    assert!(
        info.warnings
            .iter()
            .any(|w| w.contains(&info.main_package_id) && w.contains("dev mode")),
        "{:?}",
        info.warnings
    );
}

#[test]
fn party_replication_dar_reads() {
    let info = dar::inspect(fixture(
        "canton-builtin-admin-workflow-party-replication-alpha.dar",
    ))
    .expect("inspect");
    assert_eq!(
        info.main_package_id,
        "8541ef08471ba3c76985347802fce4f7133435cb12110b9c9a1c050c7cb8b8c5"
    );
    assert_eq!(info.version.as_deref(), Some("3.5.0"));
    assert_eq!(info.packages.len(), 30);
}

#[test]
fn old_sdk_dar_without_name_is_named_after_its_main_dalf_and_flagged_as_lf1() {
    // CRLF manifest, no Name attribute, LF 1.15 archive.
    let info = dar::inspect(fixture("dummy-1.15.dar")).expect("inspect");
    assert_eq!(
        info.main_package_id,
        "968b64d6f60d3643a9554d5ea10bae48b0eac89be3598c369426d382b9b9cc2b"
    );
    assert_eq!(info.name.as_deref(), Some("archive"));
    assert_eq!(info.version, None);
    assert_eq!(info.name_source, NameSource::MainDalfPath);
    assert_eq!(info.sdk_version.as_deref(), Some("0.0.0"));
    assert_eq!(info.packages[0].lf_version.as_deref(), Some("1.15"));
    assert!(
        info.warnings.iter().any(|w| w.contains("Daml-LF 1.15")),
        "{:?}",
        info.warnings
    );
    let text = dar::render_text(&info);
    assert!(text.contains("taken from the main dalf"), "{text}");
    assert!(text.contains("Version       (unknown)"), "{text}");
}

#[test]
fn illformed_dar_is_structurally_readable_and_its_id_is_reported() {
    // illformed.dar is a well-formed container around an ill-typed Daml-LF 2.1 package: the
    // zip, manifest and archive hash are all valid (Canton's own DAR reader accepts it too);
    // only a participant's Daml-LF validation rejects it. Reading it must therefore succeed
    // and name the package, so that the participant's rejection can be matched to it.
    let info = dar::inspect(fixture("illformed.dar")).expect("inspect");
    assert_eq!(
        info.main_package_id,
        "dc0563f935abf08b498003bcf8ec6b070a619ff05ae4a091572863947cc8901c"
    );
    assert_eq!(info.packages[0].lf_version.as_deref(), Some("2.1"));
    assert!(info.warnings.is_empty(), "{:?}", info.warnings);
}

#[test]
fn render_text_lists_every_package_with_the_main_first() {
    let info = dar::inspect(fixture("canton-builtin-admin-workflow-ping.dar")).expect("inspect");
    let text = dar::render_text(&info);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("canton-builtin-admin-workflow-ping"));
    let main_line = lines
        .iter()
        .position(|l| l.starts_with('*'))
        .expect("main line");
    assert!(lines[main_line].contains(&info.main_package_id));
    let package_lines = lines
        .iter()
        .filter(|l| {
            l.get(2..66)
                .is_some_and(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .count();
    assert_eq!(package_lines, 30);
    let json = serde_json::to_value(&info).expect("json");
    assert_eq!(json["main_package_id"], info.main_package_id);
    assert_eq!(json["packages"].as_array().map(Vec::len), Some(30));
}

// ---- broken DARs built here ----

const MANIFEST: &str = "META-INF/MANIFEST.MF";

fn archive_bytes(payload: &[u8], hash: Option<&str>) -> Vec<u8> {
    let computed = hex::encode(Sha256::digest(payload));
    canton_dr::probe::canton::proto::daml_lf::Archive {
        hash_function: 0,
        payload: payload.to_vec(),
        hash: hash.map(str::to_string).unwrap_or(computed),
    }
    .encode_to_vec()
}

/// An LF 2.1 payload header around some opaque package bytes.
fn payload(tag: &[u8]) -> Vec<u8> {
    canton_dr::probe::canton::proto::daml_lf::ArchivePayload {
        minor: "1".into(),
        patch: 0,
        sum: Some(
            canton_dr::probe::canton::proto::daml_lf::archive_payload::Sum::DamlLf2(tag.to_vec()),
        ),
    }
    .encode_to_vec()
}

fn build_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(*name, SimpleFileOptions::default())
            .expect("start");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish").into_inner()
}

fn manifest(main: Option<&str>, dalfs: Option<&str>, format: Option<&str>) -> Vec<u8> {
    let mut m = String::from("Manifest-Version: 1.0\r\nCreated-By: test\r\n");
    if let Some(main) = main {
        m.push_str(&format!("Main-Dalf: {main}\r\n"));
    }
    if let Some(dalfs) = dalfs {
        m.push_str(&format!("Dalfs: {dalfs}\r\n"));
    }
    if let Some(format) = format {
        m.push_str(&format!("Format: {format}\r\n"));
    }
    m.push_str("\r\n");
    m.into_bytes()
}

fn problem(bytes: &[u8]) -> DarProblem {
    dar::from_bytes(bytes).expect_err("must be refused").problem
}

#[test]
fn a_minimal_built_dar_reads_and_its_id_is_the_payload_hash() {
    let p = payload(b"package");
    let id = hex::encode(Sha256::digest(&p));
    let a = archive_bytes(&p, None);
    let m = manifest(
        Some("pkg/main.dalf"),
        Some("pkg/main.dalf"),
        Some("daml-lf"),
    );
    let info = dar::from_bytes(&build_zip(&[(MANIFEST, &m), ("pkg/main.dalf", &a)])).expect("ok");
    assert_eq!(info.main_package_id, id);
    assert_eq!(info.name.as_deref(), Some("main"));
}

#[test]
fn not_a_zip_is_refused() {
    let p = problem(b"this is a text file, not a DAR at all");
    assert!(matches!(p, DarProblem::NotZip { .. }), "{p}");
    assert!(p.to_string().contains("not a zip archive"), "{p}");
    let e = dar::from_bytes(b"").expect_err("empty");
    assert!(e.to_string().starts_with("DAR: not a DAR"), "{e}");
}

#[test]
fn a_zip_without_manifest_is_refused() {
    let a = archive_bytes(&payload(b"x"), None);
    let p = problem(&build_zip(&[("main.dalf", &a)]));
    assert!(matches!(p, DarProblem::NoManifest), "{p}");
    assert_eq!(p.to_string(), "not a DAR: there is no META-INF/MANIFEST.MF");
}

#[test]
fn missing_manifest_attributes_are_named() {
    let a = archive_bytes(&payload(b"x"), None);
    let cases = [
        (manifest(None, Some("m.dalf"), Some("daml-lf")), "Main-Dalf"),
        (manifest(Some("m.dalf"), None, Some("daml-lf")), "Dalfs"),
        (manifest(Some("m.dalf"), Some("m.dalf"), None), "Format"),
    ];
    for (m, attribute) in cases {
        let p = problem(&build_zip(&[(MANIFEST, &m), ("m.dalf", &a)]));
        assert!(
            matches!(p, DarProblem::MissingAttribute { attribute: a } if a == attribute),
            "{p}"
        );
        assert_eq!(
            p.to_string(),
            format!("META-INF/MANIFEST.MF has no {attribute} attribute")
        );
    }
    let m = manifest(Some("m.dalf"), Some("m.dalf"), Some("jar"));
    let p = problem(&build_zip(&[(MANIFEST, &m), ("m.dalf", &a)]));
    assert!(matches!(p, DarProblem::WrongFormat { .. }), "{p}");
}

#[test]
fn main_dalf_naming_a_missing_entry_is_refused() {
    let a = archive_bytes(&payload(b"x"), None);
    let m = manifest(Some("gone.dalf"), Some("gone.dalf"), Some("daml-lf"));
    let p = problem(&build_zip(&[(MANIFEST, &m), ("other.dalf", &a)]));
    assert_eq!(
        p.to_string(),
        "Main-Dalf names gone.dalf, which is not in the DAR"
    );
    let m = manifest(
        Some("m.dalf"),
        Some("m.dalf, dep/gone.dalf"),
        Some("daml-lf"),
    );
    let p = problem(&build_zip(&[(MANIFEST, &m), ("m.dalf", &a)]));
    assert_eq!(
        p.to_string(),
        "Dalfs lists dep/gone.dalf, which is not in the DAR"
    );
}

#[test]
fn a_truncated_dar_is_reported_as_truncated() {
    let bytes = fixture_bytes("canton-builtin-admin-workflow-ping.dar");
    for cut in [bytes.len() / 2, bytes.len() - 10, 100] {
        let p = problem(&bytes[..cut]);
        assert!(matches!(p, DarProblem::Truncated { .. }), "cut {cut}: {p}");
        assert!(p.to_string().contains("truncated"), "{p}");
    }
}

#[test]
fn a_hash_mismatch_names_the_entry() {
    let p = payload(b"x");
    let a = archive_bytes(&p, Some(&"0".repeat(64)));
    let m = manifest(Some("m.dalf"), Some("m.dalf"), Some("daml-lf"));
    let err = dar::from_bytes(&build_zip(&[(MANIFEST, &m), ("m.dalf", &a)])).expect_err("bad");
    match &err.problem {
        DarProblem::HashMismatch {
            entry,
            declared,
            computed,
        } => {
            assert_eq!(entry, "m.dalf");
            assert_eq!(declared, &"0".repeat(64));
            assert_eq!(computed, &hex::encode(Sha256::digest(&p)));
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("m.dalf"));
}

#[test]
fn a_dalf_that_is_not_an_archive_is_refused() {
    let m = manifest(Some("m.dalf"), Some("m.dalf"), Some("daml-lf"));
    let p = problem(&build_zip(&[
        (MANIFEST, &m),
        ("m.dalf", b"\xff\xff\xff garbage"),
    ]));
    assert!(
        matches!(p, DarProblem::MalformedArchive { ref entry, .. } if entry == "m.dalf"),
        "{p}"
    );
}

#[test]
fn limits_stop_zip_bombs() {
    let a = archive_bytes(&payload(&vec![7u8; 100_000]), None);
    let m = manifest(Some("m.dalf"), Some("m.dalf"), Some("daml-lf"));
    let bytes = build_zip(&[(MANIFEST, &m), ("m.dalf", &a), ("x", b"1"), ("y", b"2")]);
    let small = Limits {
        max_entry_size: 10_000,
        ..Limits::default()
    };
    let p = dar::from_bytes_with_limits(&bytes, &small)
        .expect_err("too large")
        .problem;
    assert!(
        matches!(p, DarProblem::EntryTooLarge { ref entry, .. } if entry == "m.dalf"),
        "{p}"
    );
    let few = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let p = dar::from_bytes_with_limits(&bytes, &few)
        .expect_err("too many")
        .problem;
    assert!(
        matches!(p, DarProblem::TooManyEntries { count: 4, limit: 3 }),
        "{p}"
    );
    let total = Limits {
        max_total_size: 50_000,
        ..Limits::default()
    };
    let p = dar::from_bytes_with_limits(&bytes, &total)
        .expect_err("total")
        .problem;
    assert!(matches!(p, DarProblem::TooLargeInTotal { .. }), "{p}");
    assert!(dar::from_bytes(&bytes).is_ok());
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let err = dar::inspect("/nonexistent/x.dar").expect_err("missing");
    assert!(
        err.to_string()
            .starts_with("DAR file /nonexistent/x.dar: cannot read the file")
    );
}

#[test]
fn dar_files_lists_only_dars() {
    let files = dar::dar_files(&fixture("")).expect("list");
    assert_eq!(files.len(), 5);
    assert!(
        files
            .iter()
            .all(|f| f.extension().is_some_and(|e| e == "dar"))
    );
}

mod fuzz {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = dar::from_bytes(&bytes);
            let mut with_magic = b"PK\x03\x04".to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = dar::from_bytes(&with_magic);
        }

        #[test]
        fn mutated_small_dars_never_panic(
            which in 0usize..2,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let name = ["dummy-1.15.dar", "illformed.dar"][which];
            let mut bytes = fixture_bytes(name);
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            if truncate {
                let n = cut.index(bytes.len());
                bytes.truncate(n);
            }
            let _ = dar::from_bytes(&bytes);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn mutated_large_dar_never_panics(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        ) {
            let mut bytes = fixture_bytes("canton-builtin-admin-workflow-ping.dar");
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            let _ = dar::from_bytes(&bytes);
        }
    }
}
