//! The sandbox's site profile: the bindings that let the shipped runbooks run against the
//! sandbox, written as a profile file (mode 0600) in the sandbox directory.
//!
//! Secrets appear only as `{ file = … }` references to 0600 files next to it. Every named
//! query is SQL over the reference Integration DB schema, read through the read-only role;
//! every named command is `canton-dr sandbox ctl --dir DIR <component> <action>`.

use std::path::Path;
use std::time::Duration;

use toml::{Table, Value};

/// What the profile points at.
#[derive(Debug, Clone)]
pub struct SiteInputs<'a> {
    /// The sandbox directory.
    pub dir: &'a Path,
    /// The canton-dr executable the named commands run.
    pub exe: &'a Path,
    pub ledger_url: &'a str,
    pub admin_url: &'a str,
    /// The Integration DB as the read-only role, without a password.
    pub database_url: &'a str,
    pub token_file: &'a Path,
    pub db_password_file: &'a Path,
    pub dar_dir: &'a Path,
    pub ttl: Duration,
}

/// Every named query: (name, SQL).
pub const QUERIES: &[(&str, &str)] = &[
    (
        "ingestion_status",
        "SELECT running, heartbeat_at FROM integration.ingestion_status",
    ),
    (
        "last_ingested",
        "SELECT last_record_time AS record_time, synchronizer_id, last_update_id AS update_id, \
         last_offset FROM integration.ingestion_state",
    ),
    (
        "ingestion_progress",
        "SELECT observed_record_time, last_offset FROM integration.ingestion_state",
    ),
    (
        "ingestion_start_offset",
        "SELECT start_offset FROM integration.ingestion_config",
    ),
    (
        "withdrawals_enabled",
        "SELECT enabled FROM integration.withdrawal_control",
    ),
    (
        "inflight_withdrawals",
        "SELECT count(*) AS inflight, max(trec_tgt) AS max_trec_tgt \
         FROM integration.inflight_withdrawals",
    ),
    (
        "recovered_withdrawals",
        "SELECT withdrawal_id, amount, status, completed_record_time FROM integration.withdrawals \
         WHERE recovered ORDER BY completed_record_time, withdrawal_id",
    ),
];

/// Every named command: (name, component, action, environment variables it reads).
pub const COMMANDS: &[(&str, &str, &str, &[&str])] = &[
    ("ingestion_stop", "ingestion", "stop", &[]),
    ("ingestion_start", "ingestion", "start", &[]),
    ("ingestion_status", "ingestion", "status", &[]),
    (
        "ingestion_set_start_offset",
        "ingestion",
        "set-start-offset",
        &["START_OFFSET"],
    ),
    (
        "ingestion_skip_known_updates",
        "ingestion",
        "skip-known-updates",
        &[],
    ),
    ("withdrawals_disable", "withdrawals", "disable", &[]),
    ("withdrawals_enable", "withdrawals", "enable", &[]),
    ("withdrawals_status", "withdrawals", "status", &[]),
    ("withdrawal_automation_stop", "automation", "stop", &[]),
    ("withdrawal_automation_start", "automation", "start", &[]),
    ("withdrawal_automation_status", "automation", "status", &[]),
    ("validator_stop", "validator", "stop", &[]),
    ("validator_start", "validator", "start", &[]),
    ("validator_scale_down", "validator", "scale-down", &[]),
    ("validator_scale_up", "validator", "scale-up", &[]),
    ("postgres_volume_remove", "postgres", "volume-remove", &[]),
    ("postgres_start", "postgres", "start", &[]),
    ("postgres_ready", "postgres", "ready", &[]),
    ("compose_down", "postgres", "down", &[]),
    ("restore_validator_db", "restore", "validator-db", &["DUMP"]),
    (
        "restore_participant_db",
        "restore",
        "participant-db",
        &["DUMP"],
    ),
    (
        "integration_db_restore",
        "integration",
        "restore",
        &["BACKUP"],
    ),
    ("integration_db_backup", "integration", "backup", &[]),
    ("validator_backup", "backup", "take", &[]),
    ("identities_dump", "identities", "dump", &[]),
    ("identities_store", "identities", "store", &["FILE"]),
    ("dump_validator_db", "backup", "validator-db", &[]),
    ("dump_participant_db", "backup", "participant-db", &[]),
    (
        "backup_upload",
        "backup",
        "upload",
        &["VALIDATOR_DUMP", "PARTICIPANT_DUMP"],
    ),
    ("backup_retention", "backup", "retention", &[]),
];

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

