//! Profiles: the site bindings (endpoints, TLS, auth, databases, named queries and commands,
//! parameter values) that let a generic runbook run against one exchange's systems.
//!
//! A profile names where secrets come from (an environment variable or a file) and never holds
//! a secret value itself; [`Profile::load_secrets`] reads them into `SecretString`s at the start
//! of a run.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::runbook::Runbook;
use crate::runbook::catalog::Needs;
use crate::runbook::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::runbook::load::toml_message;
use crate::runbook::model::{Action, StepKind};
use crate::secret::SecretSource;
use crate::value::Value;

mod secrets;
pub use secrets::{AuthSecret, ProfileSecrets, SecretsError};

/// Profiles larger than this are refused.
pub const MAX_PROFILE_BYTES: u64 = 256 * 1024;

/// A loaded, checked profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    pub path: PathBuf,
    pub text: String,
    pub sha256: String,
    pub ledger_api: Option<GrpcEndpoint>,
    pub admin_api: Option<GrpcEndpoint>,
    pub databases: BTreeMap<String, Database>,
    pub queries: BTreeMap<String, QueryDef>,
    pub commands: BTreeMap<String, CommandDef>,
    pub endpoints: BTreeMap<String, HttpEndpoint>,
    pub params: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    description: Option<String>,
    ledger_api: Option<GrpcEndpoint>,
    admin_api: Option<GrpcEndpoint>,
    #[serde(default)]
    databases: BTreeMap<String, Database>,
    #[serde(default)]
    queries: BTreeMap<String, QueryDef>,
    #[serde(default)]
    commands: BTreeMap<String, CommandDef>,
    #[serde(default)]
    endpoints: BTreeMap<String, HttpEndpoint>,
    #[serde(default)]
    params: BTreeMap<String, toml::Value>,
}

/// A Canton gRPC API (Ledger API or Admin API).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GrpcEndpoint {
    /// `http://host:port` (plaintext, loopback or a trusted network) or `https://host:port`.
    pub url: String,
    pub tls: Option<TlsFiles>,
    pub auth: Option<Auth>,
    #[serde(default = "default_connect_timeout", with = "duration_text")]
    pub connect_timeout: TimeDelta,
    #[serde(default = "default_request_timeout", with = "duration_text")]
    pub request_timeout: TimeDelta,
    /// Force the Canton protocol shape ("3.3" or "3.4") instead of asking the participant.
    pub canton_version: Option<String>,
}

/// TLS settings: a CA to trust, the name to expect, and optionally a client certificate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca_file: PathBuf,
    pub domain_name: Option<String>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

/// How to authenticate.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum Auth {
    /// A bearer token read from an environment variable or a file.
    Token(SecretSource),
    /// OAuth2 client credentials.
    Oauth2(OAuth2),
}

/// OAuth2 client-credentials settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretSource,
    pub audience: Option<String>,
    pub scope: Option<String>,
}

/// Whether PostgreSQL connections use TLS.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum DbTls {
    /// TLS, verified against `ca_file` (no plaintext fallback).
    #[default]
    Require,
    /// Plaintext; only for loopback and the sandbox.
    Disable,
}

/// A PostgreSQL database.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `postgres://user@host:port/dbname`, without a password.
    pub url: String,
    pub password: Option<SecretSource>,
    #[serde(default)]
    pub tls: DbTls,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_connect_timeout", with = "duration_text")]
    pub connect_timeout: TimeDelta,
    #[serde(default = "default_statement_timeout", with = "duration_text")]
    pub statement_timeout: TimeDelta,
}

/// A named query: SQL with `$1, $2, …` placeholders, run read-only.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct QueryDef {
    pub database: String,
    pub sql: String,
}

/// A named command: a program with arguments, or a script for a shell.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    pub argv: Option<Vec<String>>,
    pub script: Option<String>,
    pub shell: Option<String>,
    /// Fixed environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Environment variables whose values are secrets.
    #[serde(default)]
    pub secret_env: BTreeMap<String, SecretSource>,
    pub cwd: Option<PathBuf>,
    #[serde(default, with = "opt_duration_text")]
    pub timeout: Option<TimeDelta>,
}

