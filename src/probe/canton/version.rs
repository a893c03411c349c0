//! Ledger API versions and the request shapes that depend on them.
//!
//! `SynchronizerTimeService.FetchTime` changed its request incompatibly in Canton 3.4:
//! field 1 was `optional string synchronizer_id` (3.3) and became
//! `optional Synchronizer synchronizer` with `oneof kind { string id = 1; string physical_id =
//! 2; }` (3.4). Both travel on the same wire path, so the client must pick the shape from the
//! participant's version, and a server can tell them apart with [`ReceivedFetchTime::classify`].

use std::fmt;
use std::time::Duration;

use prost::Message;

use super::proto::com::digitalasset::canton::time::admin::v30::FetchTimeRequestWire;
use super::proto::com::digitalasset::canton::topology::admin::v30::{Synchronizer, synchronizer};

/// A Ledger API version such as `3.4.9` (suffixes like `-SNAPSHOT` are ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version (0 when absent).
    pub patch: u32,
}

impl ApiVersion {
    /// Parses the leading `major.minor[.patch]` of a version string.
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let core = text
            .trim()
            .trim_start_matches(['v', 'V'])
            .split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .next()?;
        let mut parts = core.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let patch = match parts.next() {
            None | Some("") => 0,
            Some(p) => p.parse().ok()?,
        };
        Some(ApiVersion {
            major,
            minor,
            patch,
        })
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Which `FetchTimeRequest` shape a participant expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchTimeShape {
    /// Canton 3.3: field 1 is `optional string synchronizer_id`.
    V33,
    /// Canton 3.4 and later: field 1 is `optional Synchronizer synchronizer`.
    V34,
}

impl FetchTimeShape {
    /// The shape a participant with this Ledger API version expects.
    pub fn for_version(version: ApiVersion) -> FetchTimeShape {
        if (version.major, version.minor) >= (3, 4) {
            FetchTimeShape::V34
        } else {
            FetchTimeShape::V33
        }
    }

    /// Encodes a request for `synchronizer_id` in this shape.
    pub fn request(self, synchronizer_id: &str, freshness_bound: Duration) -> FetchTimeRequestWire {
        let field1 = match self {
            FetchTimeShape::V33 => synchronizer_id.as_bytes().to_vec(),
            FetchTimeShape::V34 => Synchronizer {
                kind: Some(synchronizer::Kind::Id(synchronizer_id.to_string())),
            }
            .encode_to_vec(),
        };
        FetchTimeRequestWire {
            synchronizer: Some(field1),
            freshness_bound: Some(prost_types::Duration {
                seconds: i64::try_from(freshness_bound.as_secs()).unwrap_or(i64::MAX),
                nanos: i32::try_from(freshness_bound.subsec_nanos()).unwrap_or(0),
            }),
        }
    }
}

impl fmt::Display for FetchTimeShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FetchTimeShape::V33 => "3.3 (synchronizer_id string)",
            FetchTimeShape::V34 => "3.4 (Synchronizer message)",
        })
    }
}

/// A `FetchTime` request as a server received it, with its shape recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceivedFetchTime {
    /// Field 1 was absent: both shapes mean "the only connected synchronizer".
    Unspecified,
    /// The 3.3 shape: a plain synchronizer id.
    V33 {
        /// The synchronizer id.
        synchronizer_id: String,
    },
    /// The 3.4 shape with a logical synchronizer id.
    V34Id {
        /// The synchronizer id.
        synchronizer_id: String,
    },
    /// The 3.4 shape with a physical synchronizer id.
    V34PhysicalId {
        /// The physical synchronizer id.
        physical_id: String,
    },
}

impl ReceivedFetchTime {
    /// Tells the two shapes apart. Field 1 is the 3.4 shape when it decodes as a
    /// `Synchronizer` message that re-encodes to exactly the same bytes (a 3.3 id would have
    /// to start with a control character to pass); otherwise it must be a UTF-8 id (3.3).
    pub fn classify(request: &FetchTimeRequestWire) -> Result<ReceivedFetchTime, String> {
        let Some(bytes) = &request.synchronizer else {
            return Ok(ReceivedFetchTime::Unspecified);
        };
        if let Ok(message) = Synchronizer::decode(bytes.as_slice())
            && !bytes.is_empty()
            && message.encode_to_vec() == *bytes
        {
            return match message.kind {
                Some(synchronizer::Kind::Id(id)) => Ok(ReceivedFetchTime::V34Id {
                    synchronizer_id: id,
                }),
                Some(synchronizer::Kind::PhysicalId(id)) => {
                    Ok(ReceivedFetchTime::V34PhysicalId { physical_id: id })
                }
                None => Ok(ReceivedFetchTime::Unspecified),
            };
        }
        match std::str::from_utf8(bytes) {
            Ok(id) if !id.is_empty() && !id.chars().any(char::is_control) => {
                Ok(ReceivedFetchTime::V33 {
                    synchronizer_id: id.to_string(),
                })
            }
            _ => Err("field 1 is neither a synchronizer id string (3.3) nor a Synchronizer message (3.4)".into()),
        }
    }

