//! The judge of a backup drill: is what the operator produced a backup a restore can rely on,
//! and did the node's private keys stay where they belong?
//!
//! The checks, by name:
//! - `backup-uploaded`: the last upload put a validator dump and a participant dump at the
//!   backup destination, identical to the dumps taken;
//! - `backup-restores`: both uploaded dumps restore (`pg_restore` into scratch databases of the
//!   sandbox's cluster) and what they restore equals the live databases;
//! - `validator-dump-first`: by the creation times in their headers, the validator dump was
//!   taken strictly before the participant dump;
//! - `identities-in-secret-store`: the secret store holds the identities dump, it is valid and
//!   it is this participant's identity (id, every key pair, the snapshot);
//! - `identities-local-copy-removed`: no identities dump the validator wrote is left outside
//!   the secret store;
//! - `no-key-material-outside-secret-store`: no key pair of the participant, in any usual
//!   encoding, is in any file of the sandbox or the drill's incident outside the store;
//! - `retention-applied`: the retention ran, the backup that was already there (older than
//!   the retention period) is gone, and the new pair is kept.
//!
//! Evidence names files and counts, never content.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio_postgres::Client;
use zeroize::Zeroizing;

use super::backup_job::{BackupJob, JobRecord, dumps_in};
use super::db::{PARTICIPANT_DB, VALIDATOR_DB};
use super::dumps::{PgTools, creation_time};
use super::identity::NodeIdentity;
use super::judge::Check;
use super::keyscan::{self, ScanReport};
use super::participant::Backup;
use super::pg::PgCluster;
use crate::value::format_timestamp;

/// Check names.
pub const BACKUP_UPLOADED: &str = "backup-uploaded";
pub const BACKUP_RESTORES: &str = "backup-restores";
pub const VALIDATOR_DUMP_FIRST: &str = "validator-dump-first";
pub const IDENTITIES_STORED: &str = "identities-in-secret-store";
pub const LOCAL_COPY_REMOVED: &str = "identities-local-copy-removed";
pub const NO_KEY_OUTSIDE_STORE: &str = "no-key-material-outside-secret-store";
pub const RETENTION_APPLIED: &str = "retention-applied";

/// Every check, in report order.
pub const CHECKS: &[&str] = &[
    BACKUP_UPLOADED,
    BACKUP_RESTORES,
    VALIDATOR_DUMP_FIRST,
    IDENTITIES_STORED,
    LOCAL_COPY_REMOVED,
    NO_KEY_OUTSIDE_STORE,
    RETENTION_APPLIED,
];

/// The scratch databases uploaded dumps are restored into.
const SCRATCH: [(&str, &str); 2] = [
    ("canton-dr-scratch-validator", VALIDATOR_DB),
    ("canton-dr-scratch-participant", PARTICIPANT_DB),
];

/// The uploaded pair as found at the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPair {
    /// The validator dump at the destination.
    pub validator: PathBuf,
    /// The participant dump at the destination.
    pub participant: PathBuf,
    /// Uploaded files that are missing or differ from the dump taken.
    pub damaged: Vec<String>,
}

/// What the retention left.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionFinding {
    pub period: Duration,
    pub runs: u32,
    /// Files of the backup that was there before the drill.
    pub previous: usize,
    /// Of which still there.
    pub previous_left: Vec<String>,
    /// Dumps older than the period still there (locally or at the destination).
    pub too_old_left: Vec<String>,
    /// Uploaded dumps the retention deleted.
    pub uploaded_deleted: Vec<String>,
}

/// Everything the judge found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Findings {
    /// The last upload, or why there is none.
    pub upload: Result<UploadedPair, String>,
    /// The restore of the uploaded pair and its comparison with the live databases.
    pub restore: Result<String, String>,
    /// The header creation times of the uploaded validator and participant dumps.
    pub order: Result<(DateTime<Utc>, DateTime<Utc>), String>,
    /// Each file in the secret store, with how many key pairs it holds or why it is not the
    /// participant's identity.
    pub stored: Vec<(String, Result<usize, String>)>,
    /// The participant id.
    pub participant_id: String,
    /// Identities dumps the validator wrote, and those still in place.
    pub identities_written: usize,
    pub local_copies_left: Vec<String>,
    /// The key-material search and where it looked.
    pub scan: ScanReport,
    pub scan_roots: Vec<PathBuf>,
    pub retention: RetentionFinding,
}

