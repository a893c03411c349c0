//! The probe kinds a runbook may use: their parameters, what they return, and whether they
//! change anything.
//!
//! The validator checks every probe call against this catalog; the probe implementations in
//! `crate::probe` produce exactly the fields listed here.

use crate::runbook::expr::Ty;
use crate::value::ValueType;

/// How a parameter is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Text that may splice in variables (`"${dar_dir}/extra"`): file paths.
    Path,
    /// A value of this type: a literal, or one whole `${var}` reference of a compatible type.
    Value(ValueType),
    /// The name of something the runbook declares.
    Name(NameKind),
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
    /// A list of values bound to `$1, $2, …` of a named query.
    BindList,
    /// `true` or `false`.
    Bool,
}

/// What a [`ParamKind::Name`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Query,
    Command,
    Endpoint,
}

impl NameKind {
    pub fn noun(self) -> &'static str {
        match self {
            NameKind::Query => "query",
            NameKind::Command => "command",
            NameKind::Endpoint => "endpoint",
        }
    }
}

/// One parameter of a probe kind.
#[derive(Debug, Clone, Copy)]
pub struct ParamSpec {
    pub name: &'static str,
    pub kind: ParamKind,
    pub required: bool,
    pub help: &'static str,
}

/// Which part of the profile a probe needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Nothing,
    LedgerApi,
    AdminApi,
    Database,
    Http,
}

/// Where a probe's result fields come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// Fixed fields (see [`ProbeKind::fixed_outputs`]).
    Fixed,
    /// The named query's declared columns, plus `row_count` and `rows`.
    Query,
    /// `exit_code`, `stdout`, `stderr` and `json`.
    Command,
    /// `status`, `body` and `json`.
    Http,
}

/// A probe kind.
#[derive(Debug, Clone, Copy)]
pub struct ProbeKind {
    pub name: &'static str,
    pub summary: &'static str,
    pub params: &'static [ParamSpec],
    pub outputs: Outputs,
    /// Changes something outside canton-dr: allowed only as a command step's `action`.
    pub side_effects: bool,
    pub needs: Needs,
}

const fn p(name: &'static str, kind: ParamKind, required: bool, help: &'static str) -> ParamSpec {
    ParamSpec {
        name,
        kind,
        required,
        help,
    }
}

const SYNC: ParamSpec = p(
    "synchronizer",
    ParamKind::Value(ValueType::Text),
    true,
    "the synchronizer id",
);

/// Modes of `canton.offset_at`.
pub const OFFSET_AT_MODES: &[&str] = &["exact", "force", "just_before"];

/// Every probe kind, in the order the documentation lists them.
pub const PROBE_KINDS: &[ProbeKind] = &[
    ProbeKind {
        name: "sql",
        summary: "a named query against a database, read-only, with bind parameters",
        params: &[
            p(
                "query",
                ParamKind::Name(NameKind::Query),
                true,
                "a query the runbook declares",
            ),
            p("params", ParamKind::BindList, false, "values for $1, $2, …"),
        ],
        outputs: Outputs::Query,
        side_effects: false,
        needs: Needs::Database,
    },
    ProbeKind {
        name: "command",
        summary: "a named read-only command: exit status and output",
        params: &[
            p(
                "run",
                ParamKind::Name(NameKind::Command),
                true,
                "a read-only command the runbook declares",
            ),
            p(
                "json",
                ParamKind::Bool,
                false,
                "parse standard output as JSON into `json`",
            ),
        ],
        outputs: Outputs::Command,
        side_effects: false,
        needs: Needs::Nothing,
    },
    ProbeKind {
        name: "http",
        summary: "GET a named endpoint with its bearer token; JSON result",
        params: &[
            p(
                "endpoint",
                ParamKind::Name(NameKind::Endpoint),
                true,
                "an endpoint the runbook declares",
            ),
            p(
                "path",
                ParamKind::Path,
                false,
                "a path appended to the endpoint URL",
            ),
        ],
        outputs: Outputs::Http,
        side_effects: false,
        needs: Needs::Http,
    },
    ProbeKind {
        name: "file.stat",
        summary: "whether a file exists, its size, modification time and age",
        params: &[p("path", ParamKind::Path, true, "the file")],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::Nothing,
    },
    ProbeKind {
        name: "file.dump",
        summary: "a database dump: gzip integrity, pg_dump header, when it was taken",
        params: &[p("path", ParamKind::Path, true, "the dump file")],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::Nothing,
    },
    ProbeKind {
        name: "file.dump_order",
        summary: "whether one dump was taken strictly before another",
        params: &[
            p(
                "first",
                ParamKind::Path,
                true,
                "the dump that must be older",
            ),
            p(
                "second",
                ParamKind::Path,
                true,
                "the dump that must be newer",
            ),
        ],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::Nothing,
    },
    ProbeKind {
        name: "file.identities",
        summary: "a node identities dump is complete (its content is never recorded)",
        params: &[p(
            "path",
            ParamKind::Path,
            true,
            "the identities dump (JSON)",
        )],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::Nothing,
    },
    ProbeKind {
        name: "file.dars",
        summary: "the DAR files in a directory, read from their contents",
        params: &[p(
            "dir",
            ParamKind::Path,
            true,
            "the directory of .dar files",
        )],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::Nothing,
    },
    ProbeKind {
        name: "canton.version",
        summary: "the participant's Ledger API version",
        params: &[],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::LedgerApi,
    },
    ProbeKind {
        name: "canton.ledger_end",
        summary: "the participant's ledger end offset",
        params: &[],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::LedgerApi,
    },
    ProbeKind {
        name: "canton.connected_synchronizers",
        summary: "the synchronizers the participant is connected to",
        params: &[],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::LedgerApi,
    },
    ProbeKind {
        name: "canton.known_packages",
        summary: "the packages the participant knows",
        params: &[],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::LedgerApi,
    },
    ProbeKind {
        name: "canton.dars_present",
        summary: "which DARs of a directory the participant is missing",
        params: &[p(
            "dir",
            ParamKind::Path,
            true,
            "the directory of .dar files",
        )],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::LedgerApi,
    },
    ProbeKind {
        name: "canton.upload_dars",
        summary: "validate, then upload every DAR of a directory that the participant is missing",
        params: &[
            p("dir", ParamKind::Path, true, "the directory of .dar files"),
            p(
                "synchronizer",
                ParamKind::Value(ValueType::Text),
                false,
                "vet on this synchronizer (needed when connected to several)",
            ),
        ],
        outputs: Outputs::Fixed,
        side_effects: true,
        needs: Needs::LedgerApi,
    },
    ProbeKind {
        name: "canton.offset_at",
        summary: "the participant's offset for a record time on a synchronizer",
        params: &[
            SYNC,
            p(
                "at",
                ParamKind::Value(ValueType::Timestamp),
                true,
                "the record time",
            ),
            p(
                "mode",
                ParamKind::Choice(OFFSET_AT_MODES),
                false,
                "exact (default), force, or just_before (the record time minus 1µs)",
            ),
        ],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::AdminApi,
    },
    ProbeKind {
        name: "canton.synchronizer_time",
        summary: "the current time of a synchronizer as the participant sees it",
        params: &[SYNC],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::AdminApi,
    },
    ProbeKind {
        name: "canton.record_time_tolerance",
        summary: "a synchronizer's ledger_time_record_time_tolerance",
        params: &[SYNC],
        outputs: Outputs::Fixed,
        side_effects: false,
        needs: Needs::AdminApi,
    },
];