fn path(p: &Path) -> Value {
    Value::String(p.display().to_string())
}

fn table(entries: Vec<(&str, Value)>) -> Value {
    Value::Table(
        entries
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn file_secret(p: &Path) -> Value {
    table(vec![("file", path(p))])
}

/// The profile's text.
pub fn render(i: &SiteInputs<'_>) -> String {
    let mut root = Table::new();
    root.insert("name".into(), text("sandbox"));
    root.insert(
        "description".into(),
        text(&format!(
            "The canton-dr sandbox in {} (generated; it lives as long as the sandbox)",
            i.dir.display()
        )),
    );
    let auth = table(vec![("token", file_secret(i.token_file))]);
    root.insert(
        "ledger_api".into(),
        table(vec![("url", text(i.ledger_url)), ("auth", auth.clone())]),
    );
    root.insert(
        "admin_api".into(),
        table(vec![("url", text(i.admin_url)), ("auth", auth)]),
    );
    root.insert(
        "databases".into(),
        table(vec![(
            "integration",
            table(vec![
                ("url", text(i.database_url)),
                ("password", file_secret(i.db_password_file)),
                ("tls", text("disable")),
            ]),
        )]),
    );
    let mut queries = Table::new();
    for (name, sql) in QUERIES {
        queries.insert(
            (*name).to_string(),
            table(vec![("database", text("integration")), ("sql", text(sql))]),
        );
    }
    root.insert("queries".into(), Value::Table(queries));
    let mut commands = Table::new();
    for (name, component, action, _) in COMMANDS {
        let argv = [
            i.exe.display().to_string(),
            "sandbox".into(),
            "ctl".into(),
            "--dir".into(),
            i.dir.display().to_string(),
            (*component).to_string(),
            (*action).to_string(),
        ];
        commands.insert(
            (*name).to_string(),
            table(vec![(
                "argv",
                Value::Array(argv.iter().map(|a| text(a)).collect()),
            )]),
        );
    }
    root.insert("commands".into(), Value::Table(commands));
    root.insert(
        "params".into(),
        table(vec![
            ("deployment", text("compose")),
            ("dar_dir", path(i.dar_dir)),
            ("ttl", text(&format!("{}s", i.ttl.as_secs().max(1)))),
        ]),
    );
    let body = toml::to_string(&Value::Table(root)).unwrap_or_default();
    format!(
        "# Generated by canton-dr for its sandbox; secrets are only referenced, never written here.\n{body}"
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::profile::Profile;

    #[test]
    fn the_profile_fits_every_shipped_runbook() {
        let dir = Path::new("/tmp/sandbox-x");
        let inputs = SiteInputs {
            dir,
            exe: Path::new("/usr/bin/canton-dr"),
            ledger_url: "http://127.0.0.1:5001",
            admin_url: "http://127.0.0.1:5002",
            database_url: "postgres://canton_dr_reader@127.0.0.1:5432/integration",
            token_file: &dir.join("secrets/token"),
            db_password_file: &dir.join("secrets/db-password"),
            dar_dir: &dir.join("dars"),
            ttl: Duration::from_secs(6),
        };
        let text = render(&inputs);
        let profile = Profile::parse(&dir.join("profile.toml"), text.clone()).unwrap();
        for name in [
            "validator-restore",
            "integration-db-restore",
            "validator-backup",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("runbooks")
                .join(format!("{name}.toml"));
            let runbook = crate::runbook::load(&path).unwrap();
            let gaps = profile.check_against(&runbook);
            assert!(gaps.is_empty(), "{name}: {gaps}");
            let params = profile.param_values(&runbook).unwrap();
            // The backup runbook needs no site parameters; the restores do.
            assert_eq!(params.is_empty(), name == "validator-backup", "{name}");
        }
        let argv = profile.commands["ingestion_set_start_offset"]
            .argv
            .clone()
            .unwrap();
        assert_eq!(
            argv[1..],
            [
                "sandbox",
                "ctl",
                "--dir",
                "/tmp/sandbox-x",
                "ingestion",
                "set-start-offset"
            ]
        );
        assert!(
            text.contains("file = \"/tmp/sandbox-x/secrets/token\""),
            "{text}"
        );
    }
}
