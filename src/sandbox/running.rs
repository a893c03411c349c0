//! A running sandbox: the PostgreSQL cluster (Integration DB, `validator`, `participant-0`),
//! the participant, the ingestion, the Withdrawal Automation and the exchange's internal
//! systems, the control socket, and the idle watchdog. [`Sandbox::start`] brings it up to
//! ready (with the scenario's disaster applied); [`Sandbox::serve`] answers control requests
//! until a shutdown request, a signal or the watchdog, then stops everything and removes the
//! directory.

use std::collections::BTreeMap;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

use super::automation::Automation;
use super::backup_job::BackupJob;
use super::backup_judge;
use super::control::{self, Bound, Request, Response};
use super::db::{INTEGRATION_DB, IntegrationDb, PARTICIPANT_DB, VALIDATOR_DB};
use super::disaster::{self, Aftermath};
use super::dumps::{PgTools, write_private};
use super::error::SandboxError;
use super::exchange::Exchange;
use super::identity::NodeIdentity;
use super::info::SandboxInfo;
use super::ingestion::Ingestion;
use super::judge::{ChainKind, ChainRejection, ChainTx, DbSnapshot, IngestionRow, JudgeInput};
use super::participant::{
    CatchUp, Contract, DepositConfig, Participant, ParticipantConfig, RejectReason,
    RunningParticipant, SharedRecordTimes, TxKind, write_sandbox_dars,
};
use super::pg::{PgCluster, PgOptions, ServerBinaries, apply_schema, schema::READER_ROLE};
use super::scenario::{BackupOrder, DisasterKind, Scenario, WorldSettings};
use super::site::{SiteInputs, render};
use super::truth::{Fact, Truth};
use super::validator::ValidatorNode;
use crate::probe::canton::{CantonClient, CantonConfig, EndpointConfig, TokenSource};
use crate::secret::SecretRegistry;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Its directory (created 0700; must not hold another sandbox).
    pub dir: PathBuf,
    /// The scenario whose world and disaster to set up; `None` runs the default world.
    pub scenario: Option<Scenario>,
    /// Leave the directory in place when stopping.
    pub keep: bool,
    /// Stop after this long without a control request.
    pub idle_timeout: Option<Duration>,
    /// The participant's bearer token.
    pub token: SecretString,
    /// The password of the read-only database role.
    pub db_password: SecretString,
    /// The canton-dr executable the profile's commands run.
    pub exe: PathBuf,
    /// Where the PostgreSQL cluster goes (the default root if `None`).
    pub pg_root: Option<PathBuf>,
    /// The bytes of the participant's namespace key pair (random when `None`); for tests that
    /// look for the key material where it must not be.
    pub identity_key: Option<SecretString>,
    /// Where the sandbox registers its secrets (the token, the password, the key pairs), so
    /// that nothing it answers, logs or panics with shows them.
    pub registry: SecretRegistry,
}

/// A running sandbox.
pub struct Sandbox {
    dir: PathBuf,
    keep: bool,
    idle_timeout: Option<Duration>,
    cluster: PgCluster,
    participant: RunningParticipant,
    node: ValidatorNode,
    db: IntegrationDb,
    ingestion: Ingestion,
    automation: Automation,
    exchange: Exchange,
    truth: Arc<Truth>,
    tools: PgTools,
    backups_dir: PathBuf,
    identity: NodeIdentity,
    job: BackupJob,
    kind: Option<DisasterKind>,
    registry: SecretRegistry,
    info: SandboxInfo,
    last_activity: Mutex<Instant>,
    shutdown: watch::Sender<bool>,
}

fn mkdir_private(path: &Path) -> Result<(), SandboxError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(SandboxError::io("create", path))?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(SandboxError::io("restrict", path))
}

