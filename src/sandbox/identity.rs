//! The participant's node identity as the validator's identities endpoint hands it out
//! (`GET /api/validator/v0/admin/participant/identities`, a `NodeIdentitiesDump`): the
//! participant id, its private key pairs and the authorized-store topology snapshot.
//!
//! The key pairs are synthetic (random bytes; Canton's are serialized private keys, which look
//! the same from outside: base64 of opaque bytes), but they are the sandbox's secrets: they
//! live in wiped buffers, never print (`Debug` shows `<redacted>`), and leave the sandbox only
//! in the dump file the validator writes. The snapshot holds only public facts (fingerprints).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The Splice release whose dump format the sandbox writes.
pub const DUMP_VERSION: &str = "0.5.13";
/// The shortest key material a canary may set (shorter values would be found by chance).
pub const MIN_KEY_BYTES: usize = 16;

/// One private key pair of the participant.
pub struct IdentityKey {
    /// Canton's name of the key, e.g. `participant-signing`.
    pub name: String,
    bytes: Zeroizing<Vec<u8>>,
}

impl IdentityKey {
    /// The key pair's bytes (secret).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// `1220` and the SHA-256 of the key pair: what the topology snapshot names it by.
    fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"canton-dr sandbox public key of ");
        h.update(&*self.bytes);
        format!("1220{}", hex::encode(h.finalize()))
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKey")
            .field("name", &self.name)
            .field("bytes", &"<redacted>")
            .finish()
    }
}

/// The participant's identity.
#[derive(Debug)]
pub struct NodeIdentity {
    participant_id: String,
    keys: Vec<IdentityKey>,
    snapshot: Vec<u8>,
}

/// Why a dump is not this participant's identity (no content of the dump in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

impl NodeIdentity {
    /// The identity of participant `participant_id` (`PAR::name::1220…`) with fresh random key
    /// pairs. With `namespace_key`, that value's bytes are the namespace key pair (a test's
    /// canary); values shorter than [`MIN_KEY_BYTES`] are refused.
    pub fn generate(
        participant_id: &str,
        namespace_key: Option<&SecretString>,
    ) -> Result<NodeIdentity, String> {
        let name = participant_id
            .strip_prefix("PAR::")
            .and_then(|rest| rest.split_once("::"))
            .map(|(name, _)| name.to_string())
            .ok_or_else(|| format!("'{participant_id}' is not a participant id"))?;
        let mut rng = rand::rng();
        let mut random = |len: usize| {
            let mut v = Zeroizing::new(vec![0u8; len]);
            rng.fill(&mut v[..]);
            v
        };
        let namespace = match namespace_key {
            Some(k) if k.expose_secret().len() < MIN_KEY_BYTES => {
                return Err(format!(
                    "the namespace key given is shorter than {MIN_KEY_BYTES} bytes"
                ));
            }
            Some(k) => Zeroizing::new(k.expose_secret().as_bytes().to_vec()),
            None => random(96),
        };
        let keys = vec![
            IdentityKey {
                name: format!("{name}-namespace"),
                bytes: namespace,
            },
            IdentityKey {
                name: format!("{name}-signing"),
                bytes: random(96),
            },
            IdentityKey {
                name: format!("{name}-encryption"),
                bytes: random(120),
            },
        ];
        let snapshot = snapshot(participant_id, &keys);
        Ok(NodeIdentity {
            participant_id: participant_id.to_string(),
            keys,
            snapshot,
        })
    }

    /// The participant id.
    pub fn participant_id(&self) -> &str {
        &self.participant_id
    }

    /// The key pairs.
    pub fn keys(&self) -> &[IdentityKey] {
        &self.keys
    }

