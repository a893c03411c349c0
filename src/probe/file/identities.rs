//! `file.identities`: a Splice node identities dump is complete.
//!
//! The dump (`NodeIdentitiesDump`, from the validator's
//! `/api/validator/v0/admin/participant/identities`) is JSON: `id` (the participant id),
//! `keys` (each either `{keyPair, name?}` with a base64 private key pair, or
//! `{type, keyId, name?}` for a key held in a KMS), `authorizedStoreSnapshot` (base64 topology
//! snapshot) and an optional `version`.
//!
//! The file holds the participant's private keys, so:
//! - a file that its group or other users can read is refused before it is read;
//! - its content is parsed into types that borrow from (or, for escaped strings, copy into)
//!   buffers that are wiped when dropped, that print as `<redacted>`, and that live only for
//!   the duration of the check;
//! - nothing but counts, sizes, the participant id and fixed sentences leaves this module:
//!   no key material, no snapshot bytes and no excerpt of the JSON, not even in a parse
//!   error (`serde_json`'s own messages may quote values, so they are never shown).
//!
//! Known limit: `serde_json` unescapes strings that contain escapes in a scratch buffer of its
//! own, which is not wiped. Canton's base64 output never contains escapes.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use zeroize::Zeroizing;

use super::{FileError, display_name, human_size};
use crate::probe::{Observed, record};
use crate::value::Value;

/// No identities dump comes near this size; a bigger file is not read.
const MAX_SIZE: u64 = 64 * 1024 * 1024;

/// The longest invalid id quoted in a problem.
const MAX_SHOWN_ID: usize = 200;

/// Standard base64, with or without padding (Canton writes it padded).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(super) fn observe(path: &Path) -> Result<Observed, FileError> {
    // Non-blocking, so that a named pipe in the file's place cannot hang the probe; regular
    // files ignore the flag.
    let mut file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => FileError::Missing {
                path: path.display().to_string(),
            },
            _ => FileError::io(path, e),
        })?;
    // Check the opened file itself, so the file read is the file checked.
    let meta = file.metadata().map_err(|e| FileError::io(path, e))?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.display().to_string(),
            what: super::stat::kind_of(&meta),
        });
    }
    let mode = meta.permissions().mode() & 0o7777;
    let who = match (mode & 0o040 != 0, mode & 0o004 != 0) {
        (true, true) => Some("its group and all other users"),
        (true, false) => Some("its group"),
        (false, true) => Some("all other users"),
        (false, false) => None,
    };
    if let Some(who) = who {
        return Err(FileError::Exposed {
            path: path.display().to_string(),
            who,
            mode,
        });
    }
    let report = if meta.len() > MAX_SIZE {
        Report::unreadable(format!(
            "the file is {}, larger than any identities dump ({} at most)",
            human_size(meta.len()),
            human_size(MAX_SIZE)
        ))
    } else {
        let capacity = usize::try_from(meta.len()).unwrap_or(0).saturating_add(1);
        let mut content = Zeroizing::new(Vec::with_capacity(capacity));
        (&mut file)
            .take(MAX_SIZE + 1)
            .read_to_end(&mut content)
            .map_err(|e| FileError::io(path, e))?;
        check(&content)
    };
    Ok(report.observed(&display_name(path)))
}

/// What the check found. Holds no content of the dump but a valid participant id.
#[derive(Debug, Default, PartialEq, Eq)]
struct Report {
    participant_id: Option<String>,
    key_pairs: Option<i64>,
    kms_keys: Option<i64>,
    snapshot_bytes: Option<i64>,
    problems: Vec<String>,
}

impl Report {
    fn unreadable(problem: String) -> Report {
        Report {
            problems: vec![problem],
            ..Report::default()
        }
    }