fn participant_config(
    world: &WorldSettings,
    token: &SecretString,
) -> Result<ParticipantConfig, SandboxError> {
    let mut c = ParticipantConfig::new(token.clone()).with_version(&world.canton_version);
    c.seed = world.seed;
    c.tick = world.tick;
    c.deposits = DepositConfig {
        every: Some(world.deposit_every),
        customers: world.customers,
        initial: world.initial_deposits,
        ..DepositConfig::default()
    };
    c.shared_record_times = world.shared_record_times.map(|g| SharedRecordTimes {
        every: g.every,
        size: g.size,
    });
    c.reconnect_topology_transactions = world.reconnect_topology_transactions;
    c.ledger_time_record_time_tolerance = world.tolerance;
    c.initial_dars = super::participant::sandbox_dars()
        .map_err(|e| SandboxError::Refused(e.to_string()))?
        .into_iter()
        .filter(|d| d.main.name != super::participant::treasury::PACKAGE_NAME)
        .map(|d| d.bytes)
        .collect();
    Ok(c)
}

/// Where `pg_dump` and `pg_restore` of the server's version are: next to the server binary
/// (symbolic links followed), as distribution packages install them.
fn client_bin_dir() -> Result<PathBuf, SandboxError> {
    let postgres = ServerBinaries::find(None)?.postgres;
    let real = std::fs::canonicalize(&postgres).unwrap_or(postgres);
    Ok(real.parent().map(Path::to_path_buf).unwrap_or_default())
}