    /// The dump as the identities endpoint returns it (JSON). Secret: write it only into a
    /// private file.
    pub fn dump_json(&self) -> Zeroizing<Vec<u8>> {
        let keys: Vec<serde_json::Value> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "keyPair": STANDARD.encode(&*k.bytes),
                    "name": k.name,
                })
            })
            .collect();
        let value = serde_json::json!({
            "id": self.participant_id,
            "keys": keys,
            "authorizedStoreSnapshot": STANDARD.encode(&self.snapshot),
            "version": DUMP_VERSION,
        });
        let out = Zeroizing::new(serde_json::to_vec_pretty(&value).unwrap_or_default());
        // The intermediate value held the base64 texts; wipe what can be reached.
        if let serde_json::Value::Object(mut map) = value
            && let Some(serde_json::Value::Array(keys)) = map.remove("keys")
        {
            for k in keys {
                if let serde_json::Value::Object(mut k) = k
                    && let Some(serde_json::Value::String(s)) = k.remove("keyPair")
                {
                    drop(Zeroizing::new(s));
                }
            }
        }
        out
    }

    /// The values to register with a secret registry: each key pair in the base64 form the
    /// dump holds, and as is when it is text (a canary).
    pub fn secrets(&self) -> Vec<SecretString> {
        let mut out = Vec::new();
        for k in &self.keys {
            out.push(SecretString::from(STANDARD.encode(&*k.bytes)));
            if let Ok(text) = std::str::from_utf8(&k.bytes) {
                out.push(SecretString::from(text.to_string()));
            }
        }
        out
    }

    /// Checks that `dump` is a valid identities dump and is this participant's identity: the
    /// same id, exactly these key pairs (by name and bytes) and the same snapshot. Returns how
    /// many key pairs it holds.
    pub fn check_dump(&self, dump: &[u8]) -> Result<usize, Mismatch> {
        let parsed: DumpFile = serde_json::from_slice(dump).map_err(|e| {
            Mismatch(format!(
                "it is not an identities dump (JSON error at line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if !parsed.id.starts_with("PAR::") {
            return Err(Mismatch("its id is not a participant id".into()));
        }
        if parsed.id != self.participant_id {
            return Err(Mismatch(format!(
                "it is the identity of {}, not of this participant ({})",
                parsed.id, self.participant_id
            )));
        }
        if parsed.keys.is_empty() {
            return Err(Mismatch("it holds no keys".into()));
        }
        if parsed.keys.len() != self.keys.len() {
            return Err(Mismatch(format!(
                "it holds {} keys, the participant has {}",
                parsed.keys.len(),
                self.keys.len()
            )));
        }
        for (i, entry) in parsed.keys.iter().enumerate() {
            let Some(pair) = &entry.key_pair else {
                return Err(Mismatch(format!("keys[{i}] is not a key pair")));
            };
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(pair.0.as_bytes())
                    .map_err(|_| Mismatch(format!("keys[{i}].keyPair is not valid base64")))?,
            );
            let name = entry.name.as_deref().unwrap_or("");
            let Some(own) = self.keys.iter().find(|k| k.name == name) else {
                return Err(Mismatch(format!(
                    "keys[{i}] is named '{name}', which is none of the participant's keys"
                )));
            };
            if *bytes != *own.bytes {
                return Err(Mismatch(format!(
                    "key pair {name} differs from the participant's"
                )));
            }
        }
        let snapshot = STANDARD
            .decode(parsed.snapshot.as_bytes())
            .map_err(|_| Mismatch("authorizedStoreSnapshot is not valid base64".into()))?;
        if snapshot != self.snapshot {
            return Err(Mismatch(
                "its authorized store snapshot is not the participant's".into(),
            ));
        }
        Ok(parsed.keys.len())
    }
}

/// The part of a dump the check reads; the key pairs are wiped when dropped.
#[derive(Deserialize)]
struct DumpFile {
    id: String,
    keys: Vec<DumpKey>,
    #[serde(rename = "authorizedStoreSnapshot")]
    snapshot: String,
}

#[derive(Deserialize)]
struct DumpKey {
    #[serde(rename = "keyPair", default)]
    key_pair: Option<Wiped>,
    #[serde(default)]
    name: Option<String>,
}

/// A string from a dump that is wiped when dropped.
struct Wiped(Zeroizing<String>);

impl<'de> Deserialize<'de> for Wiped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Wiped, D::Error> {
        String::deserialize(d).map(|s| Wiped(Zeroizing::new(s)))
    }
}

