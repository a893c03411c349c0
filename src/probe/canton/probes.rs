//! The `canton.*` probes: typed results over [`CantonClient`], with errors that say what to do.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::{DateTime, TimeDelta, Utc};

use crate::dar::{self, DarInfo};
use crate::probe::canton::{CantonClient, CantonError, OffsetAtError};
use crate::probe::{Observed, ProbeError, ProbeRequest, record};
use crate::value::{Value, format_timestamp};

fn canton_err(e: CantonError) -> ProbeError {
    ProbeError {
        retryable: e.is_retryable(),
        message: e.to_string(),
    }
}

fn text(req: &ProbeRequest, name: &str) -> Result<String, ProbeError> {
    req.text(name).ok_or_else(|| {
        ProbeError::new(format!(
            "{}: parameter '{name}' has no value",
            req.call.kind.name
        ))
    })
}

fn timestamp(req: &ProbeRequest, name: &str) -> Result<DateTime<Utc>, ProbeError> {
    match req.args.get(name) {
        Some(Value::Timestamp(t)) => Ok(*t),
        Some(other) => Value::parse_as(crate::value::ValueType::Timestamp, &other.to_string())
            .ok()
            .and_then(|v| match v {
                Value::Timestamp(t) => Some(t),
                _ => None,
            })
            .ok_or_else(|| {
                ProbeError::new(format!("parameter '{name}' is not a timestamp: {other}"))
            }),
        None => Err(ProbeError::new(format!("parameter '{name}' has no value"))),
    }
}

/// Runs one `canton.*` probe (not the upload action).
pub async fn observe(client: &CantonClient, req: &ProbeRequest) -> Result<Observed, ProbeError> {
    match req.call.kind.name {
        "canton.version" => {
            let v = client.api_version().await.map_err(canton_err)?;
            Ok(Observed {
                summary: format!("Ledger API version {v}"),
                value: record([("version", Value::Text(v))]),
            })
        }
        "canton.ledger_end" => {
            let o = client.ledger_end().await.map_err(canton_err)?;
            Ok(Observed {
                summary: format!("ledger end offset {o}"),
                value: record([("offset", Value::Offset(o))]),
            })
        }
        "canton.connected_synchronizers" => {
            let syncs = client.connected_synchronizers().await.map_err(canton_err)?;
            let ids: Vec<Value> = syncs.iter().map(|s| Value::Text(s.id.clone())).collect();
            let first = syncs
                .first()
                .map_or(Value::Null, |s| Value::Text(s.id.clone()));
            let names: Vec<String> = syncs
                .iter()
                .map(|s| format!("{} ({})", s.alias, s.id))
                .collect();
            Ok(Observed {
                summary: if names.is_empty() {
                    "connected to no synchronizer".to_owned()
                } else {
                    format!("connected to {}", names.join(", "))
                },
                value: record([
                    ("count", Value::Integer(syncs.len() as i64)),
                    ("ids", Value::List(ids)),
                    ("first_id", first),
                ]),
            })
        }
        "canton.known_packages" => {
            let ids = client.list_packages().await.map_err(canton_err)?;
            Ok(Observed {
                summary: format!("the participant knows {} packages", ids.len()),
                value: record([
                    ("count", Value::Integer(ids.len() as i64)),
                    (
                        "package_ids",
                        Value::List(ids.into_iter().map(Value::Text).collect()),
                    ),
                ]),
            })
        }
        "canton.dars_present" => {
            let dir = text(req, "dir")?;
            let (dars, known) = inventory(client, Path::new(&dir)).await?;
            Ok(dars_present(&dir, &dars, &known))
        }
        "canton.offset_at" => offset_at(client, req).await,
        "canton.synchronizer_time" => {
            let sync = text(req, "synchronizer")?;
            let t = client.synchronizer_time(&sync).await.map_err(canton_err)?;
            Ok(Observed {
                summary: format!("synchronizer time {}", format_timestamp(&t)),
                value: record([("time", Value::Timestamp(t))]),
            })
        }
        "canton.record_time_tolerance" => {
            let sync = text(req, "synchronizer")?;
            let t = client
                .record_time_tolerance(&sync)
                .await
                .map_err(canton_err)?;
            Ok(Observed {
                summary: format!(
                    "ledger_time_record_time_tolerance {}",
                    crate::value::format_duration(t)
                ),
                value: record([("tolerance", Value::Duration(t))]),
            })
        }
        other => Err(ProbeError::new(format!("'{other}' is not a Canton probe"))),
    }
}