fn check(name: &str, passed: bool, evidence: String) -> Check {
    Check {
        name: name.to_string(),
        passed,
        evidence,
    }
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

fn human(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The checks over what was found.
pub fn checks(f: &Findings) -> Vec<Check> {
    vec![
        uploaded(f),
        restores(f),
        validator_first(f),
        stored(f),
        local_copy(f),
        no_key_outside(f),
        retention(f),
    ]
}

fn uploaded(f: &Findings) -> Check {
    match &f.upload {
        Err(why) => check(BACKUP_UPLOADED, false, why.clone()),
        Ok(pair) if !pair.damaged.is_empty() => check(
            BACKUP_UPLOADED,
            false,
            format!(
                "at the backup destination, {} missing or not identical to the dump taken",
                pair.damaged.join(" and ")
            ),
        ),
        Ok(pair) => check(
            BACKUP_UPLOADED,
            true,
            format!(
                "{} and {} are at the backup destination, identical to the dumps taken",
                name_of(&pair.validator),
                name_of(&pair.participant)
            ),
        ),
    }
}

fn restores(f: &Findings) -> Check {
    match &f.restore {
        Ok(evidence) => check(BACKUP_RESTORES, true, evidence.clone()),
        Err(why) => check(BACKUP_RESTORES, false, why.clone()),
    }
}

fn validator_first(f: &Findings) -> Check {
    match &f.order {
        Err(why) => check(VALIDATOR_DUMP_FIRST, false, why.clone()),
        Ok((v, p)) if v < p => check(
            VALIDATOR_DUMP_FIRST,
            true,
            format!(
                "the validator dump's header says {}, strictly before the participant dump's {} ({}s earlier)",
                format_timestamp(v),
                format_timestamp(p),
                (*p - *v).num_seconds()
            ),
        ),
        Ok((v, p)) => check(
            VALIDATOR_DUMP_FIRST,
            false,
            format!(
                "the validator dump's header says {}, NOT strictly before the participant dump's {}: the pair is not a consistent backup",
                format_timestamp(v),
                format_timestamp(p)
            ),
        ),
    }
}

fn stored(f: &Findings) -> Check {
    if f.stored.is_empty() {
        return check(
            IDENTITIES_STORED,
            false,
            "the secret store holds no identities dump".into(),
        );
    }
    let bad: Vec<String> = f
        .stored
        .iter()
        .filter_map(|(name, r)| r.as_ref().err().map(|why| format!("{name}: {why}")))
        .collect();
    if !bad.is_empty() {
        return check(IDENTITIES_STORED, false, bad.join("; "));
    }
    let described: Vec<String> = f
        .stored
        .iter()
        .map(|(name, r)| format!("{name} ({} key pairs)", r.as_ref().copied().unwrap_or(0)))
        .collect();
    check(
        IDENTITIES_STORED,
        true,
        format!(
            "the secret store holds {} identities dump{} ({}): valid, and the identity of {} with every key pair and the topology snapshot the participant has",
            f.stored.len(),
            if f.stored.len() == 1 { "" } else { "s" },
            described.join(", "),
            f.participant_id
        ),
    )
}

fn local_copy(f: &Findings) -> Check {
    if !f.local_copies_left.is_empty() {
        return check(
            LOCAL_COPY_REMOVED,
            false,
            format!(
                "identities dumps left outside the secret store: {}",
                f.local_copies_left.join(", ")
            ),
        );
    }
    let evidence = match f.identities_written {
        0 => "the validator wrote no identities dump, so none is left outside the secret store"
            .to_string(),
        1 => "the identities dump the validator wrote was deleted once it was stored".to_string(),
        n => format!("all {n} identities dumps the validator wrote were deleted once stored"),
    };
    check(LOCAL_COPY_REMOVED, true, evidence)
}

fn no_key_outside(f: &Findings) -> Check {
    let roots = f
        .scan_roots
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if f.scan.clean() {
        return check(
            NO_KEY_OUTSIDE_STORE,
            true,
            format!(
                "searched {} files ({} bytes) under {roots}, outside the secret store: no key pair of the participant in any form (as is, base64, hex)",
                f.scan.files, f.scan.bytes
            ),
        );
    }
    let mut problems: Vec<String> = f
        .scan
        .hits
        .iter()
        .map(|p| format!("{} holds key material", p.display()))
        .collect();
    problems.extend(
        f.scan
            .unsearched
            .iter()
            .map(|(p, why)| format!("{} could not be searched ({why})", p.display())),
    );
    check(NO_KEY_OUTSIDE_STORE, false, problems.join("; "))
}

fn retention(f: &Findings) -> Check {
    let r = &f.retention;
    let period = human(r.period);
    if r.runs == 0 {
        return check(
            RETENTION_APPLIED,
            false,
            format!("the retention ({period}) never ran"),
        );
    }
    let mut problems = Vec::new();
    if !r.previous_left.is_empty() {
        problems.push(format!(
            "the earlier backup is still there ({})",
            r.previous_left.join(", ")
        ));
    }
    if !r.too_old_left.is_empty() {
        problems.push(format!(
            "dumps older than {period} are left: {}",
            r.too_old_left.join(", ")
        ));
    }
    if !r.uploaded_deleted.is_empty() {
        problems.push(format!(
            "the new backup was deleted: {}",
            r.uploaded_deleted.join(", ")
        ));
    }
    if !problems.is_empty() {
        return check(RETENTION_APPLIED, false, problems.join("; "));
    }
    check(
        RETENTION_APPLIED,
        true,
        format!(
            "the retention ({period}) ran; the {} files of the earlier backup are deleted, no dump older than {period} is left, and the new backup is kept",
            r.previous
        ),
    )
}

// ---- gathering -------------------------------------------------------------------------

/// What the judge needs of the running sandbox.
pub struct Sources<'a> {
    pub job: &'a BackupJob,
    pub identity: &'a NodeIdentity,
    pub cluster: &'a PgCluster,
    pub tools: &'a PgTools,
    /// Where to search for key material (the sandbox directory, the drill's incident).
    pub scan_roots: Vec<PathBuf>,
}

/// Looks at everything, then judges.
pub async fn judge(s: &Sources<'_>) -> Vec<Check> {
    checks(&gather(s).await)
}

/// Looks at everything the checks need.
pub async fn gather(s: &Sources<'_>) -> Findings {
    let record = s.job.record().await;
    let upload = uploaded_pair(&record);
    let (restore, order) = match &upload {
        Ok(pair) => (
            restore_and_compare(s.cluster, s.tools, &pair.validator, &pair.participant).await,
            header_times(&pair.validator, &pair.participant),
        ),
        Err(why) => (
            Err(format!("nothing to restore: {why}")),
            Err(format!("nothing to compare: {why}")),
        ),
    };
    let local_copies_left = record
        .identities_written
        .iter()
        .filter(|p| p.exists())
        .map(|p| name_of(p))
        .collect();
    let needles = keyscan::needles(s.identity.keys().iter().map(|k| k.bytes()));
    let scan = keyscan::scan(&s.scan_roots, &[s.job.store_dir().to_path_buf()], &needles);
    Findings {
        upload,
        restore,
        order,
        stored: stored_dumps(s.job.store_dir(), s.identity),
        participant_id: s.identity.participant_id().to_string(),
        identities_written: record.identities_written.len(),
        local_copies_left,
        scan,
        scan_roots: s.scan_roots.clone(),
        retention: retention_finding(s.job, &record),
    }
}

fn uploaded_pair(record: &JobRecord) -> Result<UploadedPair, String> {
    if record.uploaded.is_empty() {
        return Err("nothing was uploaded to the backup destination".into());
    }
    let find = |prefix: &str| {
        record
            .uploaded
            .iter()
            .find(|u| name_of(&u.remote).starts_with(&format!("{prefix}-")))
    };
    let (Some(v), Some(p)) = (find(VALIDATOR_DB), find(PARTICIPANT_DB)) else {
        return Err(format!(
            "the last upload ({}) is not a validator dump and a participant dump",
            record
                .uploaded
                .iter()
                .map(|u| name_of(&u.remote))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let damaged = [v, p]
        .iter()
        .filter(
            |u| match (std::fs::read(&u.remote), std::fs::read(&u.local)) {
                (Ok(remote), Ok(local)) => remote != local,
                (Ok(_), Err(_)) => false, // the local dump is gone; the copy is all there is
                (Err(_), _) => true,
            },
        )
        .map(|u| name_of(&u.remote))
        .collect();
    Ok(UploadedPair {
        validator: v.remote.clone(),
        participant: p.remote.clone(),
        damaged,
    })
}

fn header_times(
    validator: &Path,
    participant: &Path,
) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let v = creation_time(validator).map_err(|e| e.to_string())?;
    let p = creation_time(participant).map_err(|e| e.to_string())?;
    Ok((v, p))
}

fn stored_dumps(store: &Path, identity: &NodeIdentity) -> Vec<(String, Result<usize, String>)> {
    let Ok(entries) = std::fs::read_dir(store) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let verdict = match std::fs::read(&p) {
                Ok(bytes) => {
                    let bytes = Zeroizing::new(bytes);
                    identity.check_dump(&bytes).map_err(|m| m.0)
                }
                Err(e) => Err(format!("unreadable: {e}")),
            };
            (name_of(&p), verdict)
        })
        .collect()
}

fn retention_finding(job: &BackupJob, record: &JobRecord) -> RetentionFinding {
    let limit = Utc::now() - TimeDelta::from_std(job.retention()).unwrap_or(TimeDelta::MAX);
    let mut too_old_left = Vec::new();
    for dir in [job.local_dir(), job.destination()] {
        if let Ok(list) = dumps_in(dir) {
            too_old_left.extend(
                list.into_iter()
                    .filter(|(_, at)| *at < limit)
                    .map(|(p, _)| name_of(&p)),
            );
        }
    }
    RetentionFinding {
        period: job.retention(),
        runs: record.retention_runs,
        previous: record.previous.len(),
        previous_left: record
            .previous
            .iter()
            .filter(|p| p.exists())
            .map(|p| name_of(p))
            .collect(),
        too_old_left,
        uploaded_deleted: record
            .uploaded
            .iter()
            .filter(|u| !u.remote.exists())
            .map(|u| name_of(&u.remote))
            .collect(),
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Restores both dumps into scratch databases, compares them with the live ones, and drops
/// the scratch databases again (whatever happened).
async fn restore_and_compare(
    cluster: &PgCluster,
    tools: &PgTools,
    validator: &Path,
    participant: &Path,
) -> Result<String, String> {
    let admin = cluster
        .connect("postgres")
        .await
        .map_err(|e| format!("cannot reach the sandbox's cluster: {e}"))?;
    let outcome = restore_and_compare_in(&admin, cluster, tools, validator, participant).await;
    for (scratch, _) in SCRATCH {
        if let Err(e) = admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quoted(scratch)
            ))
            .await
        {
            tracing::warn!(error = %e, database = scratch, "dropping a scratch database");
        }
    }
    outcome
}

async fn restore_and_compare_in(
    admin: &Client,
    cluster: &PgCluster,
    tools: &PgTools,
    validator: &Path,
    participant: &Path,
) -> Result<String, String> {
    let mut evidence = Vec::new();
    for ((scratch, live), dump) in SCRATCH.iter().zip([validator, participant]) {
        for statement in [
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quoted(scratch)),
            format!("CREATE DATABASE {}", quoted(scratch)),
        ] {
            admin
                .batch_execute(&statement)
                .await
                .map_err(|e| format!("cannot prepare scratch database {scratch}: {e}"))?;
        }
        tools
            .restore(scratch, dump)
            .await
            .map_err(|e| format!("{} does not restore: {e}", name_of(dump)))?;
        let restored = cluster
            .connect(scratch)
            .await
            .map_err(|e| format!("cannot read the restored {}: {e}", name_of(dump)))?;
        let current = cluster
            .connect(live)
            .await
            .map_err(|e| format!("cannot read the live database {live}: {e}"))?;
        let (a, b) = (tables(&restored).await?, tables(&current).await?);
        if a != b {
            return Err(format!(
                "{} restores tables [{}], the live database {live} has [{}]",
                name_of(dump),
                a.join(", "),
                b.join(", ")
            ));
        }
        let said = if *live == VALIDATOR_DB {
            compare_validator(&restored, &current).await?
        } else {
            compare_participant(&restored, &current).await?
        };
        evidence.push(format!("{} restores: {said}", name_of(dump)));
    }
    Ok(format!(
        "{} (restored into scratch databases of the sandbox's cluster with pg_restore)",
        evidence.join("; ")
    ))
}

