//! Command steps: the only steps that change the world. Intent is journaled and synced before
//! anything runs (R9); the process runs in its own group with a timeout (R25); its output is
//! redacted before it is journaled (R19).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::engine::command::EngineCommand;
use crate::engine::controller::{Engine, Halt};
use crate::engine::event::{EngineEvent, Waiting};
use crate::engine::process::{
    ExitKind, InheritEnv, LiveOutput, OrphanPolicy, ProcessRunner, ProcessSpec,
};
use crate::engine::record::{Event, ItemPhase, Mode, Outcome, Output};
use crate::engine::resolve;
use crate::engine::run_probe::{Stop, sha256_hex};
use crate::runbook::model::{Action, CommandStep, Step, StepKind};
use crate::runbook::steps::DEFAULT_COMMAND_TIMEOUT;
use crate::value::Value;

impl Engine {
    pub(crate) async fn command(&mut self, step: &Step) -> Result<(), Halt> {
        let StepKind::Command(cmd) = &step.kind else {
            return Ok(());
        };
        let preview = self.preview(cmd);
        if self.mode() == Mode::DryRun {
            return self.complete(
                step,
                self.next_attempt(step),
                Outcome::Shown,
                0,
                BTreeMap::new(),
                Some(format!("dry-run: not run: {preview}")),
            );
        }
        loop {
            let answer = self
                .ask(Waiting::Run {
                    step: step.id.clone(),
                    destructive: cmd.destructive,
                    preview: preview.clone(),
                })
                .await?;
            match answer {
                EngineCommand::Run { typed } => {
                    if cmd.destructive && typed.as_deref() != Some(step.id.as_str()) {
                        self.reject(format!(
                            "this command is destructive: type the step id '{}' to run it",
                            step.id
                        ));
                        continue;
                    }
                    break;
                }
                EngineCommand::Skip { reason, typed } => {
                    if self.try_skip(step, reason, typed, false, false)? {
                        return Ok(());
                    }
                }
                _ => self.reject("run the command, or skip it with a reason"),
            }
        }
        self.reconfirm = false;
        // R18: no side effect without room to journal its outcome.
        loop {
            match crate::journal::free_bytes(&self.ctx.incident_dir) {
                Ok(free) if free >= self.ctx.min_free => break,
                Ok(free) => {
                    let reason = format!(
                        "only {} MiB free where the journal lives (at least {} MiB needed before a command runs); free some space, then retry",
                        free / (1024 * 1024),
                        self.ctx.min_free / (1024 * 1024)
                    );
                    match self
                        .ask(Waiting::Blocked {
                            step: step.id.clone(),
                            reason,
                        })
                        .await?
                    {
                        EngineCommand::Retry => continue,
                        EngineCommand::Skip { reason, typed } => {
                            if self.try_skip(step, reason, typed, false, false)? {
                                return Ok(());
                            }
                        }
                        _ => self.reject("free some disk space, then retry"),
                    }
                }
                Err(e) => {
                    self.record(Event::Warning {
                        step: Some(step.id.clone()),
                        message: format!(
                            "cannot read the free space of the journal's file system: {e}"
                        ),
                    })?;
                    break;
                }
            }
        }
        let secrets: Vec<String> = secret_vars(self, cmd);
        self.ensure_secrets(step, &secrets).await?;
        match &cmd.action {
            Action::Builtin(call) if call.kind.name == "canton.upload_dars" => {
                self.upload_dars(step, cmd, call).await
            }
            Action::Builtin(call) => self.builtin(step, cmd, call).await,
            _ => self.program(step, cmd).await,
        }
    }

    fn preview(&self, cmd: &CommandStep) -> String {
        match &cmd.action {
            Action::Builtin(call) => match self.request_preview(call) {
                Some(text) => text,
                None => call.display(),
            },
            _ => match resolve::program(
                cmd,
                &self.preview_vars(),
                self.ctx.profile.as_deref(),
                &self.ctx.secrets,
            ) {
                Ok(p) => p.display,
                Err(_) => describe_unresolved(cmd),
            },
        }
    }