    fn observed(&self, name: &str) -> Observed {
        let valid = self.problems.is_empty();
        let opt_int = |v: Option<i64>| v.map_or(Value::Null, Value::Integer);
        let value = record([
            ("valid", Value::Bool(valid)),
            (
                "participant_id",
                self.participant_id.clone().map_or(Value::Null, Value::Text),
            ),
            ("keys", opt_int(self.key_pairs)),
            ("kms_keys", opt_int(self.kms_keys)),
            ("snapshot_bytes", opt_int(self.snapshot_bytes)),
            (
                "problem",
                self.problems
                    .first()
                    .cloned()
                    .map_or(Value::Null, Value::Text),
            ),
        ]);
        let summary = if valid {
            format!(
                "{name}: valid identities dump of {}: {} key pair{}, {} KMS key{}, authorized \
                 store snapshot of {}",
                self.participant_id.as_deref().unwrap_or("?"),
                self.key_pairs.unwrap_or(0),
                plural(self.key_pairs),
                self.kms_keys.unwrap_or(0),
                plural(self.kms_keys),
                human_size(self.snapshot_bytes.unwrap_or(0).unsigned_abs()),
            )
        } else {
            let n = self.problems.len();
            format!(
                "{name}: NOT a valid identities dump: {}{}",
                self.problems.join("; "),
                if n > 1 {
                    format!(" ({n} problems)")
                } else {
                    String::new()
                }
            )
        };
        Observed { value, summary }
    }
}

fn plural(n: Option<i64>) -> &'static str {
    if n == Some(1) { "" } else { "s" }
}

/// Checks the content of a dump.
fn check(content: &[u8]) -> Report {
    let top = match serde_json::from_slice::<Top<'_>>(content) {
        Ok(top) => top,
        Err(e) => return Report::unreadable(json_problem(&e)),
    };
    let fields = match top {
        Top::Object(fields) => fields,
        Top::Other(kind) => {
            return Report::unreadable(format!(
                "the file is JSON but holds {kind}, not an identities dump object"
            ));
        }
    };
    let mut report = Report::default();
    match &fields.id {
        None => report.problems.push("id is missing".into()),
        Some(Field::Other(kind)) => report.problems.push(format!("id is {kind}, not a string")),
        Some(Field::Text(id)) => match check_participant_id(id.as_str()) {
            Ok(()) => report.participant_id = Some(id.as_str().to_owned()),
            Err(why) => report.problems.push(why),
        },
    }
    match &fields.keys {
        None => report.problems.push("keys is missing".into()),
        Some(Keys::Other(kind)) => report
            .problems
            .push(format!("keys is {kind}, not an array")),
        Some(Keys::List(entries)) => {
            if entries.is_empty() {
                report.problems.push("keys is empty".into());
            }
            let (mut pairs, mut kms) = (0, 0);
            for (i, entry) in entries.iter().enumerate() {
                match entry.kind() {
                    Ok(KeyKind::Pair) => pairs += 1,
                    Ok(KeyKind::Kms) => kms += 1,
                    Err(why) => report.problems.push(format!("keys[{i}]{why}")),
                }
            }
            report.key_pairs = Some(pairs);
            report.kms_keys = Some(kms);
        }
    }
    match &fields.snapshot {
        None => report
            .problems
            .push("authorizedStoreSnapshot is missing".into()),
        Some(Field::Other(kind)) => report
            .problems
            .push(format!("authorizedStoreSnapshot is {kind}, not a string")),
        Some(Field::Text(s)) => match decoded_len(s.as_str()) {
            Some(0) => report
                .problems
                .push("authorizedStoreSnapshot is empty".into()),
            Some(n) => report.snapshot_bytes = Some(i64::try_from(n).unwrap_or(i64::MAX)),
            None => report
                .problems
                .push("authorizedStoreSnapshot is not valid base64".into()),
        },
    }
    report
}

/// A JSON error in words, without `serde_json`'s message (which may quote the content).
fn json_problem(e: &serde_json::Error) -> String {
    let at = format!("line {}, column {}", e.line(), e.column());
    match e.classify() {
        serde_json::error::Category::Eof => {
            format!("the file is not valid JSON: it ends early ({at})")
        }
        serde_json::error::Category::Syntax => {
            format!("the file is not valid JSON: syntax error at {at}")
        }
        serde_json::error::Category::Data | serde_json::error::Category::Io => {
            format!("the file is not an identities dump (at {at})")
        }
    }
}

