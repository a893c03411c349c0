use std::fs;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use serde_json::json;

use super::super::testutil::{self, assert_catalog_shape, flag, int, text};
use super::*;
use crate::probe::ProbeError;

const FINGERPRINT: &str = "1220a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const ID: &str = "PAR::exchange-validator-1::1220a3f1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// Random key material for one synthetic dump.
struct Material {
    pairs: Vec<Vec<u8>>,
    snapshot: Vec<u8>,
    /// A short key, only ever pasted into the id field.
    short: Vec<u8>,
}

impl Material {
    fn new() -> Material {
        let mut rng = rand::rng();
        let mut bytes = |n: usize| {
            let mut v = vec![0u8; n];
            rng.fill_bytes(&mut v);
            v
        };
        Material {
            pairs: vec![bytes(91), bytes(140)],
            snapshot: bytes(2048),
            short: bytes(18),
        }
    }

    fn dump(&self) -> serde_json::Value {
        json!({
            "id": ID,
            "keys": [
                {"keyPair": STANDARD.encode(&self.pairs[0]), "name": "namespace"},
                {"keyPair": STANDARD.encode(&self.pairs[1])},
                {"type": "encryption", "keyId": "kms-key-7", "name": "encryption"},
            ],
            "authorizedStoreSnapshot": STANDARD.encode(&self.snapshot),
            "version": "0.5.13",
        })
    }

    /// Every text that would betray the material: 12-character windows of each base64
    /// form, and the hex of every 8-byte window of the raw bytes.
    fn canaries(&self) -> Vec<String> {
        let mut out = Vec::new();
        for raw in self.pairs.iter().chain([&self.snapshot, &self.short]) {
            let b64 = STANDARD.encode(raw);
            let chars: Vec<char> = b64.chars().collect();
            for w in chars.windows(12).step_by(3) {
                out.push(w.iter().collect());
            }
            for w in raw.windows(8).step_by(4) {
                out.push(hex::encode(w));
            }
        }
        out
    }
}

fn write(dir: &Path, name: &str, content: &[u8], mode: u32) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, content).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn identities(path: &Path) -> Result<Observed, ProbeError> {
    let req = testutil::request("file.identities", &[("path", &path.display().to_string())]);
    let o = super::super::observe(&req, chrono::Utc::now());
    if let Ok(o) = &o {
        assert_catalog_shape("file.identities", o);
    }
    o
}

fn problem_of(value: &serde_json::Value) -> (bool, Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ids.json", value.to_string().as_bytes(), 0o600);
    let o = identities(&path).unwrap();
    (flag(&o, "valid"), text(&o, "problem"))
}

#[test]
fn a_complete_dump_is_valid() {
    let m = Material::new();
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "identities.json",
        m.dump().to_string().as_bytes(),
        0o600,
    );
    let o = identities(&path).unwrap();
    assert!(flag(&o, "valid"), "{}", o.summary);
    assert_eq!(text(&o, "participant_id").as_deref(), Some(ID));
    assert_eq!(int(&o, "keys"), Some(2));
    assert_eq!(int(&o, "kms_keys"), Some(1));
    assert_eq!(int(&o, "snapshot_bytes"), Some(2048));
    assert_eq!(text(&o, "problem"), None);
    assert_eq!(
        o.summary,
        format!(
            "identities.json: valid identities dump of {ID}: 2 key pairs, 1 KMS key, \
             authorized store snapshot of 2.0 KiB"
        )
    );
}