/// An HTTP endpoint for `http` probes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpEndpoint {
    pub url: String,
    pub auth: Option<Auth>,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_request_timeout", with = "duration_text")]
    pub timeout: TimeDelta,
}

fn default_connect_timeout() -> TimeDelta {
    TimeDelta::seconds(5)
}

fn default_request_timeout() -> TimeDelta {
    TimeDelta::seconds(30)
}

fn default_statement_timeout() -> TimeDelta {
    TimeDelta::seconds(15)
}

mod duration_text {
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TimeDelta, D::Error> {
        let s = String::deserialize(d)?;
        match crate::value::parse_duration(&s) {
            Ok(t) if t > TimeDelta::zero() => Ok(t),
            Ok(_) => Err(serde::de::Error::custom(format!(
                "'{s}' must be a positive duration"
            ))),
            Err(e) => Err(serde::de::Error::custom(format!(
                "'{s}' is not a duration: {e}"
            ))),
        }
    }
}

mod opt_duration_text {
    use chrono::TimeDelta;
    use serde::Deserializer;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TimeDelta>, D::Error> {
        super::duration_text::deserialize(d).map(Some)
    }
}

impl Profile {
    /// Loads and checks a profile file. All problems are reported.
    pub fn load(path: &Path) -> Result<Profile, Diagnostics> {
        let one = |message: String| {
            Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                step: None,
                message,
            }])
        };
        let meta = fs::metadata(path).map_err(|e| one(format!("cannot read the profile: {e}")))?;
        if meta.len() > MAX_PROFILE_BYTES {
            return Err(one(format!(
                "the profile is {} bytes; profiles are limited to {MAX_PROFILE_BYTES} bytes",
                meta.len()
            )));
        }
        let bytes = fs::read(path).map_err(|e| one(format!("cannot read the profile: {e}")))?;
        let text =
            String::from_utf8(bytes).map_err(|_| one("the profile is not UTF-8 text".into()))?;
        Profile::parse(path, text)
    }

    /// Parses profile text read from `path`.
    pub fn parse(path: &Path, text: String) -> Result<Profile, Diagnostics> {
        let source = Source::new(path, text.clone());
        let raw: RawProfile = toml::from_str(&text)
            .map_err(|e| Diagnostics(vec![source.diag(e.span(), None, toml_message(&e))]))?;
        let mut diags = Diagnostics::default();
        let mut err = |msg: String| diags.push(source.diag(None, None, msg));
        for (name, api) in [
            ("ledger_api", &raw.ledger_api),
            ("admin_api", &raw.admin_api),
        ] {
            if let Some(api) = api {
                check_url(&api.url, &["http", "https"], name, &mut err);
                if api.url.starts_with("https://") && api.tls.is_none() {
                    err(format!(
                        "{name}: an https:// URL needs [{name}.tls] with ca_file (and domain_name if it differs from the host)"
                    ));
                }
                if api.url.starts_with("http://") && api.tls.is_some() {
                    err(format!(
                        "{name}: TLS settings are given, but the URL is http://; use https://"
                    ));
                }
                if let Some(v) = &api.canton_version
                    && !["3.3", "3.4", "3.5"].contains(&v.as_str())
                {
                    err(format!(
                        "{name}: canton_version '{v}' is not one of 3.3, 3.4, 3.5"
                    ));
                }
                if let Some(tls) = &api.tls
                    && tls.client_cert_file.is_some() != tls.client_key_file.is_some()
                {
                    err(format!(
                        "{name}: mutual TLS needs both client_cert_file and client_key_file"
                    ));
                }
            }
        }
        for (name, db) in &raw.databases {
            check_url(
                &db.url,
                &["postgres", "postgresql"],
                &format!("databases.{name}"),
                &mut err,
            );
            if url_has_password(&db.url) {
                err(format!(
                    "databases.{name}: the URL contains a password; remove it and set password = {{ env = \"…\" }} or {{ file = \"…\" }}"
                ));
            }
            if db.tls == DbTls::Disable && db.ca_file.is_some() {
                err(format!(
                    "databases.{name}: ca_file is set but tls = \"disable\""
                ));
            }
        }
        for (name, q) in &raw.queries {
            if !raw.databases.contains_key(&q.database) {
                err(format!(
                    "queries.{name}: database '{}' is not defined (add [databases.{}])",
                    q.database, q.database
                ));
            }
        }
        for (name, c) in &raw.commands {
            match (&c.argv, &c.script) {
                (Some(a), None) if a.is_empty() => err(format!("commands.{name}: argv is empty")),
                (Some(_), None) => {
                    if c.shell.is_some() {
                        err(format!(
                            "commands.{name}: 'shell' is only used with 'script'"
                        ));
                    }
                }
                (None, Some(_)) => {}
                _ => err(format!(
                    "commands.{name}: give exactly one of argv and script"
                )),
            }
            for k in c.env.keys().chain(c.secret_env.keys()) {
                if !crate::runbook::load::is_env_name(k) {
                    err(format!(
                        "commands.{name}: '{k}' is not an environment variable name"
                    ));
                }
            }
        }
        for (name, e) in &raw.endpoints {
            check_url(
                &e.url,
                &["http", "https"],
                &format!("endpoints.{name}"),
                &mut err,
            );
        }
        if !diags.is_empty() {
            return Err(diags);
        }
        let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
        Ok(Profile {
            name: raw.name,
            description: raw.description,
            path: path.to_path_buf(),
            text,
            sha256,
            ledger_api: raw.ledger_api,
            admin_api: raw.admin_api,
            databases: raw.databases,
            queries: raw.queries,
            commands: raw.commands,
            endpoints: raw.endpoints,
            params: raw.params,
        })
    }

    /// Checks that this profile provides everything `runbook` needs. Returns every gap.
    ///
    /// Steps whose `when` depends only on site parameters are judged with this profile's values:
    /// a Helm site need not define the Docker Compose commands.
    pub fn check_against(&self, runbook: &Runbook) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let mut err = |msg: String| {
            diags.push(Diagnostic {
                file: self.path.clone(),
                line: 0,
                col: 0,
                step: None,
                message: msg,
            })
        };
        let rb = &runbook.id;
        for (name, decl) in &runbook.params {
            match self.params.get(name) {
                None if decl.default.is_none() => err(format!(
                    "runbook '{rb}' needs parameter '{name}' ({}, {}): add it under [params]",
                    decl.ty, decl.description
                )),
                None => {}
                Some(v) => {
                    if let Err(e) = crate::runbook::load::literal_value(decl.ty, v) {
                        err(format!("params.{name}: {e}"));
                    }
                }
            }
        }
        let params = self.param_values(runbook).unwrap_or_default();
        let used = used_names(runbook, &params);
        for name in &used.queries {
            let Some(decl) = runbook.queries.get(name) else {
                continue;
            };
            match self.queries.get(name) {
                None => err(format!(
                    "runbook '{rb}' needs query '{name}' ({}): add [queries.{name}]",
                    decl.description
                )),
                Some(q) => {
                    let placeholders = max_placeholder(&q.sql);
                    if placeholders != decl.params.len() {
                        err(format!(
                            "queries.{name}: the SQL uses {placeholders} parameter(s) ($1…), but runbook '{rb}' passes {}",
                            decl.params.len()
                        ));
                    }
                }
            }
        }
        for name in &used.commands {
            if let (Some(decl), false) =
                (runbook.commands.get(name), self.commands.contains_key(name))
            {
                err(format!(
                    "runbook '{rb}' needs command '{name}' ({}): add [commands.{name}]",
                    decl.description
                ));
            }
        }
        for name in &used.endpoints {
            if let (Some(decl), false) = (
                runbook.endpoints.get(name),
                self.endpoints.contains_key(name),
            ) {
                err(format!(
                    "runbook '{rb}' needs endpoint '{name}' ({}): add [endpoints.{name}]",
                    decl.description
                ));
            }
        }
        if used.ledger_api && self.ledger_api.is_none() {
            err(format!(
                "runbook '{rb}' talks to the participant's Ledger API: add [ledger_api]"
            ));
        }
        if used.admin_api && self.admin_api.is_none() {
            err(format!(
                "runbook '{rb}' talks to the participant's Admin API: add [admin_api]"
            ));
        }
        diags
    }

    /// Parameter values for `runbook`: the profile's, else the runbook's defaults.
    pub fn param_values(&self, runbook: &Runbook) -> Result<BTreeMap<String, Value>, String> {
        let mut out = BTreeMap::new();
        for (name, decl) in &runbook.params {
            let v = match self.params.get(name) {
                Some(v) => crate::runbook::load::literal_value(decl.ty, v)
                    .map_err(|e| format!("params.{name}: {e}"))?,
                None => decl
                    .default
                    .clone()
                    .ok_or_else(|| format!("the profile does not set parameter '{name}'"))?,
            };
            out.insert(name.clone(), v);
        }
        Ok(out)
    }

    /// Reads every secret the profile names. Fails on the first missing one, naming where it
    /// was looked for (never the value).
    pub fn load_secrets(&self) -> Result<ProfileSecrets, SecretsError> {
        ProfileSecrets::load(self)
    }
}

