//! The secret values a profile names, read once at the start of a run.

use std::collections::BTreeMap;

use secrecy::SecretString;

use crate::profile::{Auth, Profile};
use crate::secret::SecretSource;

/// A token source after its secret was read.
#[derive(Debug, Clone)]
pub enum AuthSecret {
    Token(SecretString),
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: SecretString,
        audience: Option<String>,
        scope: Option<String>,
    },
}

/// Every secret of a profile, by where it is used.
#[derive(Debug, Clone, Default)]
pub struct ProfileSecrets {
    pub ledger_api: Option<AuthSecret>,
    pub admin_api: Option<AuthSecret>,
    /// Database passwords by database name.
    pub databases: BTreeMap<String, SecretString>,
    /// Secret environment variables by command name, then variable name.
    pub command_env: BTreeMap<String, BTreeMap<String, SecretString>>,
    /// Endpoint auth by endpoint name.
    pub endpoints: BTreeMap<String, AuthSecret>,
}

/// A secret the profile names could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{place}: {source}")]
pub struct SecretsError {
    /// Where in the profile the secret is used (`databases.integration.password`).
    pub place: String,
    #[source]
    pub source: crate::secret::SecretError,
}

fn read(place: String, src: &SecretSource) -> Result<SecretString, SecretsError> {
    crate::secret::load(src).map_err(|source| SecretsError { place, source })
}

fn auth(place: &str, a: &Auth) -> Result<AuthSecret, SecretsError> {
    Ok(match a {
        Auth::Token(src) => AuthSecret::Token(read(format!("{place}.auth.token"), src)?),
        Auth::Oauth2(o) => AuthSecret::OAuth2 {
            token_url: o.token_url.clone(),
            client_id: o.client_id.clone(),
            client_secret: read(format!("{place}.auth.oauth2.client_secret"), &o.client_secret)?,
            audience: o.audience.clone(),
            scope: o.scope.clone(),
        },
    })
}

impl ProfileSecrets {
    pub(crate) fn load(p: &Profile) -> Result<ProfileSecrets, SecretsError> {
        let mut out = ProfileSecrets::default();
        if let Some(a) = p.ledger_api.as_ref().and_then(|e| e.auth.as_ref()) {
            out.ledger_api = Some(auth("ledger_api", a)?);
        }
        if let Some(a) = p.admin_api.as_ref().and_then(|e| e.auth.as_ref()) {
            out.admin_api = Some(auth("admin_api", a)?);
        }
        for (name, db) in &p.databases {
            if let Some(src) = &db.password {
                out.databases
                    .insert(name.clone(), read(format!("databases.{name}.password"), src)?);
            }
        }
        for (name, cmd) in &p.commands {
            let mut vars = BTreeMap::new();
            for (var, src) in &cmd.secret_env {
                vars.insert(var.clone(), read(format!("commands.{name}.secret_env.{var}"), src)?);
            }
            if !vars.is_empty() {
                out.command_env.insert(name.clone(), vars);
            }
        }
        for (name, e) in &p.endpoints {
            if let Some(a) = &e.auth {
                out.endpoints.insert(name.clone(), auth(&format!("endpoints.{name}"), a)?);
            }
        }
        Ok(out)
    }

    /// Every secret value, for the redactor.
    pub fn all(&self) -> Vec<&SecretString> {
        let mut out = Vec::new();
        for a in [&self.ledger_api, &self.admin_api].into_iter().flatten() {
            match a {
                AuthSecret::Token(t) => out.push(t),
                AuthSecret::OAuth2 { client_secret, .. } => out.push(client_secret),
            }
        }
        for a in self.endpoints.values() {
            match a {
                AuthSecret::Token(t) => out.push(t),
                AuthSecret::OAuth2 { client_secret, .. } => out.push(client_secret),
            }
        }
        out.extend(self.databases.values());
        out.extend(self.command_env.values().flat_map(BTreeMap::values));
        out
    }
}