impl ProbeKind {
    /// Looks a kind up by name.
    pub fn find(name: &str) -> Option<&'static ProbeKind> {
        PROBE_KINDS.iter().find(|k| k.name == name)
    }

    /// The parameter named `name`.
    pub fn param(&self, name: &str) -> Option<&'static ParamSpec> {
        self.params.iter().find(|p| p.name == name)
    }

    /// The result fields of a kind with [`Outputs::Fixed`].
    pub fn fixed_outputs(&self) -> Vec<(&'static str, Ty)> {
        use Ty::*;
        let dar = || {
            Ty::record([
                ("name".into(), String),
                ("version".into(), String),
                ("main_package_id".into(), String),
                ("file".into(), String),
            ])
        };
        match self.name {
            "file.stat" => vec![
                ("exists", Bool),
                ("size", Int),
                ("modified", Timestamp),
                ("age", Duration),
            ],
            "file.dump" => vec![
                ("exists", Bool),
                ("size", Int),
                ("modified", Timestamp),
                ("age", Duration),
                ("compressed", Bool),
                ("gzip_ok", Bool),
                ("format", String),
                ("header_ok", Bool),
                ("database", String),
                ("taken_at", Timestamp),
                ("time_basis", String),
            ],
            "file.dump_order" => vec![
                ("first_taken_at", Timestamp),
                ("second_taken_at", Timestamp),
                ("ordered", Bool),
                ("basis", String),
            ],
            "file.identities" => vec![
                ("valid", Bool),
                ("participant_id", String),
                ("keys", Int),
                ("kms_keys", Int),
                ("snapshot_bytes", Int),
                ("problem", String),
            ],
            "file.dars" => vec![("count", Int), ("dars", List(Box::new(dar())))],
            "canton.version" => vec![("version", String)],
            "canton.ledger_end" => vec![("offset", Offset)],
            "canton.connected_synchronizers" => vec![
                ("count", Int),
                ("ids", List(Box::new(String))),
                ("first_id", String),
            ],
            "canton.known_packages" => {
                vec![("count", Int), ("package_ids", List(Box::new(String)))]
            }
            "canton.dars_present" => vec![
                ("total", Int),
                ("present", Int),
                ("missing", Int),
                ("missing_dars", List(Box::new(dar()))),
            ],
            "canton.upload_dars" => vec![
                ("uploaded", Int),
                ("already_present", Int),
                ("names", List(Box::new(String))),
            ],
            "canton.offset_at" => vec![("offset", Offset), ("looked_up_at", Timestamp)],
            "canton.synchronizer_time" => vec![("time", Timestamp)],
            "canton.record_time_tolerance" => vec![("tolerance", Duration)],
            _ => Vec::new(),
        }
    }
}

/// Result fields of a command probe.
pub fn command_outputs() -> Vec<(&'static str, Ty)> {
    vec![
        ("exit_code", Ty::Int),
        ("stdout", Ty::String),
        ("stderr", Ty::String),
        ("json", Ty::Dyn),
    ]
}

/// Result fields of an http probe.
pub fn http_outputs() -> Vec<(&'static str, Ty)> {
    vec![("status", Ty::Int), ("body", Ty::String), ("json", Ty::Dyn)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixed_kind_declares_outputs() {
        for k in PROBE_KINDS {
            if k.outputs == Outputs::Fixed {
                assert!(!k.fixed_outputs().is_empty(), "{} has no outputs", k.name);
            }
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = PROBE_KINDS.iter().map(|k| k.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }
}