#[test]
fn each_defect_is_named() {
    let m = Material::new();
    let good = m.dump();
    let with = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = good.clone();
        edit(&mut v);
        v
    };
    let cases: Vec<(serde_json::Value, &str)> = vec![
        (with(&|v| v["keys"] = json!([])), "keys is empty"),
        (
            with(&|v| {
                v.as_object_mut().unwrap().remove("keys");
            }),
            "keys is missing",
        ),
        (
            with(&|v| v["keys"] = json!("abc")),
            "keys is a string, not an array",
        ),
        (
            with(&|v| v["id"] = json!("participant1")),
            "id 'participant1' is not a participant id (PAR::name::fingerprint)",
        ),
        (
            with(&|v| v["id"] = json!("PAR::validator::1220abc")),
            "id 'PAR::validator::1220abc' is not a participant id (PAR::name::fingerprint): \
             the fingerprint must be 1220 followed by 64 lowercase hex digits",
        ),
        (
            with(&|v| v["id"] = json!(format!("PAR::::{FINGERPRINT}"))),
            "the name is empty",
        ),
        (
            with(&|v| v["id"] = json!(format!("SEQ::validator::{FINGERPRINT}"))),
            "is not a participant id",
        ),
        (
            with(&|v| v["id"] = json!(42)),
            "id is a number, not a string",
        ),
        (
            with(&|v| v["keys"][1]["keyPair"] = json!("not base64!")),
            "keys[1].keyPair is not valid base64",
        ),
        (
            with(&|v| v["keys"][0]["keyPair"] = json!("")),
            "keys[0].keyPair is empty",
        ),
        (
            with(&|v| v["keys"][0]["keyPair"] = json!({"nested": "x"})),
            "keys[0].keyPair is an object, not a string",
        ),
        (
            with(&|v| v["keys"][2]["type"] = json!("other")),
            "keys[2].type must be \"signing\" or \"encryption\"",
        ),
        (
            with(&|v| v["keys"][2] = json!({"name": "orphan"})),
            "keys[2] has neither a keyPair nor a keyId",
        ),
        (
            with(&|v| v["keys"][0] = json!(7)),
            "keys[0] is a number, not an object",
        ),
        (
            with(&|v| {
                v.as_object_mut().unwrap().remove("authorizedStoreSnapshot");
            }),
            "authorizedStoreSnapshot is missing",
        ),
        (
            with(&|v| v["authorizedStoreSnapshot"] = json!("")),
            "authorizedStoreSnapshot is empty",
        ),
        (
            with(&|v| v["authorizedStoreSnapshot"] = json!("%%%")),
            "authorizedStoreSnapshot is not valid base64",
        ),
        (
            json!([1, 2]),
            "the file is JSON but holds an array, not an identities dump object",
        ),
    ];
    for (value, expected) in cases {
        let (valid, problem) = problem_of(&value);
        assert!(!valid, "should be invalid: {expected}");
        let problem = problem.unwrap_or_default();
        assert!(
            problem.contains(expected),
            "expected a problem containing {expected:?}, got {problem:?}"
        );
    }
}

#[test]
fn several_defects_are_all_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let v = json!({"id": "x", "keys": [], "authorizedStoreSnapshot": ""});
    let path = write(dir.path(), "ids.json", v.to_string().as_bytes(), 0o400);
    let o = identities(&path).unwrap();
    assert_eq!(
        text(&o, "problem").as_deref(),
        Some("id 'x' is not a participant id (PAR::name::fingerprint)")
    );
    assert_eq!(
        o.summary,
        "ids.json: NOT a valid identities dump: id 'x' is not a participant id \
         (PAR::name::fingerprint); keys is empty; authorizedStoreSnapshot is empty (3 problems)"
    );
}

#[test]
fn a_file_that_is_not_json_is_invalid_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ids.json", b"keyPair: hunter2\n", 0o600);
    let o = identities(&path).unwrap();
    assert!(!flag(&o, "valid"));
    assert_eq!(
        text(&o, "problem").as_deref(),
        Some("the file is not valid JSON: syntax error at line 1, column 1")
    );
    assert_eq!(int(&o, "keys"), None);

    let path = write(dir.path(), "cut.json", b"{\"id\": \"PAR::a", 0o600);
    let o = identities(&path).unwrap();
    assert_eq!(
        text(&o, "problem").as_deref(),
        Some("the file is not valid JSON: it ends early (line 1, column 14)")
    );
}

#[test]
fn a_readable_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, who) in [
        (0o644, "its group and all other users"),
        (0o640, "its group"),
        (0o604, "all other users"),
    ] {
        let path = write(dir.path(), "ids.json", b"not even json", mode);
        let e = identities(&path).unwrap_err();
        assert_eq!(
            e.message,
            format!(
                "{p}: refusing to read it because it is readable by {who} (mode {mode:04o}); an \
                 identities dump holds the participant's private keys, so restrict it first \
                 (chmod 600 {p})",
                p = path.display()
            )
        );
    }
}

