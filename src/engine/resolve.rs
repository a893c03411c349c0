//! Turning a step's declared arguments into concrete values, and a command step into the
//! program that will run. Values reach programs only as whole argv elements or environment
//! variables (R24); secrets only as environment variables (R20).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use sha2::{Digest, Sha256};

use crate::profile::{Profile, ProfileSecrets};
use crate::runbook::model::{Action, Arg, CommandStep, ProbeCall};
use crate::value::Value;

/// A variable a step needs has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("variable '{0}' has no value (the step that sets it was skipped or has not run)")]
    Missing(String),
    #[error("variable '{0}' is a secret that must be entered again")]
    SecretMissing(String),
    #[error("{0}")]
    Other(String),
}

/// Resolves one argument against the variables.
pub fn resolve_arg(arg: &Arg, vars: &BTreeMap<String, Value>) -> Result<Value, ResolveError> {
    match arg {
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Var(name) => lookup(vars, name),
        Arg::Text(t) => t.render(vars).map(Value::Text).map_err(|e| match e {
            crate::runbook::template::RenderError::Missing(v) => ResolveError::Missing(v),
            crate::runbook::template::RenderError::Secret(v) => {
                ResolveError::Other(format!("variable '{v}' is a secret and cannot be shown"))
            }
        }),
        Arg::List(items) => items
            .iter()
            .map(|a| resolve_arg(a, vars))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::List),
    }
}

fn lookup(vars: &BTreeMap<String, Value>, name: &str) -> Result<Value, ResolveError> {
    match vars.get(name) {
        None | Some(Value::Null) => Err(ResolveError::Missing(name.to_owned())),
        Some(Value::Secret(s)) if secrecy::ExposeSecret::expose_secret(s).is_empty() => {
            Err(ResolveError::SecretMissing(name.to_owned()))
        }
        Some(v) => Ok(v.clone()),
    }
}

/// Resolves every argument of a probe call.
pub fn resolve_call(call: &ProbeCall, vars: &BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, ResolveError> {
    call.args
        .iter()
        .map(|(k, a)| resolve_arg(a, vars).map(|v| (k.clone(), v)))
        .collect()
}

/// A program ready to spawn.
#[derive(Clone)]
pub struct Program {
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub secret_env: Vec<(String, SecretString)>,
    pub cwd: Option<PathBuf>,
    pub timeout: Option<chrono::TimeDelta>,
    /// How the program is shown and journaled (secrets appear as `<redacted>`).
    pub display: String,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

impl Program {
    /// SHA-256 of what exactly will run (program, arguments, plain environment), for the intent
    /// record. Secret values do not enter the digest.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.program.as_bytes());
        for a in &self.args {
            h.update([0]);
            h.update(a.as_bytes());
        }
        for (k, v) in &self.env {
            h.update([1]);
            h.update(k.as_bytes());
            h.update([b'=']);
            h.update(v.as_bytes());
        }
        for (k, _) in &self.secret_env {
            h.update([2]);
            h.update(k.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// Builds the program a command step runs. `vars` includes session secrets.
pub fn program(
    step: &CommandStep,
    vars: &BTreeMap<String, Value>,
    profile: Option<&Profile>,
    secrets: &ProfileSecrets,
) -> Result<Program, ResolveError> {
    let mut env = Vec::new();
    let mut secret_env = Vec::new();
    let mut shown_env = Vec::new();
    for (name, arg) in &step.env {
        match resolve_arg(arg, vars)? {
            Value::Secret(s) => {
                shown_env.push(format!("{name}=<redacted>"));
                secret_env.push((name.clone(), s));
            }
            v => {
                let text = v.to_process_text();
                shown_env.push(format!("{name}={}", shell_quote(&text)));
                env.push((name.clone(), text));
            }
        }
    }
    let (program, args, cwd, timeout, base_display) = match &step.action {
        Action::Named(name) => {
            let profile = profile.ok_or_else(|| {
                ResolveError::Other(format!("command '{name}' needs a profile that defines it"))
            })?;
            let def = profile.commands.get(name).ok_or_else(|| {
                ResolveError::Other(format!("the profile does not define command '{name}'"))
            })?;
            for (k, v) in &def.env {
                env.push((k.clone(), v.clone()));
            }
            if let Some(vars) = secrets.command_env.get(name) {
                for (k, v) in vars {
                    shown_env.push(format!("{k}=<redacted>"));
                    secret_env.push((k.clone(), v.clone()));
                }
            }
            let (program, args) = match (&def.argv, &def.script) {
                (Some(argv), _) => {
                    let mut it = argv.iter().cloned();
                    let program = it.next().ok_or_else(|| {
                        ResolveError::Other(format!("command '{name}' has an empty argv"))
                    })?;
                    (program, it.collect::<Vec<_>>())
                }
                (None, Some(script)) => (
                    def.shell.clone().unwrap_or_else(|| "/bin/sh".to_owned()),
                    vec!["-c".to_owned(), script.clone()],
                ),
                (None, None) => {
                    return Err(ResolveError::Other(format!("command '{name}' has neither argv nor script")));
                }
            };
            let display = format!("{name}: {}", join_argv(&program, &args));
            (program, args, def.cwd.clone(), def.timeout, display)
        }
        Action::Argv(items) => {
            let mut out = Vec::new();
            for a in items {
                match resolve_arg(a, vars)? {
                    Value::Secret(_) => {
                        return Err(ResolveError::Other("a secret cannot be a command-line argument".into()));
                    }
                    v => out.push(v.to_process_text()),
                }
            }
            let mut it = out.into_iter();
            let program = it.next().ok_or_else(|| ResolveError::Other("argv is empty".into()))?;
            let args: Vec<String> = it.collect();
            let display = join_argv(&program, &args);
            (program, args, None, None, display)
        }
        Action::Shell { shell, script } => {
            let display = format!("{shell} -c {}", shell_quote(script));
            (shell.clone(), vec!["-c".to_owned(), script.clone()], None, None, display)
        }
        Action::Builtin(call) => {
            return Err(ResolveError::Other(format!(
                "{} is a built-in action, not a program",
                call.kind.name
            )));
        }
    };
    let display = if shown_env.is_empty() {
        base_display
    } else {
        format!("{} {base_display}", shown_env.join(" "))
    };
    Ok(Program {
        program,
        args,
        env,
        secret_env,
        cwd,
        timeout: step.timeout.or(timeout),
        display,
    })
}

fn join_argv(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes a word for display the way a POSIX shell would read it back.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::template::Template;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn args_resolve_or_name_the_missing_variable() {
        let mut vars = BTreeMap::new();
        vars.insert("off".to_owned(), Value::Offset(5));
        assert_eq!(resolve_arg(&Arg::Var("off".into()), &vars).unwrap(), Value::Offset(5));
        assert_eq!(
            resolve_arg(&Arg::Var("t".into()), &vars),
            Err(ResolveError::Missing("t".into()))
        );
        let t = Template::parse("/d/${off}").unwrap();
        assert_eq!(resolve_arg(&Arg::Text(t), &vars).unwrap(), Value::Text("/d/5".into()));
    }
}
