//! The packages of an uploaded DAR, as the participant records them. The DAR is read (and every
//! archive checked against its hash) by [`crate::dar`]; this adds the name and version of each
//! package: the DAR's own for the main package, the `.dalf` file name's for the others.

use super::packages::DarPackage;
use crate::dar::{DalfInfo, DarError, from_bytes, split_name_version};

/// Every package of a DAR, the main package first.
pub fn read_dar(bytes: &[u8]) -> Result<Vec<DarPackage>, DarError> {
    let info = from_bytes(bytes)?;
    Ok(info
        .packages
        .iter()
        .map(|dalf| {
            let (name, version) = if dalf.main && info.name.is_some() {
                (info.name.clone().unwrap_or_default(), info.version.clone())
            } else {
                split_name_version(dalf_stem(dalf))
            };
            DarPackage {
                package_id: dalf.package_id.clone(),
                name,
                version: version.unwrap_or_default(),
                size: dalf.payload_size,
            }
        })
        .collect())
}

/// The file name of a dalf without directory, extension and trailing package id.
fn dalf_stem(dalf: &DalfInfo) -> &str {
    let file = dalf.path.rsplit('/').next().unwrap_or(&dalf.path);
    let stem = file.strip_suffix(".dalf").unwrap_or(file);
    stem.strip_suffix(dalf.package_id.as_str())
        .and_then(|s| s.strip_suffix('-'))
        .unwrap_or(stem)
}

#[cfg(test)]
mod tests {
    use super::super::darsim::{PackageSpec, build_dar, exchange_treasury_dar};
    use super::*;

    #[test]
    fn reads_every_package_of_a_synthetic_dar_with_names() {
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
        assert_eq!(
            (packages[0].name.as_str(), packages[0].version.as_str()),
            ("exchange-treasury", "1.0.0")
        );
        assert_eq!(
            (packages[1].name.as_str(), packages[1].version.as_str()),
            ("splice-api-token-holding-v1", "1.0.0")
        );
        assert!(packages.iter().all(|p| p.size > 0));
    }

    #[test]
    fn refuses_what_is_not_a_dar() {
        assert!(read_dar(b"hello").is_err());
        let dar = build_dar(&PackageSpec::new("p", "1.0.0"), &[]).expect("dar");
        let mut bytes = dar.bytes.clone();
        let needle = b".dalf";
        let pos = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap_or(0)
            + 20;
        bytes[pos] ^= 0xff;
        assert!(read_dar(&bytes).is_err(), "a damaged dalf must be refused");
    }
}