/// A synthetic authorized-store snapshot: the topology transactions Splice's dump keeps
/// (namespace delegation, owner-to-key mapping, vetted packages) naming keys by fingerprint.
fn snapshot(participant_id: &str, keys: &[IdentityKey]) -> Vec<u8> {
    let namespace = participant_id.rsplit("::").next().unwrap_or_default();
    let fingerprints: Vec<String> = keys.iter().map(IdentityKey::fingerprint).collect();
    let mut lines = vec![
        "canton topology snapshot (sandbox)".to_string(),
        format!(
            "NamespaceDelegation namespace={namespace} target={} root=true",
            fingerprints.first().cloned().unwrap_or_default()
        ),
        format!(
            "OwnerToKeyMapping member={participant_id} keys={}",
            fingerprints.get(1..).unwrap_or_default().join(",")
        ),
        format!("VettedPackages participant={participant_id}"),
    ];
    lines.push(String::new());
    lines.join("\n").into_bytes()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PID: &str =
        "PAR::participant::1220aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    #[test]
    fn a_dump_is_valid_json_of_the_documented_shape_and_checks_as_its_own() {
        let id = NodeIdentity::generate(PID, None).unwrap();
        let dump = id.dump_json();
        let v: serde_json::Value = serde_json::from_slice(&dump).unwrap();
        assert_eq!(v["id"], PID);
        assert_eq!(v["version"], DUMP_VERSION);
        let keys = v["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0]["name"], "participant-namespace");
        for k in keys {
            let bytes = STANDARD.decode(k["keyPair"].as_str().unwrap()).unwrap();
            assert!(bytes.len() >= 96);
        }
        let snap = STANDARD
            .decode(v["authorizedStoreSnapshot"].as_str().unwrap())
            .unwrap();
        assert!(
            String::from_utf8(snap)
                .unwrap()
                .contains("OwnerToKeyMapping")
        );
        assert_eq!(id.check_dump(&dump).unwrap(), 3);
        assert!(!format!("{id:?}").contains(&STANDARD.encode(id.keys()[0].bytes())));
    }

    #[test]
    fn another_identity_or_a_tampered_dump_is_not_this_participant() {
        let id = NodeIdentity::generate(PID, None).unwrap();
        let other = NodeIdentity::generate(PID, None).unwrap();
        let err = id.check_dump(&other.dump_json()).unwrap_err().0;
        assert!(err.contains("differs"), "{err}");
        let secret = STANDARD.encode(other.keys()[0].bytes());
        assert!(!err.contains(&secret));

        let mut v: serde_json::Value = serde_json::from_slice(&id.dump_json()).unwrap();
        v["id"] = "PAR::other::1220bb".into();
        let err = id
            .check_dump(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .0;
        assert!(err.contains("PAR::other"), "{err}");

        let mut v: serde_json::Value = serde_json::from_slice(&id.dump_json()).unwrap();
        v["keys"] = serde_json::json!([]);
        let err = id
            .check_dump(&serde_json::to_vec(&v).unwrap())
            .unwrap_err()
            .0;
        assert!(err.contains("no keys"), "{err}");
        let err = id.check_dump(b"<html>404</html>").unwrap_err().0;
        assert!(err.contains("not an identities dump"), "{err}");
    }

    #[test]
    fn a_canary_sets_the_namespace_key_and_is_registered_as_is_and_in_base64() {
        let canary = SecretString::from("canary-namespace-key-0123");
        let id = NodeIdentity::generate(PID, Some(&canary)).unwrap();
        assert_eq!(id.keys()[0].bytes(), b"canary-namespace-key-0123");
        let secrets: Vec<String> = id
            .secrets()
            .iter()
            .map(|s| s.expose_secret().to_string())
            .collect();
        assert!(secrets.contains(&"canary-namespace-key-0123".to_string()));
        assert!(secrets.contains(&STANDARD.encode("canary-namespace-key-0123")));
        assert!(NodeIdentity::generate(PID, Some(&SecretString::from("short"))).is_err());
        assert!(NodeIdentity::generate("participant::1220", None).is_err());
    }
}
