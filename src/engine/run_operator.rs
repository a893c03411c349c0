//! Steps the operator performs: manual confirmations and typed inputs.

use std::collections::BTreeMap;

use secrecy::ExposeSecret;

use crate::engine::command::EngineCommand;
use crate::engine::controller::{Engine, Halt};
use crate::engine::event::Waiting;
use crate::engine::record::{Event, Outcome};
use crate::engine::resolve::resolve_arg;
use crate::runbook::expr::Bindings;
use crate::runbook::model::{Evidence, Step, StepKind};
use crate::value::{Value, ValueType};

impl Engine {
    pub(crate) async fn manual(&mut self, step: &Step) -> Result<(), Halt> {
        let StepKind::Manual {
            evidence,
            destructive,
        } = &step.kind
        else {
            return Ok(());
        };
        let started = tokio::time::Instant::now();
        loop {
            let cmd = self
                .ask(Waiting::Confirm {
                    step: step.id.clone(),
                    destructive: *destructive,
                    evidence: *evidence,
                })
                .await?;
            match cmd {
                EngineCommand::Confirm {
                    note,
                    evidence: given,
                    typed,
                } => {
                    if *destructive && typed.as_deref() != Some(step.id.as_str()) {
                        self.reject(format!(
                            "this step is destructive: type its id '{}' to confirm",
                            step.id
                        ));
                        continue;
                    }
                    let given = given.map(|e| e.trim().to_owned()).filter(|e| !e.is_empty());
                    if *evidence == Evidence::Required && given.is_none() {
                        self.reject("this step needs evidence (what you saw, a ticket, a file) before it can be confirmed");
                        continue;
                    }
                    let note = note
                        .map(|n| self.redactor.redact(n.trim()).text)
                        .filter(|n| !n.is_empty());
                    let given = given.map(|e| self.redactor.redact(&e).text);
                    return self.record(Event::StepCompleted {
                        step: step.id.clone(),
                        attempt: self.next_attempt(step),
                        outcome: Outcome::Confirmed,
                        duration_ms: Engine::ms_since(started),
                        captures: BTreeMap::new(),
                        note,
                        evidence: given,
                        exit_code: None,
                        output: None,
                        redactions: BTreeMap::new(),
                    });
                }
                EngineCommand::Skip { reason, typed } => {
                    if self.try_skip(step, reason, typed, false, *destructive)? {
                        return Ok(());
                    }
                }
                _ => self.reject("confirm the step when it is done, or skip it with a reason"),
            }
        }
    }

    pub(crate) async fn input(&mut self, step: &Step) -> Result<(), Halt> {
        let StepKind::Input {
            var,
            ty,
            prompt,
            default,
            expect,
        } = &step.kind
        else {
            return Ok(());
        };
        let started = tokio::time::Instant::now();
        let vars = self.arg_vars();
        let default_value = default.as_ref().and_then(|d| resolve_arg(d, &vars).ok());
        loop {
            let cmd = self
                .ask(Waiting::Input {
                    step: step.id.clone(),
                    var: var.clone(),
                    ty: *ty,
                    prompt: prompt.clone(),
                    default: default_value.as_ref().map(ToString::to_string),
                })
                .await?;
            let value = match cmd {
                EngineCommand::Input { value } => match Value::parse_as(*ty, value.expose_secret())
                {
                    Ok(v) => v,
                    Err(e) => {
                        self.reject(e.to_string());
                        continue;
                    }
                },
                EngineCommand::Confirm { .. } if default_value.is_some() => {
                    default_value.clone().unwrap_or(Value::Null)
                }
                EngineCommand::Skip { reason, typed } => {
                    if self.try_skip(step, reason, typed, false, false)? {
                        return Ok(());
                    }
                    continue;
                }
                _ => {
                    self.reject(format!(
                        "enter {} for '{var}' ({})",
                        crate::runbook::expr::article(ty),
                        ty.input_hint()
                    ));
                    continue;
                }
            };
            if let Some(expect) = expect {
                let vars = self.expr_vars();
                let b = Bindings {
                    value: Some(&value),
                    vars: &vars,
                    now: self.ctx.clock.now(),
                };
                match expect.eval_bool(&b) {
                    Ok(true) => {}
                    Ok(false) => {
                        self.reject(format!(
                            "{value} is not accepted here: it must satisfy {}",
                            expect.source()
                        ));
                        continue;
                    }
                    Err(e) => {
                        self.reject(e.to_string());
                        continue;
                    }
                }
            }
            let mut captures = BTreeMap::new();
            if let Value::Secret(s) = &value {
                self.redactor.register(s);
                self.session_secrets.insert(var.clone(), s.clone());
            }
            captures.insert(var.clone(), value.to_json());
            debug_assert!(
                *ty != ValueType::Secret
                    || captures[var] == serde_json::json!(crate::value::REDACTED)
            );
            return self.record(Event::StepCompleted {
                step: step.id.clone(),
                attempt: self.next_attempt(step),
                outcome: Outcome::Confirmed,
                duration_ms: Engine::ms_since(started),
                captures,
                note: None,
                evidence: None,
                exit_code: None,
                output: None,
                redactions: BTreeMap::new(),
            });
        }
    }
}
