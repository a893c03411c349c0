//! Steps canton-dr performs by observing: checks, waits (with progress) and gates.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::engine::command::EngineCommand;
use crate::engine::controller::{Engine, Halt};
use crate::engine::event::{EngineEvent, Progress, Waiting};
use crate::engine::record::{Event, Mode, Observation, Outcome};
use crate::engine::resolve::{ResolveError, resolve_call};
use crate::probe::{ProbeError, ProbeRequest};
use crate::runbook::expr::{Bindings, Expr};
use crate::runbook::model::{Capture, ProbeCall, Step, StepKind};
use crate::value::Value;

/// How a running step was stopped.
pub(crate) enum Stop {
    /// The operator cancelled the step.
    Cancelled,
    Halt(Halt),
}

impl From<Halt> for Stop {
    fn from(h: Halt) -> Stop {
        Stop::Halt(h)
    }
}

/// One observation, judged.
pub(crate) struct Seen {
    pub(crate) observation: Observation,
    pub(crate) value: Option<Value>,
}

impl Seen {
    pub(crate) fn held(&self) -> Option<bool> {
        self.observation.held
    }
}

pub(crate) fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Engine {
    /// Awaits `fut` while handling operator commands: notes are journaled, cancel and quit stop
    /// the wait (the future is dropped).
    pub(crate) async fn wait_for<T>(
        &mut self,
        step: &str,
        fut: impl Future<Output = T>,
    ) -> Result<T, Stop> {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Ok(out),
                cmd = self.commands_recv() => match cmd {
                    None | Some(EngineCommand::Quit) => return Err(Stop::Halt(Halt::Quit)),
                    Some(EngineCommand::Abort { reason }) => return Err(Stop::Halt(Halt::Abort(reason))),
                    Some(EngineCommand::Cancel) => return Err(Stop::Cancelled),
                    Some(EngineCommand::Note { text, step: about }) => {
                        self.note(Some(about.as_deref().unwrap_or(step)), text)?;
                    }
                    Some(_) => self.reject("the step is running: wait for it, add a note, or cancel it"),
                },
            }
        }
    }

    /// Resolves a call's arguments.
    pub(crate) fn request(
        &self,
        step: &Step,
        call: &ProbeCall,
    ) -> Result<ProbeRequest, ResolveError> {
        let args = resolve_call(call, &self.arg_vars())?;
        Ok(ProbeRequest {
            call: call.clone(),
            args,
            step: step.id.clone(),
        })
    }

    /// Runs a probe once and judges the result against `expect`.
    pub(crate) async fn observe(
        &mut self,
        step: &Step,
        req: &ProbeRequest,
        expect: Option<&Expr>,
    ) -> Result<Seen, Stop> {
        let result = if req.call.kind.name == "command" {
            self.command_probe(step, req).await?
        } else {
            let probes = self.ctx.probes.clone();
            self.wait_for(&step.id, probes.observe(req)).await?
        };
        Ok(self.judge(req, result, expect))
    }

    /// The `command` probe: runs a read-only named command and reports its exit status and
    /// output (redacted). Commands run here, in the engine, like every other program.
    async fn command_probe(
        &mut self,
        step: &Step,
        req: &ProbeRequest,
    ) -> Result<Result<crate::probe::Observed, ProbeError>, Stop> {
        use crate::engine::process::{ExitKind, ProcessRunner, ProcessSpec};
        let name = req.text("run").unwrap_or_default();
        let as_step = crate::runbook::model::CommandStep {
            action: crate::runbook::model::Action::Named(name.clone()),
            env: Vec::new(),
            timeout: None,
            destructive: false,
            keep_running_on_exit: false,
            success_codes: vec![0],
            capture: Vec::new(),
            verify: None,
        };
        let program = match crate::engine::resolve::program(
            &as_step,
            &self.arg_vars(),
            self.ctx.profile.as_deref(),
            &self.ctx.secrets,
        ) {
            Ok(p) => p,
            Err(e) => return Ok(Err(ProbeError::new(e.to_string()))),
        };
        let mut spec = ProcessSpec::argv(
            program.program.clone(),
            program.args.clone(),
            program
                .timeout
                .and_then(|t| t.to_std().ok())
                .unwrap_or(Duration::from_secs(60)),
        );
        spec.env = program.env.clone();
        spec.secret_env = program.secret_env.clone();
        spec.cwd = program.cwd.clone();
        spec.grace = self.ctx.kill_grace;
        spec.output_cap = self.ctx.output_cap;
        let running = match ProcessRunner::new().spawn(spec).await {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(ProbeError::new(format!(
                    "command '{name}' could not start: {e}"
                ))));
            }
        };
        let outcome = match self.wait_for(&step.id, running.wait()).await? {
            Ok(o) => o,
            Err(e) => return Ok(Err(ProbeError::new(format!("command '{name}': {e}")))),
        };
        let r = outcome.redacted(&self.redactor.redactor());
        let code = match outcome.status {
            ExitKind::Exited(c) => c,
            ExitKind::TimedOut { .. } => {
                return Ok(Err(ProbeError::retryable(format!(
                    "command '{name}' timed out"
                ))));
            }
            ExitKind::Signaled(sig) => {
                return Ok(Err(ProbeError::new(format!(
                    "command '{name}' was killed by signal {sig}"
                ))));
            }
            ExitKind::Cancelled { .. } => {
                return Ok(Err(ProbeError::new(format!(
                    "command '{name}' was cancelled"
                ))));
            }
        };
        let want_json = matches!(req.args.get("json"), Some(Value::Bool(true)));
        let json = if want_json {
            serde_json::from_str::<serde_json::Value>(&r.stdout.text)
                .map_or(Value::Null, |j| crate::value::json_untyped(&j))
        } else {
            Value::Null
        };
        let first = r.stdout.text.lines().next().unwrap_or_default().to_owned();
        Ok(Ok(crate::probe::Observed {
            summary: format!(
                "{} exited with {code}{}",
                program.display,
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            ),
            value: crate::probe::record([
                ("exit_code", Value::Integer(i64::from(code))),
                ("stdout", Value::Text(r.stdout.text.trim_end().to_owned())),
                ("stderr", Value::Text(r.stderr.text.trim_end().to_owned())),
                ("json", json),
            ]),
        }))
    }

    pub(crate) fn judge(
        &self,
        req: &ProbeRequest,
        result: Result<crate::probe::Observed, ProbeError>,
        expect: Option<&Expr>,
    ) -> Seen {
        let call = req.display();
        match result {
            Err(e) => Seen {
                observation: Observation {
                    call,
                    value: serde_json::Value::Null,
                    summary: String::new(),
                    held: None,
                    error: Some(self.redactor.redact(&e.message).text),
                    retryable: e.retryable,
                },
                value: None,
            },
            Ok(observed) => {
                let (held, error) = match expect {
                    None => (None, None),
                    Some(expr) => {
                        let vars = self.expr_vars();
                        let b = Bindings {
                            value: Some(&observed.value),
                            vars: &vars,
                            now: self.ctx.clock.now(),
                        };
                        match expr.eval_bool(&b) {
                            Ok(h) => (Some(h), None),
                            Err(e) => (None, Some(e.to_string())),
                        }
                    }
                };
                let json = observed.value.to_json().to_string();
                let json = self.redactor.redact(&json).text;
                Seen {
                    observation: Observation {
                        call,
                        value: serde_json::from_str(&json).unwrap_or(serde_json::Value::Null),
                        summary: self.redactor.redact(&observed.summary).text,
                        held,
                        error,
                        retryable: false,
                    },
                    value: Some(observed.value),
                }
            }
        }
    }

    /// Evaluates captures over an observed value.
    pub(crate) fn captures(
        &self,
        capture: &[Capture],
        value: &Value,
    ) -> Result<BTreeMap<String, serde_json::Value>, String> {
        let vars = self.expr_vars();
        let b = Bindings {
            value: Some(value),
            vars: &vars,
            now: self.ctx.clock.now(),
        };
        let mut out = BTreeMap::new();
        for c in capture {
            let v = c
                .expr
                .eval(&b)
                .map_err(|e| format!("capturing '{}': {e}", c.var))?;
            if matches!(v, Value::Null) {
                return Err(format!(
                    "capturing '{}': '{}' is empty (null)",
                    c.var,
                    c.expr.source()
                ));
            }
            let v = v
                .coerce(c.ty)
                .map_err(|e| format!("capturing '{}': {e}", c.var))?;
            out.insert(c.var.clone(), v.to_json());
        }
        Ok(out)
    }

    /// Records the intent of an observing step.
    fn started(&mut self, step: &Step, req: &ProbeRequest, attempt: u32) -> Result<(), Halt> {
        let action = req.display();
        let inputs = req
            .args
            .iter()
            .map(|(k, v)| (k.clone(), v.to_json()))
            .collect();
        self.record(Event::StepStarted {
            step: step.id.clone(),
            attempt,
            action_sha256: sha256_hex(&action),
            action,
            side_effects: false,
            inputs,
        })
    }

    pub(crate) fn fail(
        &mut self,
        step: &Step,
        attempt: u32,
        reason: String,
        duration_ms: u64,
    ) -> Result<(), Halt> {
        self.record(Event::StepFailed {
            step: step.id.clone(),
            attempt,
            reason,
            duration_ms,
            exit_code: None,
            signal: None,
            output: None,
            redactions: BTreeMap::new(),
        })
    }

    pub(crate) fn complete(
        &mut self,
        step: &Step,
        attempt: u32,
        outcome: Outcome,
        duration_ms: u64,
        captures: BTreeMap<String, serde_json::Value>,
        note: Option<String>,
    ) -> Result<(), Halt> {
        self.record(Event::StepCompleted {
            step: step.id.clone(),
            attempt,
            outcome,
            duration_ms,
            captures,
            note,
            evidence: None,
            exit_code: None,
            output: None,
            redactions: BTreeMap::new(),
        })
    }

    /// Builds the request, failing the step when a variable is missing.
    fn request_or_fail(
        &mut self,
        step: &Step,
        call: &ProbeCall,
        attempt: u32,
    ) -> Result<Option<ProbeRequest>, Halt> {
        match self.request(step, call) {
            Ok(r) => Ok(Some(r)),
            Err(e) => {
                self.fail(step, attempt, format!("cannot start: {e}"), 0)?;
                Ok(None)
            }
        }
    }

    fn stopped(
        &mut self,
        step: &Step,
        attempt: u32,
        stop: Stop,
        started: tokio::time::Instant,
    ) -> Result<(), Halt> {
        match stop {
            Stop::Cancelled => self.fail(
                step,
                attempt,
                "cancelled by the operator".into(),
                Engine::ms_since(started),
            ),
            // A quit leaves the observing step without a terminal record; it only observes, so
            // resume simply runs it again.
            Stop::Halt(h) => Err(h),
        }
    }

    pub(crate) async fn check(&mut self, step: &Step) -> Result<(), Halt> {
        let StepKind::Check {
            probe,
            expect,
            capture,
            advisory,
        } = &step.kind
        else {
            return Ok(());
        };
        let attempt = self.next_attempt(step);
        let started = tokio::time::Instant::now();
        let Some(req) = self.request_or_fail(step, probe, attempt)? else {
            return Ok(());
        };
        self.started(step, &req, attempt)?;
        let seen = match self.observe(step, &req, expect.as_ref()).await {
            Ok(s) => s,
            Err(stop) => return self.stopped(step, attempt, stop, started),
        };
        self.record(Event::ProbeObserved {
            step: step.id.clone(),
            attempt,
            observation: seen.observation.clone(),
        })?;
        let ms = Engine::ms_since(started);
        if let Some(err) = &seen.observation.error {
            return self.fail(step, attempt, err.clone(), ms);
        }
        if seen.held() == Some(false) {
            let exp = expect
                .as_ref()
                .map(|e| e.source().to_owned())
                .unwrap_or_default();
            let why = format!("expected {exp}; observed {}", seen.observation.summary);
            if *advisory {
                self.record(Event::Warning {
                    step: Some(step.id.clone()),
                    message: format!("advisory check did not hold: {why}"),
                })?;
            } else {
                return self.fail(step, attempt, why, ms);
            }
        }
        let value = seen.value.unwrap_or(Value::Null);
        match self.captures(capture, &value) {
            Ok(c) => self.complete(step, attempt, Outcome::Passed, ms, c, None),
            Err(e) => self.fail(step, attempt, e, ms),
        }
    }

    pub(crate) async fn wait(&mut self, step: &Step) -> Result<(), Halt> {
        let StepKind::Wait {
            probe,
            expect,
            capture,
            interval,
            timeout,
            progress,
        } = &step.kind
        else {
            return Ok(());
        };
        let attempt = self.next_attempt(step);
        let started = tokio::time::Instant::now();
        let Some(req) = self.request_or_fail(step, probe, attempt)? else {
            return Ok(());
        };
        self.started(step, &req, attempt)?;
        let interval = interval.to_std().unwrap_or(Duration::from_secs(5));
        let timeout = timeout.to_std().unwrap_or(Duration::from_secs(1800));
        let mut tracker = ProgressTracker::default();
        let mut last_journaled: Option<(tokio::time::Instant, Option<bool>, Option<String>)> = None;
        let mut polls = 0u32;
        loop {
            polls += 1;
            let seen = match self.observe(step, &req, Some(expect)).await {
                Ok(s) => s,
                Err(stop) => return self.stopped(step, attempt, stop, started),
            };
            let held = seen.held() == Some(true);
            let error_kind = seen.observation.error.clone();
            let due = match &last_journaled {
                None => true,
                Some((at, h, e)) => {
                    *h != seen.held()
                        || *e != error_kind
                        || at.elapsed() >= self.ctx.observe_every
                        || held
                }
            };
            if due || self.mode() == Mode::DryRun {
                self.record(Event::ProbeObserved {
                    step: step.id.clone(),
                    attempt,
                    observation: seen.observation.clone(),
                })?;
                last_journaled =
                    Some((tokio::time::Instant::now(), seen.held(), error_kind.clone()));
            }
            let mut p = Progress {
                step: step.id.clone(),
                polls,
                elapsed: started.elapsed(),
                timeout,
                current: None,
                target: None,
                fraction: None,
                rate: None,
                eta: None,
                last_summary: Some(seen.observation.summary.clone()).filter(|s| !s.is_empty()),
                last_error: error_kind.clone(),
            };
            if let (Some(pr), Some(value)) = (progress, &seen.value) {
                self.measure(pr, value, &mut tracker, &mut p);
            }
            self.emit(EngineEvent::Progress(p));
            let ms = Engine::ms_since(started);
            if held {
                let value = seen.value.unwrap_or(Value::Null);
                return match self.captures(capture, &value) {
                    Ok(c) => self.complete(step, attempt, Outcome::Passed, ms, c, None),
                    Err(e) => self.fail(step, attempt, e, ms),
                };
            }
            if self.mode() == Mode::DryRun {
                return self.complete(
                    step,
                    attempt,
                    Outcome::Shown,
                    ms,
                    BTreeMap::new(),
                    Some(format!(
                        "dry-run: observed once; a real run would wait until {}",
                        expect.source()
                    )),
                );
            }
            if started.elapsed() >= timeout {
                return self.record(Event::StepTimedOut {
                    step: step.id.clone(),
                    attempt,
                    duration_ms: ms,
                    signal: None,
                    output: None,
                    redactions: BTreeMap::new(),
                });
            }
            let pause = interval.min(timeout.saturating_sub(started.elapsed()));
            if let Err(stop) = self.wait_for(&step.id, tokio::time::sleep(pause)).await {
                return self.stopped(step, attempt, stop, started);
            }
        }
    }

    fn measure(
        &self,
        pr: &crate::runbook::model::Progress,
        value: &Value,
        tracker: &mut ProgressTracker,
        p: &mut Progress,
    ) {
        let vars = self.expr_vars();
        let b = Bindings {
            value: Some(value),
            vars: &vars,
            now: self.ctx.clock.now(),
        };
        let (Ok(cur), Ok(tgt)) = (pr.current.eval(&b), pr.target.eval(&b)) else {
            return;
        };
        p.current = Some(cur.to_string());
        p.target = Some(tgt.to_string());
        let (Some(c), Some(t)) = (quantity(&cur), quantity(&tgt)) else {
            return;
        };
        tracker.push(tokio::time::Instant::now(), c);
        let first = tracker.first.unwrap_or(c);
        if t > first {
            p.fraction = Some(((c - first) / (t - first)).clamp(0.0, 1.0));
        } else if c >= t {
            p.fraction = Some(1.0);
        }
        if let Some(rate) = tracker.rate() {
            let per_sec = rate;
            p.rate = Some(match cur {
                Value::Timestamp(_) | Value::Duration(_) => {
                    format!("{:.1}× real time", per_sec / 1e6)
                }
                _ => format!("{per_sec:.1}/s"),
            });
            if per_sec > 0.0 && t > c {
                p.eta = Some(Duration::from_secs_f64(((t - c) / per_sec).min(1e9)));
            }
        }
    }

    pub(crate) async fn gate(&mut self, step: &Step) -> Result<(), Halt> {
        let StepKind::Gate {
            probe,
            expect,
            interval,
        } = &step.kind
        else {
            return Ok(());
        };
        let attempt = self.next_attempt(step);
        let started = tokio::time::Instant::now();
        let req = match probe {
            Some(call) => match self.request_or_fail(step, call, attempt)? {
                Some(r) => Some(r),
                None => return Ok(()),
            },
            None => None,
        };
        let action = req.as_ref().map_or_else(
            || format!("gate: {}", expect.source()),
            ProbeRequest::display,
        );
        self.record(Event::StepStarted {
            step: step.id.clone(),
            attempt,
            action_sha256: sha256_hex(&action),
            action,
            side_effects: false,
            inputs: BTreeMap::new(),
        })?;
        let mut last_reason: Option<String> = None;
        loop {
            let (held, reason, observation) = match &req {
                Some(req) => {
                    let seen = match self.observe(step, req, Some(expect)).await {
                        Ok(s) => s,
                        Err(stop) => return self.stopped(step, attempt, stop, started),
                    };
                    let reason = seen.observation.error.clone().unwrap_or_else(|| {
                        format!(
                            "{} does not hold yet; observed {}",
                            expect.source(),
                            seen.observation.summary
                        )
                    });
                    (seen.held() == Some(true), reason, Some(seen.observation))
                }
                None => {
                    let vars = self.expr_vars();
                    let b = Bindings {
                        value: None,
                        vars: &vars,
                        now: self.ctx.clock.now(),
                    };
                    match expect.eval_bool(&b) {
                        Ok(h) => (h, format!("{} does not hold yet", expect.source()), None),
                        Err(e) => (false, e.to_string(), None),
                    }
                }
            };
            if last_reason.as_deref() != Some(reason.as_str()) || held {
                if let Some(o) = observation {
                    self.record(Event::ProbeObserved {
                        step: step.id.clone(),
                        attempt,
                        observation: o,
                    })?;
                }
                last_reason = Some(reason.clone());
            }
            let ms = Engine::ms_since(started);
            if held {
                return self.complete(step, attempt, Outcome::Passed, ms, BTreeMap::new(), None);
            }
            if self.mode() == Mode::DryRun {
                return self.complete(
                    step,
                    attempt,
                    Outcome::Shown,
                    ms,
                    BTreeMap::new(),
                    Some(format!("dry-run: the gate is closed: {reason}")),
                );
            }
            let wait = interval.and_then(|i| i.to_std().ok());
            let cmd = self
                .ask_until(
                    Waiting::GateClosed {
                        step: step.id.clone(),
                        reason: reason.clone(),
                    },
                    wait,
                )
                .await?;
            match cmd {
                None | Some(EngineCommand::Retry) => {}
                Some(EngineCommand::Skip { reason, typed }) => {
                    if self.try_skip(step, reason, typed, true, true)? {
                        return Ok(());
                    }
                }
                Some(_) => self.reject("the gate is closed: re-check it, or override it by typing the step id and a reason"),
            }
        }
    }
}

/// A number for progress arithmetic: timestamps and durations in microseconds.
fn quantity(v: &Value) -> Option<f64> {
    match v {
        Value::Integer(i) | Value::Offset(i) => Some(*i as f64),
        Value::Decimal(d) => d.parse().ok(),
        Value::Timestamp(t) => Some(t.timestamp_micros() as f64),
        Value::Duration(d) => d.num_microseconds().map(|m| m as f64),
        _ => None,
    }
}

/// Recent (time, quantity) samples, for a rate.
#[derive(Default)]
struct ProgressTracker {
    first: Option<f64>,
    samples: std::collections::VecDeque<(tokio::time::Instant, f64)>,
}

impl ProgressTracker {
    fn push(&mut self, at: tokio::time::Instant, v: f64) {
        self.first.get_or_insert(v);
        self.samples.push_back((at, v));
        while self.samples.len() > 10 {
            self.samples.pop_front();
        }
    }

    /// Units per second over the recent samples.
    fn rate(&self) -> Option<f64> {
        let (t0, v0) = self.samples.front()?;
        let (t1, v1) = self.samples.back()?;
        let dt = t1.duration_since(*t0).as_secs_f64();
        (dt > 0.0).then(|| (v1 - v0) / dt)
    }
}