/// The id as it may be quoted in a message: short, printable, and without a long run of
/// base64 characters that is not a hex fingerprint (key material pasted into the wrong field
/// must not be echoed).
fn quotable(id: &str) -> Option<&str> {
    const LONGEST_RUN: usize = 20;
    if id.len() > MAX_SHOWN_ID || id.chars().any(char::is_control) {
        return None;
    }
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let suspicious = id
        .split(|c: char| !b64(c))
        .any(|run| run.len() >= LONGEST_RUN && !run.chars().all(|c| c.is_ascii_hexdigit()));
    (!suspicious).then_some(id)
}

/// `PAR::<name>::1220<64 hex digits>` (the fingerprint is a SHA-256 multihash).
fn check_participant_id(id: &str) -> Result<(), String> {
    let fail = |why: &str| {
        let quoted = match quotable(id) {
            Some(s) => format!("'{s}'"),
            None => format!("({} characters, not shown)", id.chars().count()),
        };
        Err(format!(
            "id {quoted} is not a participant id (PAR::name::fingerprint){why}"
        ))
    };
    let Some(rest) = id.strip_prefix("PAR::") else {
        return fail("");
    };
    let Some((name, fingerprint)) = rest.rsplit_once("::") else {
        return fail("");
    };
    if name.is_empty() {
        return fail(": the name is empty");
    }
    if name.contains("::") {
        return fail(": the name contains '::'");
    }
    let hex_ok = fingerprint.len() == 68
        && fingerprint.starts_with("1220")
        && fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !hex_ok {
        return fail(": the fingerprint must be 1220 followed by 64 lowercase hex digits");
    }
    Ok(())
}

/// The length of a base64 text decoded (`None` if it is not base64). The decoded bytes are
/// written to a buffer of the final size (no reallocation copies) that is wiped on drop.
fn decoded_len(text: &str) -> Option<usize> {
    let mut buf = Zeroizing::new(vec![0u8; base64::decoded_len_estimate(text.len())]);
    BASE64.decode_slice(text, &mut buf[..]).ok()
}

/// A string from the dump that may be key material: wiped when owned, never printed.
enum Sensitive<'a> {
    Borrowed(&'a str),
    Owned(Zeroizing<String>),
}

impl Sensitive<'_> {
    fn as_str(&self) -> &str {
        match self {
            Sensitive::Borrowed(s) => s,
            Sensitive::Owned(s) => s.as_str(),
        }
    }
}

impl fmt::Debug for Sensitive<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A JSON value where a string is expected: the string, or what was there instead.
#[derive(Debug)]
enum Field<'a> {
    Text(Sensitive<'a>),
    /// "a number", "an object"…
    Other(&'static str),
}

/// A visitor that accepts any JSON value: a string is kept, anything else is skipped over
/// and only its kind is kept.
struct AnyValue;

/// Skips the rest of an array, returning its kind.
fn skip_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<&'static str, A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok("an array")
}

/// Skips the rest of an object, returning its kind.
fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<&'static str, A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok("an object")
}

impl<'de> Visitor<'de> for AnyValue {
    type Value = Field<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Field::Text(Sensitive::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Field::Text(Sensitive::Owned(Zeroizing::new(v.to_owned()))))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Field::Text(Sensitive::Owned(Zeroizing::new(v))))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Field::Other("a boolean"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Field::Other("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Field::Other("a number"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Field::Other("a number"))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Field::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(Field::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(Field::Other)
    }
}

impl<'de> Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyValue)
    }
}

/// Implements `Deserialize` for a type that wants one JSON shape (an array or an object) and
/// records the kind of anything else, using [`AnyValue`] for the rest.
macro_rules! loose {
    ($ty:ident, $other:path, $expecting:literal, $($method:tt)*) => {
        impl<'de> Deserialize<'de> for $ty<'de> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    $($method)*
                    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
                        Ok($other("a string"))
                    }
                    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                        Ok($other("a string"))
                    }
                    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                        Ok($other("a boolean"))
                    }
                    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                        Ok($other("a number"))
                    }
                    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                        Ok($other("a number"))
                    }
                    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                        Ok($other("a number"))
                    }
                    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok($other("null"))
                    }
                    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                        Ok($other("null"))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

