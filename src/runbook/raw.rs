//! The runbook file as written: serde structures with source spans, before validation.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// Top-level scalar fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeader {
    pub format: Option<Spanned<i64>>,
    pub id: Option<Spanned<String>>,
    pub title: Option<Spanned<String>>,
    pub source: Option<Spanned<String>>,
    pub source_url: Option<String>,
    pub summary: Option<String>,
    pub recovery_budget: Option<Spanned<String>>,
    pub fragment: Option<bool>,
    pub needs: Option<BTreeMap<String, Spanned<String>>>,
}

/// `[params.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    #[serde(rename = "type")]
    pub ty: Spanned<String>,
    pub description: String,
    pub default: Option<Spanned<toml::Value>>,
}

/// `[queries.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuery {
    pub description: String,
    #[serde(default)]
    pub params: Vec<Spanned<String>>,
    pub returns: BTreeMap<String, Spanned<String>>,
}

/// `[commands.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCommand {
    pub description: String,
    #[serde(default)]
    pub env: Vec<Spanned<String>>,
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub destructive: bool,
}

/// `[endpoints.NAME]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEndpoint {
    pub description: String,
}

/// `[[step]]`: every field any kind may use; the validator checks which belong to which kind.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub id: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    pub title: Option<Spanned<String>>,
    pub why: Option<Spanned<String>>,
    pub instructions: Option<Spanned<String>>,
    pub caveat: Option<Spanned<String>>,
    pub budget: Option<Spanned<String>>,
    pub when: Option<Spanned<String>>,
    pub implements: Option<Spanned<Vec<String>>>,
    // manual
    pub evidence: Option<Spanned<String>>,
    pub destructive: Option<Spanned<bool>>,
    // input
    pub var: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub ty: Option<Spanned<String>>,
    pub prompt: Option<Spanned<String>>,
    pub default: Option<Spanned<toml::Value>>,
    // check, wait, gate, input
    pub expect: Option<Spanned<String>>,
    pub probe: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub capture: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub advisory: Option<Spanned<bool>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub progress: Option<Spanned<RawProgress>>,
    // command
    pub run: Option<Spanned<String>>,
    pub argv: Option<Spanned<Vec<Spanned<String>>>>,
    pub script: Option<Spanned<String>>,
    pub shell: Option<Spanned<String>>,
    pub action: Option<Spanned<BTreeMap<String, Spanned<toml::Value>>>>,
    pub env: Option<Spanned<BTreeMap<String, Spanned<String>>>>,
    pub keep_running_on_exit: Option<Spanned<bool>>,
    pub success_codes: Option<Spanned<Vec<i32>>>,
    pub verify: Option<Spanned<RawVerify>>,
    // include
    pub runbook: Option<Spanned<String>>,
}

/// `progress = { current = "…", target = "…" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProgress {
    pub current: Spanned<String>,
    pub target: Spanned<String>,
}

/// `verify = { probe = {…}, expect = "…", interval = "…", timeout = "…" }`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVerify {
    pub probe: Spanned<BTreeMap<String, Spanned<toml::Value>>>,
    pub expect: Spanned<String>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

impl RawStep {
    /// The names of the fields that are set, with their spans.
    pub fn set_fields(&self) -> Vec<(&'static str, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        macro_rules! field {
            ($($name:ident => $key:literal),* $(,)?) => {
                $(if let Some(v) = &self.$name { out.push(($key, v.span())); })*
            };
        }
        field!(
            evidence => "evidence", destructive => "destructive", var => "var", ty => "type",
            prompt => "prompt", default => "default", expect => "expect", probe => "probe",
            capture => "capture", advisory => "advisory", interval => "interval",
            timeout => "timeout", progress => "progress", run => "run", argv => "argv",
            script => "script", shell => "shell", action => "action", env => "env",
            keep_running_on_exit => "keep_running_on_exit", success_codes => "success_codes",
            verify => "verify", runbook => "runbook",
        );
        out
    }
}

/// The fields each step kind accepts beyond the common ones.
pub fn kind_fields(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "manual" => &["evidence", "destructive"],
        "input" => &["var", "type", "prompt", "default", "expect"],
        "command" => &[
            "run",
            "argv",
            "script",
            "shell",
            "action",
            "env",
            "timeout",
            "destructive",
            "keep_running_on_exit",
            "success_codes",
            "capture",
            "verify",
        ],
        "check" => &["probe", "expect", "capture", "advisory"],
        "wait" => &[
            "probe", "expect", "capture", "interval", "timeout", "progress",
        ],
        "gate" => &["probe", "expect", "interval"],
        "include" => &["runbook"],
        _ => return None,
    })
}

/// Every step kind.
pub const STEP_KINDS: &[&str] = &[
    "manual", "input", "command", "check", "wait", "gate", "include",
];