    fn request_preview(&self, call: &crate::runbook::model::ProbeCall) -> Option<String> {
        resolve::resolve_call(call, &self.arg_vars())
            .ok()
            .map(|args| {
                let args: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{}({})", call.kind.name, args.join(", "))
            })
    }

    /// Variables for showing a command before it runs: secrets not entered yet show as such.
    fn preview_vars(&self) -> BTreeMap<String, Value> {
        let mut vars = self.arg_vars();
        for (name, ty, _) in self.state.runbook.variables() {
            if ty == crate::value::ValueType::Secret && !vars.contains_key(&name) {
                vars.insert(name, Value::Secret(String::from("?").into()));
            }
        }
        vars
    }

    async fn builtin(
        &mut self,
        step: &Step,
        cmd: &CommandStep,
        call: &crate::runbook::model::ProbeCall,
    ) -> Result<(), Halt> {
        let attempt = self.next_attempt(step);
        let started = tokio::time::Instant::now();
        let req = match self.request(step, call) {
            Ok(r) => r,
            Err(e) => return self.fail(step, attempt, format!("cannot start: {e}"), 0),
        };
        let action = req.display();
        self.record(Event::StepStarted {
            step: step.id.clone(),
            attempt,
            action_sha256: sha256_hex(&action),
            action,
            side_effects: true,
            inputs: req
                .args
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        })?;
        let seen = match self.observe(step, &req, None).await {
            Ok(s) => s,
            Err(Stop::Cancelled) => {
                return self.fail(
                    step,
                    attempt,
                    "cancelled by the operator; the action may have partly run".into(),
                    Engine::ms_since(started),
                );
            }
            Err(Stop::Halt(h)) => return Err(h),
        };
        self.record(Event::ProbeObserved {
            step: step.id.clone(),
            attempt,
            observation: seen.observation.clone(),
        })?;
        let ms = Engine::ms_since(started);
        if let Some(e) = &seen.observation.error {
            return self.fail(step, attempt, e.clone(), ms);
        }
        let value = seen.value.unwrap_or(Value::Null);
        let captures = match self.captures(&cmd.capture, &value) {
            Ok(c) => c,
            Err(e) => return self.fail(step, attempt, e, ms),
        };
        self.finish_command(
            step,
            cmd,
            attempt,
            started,
            captures,
            None,
            None,
            BTreeMap::new(),
        )
        .await
    }

