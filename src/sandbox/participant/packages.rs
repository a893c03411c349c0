//! The participant's package store, filled from uploaded DARs.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

/// A package the participant knows, as `ListKnownPackages` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageInfo {
    pub package_id: String,
    pub name: String,
    pub version: String,
    /// Size of the package archive in bytes.
    pub size: u64,
    /// When the participant first learnt of it.
    pub known_since: DateTime<Utc>,
}

/// A package read from a DAR, before the participant knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DarPackage {
    pub package_id: String,
    pub name: String,
    pub version: String,
    pub size: u64,
}

/// Known packages by package id.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PackageStore {
    packages: BTreeMap<String, PackageInfo>,
}

impl PackageStore {
    /// Adds every package not yet known, with `known_since = now`; returns the ids added.
    pub fn add(&mut self, packages: &[DarPackage], now: DateTime<Utc>) -> Vec<String> {
        let mut added = Vec::new();
        for p in packages {
            if self.packages.contains_key(&p.package_id) {
                continue;
            }
            self.packages.insert(
                p.package_id.clone(),
                PackageInfo {
                    package_id: p.package_id.clone(),
                    name: p.name.clone(),
                    version: p.version.clone(),
                    size: p.size,
                    known_since: now,
                },
            );
            added.push(p.package_id.clone());
        }
        added
    }

    /// Every known package, by package id.
    pub fn list(&self) -> Vec<PackageInfo> {
        self.packages.values().cloned().collect()
    }

    /// Whether a package is known.
    pub fn contains(&self, package_id: &str) -> bool {
        self.packages.contains_key(package_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(id: &str) -> DarPackage {
        DarPackage {
            package_id: id.into(),
            name: "n".into(),
            version: "1.0.0".into(),
            size: 10,
        }
    }

    #[test]
    fn adding_keeps_the_first_known_since() {
        let t0 = DateTime::from_timestamp(1_000, 0).unwrap_or_default();
        let t1 = DateTime::from_timestamp(2_000, 0).unwrap_or_default();
        let mut store = PackageStore::default();
        assert_eq!(store.add(&[pkg("a"), pkg("b")], t0), vec!["a", "b"]);
        assert_eq!(store.add(&[pkg("b"), pkg("c")], t1), vec!["c"]);
        let list = store.list();
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].known_since, t0);
        assert_eq!(list[2].known_since, t1);
        assert!(store.contains("c"));
    }
}