/// What the steps that can apply at a site use.
#[derive(Default)]
struct Used {
    queries: std::collections::BTreeSet<String>,
    commands: std::collections::BTreeSet<String>,
    endpoints: std::collections::BTreeSet<String>,
    ledger_api: bool,
    admin_api: bool,
}

fn used_names(runbook: &Runbook, params: &BTreeMap<String, Value>) -> Used {
    let mut used = Used::default();
    for step in &runbook.steps {
        if let Some(when) = &step.when {
            let refs = when.var_refs();
            if refs.iter().all(|r| params.contains_key(r)) {
                let b = crate::runbook::expr::Bindings {
                    value: None,
                    vars: params,
                    now: chrono::Utc::now(),
                };
                if when.eval_bool(&b) == Ok(false) {
                    continue;
                }
            }
        }
        let mut calls: Vec<&crate::runbook::model::ProbeCall> = Vec::new();
        match &step.kind {
            StepKind::Check { probe, .. } | StepKind::Wait { probe, .. } => calls.push(probe),
            StepKind::Gate { probe: Some(p), .. } => calls.push(p),
            StepKind::Command(c) => {
                match &c.action {
                    Action::Builtin(p) => calls.push(p),
                    Action::Named(n) => {
                        used.commands.insert(n.clone());
                    }
                    _ => {}
                }
                if let Some(v) = &c.verify {
                    calls.push(&v.probe);
                }
            }
            _ => {}
        }
        for call in calls {
            match call.kind.needs {
                Needs::LedgerApi => used.ledger_api = true,
                Needs::AdminApi => used.admin_api = true,
                _ => {}
            }
            let name = |k: &str| match call.args.get(k) {
                Some(crate::runbook::model::Arg::Literal(Value::Text(t))) => Some(t.clone()),
                _ => None,
            };
            if let Some(q) = name("query") {
                used.queries.insert(q);
            }
            if let Some(c) = name("run") {
                used.commands.insert(c);
            }
            if let Some(e) = name("endpoint") {
                used.endpoints.insert(e);
            }
        }
    }
    used
}