    /// `canton.upload_dars`: find the missing DARs, then validate and upload them one at a time,
    /// journaling each before it is sent (R9), then check again.
    async fn upload_dars(
        &mut self,
        step: &Step,
        cmd: &CommandStep,
        call: &crate::runbook::model::ProbeCall,
    ) -> Result<(), Halt> {
        let attempt = self.next_attempt(step);
        let started = tokio::time::Instant::now();
        let mut req = match self.request(step, call) {
            Ok(r) => r,
            Err(e) => return self.fail(step, attempt, format!("cannot start: {e}"), 0),
        };
        let action = req.display();
        self.record(Event::StepStarted {
            step: step.id.clone(),
            attempt,
            action_sha256: sha256_hex(&action),
            action,
            side_effects: true,
            inputs: req
                .args
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        })?;
        let Some(present_kind) = crate::runbook::catalog::ProbeKind::find("canton.dars_present")
        else {
            return self.fail(
                step,
                attempt,
                "internal error: canton.dars_present is missing".into(),
                0,
            );
        };
        let mut present_call = req.call.clone();
        present_call.kind = present_kind;
        req.call = present_call;
        req.args.retain(|k, _| k == "dir");
        let before = match self.observe(step, &req, None).await {
            Ok(s) => s,
            Err(Stop::Cancelled) => {
                return self.fail(
                    step,
                    attempt,
                    "cancelled by the operator".into(),
                    Engine::ms_since(started),
                );
            }
            Err(Stop::Halt(h)) => return Err(h),
        };
        self.record(Event::ProbeObserved {
            step: step.id.clone(),
            attempt,
            observation: before.observation.clone(),
        })?;
        if let Some(e) = before.observation.error.clone() {
            return self.fail(step, attempt, e, Engine::ms_since(started));
        }
        let missing: Vec<(String, String)> =
            match before.value.as_ref().and_then(|v| v.field("missing_dars")) {
                Some(Value::List(rows)) => rows
                    .iter()
                    .map(|r| {
                        let file = r.field("file").map(ToString::to_string).unwrap_or_default();
                        let name = match (r.field("name"), r.field("version")) {
                            (Some(Value::Text(n)), Some(Value::Text(v))) => format!("{n} {v}"),
                            _ => file.clone(),
                        };
                        (file, name)
                    })
                    .collect(),
                _ => Vec::new(),
            };
        let synchronizer = self
            .request(step, call)
            .ok()
            .and_then(|r| r.text("synchronizer"));
        let already = before
            .value
            .as_ref()
            .and_then(|v| v.field("present"))
            .and_then(|v| match v {
                Value::Integer(i) => Some(*i),
                _ => None,
            })
            .unwrap_or(0);
        let mut uploaded = Vec::new();
        for (file, name) in &missing {
            self.record(Event::ActionItem {
                step: step.id.clone(),
                attempt,
                item: name.clone(),
                phase: ItemPhase::Started,
                detail: format!("validating, then uploading {file}"),
            })?;
            let probes = self.ctx.probes.clone();
            let submission = format!(
                "canton-dr-{}-{}",
                self.state.incident_id,
                uploaded.len() + 1
            );
            let path = std::path::PathBuf::from(file);
            let result = match self
                .wait_for(
                    &step.id,
                    probes.upload_dar(&path, synchronizer.as_deref(), &submission),
                )
                .await
            {
                Ok(r) => r,
                Err(Stop::Cancelled) => {
                    return self.fail(step, attempt, format!("cancelled by the operator while uploading {name}; it may or may not be on the participant"), Engine::ms_since(started));
                }
                Err(Stop::Halt(h)) => return Err(h),
            };
            match result {
                Ok(shown) => {
                    self.record(Event::ActionItem {
                        step: step.id.clone(),
                        attempt,
                        item: name.clone(),
                        phase: ItemPhase::Done,
                        detail: format!("uploaded and listed by the participant ({shown})"),
                    })?;
                    uploaded.push(Value::Text(name.clone()));
                }
                Err(e) => {
                    let msg = self.redactor.redact(&e.message).text;
                    self.record(Event::ActionItem {
                        step: step.id.clone(),
                        attempt,
                        item: name.clone(),
                        phase: ItemPhase::Failed,
                        detail: msg.clone(),
                    })?;
                    return self.fail(
                        step,
                        attempt,
                        format!("uploading {name} failed: {msg}"),
                        Engine::ms_since(started),
                    );
                }
            }
        }
        let value = crate::probe::record([
            ("uploaded", Value::Integer(uploaded.len() as i64)),
            ("already_present", Value::Integer(already)),
            ("names", Value::List(uploaded)),
        ]);
        let captures = match self.captures(&cmd.capture, &value) {
            Ok(c) => c,
            Err(e) => return self.fail(step, attempt, e, Engine::ms_since(started)),
        };
        self.finish_command(
            step,
            cmd,
            attempt,
            started,
            captures,
            None,
            None,
            BTreeMap::new(),
        )
        .await
    }

