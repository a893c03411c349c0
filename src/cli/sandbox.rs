//! `canton-dr sandbox up` and `canton-dr sandbox ctl`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use rand::Rng;
use secrecy::SecretString;

use crate::cli::exit;
use crate::cli::paths::Paths;
use crate::sandbox::control::{self, Request};
use crate::sandbox::{Sandbox, SandboxInfo, SandboxOptions, scenario};

/// The bearer token of the sandbox's participant (random when unset).
pub const TOKEN_ENV: &str = "CANTON_DR_SANDBOX_TOKEN";
/// The password of the sandbox's read-only database role (random when unset).
pub const DB_PASSWORD_ENV: &str = "CANTON_DR_SANDBOX_DB_PASSWORD";
/// The bytes of the sandbox participant's namespace key pair (random when unset), so that a
/// test can look for them where they must not be.
pub const IDENTITY_KEY_ENV: &str = "CANTON_DR_SANDBOX_IDENTITY_KEY";
/// Variables `ctl` passes on to the sandbox when set (the named commands' inputs).
const PASSED_ENV: &[&str] = &[
    "START_OFFSET",
    "DUMP",
    "BACKUP",
    "FILE",
    "VALIDATOR_DUMP",
    "PARTICIPANT_DUMP",
];
/// Of which files, made absolute against the working directory.
const FILE_ENV: &[&str] = &[
    "DUMP",
    "BACKUP",
    "FILE",
    "VALIDATOR_DUMP",
    "PARTICIPANT_DUMP",
];

/// Arguments of `sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SandboxCommand,
}

/// What to do with a sandbox.
#[derive(Debug, clap::Subcommand)]
pub enum SandboxCommand {
    /// Start a sandbox and keep it running in the foreground, for exploration
    Up(UpArgs),
    /// Send a command to a running sandbox (what the sandbox profile's named commands run)
    Ctl(CtlArgs),
}

/// Arguments of `sandbox up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The sandbox directory [default: a new one under <data dir>/sandboxes]
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Set up a scenario's world and disaster (see `canton-dr drill --list`)
    #[arg(long, value_name = "NAME")]
    pub scenario: Option<String>,
    /// Print the sandbox's details as one JSON object on stdout
    #[arg(long)]
    pub json: bool,
    /// Keep the directory when the sandbox stops
    #[arg(long)]
    pub keep: bool,
    /// Stop after this long without a control request ("off": never)
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub idle_timeout: String,
}

/// Arguments of `sandbox ctl`.
#[derive(Debug, clap::Args)]
pub struct CtlArgs {
    /// The sandbox directory
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// ingestion, withdrawals, automation, validator, postgres, restore, integration, backup,
    /// sandbox
    pub component: String,
    /// What to do (e.g. stop, start, status, set-start-offset)
    pub action: String,
    /// Print the whole answer as JSON
    #[arg(long)]
    pub json: bool,
}

/// Reads a duration, or "off".
pub fn idle_timeout(text: &str) -> Result<Option<Duration>, String> {
    if text == "off" {
        return Ok(None);
    }
    humantime::parse_duration(text).map(Some).map_err(|e| {
        format!("--idle-timeout '{text}' is not a duration (e.g. 30m) or \"off\": {e}")
    })
}

fn secret_from_env(var: &str) -> SecretString {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => SecretString::from(v.trim().to_string()),
        _ => {
            let bytes: [u8; 24] = rand::rng().random();
            SecretString::from(hex::encode(bytes))
        }
    }
}