impl Sandbox {
    /// Starts everything, applies the scenario's disaster, writes the profile and
    /// `sandbox.json`.
    pub async fn start(opts: SandboxOptions) -> Result<Arc<Sandbox>, SandboxError> {
        let started = Instant::now();
        let started_at = Utc::now();
        let dir = opts.dir.clone();
        if dir.join(super::info::INFO_FILE).exists() {
            return Err(SandboxError::Refused(format!(
                "{} already holds a sandbox; stop it (canton-dr sandbox ctl --dir {} sandbox shutdown) or choose another directory",
                dir.display(),
                dir.display()
            )));
        }
        mkdir_private(&dir)?;
        let secrets = dir.join("secrets");
        mkdir_private(&secrets)?;
        let backups_dir = dir.join("backups");
        mkdir_private(&backups_dir)?;
        opts.registry.register(&opts.token);
        opts.registry.register(&opts.db_password);
        let token_file = secrets.join("ledger-api-token");
        write_private(&token_file, opts.token.expose_secret().as_bytes())?;
        let db_password_file = secrets.join("integration-db-password");
        write_private(
            &db_password_file,
            opts.db_password.expose_secret().as_bytes(),
        )?;
        let truth = Arc::new(
            Truth::with_file(&dir.join("world.jsonl"))
                .map_err(SandboxError::io("create", &dir.join("world.jsonl")))?,
        );
        let world = opts
            .scenario
            .as_ref()
            .map(|s| s.world.clone())
            .unwrap_or_default();

        let cluster = PgCluster::start_async(PgOptions {
            root: opts.pg_root.clone(),
            databases: vec![
                INTEGRATION_DB.into(),
                VALIDATOR_DB.into(),
                PARTICIPANT_DB.into(),
            ],
            ..PgOptions::default()
        })
        .await?;
        {
            let mut admin = cluster.connect(INTEGRATION_DB).await?;
            apply_schema(&mut admin).await?;
            super::pg::set_role_password(&admin, READER_ROLE, &opts.db_password).await?;
        }
        let tools = PgTools::new(&cluster, client_bin_dir()?, &secrets)?;

        let dar_dir = dir.join("dars");
        write_sandbox_dars(&dar_dir).map_err(|e| SandboxError::Refused(e.to_string()))?;
        if let Some(s) = &opts.scenario {
            for full in &s.disaster.dars_after_backup {
                let dar = disaster::dar_after_backup(full)?;
                let path = dar_dir.join(&dar.file_name);
                std::fs::write(&path, &dar.bytes).map_err(SandboxError::io("write", &path))?;
            }
        }

        let participant = Participant::start(participant_config(&world, &opts.token)?).await?;
        let identity =
            NodeIdentity::generate(participant.participant_id(), opts.identity_key.as_ref())
                .map_err(SandboxError::Refused)?;
        for secret in identity.secrets() {
            opts.registry.register(&secret);
        }
        let kind = opts.scenario.as_ref().map(|s| s.disaster.kind);
        let job_order = match &opts.scenario {
            Some(s) if s.disaster.kind == DisasterKind::ValidatorBackup => s.disaster.backup_order,
            _ => BackupOrder::Correct,
        };
        let job = BackupJob::new(&dir, backups_dir.clone(), job_order, world.retention)?;
        let catch_up = world.catch_up_rate.map_or(CatchUp::Instant, CatchUp::Rate);
        let mut base = cluster.superuser_config("postgres");
        base.application_name("canton-dr-sandbox-validator");
        let node = ValidatorNode::new(
            participant.clone(),
            base,
            tools.clone(),
            catch_up,
            Arc::clone(&truth),
        );
        node.init().await?;
        let mut db_config = cluster.superuser_config(INTEGRATION_DB);
        db_config.application_name("canton-dr-sandbox-integration");
        let db = IntegrationDb::new(db_config);
        let canton = CantonClient::new(&CantonConfig {
            ledger: EndpointConfig::new(participant.ledger_url(), None),
            admin: None,
            ledger_token: TokenSource::Static(opts.token.clone()),
            admin_token: TokenSource::None,
            fetch_time_shape: None,
            freshness_bound: crate::probe::canton::client::DEFAULT_FRESHNESS_BOUND,
        })
        .map_err(|e| SandboxError::Canton(e.to_string()))?;
        let ingestion =
            Ingestion::new(db.clone(), canton, participant.treasury_party().to_string());
        let automation = Automation::new(
            db.clone(),
            participant.clone(),
            Arc::clone(&truth),
            world.inflight_latency,
        );
        let exchange = Exchange::new(
            db.clone(),
            Arc::clone(&truth),
            world.ttl,
            world.withdrawal_every,
            world.seed,
        );
        ingestion.start().await?;
        automation.start().await;
        exchange.start().await;

        let aftermath = match &opts.scenario {
            Some(s) => {
                let w = disaster::World {
                    participant: &participant,
                    node: &node,
                    ingestion: &ingestion,
                    db: &db,
                    truth: &truth,
                    backups_dir: backups_dir.clone(),
                    tools: &tools,
                    job: &job,
                };
                disaster::apply(&w, &s.disaster).await?
            }
            None => Aftermath::default(),
        };

        let database_url = cluster.database_url(INTEGRATION_DB, READER_ROLE);
        let profile = dir.join("profile.toml");
        let text = render(&SiteInputs {
            dir: &dir,
            exe: &opts.exe,
            ledger_url: &participant.ledger_url(),
            admin_url: &participant.admin_url(),
            database_url: &database_url,
            token_file: &token_file,
            db_password_file: &db_password_file,
            dar_dir: &dar_dir,
            ttl: world.ttl,
        });
        write_private(&profile, text.as_bytes())?;
        let info = SandboxInfo {
            pid: std::process::id(),
            dir: dir.clone(),
            scenario: opts.scenario.as_ref().map(|s| s.name.clone()),
            ledger_api: participant.ledger_url(),
            admin_api: participant.admin_url(),
            database_url,
            profile,
            control_socket: dir.join(control::SOCKET_NAME),
            dar_dir,
            backups: aftermath.backups,
            secret_store: job.store_dir().to_path_buf(),
            backup_destination: job.destination().to_path_buf(),
            synchronizer_id: participant.synchronizer_id().to_string(),
            treasury_party: participant.treasury_party().to_string(),
            pg_dir: cluster.dir().to_path_buf(),
            started_at,
            ready_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            scenario_wait_ms: u64::try_from(aftermath.waited.as_millis()).unwrap_or(u64::MAX),
            idle_timeout_secs: opts.idle_timeout.map(|d| d.as_secs()),
        };
        Ok(Arc::new(Sandbox {
            dir,
            keep: opts.keep,
            idle_timeout: opts.idle_timeout,
            cluster,
            participant,
            node,
            db,
            ingestion,
            automation,
            exchange,
            truth,
            tools,
            backups_dir,
            identity,
            job,
            kind,
            registry: opts.registry.clone(),
            info,
            last_activity: Mutex::new(Instant::now()),
            shutdown: watch::channel(false).0,
        }))
    }