    async fn program(&mut self, step: &Step, cmd: &CommandStep) -> Result<(), Halt> {
        let attempt = self.next_attempt(step);
        let started = tokio::time::Instant::now();
        let program = match resolve::program(
            cmd,
            &self.arg_vars(),
            self.ctx.profile.as_deref(),
            &self.ctx.secrets,
        ) {
            Ok(p) => p,
            Err(e) => return self.fail(step, attempt, format!("cannot start: {e}"), 0),
        };
        let timeout = program
            .timeout
            .unwrap_or(DEFAULT_COMMAND_TIMEOUT)
            .to_std()
            .unwrap_or(Duration::from_secs(600));
        let inputs = cmd
            .env
            .iter()
            .filter_map(|(k, a)| {
                resolve::resolve_arg(a, &self.arg_vars())
                    .ok()
                    .map(|v| (k.clone(), v.to_json()))
            })
            .collect();
        self.record(Event::StepStarted {
            step: step.id.clone(),
            attempt,
            action: program.display.clone(),
            action_sha256: program.digest(),
            side_effects: true,
            inputs,
        })?;
        let (live_tx, mut live_rx) = tokio::sync::mpsc::channel(256);
        let spec = ProcessSpec {
            program: program.program.clone(),
            args: program.args.clone(),
            env: program.env.clone(),
            secret_env: program.secret_env.clone(),
            inherit_env: InheritEnv::default(),
            cwd: program.cwd.clone(),
            timeout,
            grace: self.ctx.kill_grace,
            orphan_policy: if cmd.keep_running_on_exit {
                OrphanPolicy::KeepRunning
            } else {
                OrphanPolicy::TerminateWithTool
            },
            output_cap: self.ctx.output_cap,
            stdin: None,
            live: Some(LiveOutput {
                lines: live_tx,
                registry: self.redactor.clone(),
            }),
        };
        let running = match ProcessRunner::new().spawn(spec).await {
            Ok(r) => r,
            Err(e) => {
                return self.fail(
                    step,
                    attempt,
                    format!("could not start {}: {e}", program.program),
                    Engine::ms_since(started),
                );
            }
        };
        let info = running.info();
        self.record(Event::StepSpawned {
            step: step.id.clone(),
            attempt,
            pid: info.pid,
            pgid: info.pgid,
            start_time: info.start_time,
        })?;
        let cancel = running.cancel_handle();
        let wait = running.wait();
        tokio::pin!(wait);
        let mut quitting: Option<Halt> = None;
        let outcome = loop {
            tokio::select! {
                out = &mut wait => break out,
                Some(line) = live_rx.recv() => self.emit(EngineEvent::Output { step: step.id.clone(), line: line.text }),
                cmd = self.commands_recv() => match cmd {
                    Some(EngineCommand::Cancel) => cancel.cancel(),
                    Some(EngineCommand::Note { text, step: about }) => {
                        self.note(Some(about.as_deref().unwrap_or(&step.id)), text)?;
                    }
                    None | Some(EngineCommand::Quit) => {
                        if cmd_keep(step) {
                            // Left running on purpose; resume finds it through the journaled
                            // process group and start time.
                            self.record(Event::Warning {
                                step: Some(step.id.clone()),
                                message: format!(
                                    "left process group {} running: this step keeps running when canton-dr exits",
                                    info.pgid
                                ),
                            })?;
                            return Err(Halt::Quit);
                        }
                        cancel.cancel();
                        quitting = Some(Halt::Quit);
                    }
                    Some(EngineCommand::Abort { reason }) => {
                        cancel.cancel();
                        quitting = Some(Halt::Abort(reason));
                    }
                    Some(_) => self.reject("the command is running: wait for it, add a note, or cancel it"),
                },
            }
        };
        while let Ok(line) = live_rx.try_recv() {
            self.emit(EngineEvent::Output {
                step: step.id.clone(),
                line: line.text,
            });
        }
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => return self.fail(step, attempt, format!("{e}"), Engine::ms_since(started)),
        };
        let (output, redactions) = self.redacted_output(&outcome);
        let ms = Engine::ms_since(started);
        if let Some(halt) = quitting {
            self.record(Event::StepFailed {
                step: step.id.clone(),
                attempt,
                reason: "interrupted because the operator quit; its process group was terminated"
                    .into(),
                duration_ms: ms,
                exit_code: None,
                signal: None,
                output: Some(output),
                redactions,
            })?;
            return Err(halt);
        }
        match outcome.status {
            ExitKind::TimedOut { killed_with } => self.record(Event::StepTimedOut {
                step: step.id.clone(),
                attempt,
                duration_ms: ms,
                signal: Some(killed_with.number()),
                output: Some(output),
                redactions,
            }),
            ExitKind::Cancelled { killed_with } => self.record(Event::StepFailed {
                step: step.id.clone(),
                attempt,
                reason: format!(
                    "cancelled by the operator; its process group was terminated (signal {})",
                    killed_with.number()
                ),
                duration_ms: ms,
                exit_code: None,
                signal: Some(killed_with.number()),
                output: Some(output),
                redactions,
            }),
            ExitKind::Signaled(sig) => self.record(Event::StepFailed {
                step: step.id.clone(),
                attempt,
                reason: format!("killed by signal {sig}"),
                duration_ms: ms,
                exit_code: None,
                signal: Some(sig),
                output: Some(output),
                redactions,
            }),
            ExitKind::Exited(code) if !cmd.success_codes.contains(&code) => {
                self.record(Event::StepFailed {
                    step: step.id.clone(),
                    attempt,
                    reason: format!("exited with status {code}{}", last_line(&output)),
                    duration_ms: ms,
                    exit_code: Some(code),
                    signal: None,
                    output: Some(output),
                    redactions,
                })
            }
            ExitKind::Exited(code) => {
                let value = crate::probe::record([
                    ("exit_code", Value::Integer(i64::from(code))),
                    ("stdout", Value::Text(output.stdout.trim_end().to_owned())),
                    ("stderr", Value::Text(output.stderr.trim_end().to_owned())),
                    (
                        "json",
                        serde_json::from_str(&output.stdout)
                            .map_or(Value::Null, |j| crate::value::json_untyped(&j)),
                    ),
                ]);
                let captures = match self.captures(&cmd.capture, &value) {
                    Ok(c) => c,
                    Err(e) => return self.fail(step, attempt, e, ms),
                };
                self.finish_command(
                    step,
                    cmd,
                    attempt,
                    started,
                    captures,
                    Some(code),
                    Some(output),
                    redactions,
                )
                .await
            }
        }
    }

    fn redacted_output(
        &self,
        o: &crate::engine::process::ProcessOutcome,
    ) -> (Output, BTreeMap<String, u64>) {
        let r = o.redacted(&self.redactor.redactor());
        let (out, err) = (r.stdout, r.stderr);
        let mut counts = BTreeMap::new();
        for (k, v) in out.counts.iter().chain(err.counts.iter()) {
            *counts.entry((*k).to_owned()).or_insert(0u64) += *v as u64;
        }
        let truncated =
            o.stdout_total > o.stdout.len() as u64 || o.stderr_total > o.stderr.len() as u64;
        (
            Output {
                stdout: out.text,
                stderr: err.text,
                stdout_bytes: o.stdout_total,
                stderr_bytes: o.stderr_total,
                truncated,
                sha256: o.output_sha256.clone(),
            },
            counts,
        )
    }

    /// Verifies a command's effect, then records its completion.
    #[allow(clippy::too_many_arguments)]
    async fn finish_command(
        &mut self,
        step: &Step,
        cmd: &CommandStep,
        attempt: u32,
        started: tokio::time::Instant,
        captures: BTreeMap<String, serde_json::Value>,
        exit_code: Option<i32>,
        output: Option<Output>,
        redactions: BTreeMap<String, u64>,
    ) -> Result<(), Halt> {
        let mut note = None;
        if let Some(verify) = &cmd.verify {
            let req = match self.request(step, &verify.probe) {
                Ok(r) => r,
                Err(e) => {
                    return self.fail(
                        step,
                        attempt,
                        format!("cannot verify: {e}"),
                        Engine::ms_since(started),
                    );
                }
            };
            let deadline = tokio::time::Instant::now()
                + verify.timeout.to_std().unwrap_or(Duration::from_secs(120));
            let interval = verify.interval.to_std().unwrap_or(Duration::from_secs(2));
            let mut last: Option<(Option<bool>, Option<String>)> = None;
            loop {
                let seen = match self.observe(step, &req, Some(&verify.expect)).await {
                    Ok(s) => s,
                    Err(Stop::Cancelled) => {
                        return self.fail(
                            step,
                            attempt,
                            "verification cancelled by the operator (the command itself ran)"
                                .into(),
                            Engine::ms_since(started),
                        );
                    }
                    Err(Stop::Halt(h)) => return Err(h),
                };
                let key = (seen.held(), seen.observation.error.clone());
                let held = seen.held() == Some(true);
                if last.as_ref() != Some(&key) || held {
                    self.record(Event::ProbeObserved {
                        step: step.id.clone(),
                        attempt,
                        observation: seen.observation.clone(),
                    })?;
                    last = Some(key);
                }
                if held {
                    note = Some(format!("verified: {}", verify.expect.source()));
                    break;
                }
                if tokio::time::Instant::now() >= deadline {
                    let observed = seen
                        .observation
                        .error
                        .clone()
                        .unwrap_or(seen.observation.summary.clone());
                    return self.fail(
                        step,
                        attempt,
                        format!("the command ran, but its verification did not hold in time: expected {}; observed {observed}", verify.expect.source()),
                        Engine::ms_since(started),
                    );
                }
                if let Err(stop) = self.wait_for(&step.id, tokio::time::sleep(interval)).await {
                    return match stop {
                        Stop::Cancelled => self.fail(
                            step,
                            attempt,
                            "verification cancelled by the operator (the command itself ran)"
                                .into(),
                            Engine::ms_since(started),
                        ),
                        Stop::Halt(h) => Err(h),
                    };
                }
            }
        }
        self.record(Event::StepCompleted {
            step: step.id.clone(),
            attempt,
            outcome: Outcome::Passed,
            duration_ms: Engine::ms_since(started),
            captures,
            note,
            evidence: None,
            exit_code,
            output,
            redactions,
        })
    }
}