async fn tables(c: &Client) -> Result<Vec<String>, String> {
    Ok(c.query(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = 'public' ORDER BY 1",
        &[],
    )
    .await
    .map_err(|e| format!("listing tables: {e}"))?
    .iter()
    .map(|r| r.get(0))
    .collect())
}

async fn validator_rows(c: &Client) -> Result<Vec<(String, String)>, String> {
    c.query("SELECT key, value FROM validator_state ORDER BY key", &[])
        .await
        .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
        .map_err(|e| format!("reading validator_state: {e}"))
}

async fn compare_validator(restored: &Client, live: &Client) -> Result<String, String> {
    let (a, b) = (validator_rows(restored).await?, validator_rows(live).await?);
    if a != b {
        let keys = |v: &[(String, String)]| v.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        return Err(format!(
            "the restored validator app state ({} entries: {}) differs from the live one ({} entries: {})",
            a.len(),
            keys(&a).join(", "),
            b.len(),
            keys(&b).join(", ")
        ));
    }
    Ok(format!(
        "the validator app's state ({} entries) equals the live database's",
        a.len()
    ))
}

async fn participant_row(c: &Client) -> Result<(String, String, DateTime<Utc>), String> {
    c.query_opt(
        "SELECT participant_id, backup, saved_at FROM participant_state",
        &[],
    )
    .await
    .map_err(|e| format!("reading participant_state: {e}"))?
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .ok_or_else(|| "participant_state is empty".to_string())
}