/// The `keys` array.
#[derive(Debug)]
enum Keys<'a> {
    List(Vec<Entry<'a>>),
    Other(&'static str),
}

loose! {
    Keys,
    Keys::Other,
    "an array of keys",
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element::<Entry<'de>>()? {
            entries.push(entry);
        }
        Ok(Keys::List(entries))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(Keys::Other)
    }
}

/// One element of `keys`.
#[derive(Debug)]
enum Entry<'a> {
    Object {
        key_pair: Option<Field<'a>>,
        kms_type: Option<Field<'a>>,
        key_id: Option<Field<'a>>,
    },
    Other(&'static str),
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum EntryField {
    KeyPair,
    Type,
    KeyId,
    #[serde(other)]
    Ignored,
}

loose! {
    Entry,
    Entry::Other,
    "a key",
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut key_pair, mut kms_type, mut key_id) = (None, None, None);
        while let Some(name) = map.next_key::<EntryField>()? {
            match name {
                EntryField::KeyPair => key_pair = Some(map.next_value::<Field<'de>>()?),
                EntryField::Type => kms_type = Some(map.next_value::<Field<'de>>()?),
                EntryField::KeyId => key_id = Some(map.next_value::<Field<'de>>()?),
                EntryField::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Entry::Object {
            key_pair,
            kms_type,
            key_id,
        })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(Entry::Other)
    }
}

enum KeyKind {
    Pair,
    Kms,
}

impl Entry<'_> {
    /// What kind of key this is, or what is wrong with it (a phrase that follows `keys[i]`).
    fn kind(&self) -> Result<KeyKind, String> {
        let (key_pair, kms_type, key_id) = match self {
            Entry::Object {
                key_pair,
                kms_type,
                key_id,
            } => (key_pair, kms_type, key_id),
            Entry::Other(kind) => return Err(format!(" is {kind}, not an object")),
        };
        match (key_pair, key_id) {
            (Some(Field::Other(kind)), _) => Err(format!(".keyPair is {kind}, not a string")),
            (Some(Field::Text(pair)), _) => match decoded_len(pair.as_str()) {
                Some(0) => Err(".keyPair is empty".into()),
                Some(_) => Ok(KeyKind::Pair),
                None => Err(".keyPair is not valid base64".into()),
            },
            (None, Some(Field::Other(kind))) => Err(format!(".keyId is {kind}, not a string")),
            (None, Some(Field::Text(id))) => {
                if id.as_str().is_empty() {
                    return Err(".keyId is empty".into());
                }
                match kms_type {
                    Some(Field::Text(t)) if matches!(t.as_str(), "signing" | "encryption") => {
                        Ok(KeyKind::Kms)
                    }
                    Some(_) => Err(".type must be \"signing\" or \"encryption\"".into()),
                    None => Err(" has a keyId but no type".into()),
                }
            }
            (None, None) => Err(" has neither a keyPair nor a keyId".into()),
        }
    }
}

/// The top level of the dump.
#[derive(Debug)]
enum Top<'a> {
    Object(Fields<'a>),
    Other(&'static str),
}

#[derive(Debug)]
struct Fields<'a> {
    id: Option<Field<'a>>,
    keys: Option<Keys<'a>>,
    snapshot: Option<Field<'a>>,
}

#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum TopField {
    Id,
    Keys,
    AuthorizedStoreSnapshot,
    #[serde(other)]
    Ignored,
}

loose! {
    Top,
    Top::Other,
    "an identities dump object",
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Fields {
            id: None,
            keys: None,
            snapshot: None,
        };
        while let Some(name) = map.next_key::<TopField>()? {
            match name {
                TopField::Id => fields.id = Some(map.next_value::<Field<'de>>()?),
                TopField::Keys => fields.keys = Some(map.next_value::<Keys<'de>>()?),
                TopField::AuthorizedStoreSnapshot => {
                    fields.snapshot = Some(map.next_value::<Field<'de>>()?);
                }
                TopField::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Top::Object(fields))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(Top::Other)
    }
}

#[cfg(test)]
mod tests;