#[test]
fn a_missing_or_odd_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.json");
    assert_eq!(
        identities(&path).unwrap_err().message,
        format!("{}: no such file", path.display())
    );
    assert_eq!(
        identities(dir.path()).unwrap_err().message,
        format!(
            "{}: is a directory, not a regular file",
            dir.path().display()
        )
    );
}

#[test]
fn escaped_strings_are_read_too() {
    let m = Material::new();
    // Escape every '/' as some JSON writers do, forcing the unescaping (owned) path.
    let text_form = m.dump().to_string().replace('/', "\\/");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ids.json", text_form.as_bytes(), 0o600);
    let o = identities(&path).unwrap();
    assert!(flag(&o, "valid"), "{}", o.summary);
    assert_eq!(int(&o, "snapshot_bytes"), Some(2048));
}

/// No byte of the key material or the snapshot may appear in anything this module returns:
/// results, summaries, errors, or `Debug` output of the values and of the parsed dump.
#[test]
fn no_key_material_ever_leaves_the_module() {
    let m = Material::new();
    let good = m.dump();
    let mut outputs: Vec<String> = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let mut variants: Vec<(Vec<u8>, u32)> = vec![
        (good.to_string().into_bytes(), 0o600),
        (good.to_string().replace('/', "\\/").into_bytes(), 0o600),
        (good.to_string().into_bytes(), 0o644), // refused
    ];
    let mut bad = good.clone();
    bad["id"] = json!(STANDARD.encode(&m.pairs[0])); // key material where the id belongs
    variants.push((bad.to_string().into_bytes(), 0o600));
    let mut bad = good.clone();
    bad["id"] = json!(format!("PAR::x::{}", STANDARD.encode(&m.snapshot)));
    variants.push((bad.to_string().into_bytes(), 0o600));
    let mut bad = good.clone();
    bad["id"] = json!(format!("PAR::x::{}", STANDARD.encode(&m.short)));
    variants.push((bad.to_string().into_bytes(), 0o600));
    let mut bad = good.clone();
    bad["keys"][0]["keyPair"] = json!(format!("{}!", STANDARD.encode(&m.pairs[0])));
    variants.push((bad.to_string().into_bytes(), 0o600));
    let mut bad = good.clone();
    bad["keys"] = json!(STANDARD.encode(&m.pairs[1]));
    variants.push((bad.to_string().into_bytes(), 0o600));
    let mut bad = good.clone();
    bad["authorizedStoreSnapshot"] = json!({"inner": STANDARD.encode(&m.snapshot)});
    variants.push((bad.to_string().into_bytes(), 0o600));
    // Cut in the middle of the snapshot, and with a syntax error right after a key.
    let full = good.to_string();
    variants.push((full.as_bytes()[..full.len() - 40].to_vec(), 0o600));
    variants.push((
        full.replacen("\",\"name\"", "\" \"name\"", 1).into_bytes(),
        0o600,
    ));
    // Raw key bytes as the whole file.
    variants.push((m.pairs[0].clone(), 0o600));

    for (i, (content, mode)) in variants.iter().enumerate() {
        let path = write(dir.path(), &format!("ids-{i}.json"), content, *mode);
        match identities(&path) {
            Ok(o) => {
                outputs.push(format!("{o:?}"));
                outputs.push(o.summary.clone());
                outputs.push(o.value.to_string());
                outputs.push(o.value.to_json().to_string());
            }
            Err(e) => {
                outputs.push(format!("{e:?}"));
                outputs.push(e.to_string());
            }
        }
        if let Ok(parsed) = serde_json::from_slice::<Top<'_>>(content) {
            outputs.push(format!("{parsed:?}"));
        }
    }
    assert!(outputs.len() > 20, "every variant produced output");
    let canaries = m.canaries();
    for out in &outputs {
        for canary in &canaries {
            assert!(
                !out.contains(canary.as_str()),
                "key material ({canary}) leaked into: {out}"
            );
        }
    }
}