fn cmd_keep(step: &Step) -> bool {
    matches!(&step.kind, StepKind::Command(c) if c.keep_running_on_exit)
}

/// Secret variables a command passes to its program.
fn secret_vars(engine: &Engine, cmd: &CommandStep) -> Vec<String> {
    let secret_names: Vec<String> = engine
        .state
        .runbook
        .variables()
        .into_iter()
        .filter(|(_, ty, _)| *ty == crate::value::ValueType::Secret)
        .map(|(n, _, _)| n)
        .collect();
    cmd.env
        .iter()
        .flat_map(|(_, a)| a.vars())
        .filter(|v| secret_names.contains(v))
        .collect()
}

fn describe_unresolved(cmd: &CommandStep) -> String {
    match &cmd.action {
        Action::Named(n) => format!("named command '{n}'"),
        Action::Argv(a) => a.iter().map(|x| x.display()).collect::<Vec<_>>().join(" "),
        Action::Shell { shell, script } => format!("{shell} -c {}", resolve::shell_quote(script)),
        Action::Builtin(c) => c.display(),
    }
}

fn last_line(o: &Output) -> String {
    let text = if o.stderr.trim().is_empty() {
        &o.stdout
    } else {
        &o.stderr
    };
    match text.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => format!(": {}", l.trim()),
        None => String::new(),
    }
}