    /// What the sandbox offers.
    pub fn info(&self) -> &SandboxInfo {
        &self.info
    }

    /// The participant (for tests and the judge).
    pub fn participant(&self) -> &RunningParticipant {
        &self.participant
    }

    /// Binds the control socket and writes `sandbox.json`: from now on the sandbox is ready.
    pub fn publish(&self) -> Result<Bound, SandboxError> {
        let bound = Bound::bind(&self.dir).map_err(SandboxError::io(
            "listen on",
            &self.dir.join(control::SOCKET_NAME),
        ))?;
        self.info.write(&self.dir)?;
        Ok(bound)
    }

    /// Answers control requests until a shutdown request, SIGTERM/SIGINT or the idle watchdog;
    /// then stops everything. Returns why it stopped.
    pub async fn serve(self: Arc<Self>, bound: Bound) -> String {
        use tokio::signal::unix::{SignalKind, signal};
        let mut shutdown = self.shutdown.subscribe();
        let mut term = signal(SignalKind::terminate()).ok();
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let reason = loop {
            tokio::select! {
                accepted = bound.listener.accept() => {
                    if let Ok((stream, _)) = accepted {
                        let me = Arc::clone(&self);
                        tokio::spawn(async move { me.connection(stream).await });
                    }
                }
                _ = shutdown.changed() => break "a shutdown was requested".to_string(),
                Some(()) = async { match term.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                    break "SIGTERM".to_string();
                }
                Some(()) = async { match int.as_mut() { Some(s) => s.recv().await, None => std::future::pending().await } } => {
                    break "SIGINT".to_string();
                }
                _ = tick.tick() => {
                    if let Some(limit) = self.idle_timeout {
                        let idle = self.last_activity.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
                        if idle >= limit {
                            break format!("no control request for {}s (the idle limit)", limit.as_secs());
                        }
                    }
                }
            }
        };
        tracing::info!(reason = %reason, dir = %self.dir.display(), "the sandbox stops");
        // Give a shutdown request's answer a moment to leave.
        tokio::time::sleep(Duration::from_millis(100)).await;
        drop(bound);
        self.stop().await;
        reason
    }

    async fn connection(&self, mut stream: tokio::net::UnixStream) {
        let response = match control::read_line(&mut stream).await {
            Ok(line) => match serde_json::from_str::<Request>(line.trim()) {
                Ok(req) => self.handle(req).await,
                Err(e) => Response::failed(format!("unreadable request: {e}")),
            },
            Err(e) => Response::failed(format!("cannot read the request: {e}")),
        };
        if let Ok(mut text) = serde_json::to_string(&response) {
            text.push('\n');
            let _ = stream.write_all(text.as_bytes()).await;
        }
    }

