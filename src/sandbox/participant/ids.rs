//! Deterministic identifiers in Canton's formats, derived from a seed: synchronizer and party
//! ids (`name::1220<64 hex>`), update ids (`1220<64 hex>`) and contract ids (`00<64 hex>`).

use sha2::{Digest, Sha256};

/// Generates identifiers from a seed; the same seed always gives the same identifiers.
#[derive(Debug, Clone)]
pub struct IdGen {
    seed: u64,
}

impl IdGen {
    /// A generator for one seed.
    pub fn new(seed: u64) -> IdGen {
        IdGen { seed }
    }

    /// 64 lowercase hex digits, a hash of the seed, a kind and a number.
    pub fn hex(&self, kind: &str, n: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.seed.to_le_bytes());
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(n.to_le_bytes());
        hex::encode(h.finalize())
    }

    /// A namespace-qualified id such as `global-domain::1220…` or `treasury::1220…`.
    pub fn qualified(&self, hint: &str, n: u64) -> String {
        format!("{hint}::1220{}", self.hex(hint, n))
    }

    /// The id of the `n`-th update of some kind (`1220` and a SHA-256 in hex).
    pub fn update_id(&self, kind: &str, n: u64) -> String {
        format!("1220{}", self.hex(kind, n))
    }

    /// The id of the `n`-th contract.
    pub fn contract_id(&self, n: u64) -> String {
        format!("00{}", self.hex("contract", n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_distinct_and_well_formed() {
        let a = IdGen::new(7);
        let b = IdGen::new(8);
        assert_eq!(
            a.qualified("global-domain", 0),
            IdGen::new(7).qualified("global-domain", 0)
        );
        assert_ne!(
            a.qualified("global-domain", 0),
            b.qualified("global-domain", 0)
        );
        assert_ne!(a.update_id("tx", 1), a.update_id("tx", 2));
        assert_ne!(a.update_id("tx", 1), a.update_id("topology", 1));
        let sync = a.qualified("global-domain", 0);
        let (name, fingerprint) = sync.split_once("::").unwrap_or_default();
        assert_eq!(name, "global-domain");
        assert_eq!(fingerprint.len(), 68);
        assert!(fingerprint.starts_with("1220"));
        assert!(fingerprint.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.contract_id(3).len(), 66);
    }
}