async fn offset_at(client: &CantonClient, req: &ProbeRequest) -> Result<Observed, ProbeError> {
    let sync = text(req, "synchronizer")?;
    let at = timestamp(req, "at")?;
    let mode = req.text("mode").unwrap_or_else(|| "exact".to_owned());
    let map = |e: OffsetAtError| match e {
        OffsetAtError::NotCaughtUp { .. } => ProbeError::retryable(format!(
            "the participant has not processed synchronizer {sync} up to {} yet (OUT_OF_RANGE); it is still catching up",
            format_timestamp(&at)
        )),
        OffsetAtError::Canton(c) => canton_err(c),
        other => ProbeError::new(other.to_string()),
    };
    let (looked_up_at, offset, how) = match mode.as_str() {
        "force" => (
            at,
            client.offset_at(&sync, at, true).await.map_err(map)?,
            "force",
        ),
        "just_before" => {
            // With Canton's exact-match rule (3.4.10 and later) a lookup at t − 1µs finds no
            // transaction with exactly that record time. So: first make sure the participant
            // has caught up to t (an exact lookup at t), then look up t − 1µs with force, which
            // is safe once the participant is past t.
            match client.offset_at(&sync, at, false).await {
                Ok(_) | Err(OffsetAtError::NoExactRecordTime { .. }) => {}
                Err(e) => return Err(map(e)),
            }
            let before = at - TimeDelta::microseconds(1);
            (
                before,
                client.offset_at(&sync, before, true).await.map_err(map)?,
                "t − 1µs, after checking the participant has passed t",
            )
        }
        _ => (
            at,
            client.offset_at(&sync, at, false).await.map_err(map)?,
            "exact",
        ),
    };
    Ok(Observed {
        summary: format!(
            "offset {offset} for record time {} ({how})",
            format_timestamp(&looked_up_at)
        ),
        value: record([
            ("offset", Value::Offset(offset)),
            ("looked_up_at", Value::Timestamp(looked_up_at)),
        ]),
    })
}

/// The DARs of a directory and the package ids the participant knows.
pub async fn inventory(
    client: &CantonClient,
    dir: &Path,
) -> Result<(Vec<(String, DarInfo)>, BTreeSet<String>), ProbeError> {
    let dars = read_dars(dir)?;
    let known: BTreeSet<String> = client
        .list_packages()
        .await
        .map_err(canton_err)?
        .into_iter()
        .collect();
    Ok((dars, known))
}

/// Reads every `.dar` file of `dir` from its contents.
pub fn read_dars(dir: &Path) -> Result<Vec<(String, DarInfo)>, ProbeError> {
    let files = dar::dar_files(dir)
        .map_err(|e| ProbeError::new(format!("cannot list DARs in {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for f in files {
        let info = dar::inspect(&f).map_err(|e| ProbeError::new(e.to_string()))?;
        out.push((f.display().to_string(), info));
    }
    Ok(out)
}

/// A DAR as a probe row.
pub fn dar_row(file: &str, d: &DarInfo) -> Value {
    record([
        ("name", d.name.clone().map_or(Value::Null, Value::Text)),
        (
            "version",
            d.version.clone().map_or(Value::Null, Value::Text),
        ),
        ("main_package_id", Value::Text(d.main_package_id.clone())),
        ("file", Value::Text(file.to_owned())),
    ])
}

/// A DAR's display name.
pub fn dar_name(file: &str, d: &DarInfo) -> String {
    match (&d.name, &d.version) {
        (Some(n), Some(v)) => format!("{n} {v}"),
        (Some(n), None) => n.clone(),
        _ => Path::new(file)
            .file_name()
            .map_or_else(|| file.to_owned(), |f| f.to_string_lossy().into_owned()),
    }
}

fn dars_present(dir: &str, dars: &[(String, DarInfo)], known: &BTreeSet<String>) -> Observed {
    let missing: Vec<&(String, DarInfo)> = dars
        .iter()
        .filter(|(_, d)| !known.contains(&d.main_package_id))
        .collect();
    let names: Vec<String> = missing.iter().map(|(f, d)| dar_name(f, d)).collect();
    Observed {
        summary: if missing.is_empty() {
            format!("all {} DARs in {dir} are on the participant", dars.len())
        } else {
            format!(
                "{} of {} DARs in {dir} are missing on the participant: {}",
                missing.len(),
                dars.len(),
                names.join(", ")
            )
        },
        value: record([
            ("total", Value::Integer(dars.len() as i64)),
            (
                "present",
                Value::Integer((dars.len() - missing.len()) as i64),
            ),
            ("missing", Value::Integer(missing.len() as i64)),
            (
                "missing_dars",
                Value::List(missing.iter().map(|(f, d)| dar_row(f, d)).collect()),
            ),
        ]),
    }
}

/// Validates, then uploads one DAR, then checks the participant knows its main package.
pub async fn upload_one(
    client: &CantonClient,
    file: &Path,
    synchronizer: Option<&str>,
    submission_id: &str,
) -> Result<String, ProbeError> {
    let bytes = std::fs::read(file)
        .map_err(|e| ProbeError::new(format!("cannot read {}: {e}", file.display())))?;
    let info = dar::from_bytes(&bytes).map_err(|e| ProbeError::new(e.to_string()))?;
    client
        .validate_dar(bytes.clone(), synchronizer)
        .await
        .map_err(|e| {
            ProbeError::new(format!(
                "the participant refused {} on validation: {e}",
                file.display()
            ))
        })?;
    client
        .upload_dar(bytes, submission_id, synchronizer)
        .await
        .map_err(|e| ProbeError::new(format!("uploading {} failed: {e}", file.display())))?;
    let known = client.list_packages().await.map_err(canton_err)?;
    if !known.contains(&info.main_package_id) {
        return Err(ProbeError::new(format!(
            "{} was uploaded but its main package {} is not listed by the participant",
            file.display(),
            info.main_package_id
        )));
    }
    Ok(dar_name(&file.display().to_string(), &info))
}