/// Runs `sandbox up`; the sandbox registers its secrets in `registry`.
pub async fn up(
    args: &UpArgs,
    paths: &Paths,
    registry: crate::secret::SecretRegistry,
) -> color_eyre::Result<u8> {
    let idle = match idle_timeout(&args.idle_timeout) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let scenario = match args.scenario.as_deref().map(scenario::find).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canton-dr: {e}");
            return Ok(exit::USAGE);
        }
    };
    let dir = args.dir.clone().unwrap_or_else(|| {
        paths.sandboxes().join(
            chrono::Utc::now()
                .format("sandbox-%Y%m%d-%H%M%S")
                .to_string(),
        )
    });
    let existed = dir.exists();
    let opts = SandboxOptions {
        dir: dir.clone(),
        scenario,
        keep: args.keep,
        idle_timeout: idle,
        token: secret_from_env(TOKEN_ENV),
        db_password: secret_from_env(DB_PASSWORD_ENV),
        exe: std::env::current_exe()?,
        pg_root: None,
        identity_key: std::env::var(IDENTITY_KEY_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .map(SecretString::from),
        registry,
    };
    let sandbox = match Sandbox::start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("canton-dr: the sandbox could not start: {e}");
            if !existed && !args.keep {
                let _ = std::fs::remove_dir_all(&dir);
            }
            return Ok(exit::FAILED);
        }
    };
    let bound = match sandbox.publish() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("canton-dr: the sandbox could not open its control socket: {e}");
            sandbox.stop().await;
            return Ok(exit::FAILED);
        }
    };
    print_ready(sandbox.info(), args.json);
    let reason = sandbox.serve(bound).await;
    eprintln!("canton-dr: the sandbox stopped ({reason})");
    Ok(exit::OK)
}

fn print_ready(info: &SandboxInfo, json: bool) {
    let mut out = std::io::stdout();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string(info).unwrap_or_else(|_| "{}".into())
        );
        let _ = out.flush();
        return;
    }
    let dir = info.dir.display();
    let mut lines = vec![
        format!(
            "sandbox ready in {:.1}s (pid {}){}",
            info.ready_ms as f64 / 1000.0,
            info.pid,
            info.scenario
                .as_ref()
                .map(|s| format!(", scenario {s}"))
                .unwrap_or_default()
        ),
        format!("  directory       {dir}"),
        format!("  Ledger API      {}", info.ledger_api),
        format!("  Admin API       {}", info.admin_api),
        format!(
            "  Integration DB  {} (password in {dir}/secrets/integration-db-password)",
            info.database_url
        ),
        format!("  profile         {}", info.profile.display()),
        format!("  DARs            {}", info.dar_dir.display()),
    ];
    for (what, path) in &info.backups {
        lines.push(format!("  backup          {what}: {}", path.display()));
    }
    lines.push(format!(
        "  control         canton-dr sandbox ctl --dir {dir} <component> <action>"
    ));
    lines.push(format!(
        "Stop it with Ctrl-C or `canton-dr sandbox ctl --dir {dir} sandbox shutdown`{}.",
        info.idle_timeout_secs
            .map(|s| format!(
                "; it stops by itself after {}s without a control request",
                s
            ))
            .unwrap_or_default()
    ));
    let _ = writeln!(out, "{}", lines.join("\n"));
    let _ = out.flush();
}

/// Runs `sandbox ctl`.
pub async fn ctl(args: &CtlArgs) -> color_eyre::Result<u8> {
    let mut request = Request {
        component: args.component.clone(),
        action: args.action.clone(),
        args: BTreeMap::new(),
    };
    for var in PASSED_ENV {
        if let Ok(v) = std::env::var(var) {
            request.args.insert((*var).to_string(), v);
        }
    }
    // A relative file means one relative to where the command runs, not to the sandbox.
    for var in FILE_ENV {
        if let Some(v) = request.args.get_mut(*var)
            && !v.is_empty()
            && std::path::Path::new(v.as_str()).is_relative()
            && let Ok(cwd) = std::env::current_dir()
        {
            *v = cwd.join(v.as_str()).display().to_string();
        }
    }
    let timeout = Duration::from_secs(600);
    match control::call(&args.dir, &request, timeout).await {
        Ok(resp) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string(&resp).unwrap_or_else(|_| "{}".into())
                );
            } else if resp.code == control::FAILED {
                eprintln!("canton-dr: {}", resp.message);
            } else {
                println!("{}", resp.message);
            }
            Ok(resp.code)
        }
        Err(e) => {
            eprintln!("canton-dr: {e}");
            Ok(exit::FAILED)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn idle_timeouts_read_durations_and_off() {
        assert_eq!(
            idle_timeout("30m").unwrap(),
            Some(Duration::from_secs(1800))
        );
        assert_eq!(idle_timeout("off").unwrap(), None);
        assert!(idle_timeout("soon").unwrap_err().contains("--idle-timeout"));
    }
}