async fn compare_participant(restored: &Client, live: &Client) -> Result<String, String> {
    let (a, b) = (
        participant_row(restored).await?,
        participant_row(live).await?,
    );
    let state = Backup::from_json(a.1.as_bytes())
        .map_err(|e| format!("the restored participant state is unreadable: {e}"))?;
    if a != b {
        return Err(format!(
            "the restored participant state (saved {}) differs from the live database's (saved {})",
            format_timestamp(&a.2),
            format_timestamp(&b.2)
        ));
    }
    Ok(format!(
        "the participant state of {} ({}, ledger end {}) equals the live database's",
        format_timestamp(&state.taken_at()),
        a.0,
        state.ledger_end()
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn good() -> Findings {
        Findings {
            upload: Ok(UploadedPair {
                validator: "/d/backup-destination/validator-x.dump".into(),
                participant: "/d/backup-destination/participant-0-x.dump".into(),
                damaged: Vec::new(),
            }),
            restore: Ok("both restore".into()),
            order: Ok((at(0), at(1))),
            stored: vec![("participant-identities-x.json".into(), Ok(3))],
            participant_id: "PAR::participant::1220ab".into(),
            identities_written: 1,
            local_copies_left: Vec::new(),
            scan: ScanReport {
                files: 12,
                bytes: 4096,
                ..ScanReport::default()
            },
            scan_roots: vec!["/d".into()],
            retention: RetentionFinding {
                period: Duration::from_secs(86_400),
                runs: 1,
                previous: 4,
                ..RetentionFinding::default()
            },
        }
    }

    fn get(checks: &[Check], name: &str) -> Check {
        checks.iter().find(|c| c.name == name).unwrap().clone()
    }

    #[test]
    fn a_good_backup_passes_every_check_in_order() {
        let c = checks(&good());
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, CHECKS);
        for x in &c {
            assert!(x.passed, "{}: {}", x.name, x.evidence);
        }
        assert!(
            get(&c, VALIDATOR_DUMP_FIRST)
                .evidence
                .contains("1s earlier")
        );
        assert!(get(&c, NO_KEY_OUTSIDE_STORE).evidence.contains("12 files"));
        assert!(get(&c, RETENTION_APPLIED).evidence.contains("(1day)"));
    }

    #[test]
    fn each_fault_fails_its_check_with_the_reason() {
        let mut f = good();
        f.order = Ok((at(1), at(1)));
        let c = get(&checks(&f), VALIDATOR_DUMP_FIRST);
        assert!(
            !c.passed && c.evidence.contains("NOT strictly before"),
            "{}",
            c.evidence
        );

        let mut f = good();
        f.stored[0].1 = Err("key pair x differs from the participant's".into());
        let c = get(&checks(&f), IDENTITIES_STORED);
        assert!(
            !c.passed && c.evidence.contains("differs"),
            "{}",
            c.evidence
        );
        f.stored.clear();
        assert!(!get(&checks(&f), IDENTITIES_STORED).passed);

        let mut f = good();
        f.local_copies_left = vec!["participant-identities-x.json".into()];
        assert!(!get(&checks(&f), LOCAL_COPY_REMOVED).passed);

        let mut f = good();
        f.scan.hits = vec!["/i/journal.rbj".into()];
        let c = get(&checks(&f), NO_KEY_OUTSIDE_STORE);
        assert!(
            !c.passed && c.evidence.contains("/i/journal.rbj"),
            "{}",
            c.evidence
        );
        let mut f = good();
        f.scan.unsearched = vec![("/i/x".into(), "permission denied".into())];
        assert!(
            !get(&checks(&f), NO_KEY_OUTSIDE_STORE).passed,
            "fails closed"
        );

        let mut f = good();
        f.retention.runs = 0;
        assert!(
            get(&checks(&f), RETENTION_APPLIED)
                .evidence
                .contains("never ran")
        );
        let mut f = good();
        f.retention.previous_left = vec!["validator-old.dump".into()];
        assert!(!get(&checks(&f), RETENTION_APPLIED).passed);
        let mut f = good();
        f.retention.uploaded_deleted = vec!["validator-x.dump".into()];
        assert!(!get(&checks(&f), RETENTION_APPLIED).passed);

        let mut f = good();
        f.upload = Err("nothing was uploaded to the backup destination".into());
        assert!(!get(&checks(&f), BACKUP_UPLOADED).passed);
        let mut f = good();
        if let Ok(p) = f.upload.as_mut() {
            p.damaged = vec!["validator-x.dump".into()];
        }
        assert!(!get(&checks(&f), BACKUP_UPLOADED).passed);
        let mut f = good();
        f.restore = Err("participant-0-x.dump does not restore".into());
        assert!(!get(&checks(&f), BACKUP_RESTORES).passed);
    }

    #[test]
    fn the_upload_is_recognised_by_its_database_names() {
        let d = tempfile::tempdir().unwrap();
        let mk = |name: &str, body: &[u8]| {
            let p = d.path().join(name);
            std::fs::write(&p, body).unwrap();
            p
        };
        let lv = mk("l-validator", b"v");
        let rv = mk("validator-1.dump", b"v");
        let lp = mk("l-participant", b"p");
        let rp = mk("participant-0-1.dump", b"p-changed");
        let record = JobRecord {
            uploaded: vec![
                super::super::backup_job::Uploaded {
                    local: lv,
                    remote: rv.clone(),
                },
                super::super::backup_job::Uploaded {
                    local: lp,
                    remote: rp.clone(),
                },
            ],
            ..JobRecord::default()
        };
        let pair = uploaded_pair(&record).unwrap();
        assert_eq!(pair.validator, rv);
        assert_eq!(pair.participant, rp);
        assert_eq!(pair.damaged, vec!["participant-0-1.dump".to_string()]);
        assert!(uploaded_pair(&JobRecord::default()).is_err());
    }
}