    /// Stops every component and the cluster, and removes the directory (unless kept).
    pub async fn stop(&self) {
        self.exchange.stop().await;
        self.automation.stop().await;
        self.automation.abort_inflight().await;
        if let Err(e) = self.ingestion.stop().await {
            tracing::debug!(error = %e, "stopping ingestion at shutdown");
        }
        self.participant.shutdown().await;
        let handle = self.cluster.stop_handle();
        match tokio::task::spawn_blocking(move || handle.stop()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "stopping the sandbox's PostgreSQL cluster"),
            Err(e) => tracing::warn!(error = %e, "stopping the sandbox's PostgreSQL cluster"),
        }
        if !self.keep
            && let Err(e) = std::fs::remove_dir_all(&self.dir)
        {
            tracing::warn!(error = %e, dir = %self.dir.display(), "removing the sandbox directory");
        }
    }

    /// Runs one control request.
    pub async fn handle(&self, req: Request) -> Response {
        *self
            .last_activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        let mut response = match self.dispatch(&req).await {
            Ok(r) => r,
            Err(e) => Response::failed(e.to_string()),
        };
        // Nothing the sandbox answers shows one of its secrets.
        let redacted = self.registry.redact(&response.message);
        if !redacted.is_clean() {
            response.message = redacted.text;
        }
        response
    }

    async fn dispatch(&self, req: &Request) -> Result<Response, SandboxError> {
        let arg = |name: &str| -> Result<String, SandboxError> {
            req.args
                .get(name)
                .filter(|v| !v.trim().is_empty())
                .cloned()
                .ok_or_else(|| SandboxError::Refused(format!("{name} is not set")))
        };
        Ok(match (req.component.as_str(), req.action.as_str()) {
            ("sandbox", "ping") => Response::ok("the sandbox is running"),
            ("sandbox", "info") => Response::with_data(
                "the sandbox is running",
                serde_json::to_value(&self.info).unwrap_or_default(),
            ),
            ("sandbox", "shutdown") => {
                self.shutdown.send_replace(true);
                Response::ok("the sandbox is shutting down")
            }
            ("sandbox", "judge") => {
                let checks = if self.kind == Some(DisasterKind::ValidatorBackup) {
                    let mut scan_roots = vec![self.dir.clone()];
                    if let Some(extra) = req.args.get("SCAN").filter(|v| !v.is_empty()) {
                        let extra = PathBuf::from(extra);
                        if !extra.is_absolute() || !extra.is_dir() {
                            return Err(SandboxError::Refused(format!(
                                "SCAN '{}' is not the absolute path of a directory",
                                extra.display()
                            )));
                        }
                        scan_roots.push(extra);
                    }
                    backup_judge::judge(&backup_judge::Sources {
                        job: &self.job,
                        identity: &self.identity,
                        cluster: &self.cluster,
                        tools: &self.tools,
                        scan_roots,
                    })
                    .await
                } else {
                    super::judge::judge(&self.judge_input().await?)
                };
                Response::with_data("judged", serde_json::to_value(&checks).unwrap_or_default())
            }
            ("ingestion", "stop") => {
                self.ingestion.stop().await?;
                Response::ok("Tx History Ingestion stopped")
            }
            ("ingestion", "start") => {
                self.ingestion.start().await?;
                Response::ok("Tx History Ingestion started")
            }
            ("ingestion", "status") => {
                if self.ingestion.is_running().await {
                    Response::ok("Tx History Ingestion is running")
                } else {
                    Response::stopped("Tx History Ingestion is stopped")
                }
            }
            ("ingestion", "set-start-offset") => {
                let text = arg("START_OFFSET")?;
                let offset: i64 =
                    text.trim()
                        .parse()
                        .ok()
                        .filter(|o| *o >= 0)
                        .ok_or_else(|| {
                            SandboxError::Refused(format!(
                                "START_OFFSET '{text}' is not an offset (a whole number, 0 or more)"
                            ))
                        })?;
                self.config_write(
                    "UPDATE integration.ingestion_config SET start_offset = $1, updated_at = now(), updated_by = 'operator'",
                    offset,
                )
                .await?;
                let note = if self.ingestion.is_running().await {
                    " (it is running: the offset applies when it next starts)"
                } else {
                    ""
                };
                Response::ok(format!(
                    "Tx History Ingestion will start from offset {offset}{note}"
                ))
            }
            ("ingestion", "skip-known-updates") => {
                self.config_write(
                    "UPDATE integration.ingestion_config SET skip_known_update_ids = $1, updated_at = now(), updated_by = 'operator'",
                    true,
                )
                .await?;
                Response::ok(
                    "Tx History Ingestion will skip transactions whose update id it already ingested (instead of skipping by record time)",
                )
            }
            ("withdrawals", "disable") => self.switch_withdrawals(false).await?,
            ("withdrawals", "enable") => self.switch_withdrawals(true).await?,
            ("withdrawals", "status") => {
                if self.withdrawals_enabled().await? == Some(true) {
                    Response::ok("new withdrawals are enabled")
                } else {
                    Response::stopped("new withdrawals are disabled")
                }
            }
            ("automation", "stop") => {
                self.automation.stop().await;
                Response::ok(
                    "Withdrawal Automation stopped (transfers already submitted stay in flight)",
                )
            }
            ("automation", "start") => {
                self.automation.start().await;
                Response::ok("Withdrawal Automation started")
            }
            ("automation", "status") => {
                if self.automation.is_running().await {
                    Response::ok("Withdrawal Automation is running")
                } else {
                    Response::stopped("Withdrawal Automation is stopped")
                }
            }
            ("validator", "stop") => Response::ok(self.node.stop().await?),
            ("validator", "start") | ("validator", "scale-up") => {
                Response::ok(self.node.start().await?)
            }
            ("validator", "scale-down") => Response::ok(self.node.scale_down().await?),
            ("postgres", "volume-remove") => Response::ok(self.node.volume_remove().await?),
            ("postgres", "start") => Response::ok(self.node.postgres_start().await),
            ("postgres", "ready") => {
                if self.node.postgres_ready().await {
                    Response::ok("postgres-splice accepts connections")
                } else {
                    Response::stopped("postgres-splice: no response")
                }
            }
            ("postgres", "down") => Response::ok(self.node.compose_down().await?),
            ("restore", "validator-db") => Response::ok(
                self.node
                    .restore_validator_db(Path::new(&arg("DUMP")?))
                    .await?,
            ),
            ("restore", "participant-db") => Response::ok(
                self.node
                    .restore_participant_db(Path::new(&arg("DUMP")?))
                    .await?,
            ),
            ("integration", "restore") => {
                self.restore_integration(Path::new(&arg("BACKUP")?)).await?
            }
            ("integration", "backup") => {
                let path = disaster::integration_backup(&self.tools, &self.backups_dir).await?;
                Response::with_data(
                    format!("Integration DB backed up to {}", path.display()),
                    json!({ "integration": path }),
                )
            }
            ("backup", "take") => {
                let files = self
                    .node
                    .backup(&self.backups_dir, BackupOrder::Correct, None)
                    .await?;
                Response::with_data(
                    format!(
                        "validator node backed up: {} then {}",
                        files.validator.display(),
                        files.participant.display()
                    ),
                    json!({ "validator": files.validator, "participant": files.participant }),
                )
            }
            ("identities", "dump") => {
                let path = self
                    .job
                    .fetch_identities(&self.node, &self.identity)
                    .await?;
                Response::ok(path.display().to_string())
            }
            ("identities", "store") => {
                let file = PathBuf::from(arg("FILE")?);
                let stored = self.job.store_identities(&file).await?;
                Response::ok(format!(
                    "the node identities are in the secret store ({}); the local copy {} is deleted",
                    stored.display(),
                    file.display()
                ))
            }
            ("backup", "validator-db") => {
                let path = self.job.dump_validator(&self.node).await?;
                Response::ok(path.display().to_string())
            }
            ("backup", "participant-db") => {
                let path = self.job.dump_participant(&self.node).await?;
                Response::ok(path.display().to_string())
            }
            ("backup", "upload") => {
                let v = PathBuf::from(arg("VALIDATOR_DUMP")?);
                let p = PathBuf::from(arg("PARTICIPANT_DUMP")?);
                let copies = self.job.upload(&v, &p).await?;
                Response::ok(format!(
                    "uploaded to {}: {}",
                    self.job.destination().display(),
                    copies
                        .iter()
                        .map(|c| c
                            .file_name()
                            .unwrap_or_default()
                            .to_string_lossy()
                            .into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            }
            ("backup", "retention") => {
                let (deleted, kept) = self.job.apply_retention().await?;
                let period = humantime::format_duration(self.job.retention());
                Response::ok(if deleted.is_empty() {
                    format!("no dump is older than the retention period ({period}); {kept} kept")
                } else {
                    format!(
                        "deleted {} dumps older than the retention period ({period}): {}; {kept} kept",
                        deleted.len(),
                        deleted
                            .iter()
                            .map(|d| d.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
            }
            (c, a) => Response::failed(format!(
                "unknown command '{c} {a}'; the components are sandbox (ping, info, judge, shutdown), ingestion (stop, start, status, set-start-offset, skip-known-updates), withdrawals (disable, enable, status), automation (stop, start, status), validator (stop, start, scale-down, scale-up), postgres (volume-remove, start, ready, down), restore (validator-db, participant-db), integration (restore, backup), backup (take, validator-db, participant-db, upload, retention), identities (dump, store)"
            )),
        })
    }

    async fn config_write<T>(&self, sql: &str, value: T) -> Result<(), SandboxError>
    where
        T: tokio_postgres::types::ToSql + Sync,
    {
        let _gate = self.db.shared().await;
        self.db
            .connect()
            .await?
            .execute(sql, &[&value])
            .await
            .map_err(SandboxError::sql("writing the ingestion configuration"))?;
        Ok(())
    }

    async fn withdrawals_enabled(&self) -> Result<Option<bool>, SandboxError> {
        let _gate = self.db.shared().await;
        Ok(self
            .db
            .connect()
            .await?
            .query_opt("SELECT enabled FROM integration.withdrawal_control", &[])
            .await
            .map_err(SandboxError::sql("reading the withdrawals switch"))?
            .map(|r| r.get(0)))
    }

    async fn switch_withdrawals(&self, enabled: bool) -> Result<Response, SandboxError> {
        let observed: Option<DateTime<Utc>> = {
            let _gate = self.db.shared().await;
            let client = self.db.connect().await?;
            client
                .execute(
                    "UPDATE integration.withdrawal_control
                        SET enabled = $1, changed_at = now(), changed_by = 'operator',
                            reason = 'canton-dr sandbox ctl'",
                    &[&enabled],
                )
                .await
                .map_err(SandboxError::sql("switching withdrawals"))?;
            client
                .query_opt(
                    "SELECT observed_record_time FROM integration.ingestion_state",
                    &[],
                )
                .await
                .map_err(SandboxError::sql("reading how far ingestion has read"))?
                .and_then(|r| r.get(0))
        };
        self.truth.record(Fact::WithdrawalsSwitched {
            enabled,
            at: Utc::now(),
            observed_record_time: observed,
        });
        Ok(Response::ok(if enabled {
            "new withdrawals are enabled"
        } else {
            "new withdrawals are disabled"
        }))
    }

    /// The exchange's restore procedure: replace the Integration DB with the backup while no
    /// component writes it, keep the withdrawals switch as it was, and make the components
    /// re-read their state.
    async fn restore_integration(&self, backup: &Path) -> Result<Response, SandboxError> {
        if !backup.is_file() {
            return Err(SandboxError::Refused(format!(
                "{} is not a file",
                backup.display()
            )));
        }
        let _gate = self.db.exclusive().await;
        let client = self.db.connect().await?;
        let switch: Option<bool> = client
            .query_opt("SELECT enabled FROM integration.withdrawal_control", &[])
            .await
            .ok()
            .flatten()
            .map(|r| r.get(0));
        self.tools.restore(INTEGRATION_DB, backup).await?;
        if let Some(enabled) = switch {
            client
                .execute(
                    "UPDATE integration.withdrawal_control
                        SET enabled = $1, changed_at = now(), changed_by = 'restore',
                            reason = 'kept as it was before the restore'",
                    &[&enabled],
                )
                .await
                .map_err(SandboxError::sql("keeping the withdrawals switch"))?;
        }
        let running = self.ingestion.is_running().await;
        client
            .execute(
                "UPDATE integration.ingestion_status SET running = $1",
                &[&running],
            )
            .await
            .map_err(SandboxError::sql("recording whether ingestion runs"))?;
        self.db.bump_generation();
        self.truth.record(Fact::WorldChanged {
            at: Utc::now(),
            what: format!("the Integration DB was restored from {}", backup.display()),
        });
        Ok(Response::ok(format!(
            "Integration DB restored from {}",
            backup.display()
        )))
    }

    /// A consistent picture for the judge: the DB first (one snapshot), then the ledger.
    pub async fn judge_input(&self) -> Result<JudgeInput, SandboxError> {
        let db = {
            let _gate = self.db.shared().await;
            let mut client = self.db.connect().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(SandboxError::sql("judge: begin"))?;
            let q = |what: &'static str| SandboxError::sql(format!("judge: {what}"));
            let state = tx
                .query_opt(
                    "SELECT last_offset, last_record_time, last_update_id, observed_record_time
                       FROM integration.ingestion_state",
                    &[],
                )
                .await
                .map_err(q("reading the ingestion state"))?
                .map(|r| IngestionRow {
                    last_offset: r.get(0),
                    last_record_time: r.get(1),
                    last_update_id: r.get(2),
                    observed_record_time: r.get(3),
                });
            let ingested = tx
                .query(
                    "SELECT update_id FROM integration.ingested_transactions",
                    &[],
                )
                .await
                .map_err(q("reading ingested transactions"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let deposit_credits = tx
                .query(
                    "SELECT update_id FROM integration.customer_ledger
                      WHERE direction = 'credit' AND reason = 'deposit' AND update_id IS NOT NULL",
                    &[],
                )
                .await
                .map_err(q("reading deposit credits"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let completions = tx
                .query(
                    "SELECT withdrawal_id, completed_update_id FROM integration.withdrawals
                      WHERE completed_update_id IS NOT NULL",
                    &[],
                )
                .await
                .map_err(q("reading completed withdrawals"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let holdings = tx
                .query(
                    "SELECT contract_id, created_update_id FROM integration.holdings",
                    &[],
                )
                .await
                .map_err(q("reading holdings"))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            tx.commit().await.map_err(q("commit"))?;
            DbSnapshot {
                state,
                ingested,
                deposit_credits,
                completions,
                holdings,
            }
        };
        let chain = self
            .participant
            .history()
            .into_iter()
            .map(|tx| ChainTx {
                offset: self.participant.offset_of(&tx.update_id),
                kind: match tx.kind {
                    TxKind::Deposit => ChainKind::Deposit,
                    TxKind::Withdrawal => ChainKind::Withdrawal,
                    TxKind::Merge => ChainKind::Merge,
                },
                created_holdings: tx
                    .created
                    .iter()
                    .filter_map(|c| match c {
                        Contract::Holding(h) => Some(h.contract_id.clone()),
                        Contract::Receipt(_) => None,
                    })
                    .collect(),
                update_id: tx.update_id,
                record_time: tx.record_time,
                withdrawal_id: tx.withdrawal_id,
            })
            .collect();
        let rejections = self
            .participant
            .rejections()
            .into_iter()
            .map(|r| ChainRejection {
                double_spend: matches!(r.reason, RejectReason::InputsSpent { .. }),
                reason: r.reason.to_string(),
                withdrawal_id: r.withdrawal_id,
                at: r.at,
            })
            .collect();
        Ok(JudgeInput {
            chain,
            ledger_end: self.participant.ledger_end(),
            rejections,
            db,
            facts: self.truth.facts(),
        })
    }

    /// The backups the scenario made.
    pub fn backups(&self) -> &BTreeMap<String, PathBuf> {
        &self.info.backups
    }
}
