//! `canton-dr doctor`: before any incident, run every read-only check the profile makes
//! possible, and say which work.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::exit;
use crate::clock::SystemClock;
use crate::probe::set::ProbeSet;
use crate::probe::{ProbeRequest, Probes};
use crate::profile::Profile;
use crate::runbook::catalog::ProbeKind;
use crate::runbook::expr::Ty;
use crate::runbook::model::ProbeCall;
use crate::secret::SecretRegistry;
use crate::value::Value;

/// Arguments of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The site profile to check
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// One JSON object on standard output
    #[arg(long)]
    pub json: bool,
}

/// One check's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub check: String,
    pub ok: bool,
    pub detail: String,
    pub millis: u64,
}

fn call(kind: &str, args: &[(&str, Value)]) -> Option<ProbeRequest> {
    let kind = ProbeKind::find(kind)?;
    let args: BTreeMap<String, Value> = args
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    Some(ProbeRequest {
        call: ProbeCall {
            kind,
            args: BTreeMap::new(),
            result_ty: Ty::Dyn,
        },
        args,
        step: "doctor".into(),
    })
}

async fn probe(
    probes: &ProbeSet,
    name: &str,
    req: Option<ProbeRequest>,
    out: &mut Vec<CheckResult>,
) -> Option<Value> {
    let req = req?;
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(60), probes.observe(&req)).await;
    let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, detail, value) = match result {
        Ok(Ok(o)) => (true, o.summary, Some(o.value)),
        Ok(Err(e)) => (false, e.message, None),
        Err(_) => (false, "no answer within 60 s".to_owned(), None),
    };
    out.push(CheckResult {
        check: name.to_owned(),
        ok,
        detail,
        millis,
    });
    value
}

/// Runs every check.
pub async fn checks(profile: Arc<Profile>, registry: &SecretRegistry) -> Vec<CheckResult> {
    let mut out = Vec::new();
    let secrets = match profile.load_secrets() {
        Ok(s) => {
            for v in s.all() {
                registry.register(v);
            }
            Arc::new(s)
        }
        Err(e) => {
            out.push(CheckResult {
                check: "secrets".into(),
                ok: false,
                detail: e.to_string(),
                millis: 0,
            });
            return out;
        }
    };
    out.push(CheckResult {
        check: "secrets".into(),
        ok: true,
        detail: format!("{} secret(s) read", secrets.all().len()),
        millis: 0,
    });
    let probes = ProbeSet::new(
        Some(profile.clone()),
        secrets.clone(),
        Arc::new(SystemClock),
    );
    if profile.ledger_api.is_some() {
        probe(
            &probes,
            "ledger api: version",
            call("canton.version", &[]),
            &mut out,
        )
        .await;
        probe(
            &probes,
            "ledger api: ledger end",
            call("canton.ledger_end", &[]),
            &mut out,
        )
        .await;
        let syncs = probe(
            &probes,
            "ledger api: connected synchronizers",
            call("canton.connected_synchronizers", &[]),
            &mut out,
        )
        .await;
        probe(
            &probes,
            "ledger api: known packages",
            call("canton.known_packages", &[]),
            &mut out,
        )
        .await;
        if let Some(toml::Value::String(dir)) = profile.params.get("dar_dir") {
            probe(
                &probes,
                "DARs on the participant",
                call("canton.dars_present", &[("dir", Value::Text(dir.clone()))]),
                &mut out,
            )
            .await;
        }
        let ids: Vec<String> = match syncs.as_ref().and_then(|v| v.field("ids")) {
            Some(Value::List(l)) => l.iter().map(ToString::to_string).collect(),
            _ => Vec::new(),
        };
        if profile.admin_api.is_some() {
            for id in &ids {
                let sync = [("synchronizer", Value::Text(id.clone()))];
                probe(
                    &probes,
                    &format!("admin api: synchronizer time of {id}"),
                    call("canton.synchronizer_time", &sync),
                    &mut out,
                )
                .await;
                probe(
                    &probes,
                    &format!("admin api: tolerance of {id}"),
                    call("canton.record_time_tolerance", &sync),
                    &mut out,
                )
                .await;
            }
        }
    }
    for (name, db) in &profile.databases {
        let started = Instant::now();
        let target = sql_target(db, secrets.databases.get(name).cloned());
        let r = crate::probe::sql::query(
            &target,
            "select current_user as role, version() as server",
            &[],
        )
        .await;
        out.push(CheckResult {
            check: format!("database {name}"),
            ok: r.is_ok(),
            detail: match r {
                Ok(res) => res
                    .rows
                    .first()
                    .map(|row| {
                        row.values()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default(),
                Err(e) => e.to_string(),
            },
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    for (name, q) in &profile.queries {
        let Some(db) = profile.databases.get(&q.database) else {
            continue;
        };
        let started = Instant::now();
        let target = sql_target(db, secrets.databases.get(&q.database).cloned());
        let n = crate::profile::max_placeholder(&q.sql);
        let params = vec![Value::Null; n];
        let r = crate::probe::sql::query(&target, &q.sql, &params).await;
        out.push(CheckResult {
            check: format!("query {name}"),
            ok: r.is_ok(),
            detail: match r {
                Ok(res) => format!(
                    "{} row(s); columns {}{}",
                    res.rows.len(),
                    res.columns
                        .iter()
                        .map(|(c, t)| format!("{c} ({t})"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if n > 0 {
                        format!(" (run with {n} NULL parameter(s))")
                    } else {
                        String::new()
                    }
                ),
                Err(e) => e.to_string(),
            },
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    out
}

fn sql_target(
    db: &crate::profile::Database,
    password: Option<secrecy::SecretString>,
) -> crate::probe::sql::SqlTarget {
    crate::probe::sql::SqlTarget {
        url: db.url.clone(),
        password,
        tls: match db.tls {
            crate::profile::DbTls::Disable => crate::probe::sql::SqlTls::Disable,
            crate::profile::DbTls::Require => crate::probe::sql::SqlTls::Require {
                ca_file: db.ca_file.clone(),
            },
        },
        connect_timeout: db
            .connect_timeout
            .to_std()
            .unwrap_or(Duration::from_secs(5)),
        statement_timeout: db
            .statement_timeout
            .to_std()
            .unwrap_or(Duration::from_secs(15)),
    }
}

/// Runs `doctor`.
pub async fn run(args: &Args, registry: &SecretRegistry) -> color_eyre::Result<u8> {
    let profile = match Profile::load(&args.profile) {
        Ok(p) => Arc::new(p),
        Err(d) => {
            eprintln!("{d}");
            return Ok(exit::FAILED);
        }
    };
    let results = checks(profile.clone(), registry).await;
    let failed = results.iter().filter(|r| !r.ok).count();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "profile": profile.name,
                "ok": failed == 0,
                "checks": results,
            })
        );
    } else {
        println!("profile {} ({})", profile.name, profile.path.display());
        for r in &results {
            let word = if r.ok { "ok    " } else { "FAILED" };
            println!(
                "  {word} {} ({} ms)\n         {}",
                r.check, r.millis, r.detail
            );
        }
        println!(
            "{} of {} checks passed{}",
            results.len() - failed,
            results.len(),
            if failed == 0 {
                String::new()
            } else {
                format!("; {failed} failed")
            }
        );
    }
    Ok(if failed == 0 { exit::OK } else { exit::FAILED })
}