    /// The shape, if one was recognisable.
    pub fn shape(&self) -> Option<FetchTimeShape> {
        match self {
            ReceivedFetchTime::Unspecified => None,
            ReceivedFetchTime::V33 { .. } => Some(FetchTimeShape::V33),
            ReceivedFetchTime::V34Id { .. } | ReceivedFetchTime::V34PhysicalId { .. } => {
                Some(FetchTimeShape::V34)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_suffixes() {
        assert_eq!(
            ApiVersion::parse("3.4.9"),
            Some(ApiVersion {
                major: 3,
                minor: 4,
                patch: 9
            })
        );
        assert_eq!(
            ApiVersion::parse("3.3.0-SNAPSHOT").map(|v| v.to_string()),
            Some("3.3.0".to_string())
        );
        assert_eq!(
            ApiVersion::parse("3.5").map(|v| v.to_string()),
            Some("3.5.0".to_string())
        );
        assert_eq!(ApiVersion::parse("banana"), None);
        assert_eq!(ApiVersion::parse(""), None);
        assert_eq!(ApiVersion::parse("3"), None);
    }

    #[test]
    fn the_shape_follows_the_version() {
        let v = |s| ApiVersion::parse(s).expect("version");
        assert_eq!(FetchTimeShape::for_version(v("3.3.1")), FetchTimeShape::V33);
        assert_eq!(FetchTimeShape::for_version(v("3.4.0")), FetchTimeShape::V34);
        assert_eq!(FetchTimeShape::for_version(v("3.5.2")), FetchTimeShape::V34);
        assert_eq!(FetchTimeShape::for_version(v("4.0.0")), FetchTimeShape::V34);
        assert_eq!(FetchTimeShape::for_version(v("2.9.9")), FetchTimeShape::V33);
    }

    #[test]
    fn both_shapes_round_trip_through_the_classifier() {
        let id =
            "global-domain::1220be58c29e65de40bf273be1dc2b266d43a9a002ea5b18955aeef7aac881bb471a";
        let d = Duration::from_secs(5);
        let v33 = FetchTimeShape::V33.request(id, d);
        let v34 = FetchTimeShape::V34.request(id, d);
        assert_ne!(v33.encode_to_vec(), v34.encode_to_vec());
        assert_eq!(
            ReceivedFetchTime::classify(&v33),
            Ok(ReceivedFetchTime::V33 {
                synchronizer_id: id.into()
            })
        );
        assert_eq!(
            ReceivedFetchTime::classify(&v34),
            Ok(ReceivedFetchTime::V34Id {
                synchronizer_id: id.into()
            })
        );
        // Exact bytes of the 3.4 shape: tag 1 (LEN) around a Synchronizer{id} (tag 1, LEN).
        let bytes = v34.encode_to_vec();
        assert_eq!(bytes[0], 0x0a);
        assert_eq!(bytes[2], 0x0a);
        assert_eq!(usize::from(bytes[3]), id.len());
        // And of the 3.3 shape: tag 1 (LEN) around the id itself.
        let bytes = v33.encode_to_vec();
        assert_eq!(&bytes[2..2 + id.len()], id.as_bytes());
    }

    #[test]
    fn unrecognisable_field_one_is_refused() {
        let wire = FetchTimeRequestWire {
            synchronizer: Some(vec![0xff, 0xfe, 0x00]),
            freshness_bound: None,
        };
        assert!(ReceivedFetchTime::classify(&wire).is_err());
        let unset = FetchTimeRequestWire::default();
        assert_eq!(
            ReceivedFetchTime::classify(&unset),
            Ok(ReceivedFetchTime::Unspecified)
        );
    }
}
