//! The `META-INF/MANIFEST.MF` of a DAR: a JAR-style manifest whose lines are wrapped at 72
//! bytes, each continuation line starting with one space.

use std::collections::BTreeMap;

/// The attributes of the manifest's main section, continuation lines rejoined.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Manifest {
    attributes: BTreeMap<String, String>,
}

/// Why a manifest cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The manifest is not UTF-8.
    #[error("the manifest is not UTF-8 text")]
    NotText,
    /// A line is neither `Name: value` nor a continuation.
    #[error("manifest line {line} is not \"Name: value\": {text:?}")]
    BadLine {
        /// 1-based line number (after rejoining continuations, of the first physical line).
        line: usize,
        /// The offending line, shortened.
        text: String,
    },
    /// A continuation line comes first.
    #[error("manifest line {line} continues a line that does not exist")]
    OrphanContinuation {
        /// 1-based line number.
        line: usize,
    },
}

impl Manifest {
    /// Parses the main section (up to the first blank line after an attribute).
    pub fn parse(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let text = std::str::from_utf8(bytes).map_err(|_| ManifestError::NotText)?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Logical lines: (first physical line number, content).
        let mut logical: Vec<(usize, String)> = Vec::new();
        for (index, raw) in text.split('\n').enumerate() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            let number = index + 1;
            if let Some(rest) = line.strip_prefix(' ') {
                match logical.last_mut() {
                    Some((_, previous)) if !previous.is_empty() => previous.push_str(rest),
                    _ => return Err(ManifestError::OrphanContinuation { line: number }),
                }
            } else {
                logical.push((number, line.to_string()));
            }
        }
        let mut attributes = BTreeMap::new();
        for (number, line) in logical {
            if line.is_empty() {
                if attributes.is_empty() {
                    continue;
                }
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                return Err(ManifestError::BadLine {
                    line: number,
                    text: line.chars().take(80).collect(),
                });
            };
            let name = name.trim();
            if name.is_empty() || name.contains(' ') {
                return Err(ManifestError::BadLine {
                    line: number,
                    text: line.chars().take(80).collect(),
                });
            }
            let value = value.strip_prefix(' ').unwrap_or(value);
            attributes.insert(name.to_string(), value.trim_end().to_string());
        }
        Ok(Manifest { attributes })
    }

    /// The value of an attribute (names are case-sensitive, as written by damlc).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }

    /// A comma-separated attribute as trimmed, non-empty items.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
    }
}

/// Splits `name-1.2.3` into (`name`, `1.2.3`) at the first `-` followed by a dotted number;
/// without one, the whole text is the name.
pub fn split_name_version(text: &str) -> (String, Option<String>) {
    for (index, _) in text.match_indices('-') {
        let rest = &text[index + 1..];
        let mut parts = rest.split(['.', '-', '+']);
        let looks_like_version = parts
            .next()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            && rest.contains('.')
            && rest
                .split('.')
                .nth(1)
                .is_some_and(|p| p.bytes().next().is_some_and(|b| b.is_ascii_digit()));
        if looks_like_version && index > 0 {
            return (text[..index].to_string(), Some(rest.to_string()));
        }
    }
    (text.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_lines_are_rejoined_with_crlf_and_lf() {
        for eol in ["\n", "\r\n"] {
            let text = [
                "Manifest-Version: 1.0",
                "Main-Dalf: abcdefghij",
                " klmnop/q.dalf",
                "Dalfs: abcdefghij",
                " klmnop/q.dalf, dep",
                " /d.dalf",
                "Format: daml-lf",
                "",
                "Name: per-entry-section",
                "",
            ]
            .join(eol);
            let m = Manifest::parse(text.as_bytes()).expect("parse");
            assert_eq!(m.get("Main-Dalf"), Some("abcdefghijklmnop/q.dalf"));
            assert_eq!(
                m.list("Dalfs"),
                Some(vec!["abcdefghijklmnop/q.dalf".into(), "dep/d.dalf".into()])
            );
            assert_eq!(m.get("Format"), Some("daml-lf"));
            // Per-entry sections after the first blank line are not main attributes.
            assert_eq!(m.get("Name"), None);
        }
    }

    #[test]
    fn malformed_lines_are_located() {
        assert_eq!(
            Manifest::parse(b"Format: daml-lf\nthis is not an attribute\n"),
            Err(ManifestError::BadLine {
                line: 2,
                text: "this is not an attribute".into()
            })
        );
        assert_eq!(
            Manifest::parse(b" leading continuation\n"),
            Err(ManifestError::OrphanContinuation { line: 1 })
        );
        assert_eq!(Manifest::parse(&[0xff, 0xfe]), Err(ManifestError::NotText));
    }

    #[test]
    fn names_and_versions_split_at_the_version() {
        assert_eq!(
            split_name_version("canton-builtin-admin-workflow-ping-3.4.0"),
            (
                "canton-builtin-admin-workflow-ping".into(),
                Some("3.4.0".into())
            )
        );
        assert_eq!(
            split_name_version("daml-stdlib-3.4.0.20250901.14164.0"),
            ("daml-stdlib".into(), Some("3.4.0.20250901.14164.0".into()))
        );
        assert_eq!(
            split_name_version("my-app-1.0.0-snapshot.1"),
            ("my-app".into(), Some("1.0.0-snapshot.1".into()))
        );
        assert_eq!(split_name_version("archive"), ("archive".into(), None));
        assert_eq!(
            split_name_version("daml-prim-DA-Types"),
            ("daml-prim-DA-Types".into(), None)
        );
        assert_eq!(split_name_version("lib-2"), ("lib-2".into(), None));
    }
}