fn check_url(url: &str, schemes: &[&str], what: &str, err: &mut impl FnMut(String)) {
    match url.split_once("://") {
        Some((scheme, rest)) if schemes.contains(&scheme) && !rest.is_empty() => {}
        _ => err(format!(
            "{what}: '{}' is not a {} URL",
            redact_userinfo(url),
            schemes.join(" or ")
        )),
    }
}

fn url_has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// A URL with any `user:password@` reduced to `user:<redacted>@`.
pub fn redact_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:<redacted>@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

/// The highest `$n` placeholder in SQL text (outside quotes and comments, roughly).
pub fn max_placeholder(sql: &str) -> usize {
    let mut max = 0;
    let mut in_quote = false;
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            in_quote = !in_quote;
        } else if !in_quote && c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if !in_quote && c == '$' {
            let digits: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(n) = digits.parse::<usize>() {
                max = max.max(n);
            }
        }
        i += 1;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(max_placeholder("select 1"), 0);
        assert_eq!(
            max_placeholder("select * from t where a > $1 and b = $2"),
            2
        );
        assert_eq!(max_placeholder("select '$3' -- $4\n where x = $1"), 1);
    }

    #[test]
    fn passwords_in_urls_are_found_and_hidden() {
        assert!(url_has_password("postgres://u:pw@h:5432/db"));
        assert!(!url_has_password("postgres://u@h:5432/db"));
        assert_eq!(
            redact_userinfo("postgres://u:pw@h/db"),
            "postgres://u:<redacted>@h/db"
        );
    }
}
