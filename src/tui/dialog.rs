//! Dialogs: what the operator types or chooses before a command goes to the engine. Each
//! dialog validates as the operator types (the engine validates again and may still refuse),
//! and turns into exactly one [`EngineCommand`] when sent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::engine::command::EngineCommand;
use crate::engine::record::InDoubtChoice;
use crate::engine::state::Spawned;
use crate::runbook::expr::{Bindings, Expr};
use crate::runbook::model::Evidence;
use crate::tui::action::Action;
use crate::tui::event::Key;
use crate::tui::keymap::KeyMode;
use crate::tui::widget::text_field::TextField;
use crate::value::{Value, ValueType};

/// What a field is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The step id, typed to confirm something destructive or an override.
    Typed,
    Evidence,
    Note,
    Value,
    Reason,
}

/// A labelled field of a dialog.
#[derive(Debug)]
pub struct Field {
    pub role: Role,
    pub label: String,
    pub input: TextField,
}

/// What a dialog is about.
#[derive(Debug)]
pub enum Kind {
    /// Confirm a manual step.
    Confirm {
        step: String,
        destructive: bool,
        evidence: Evidence,
    },
    /// Enter a typed value.
    Input {
        step: String,
        var: String,
        ty: ValueType,
        prompt: String,
        default: Option<String>,
        expect: Option<Expr>,
        vars: BTreeMap<String, Value>,
    },
    /// Enter a secret again after a restart.
    Secret {
        step: String,
        var: String,
        prompt: String,
    },
    /// Run a destructive command (typed confirmation).
    Run { step: String, preview: String },
    /// Skip a step; `typed` when it overrides a safety check; `in_doubt` when it resolves an
    /// interrupted step.
    Skip {
        step: String,
        typed: bool,
        in_doubt: bool,
    },
    /// Mark an interrupted step done, with evidence.
    MarkDone { step: String },
    /// Decide about a step a crash interrupted.
    InDoubt {
        step: String,
        attempt: u32,
        action: String,
        still_running: Option<Spawned>,
    },
    /// Add a note.
    Note { step: Option<String> },
    /// Leave (the incident is saved).
    Quit { running: bool, incident: String },
    /// Stop the running step.
    Cancel { step: String },
    /// End the run for good.
    Abort,
}

/// An open dialog.
#[derive(Debug)]
pub struct Dialog {
    pub kind: Kind,
    pub fields: Vec<Field>,
    pub focus: usize,
    /// The highlighted choice of a choice dialog.
    pub choice: usize,
    /// Why the dialog cannot be sent as it is (checked while typing).
    pub problem: Option<String>,
    /// How the value will be read ("reads as …").
    pub reading: Option<String>,
    /// The engine refused what was sent.
    pub refused: Option<String>,
    /// Sent; waiting for the engine to take it or refuse it.
    pub sent: bool,
}

/// What sending or answering a dialog leads to.
#[derive(Debug)]
pub enum Reply {
    /// Nothing yet (invalid, or a key that changed nothing).
    Stay,
    /// Close the dialog.
    Close,
    /// Send this to the engine (the dialog stays open until the engine answers).
    Send(EngineCommand),
    /// Replace the dialog with another (a second stage).
    Next(Box<Dialog>),
    /// Quit: the operator confirmed.
    Quit,
}

fn field(role: Role, label: impl Into<String>, input: TextField) -> Field {
    Field {
        role,
        label: label.into(),
        input,
    }
}

fn typed_field(step: &str) -> Field {
    field(
        Role::Typed,
        format!("Type the step id '{step}' to confirm"),
        TextField::plain(""),
    )
}

impl Dialog {
    /// A dialog of this kind with its fields.
    pub fn new(kind: Kind, now: DateTime<Utc>) -> Dialog {
        let mut fields = Vec::new();
        match &kind {
            Kind::Confirm {
                step,
                destructive,
                evidence,
            } => {
                if *destructive {
                    fields.push(typed_field(step));
                }
                match evidence {
                    Evidence::Required => fields.push(field(
                        Role::Evidence,
                        "Evidence (required): what you saw, a ticket, a file",
                        TextField::plain(""),
                    )),
                    Evidence::Optional => fields.push(field(
                        Role::Evidence,
                        "Evidence (optional)",
                        TextField::plain(""),
                    )),
                    Evidence::None => {}
                }
                fields.push(field(Role::Note, "Note (optional)", TextField::plain("")));
            }
            Kind::Input {
                ty,
                prompt,
                default,
                ..
            } => {
                let placeholder = match default {
                    Some(d) => format!("Enter accepts the default: {d}"),
                    None => ty.input_hint().to_owned(),
                };
                let input = if *ty == ValueType::Secret {
                    TextField::secret(placeholder)
                } else {
                    TextField::plain(placeholder)
                };
                fields.push(field(Role::Value, prompt.clone(), input));
            }
            Kind::Secret { prompt, .. } => fields.push(field(
                Role::Value,
                prompt.clone(),
                TextField::secret(ValueType::Secret.input_hint()),
            )),
            Kind::Run { step, .. } => fields.push(typed_field(step)),
            Kind::Skip { step, typed, .. } => {
                fields.push(field(
                    Role::Reason,
                    "Reason (mandatory, journaled)",
                    TextField::plain(""),
                ));
                if *typed {
                    fields.push(typed_field(step));
                }
            }
            Kind::MarkDone { .. } => fields.push(field(
                Role::Evidence,
                "Evidence that it is done (mandatory, journaled)",
                TextField::plain(""),
            )),
            Kind::Note { .. } => {
                fields.push(field(Role::Note, "Note (journaled)", TextField::plain("")))
            }
            Kind::Abort => fields.push(field(
                Role::Reason,
                "Reason (mandatory, journaled)",
                TextField::plain(""),
            )),
            Kind::InDoubt { .. } | Kind::Quit { .. } | Kind::Cancel { .. } => {}
        }
        let mut d = Dialog {
            kind,
            fields,
            focus: 0,
            choice: 0,
            problem: None,
            reading: None,
            refused: None,
            sent: false,
        };
        d.validate(now);
        d
    }

    /// The step this dialog answers for, if it answers a waiting engine.
    pub fn step(&self) -> Option<&str> {
        match &self.kind {
            Kind::Confirm { step, .. }
            | Kind::Input { step, .. }
            | Kind::Secret { step, .. }
            | Kind::Run { step, .. }
            | Kind::Skip { step, .. }
            | Kind::MarkDone { step }
            | Kind::InDoubt { step, .. } => Some(step),
            Kind::Note { .. } | Kind::Quit { .. } | Kind::Cancel { .. } | Kind::Abort => None,
        }
    }

    /// Does this dialog answer what the engine waits for (and close when the engine moves on)?
    pub fn answers_engine(&self) -> bool {
        self.step().is_some()
    }

    /// Which keymap applies.
    pub fn key_mode(&self) -> KeyMode {
        if self.fields.is_empty() {
            KeyMode::Choice
        } else {
            KeyMode::Text
        }
    }

    /// The options of a choice dialog: letter and label.
    pub fn choices(&self) -> Vec<(char, &'static str)> {
        match &self.kind {
            Kind::InDoubt { still_running, .. } => {
                let mut c = vec![
                    ('r', "Re-run it (its effect is not there)"),
                    ('d', "Mark it done, with evidence (its effect is there)"),
                    ('s', "Skip it, with a reason"),
                ];
                if still_running.is_some() {
                    c.push(('k', "Kill the processes it left running"));
                }
                c.push(('l', "Look again"));
                c
            }
            Kind::Quit { .. } => vec![('y', "Quit"), ('n', "Stay")],
            Kind::Cancel { .. } => vec![('y', "Cancel the step"), ('n', "Let it run")],
            _ => Vec::new(),
        }
    }

    /// Handles an action; `now` is for expectations with `now` in them.
    pub fn act(&mut self, action: Action, now: DateTime<Utc>) -> Reply {
        match action {
            Action::Close => Reply::Close,
            Action::NextField if !self.fields.is_empty() => {
                self.focus = (self.focus + 1) % self.fields.len();
                Reply::Stay
            }
            Action::PrevField if !self.fields.is_empty() => {
                self.focus = (self.focus + self.fields.len() - 1) % self.fields.len();
                Reply::Stay
            }
            Action::Up => {
                self.choice = self.choice.saturating_sub(1);
                Reply::Stay
            }
            Action::Down => {
                self.choice = (self.choice + 1).min(self.choices().len().saturating_sub(1));
                Reply::Stay
            }
            Action::Yes => self.choose('y', now),
            Action::Choose(c) => self.choose(c, now),
            Action::Submit => {
                if self.fields.is_empty() {
                    match self.choices().get(self.choice) {
                        Some((c, _)) => self.choose(*c, now),
                        None => Reply::Stay,
                    }
                } else {
                    self.submit(now)
                }
            }
            _ => Reply::Stay,
        }
    }

    /// Edits the focused field; returns true when it changed.
    pub fn edit(&mut self, key: Key, now: DateTime<Utc>) -> bool {
        let changed = self
            .fields
            .get_mut(self.focus)
            .is_some_and(|f| f.input.edit(key));
        if changed {
            self.refused = None;
            self.validate(now);
        }
        changed
    }

    /// Pastes into the focused field; returns true when it changed.
    pub fn paste(&mut self, text: &str, now: DateTime<Utc>) -> bool {
        let changed = self
            .fields
            .get_mut(self.focus)
            .is_some_and(|f| f.input.paste(text));
        if changed {
            self.refused = None;
            self.validate(now);
        }
        changed
    }

    fn text(&self, role: Role) -> Option<&str> {
        self.fields
            .iter()
            .find(|f| f.role == role)
            .and_then(|f| f.input.plain_text())
    }

    fn nonempty(&self, role: Role) -> Option<String> {
        self.text(role)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }

    /// Checks the fields; sets `problem` (and `reading` for values).
    pub fn validate(&mut self, now: DateTime<Utc>) {
        self.reading = None;
        self.problem = self.check(now).err();
    }

    fn check(&mut self, now: DateTime<Utc>) -> Result<(), String> {
        if let Some(step) = self.step().map(str::to_owned)
            && self.fields.iter().any(|f| f.role == Role::Typed)
            && self.text(Role::Typed).map(str::trim) != Some(step.as_str())
        {
            return Err(format!("type the step id '{step}' exactly"));
        }
        match &self.kind {
            Kind::Confirm {
                evidence: Evidence::Required,
                ..
            }
            | Kind::MarkDone { .. }
                if self.nonempty(Role::Evidence).is_none() =>
            {
                return Err("evidence is required: what you saw, a ticket, a file".into());
            }
            Kind::Skip { .. } | Kind::Abort if self.nonempty(Role::Reason).is_none() => {
                return Err("a reason is required; it goes into the journal".into());
            }
            Kind::Note { .. } if self.nonempty(Role::Note).is_none() => {
                return Err("a note cannot be empty".into());
            }
            Kind::Secret { .. } if self.fields.first().is_none_or(|f| f.input.is_empty()) => {
                return Err("a secret cannot be empty".into());
            }
            Kind::Input { .. } => return self.check_input(now),
            _ => {}
        }
        Ok(())
    }

    fn check_input(&mut self, now: DateTime<Utc>) -> Result<(), String> {
        let Kind::Input {
            ty,
            default,
            expect,
            vars,
            ..
        } = &self.kind
        else {
            return Ok(());
        };
        let Some(f) = self.fields.first() else {
            return Ok(());
        };
        if f.input.is_empty() {
            return match default {
                Some(_) => Ok(()),
                None => Err(format!("enter a value ({})", ty.input_hint())),
            };
        }
        if *ty == ValueType::Secret {
            return Ok(());
        }
        let text = f.input.plain_text().unwrap_or_default();
        let value = Value::parse_as(*ty, text).map_err(|e| e.to_string())?;
        if let Some(expect) = expect {
            let b = Bindings {
                value: Some(&value),
                vars,
                now,
            };
            match expect.eval_bool(&b) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!(
                        "{value} is not accepted here: it must satisfy {}",
                        expect.source()
                    ));
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        self.reading = Some(format!("reads as {value}"));
        Ok(())
    }

    fn submit(&mut self, now: DateTime<Utc>) -> Reply {
        if self.sent {
            return Reply::Stay;
        }
        self.validate(now);
        if self.problem.is_some() {
            return Reply::Stay;
        }
        let typed = self.nonempty(Role::Typed);
        let cmd = match &self.kind {
            Kind::Confirm { .. } => EngineCommand::Confirm {
                note: self.nonempty(Role::Note),
                evidence: self.nonempty(Role::Evidence),
                typed,
            },
            Kind::Input { .. } => {
                let Some(f) = self.fields.first_mut() else {
                    return Reply::Stay;
                };
                if f.input.is_empty() {
                    EngineCommand::Confirm {
                        note: None,
                        evidence: None,
                        typed: None,
                    }
                } else {
                    EngineCommand::Input {
                        value: f.input.take_secret(),
                    }
                }
            }
            Kind::Secret { .. } => match self.fields.first_mut() {
                Some(f) => EngineCommand::Input {
                    value: f.input.take_secret(),
                },
                None => return Reply::Stay,
            },
            Kind::Run { .. } => EngineCommand::Run { typed },
            Kind::Skip { in_doubt: true, .. } => {
                EngineCommand::ResolveInDoubt(InDoubtChoice::Skip {
                    reason: self.nonempty(Role::Reason).unwrap_or_default(),
                })
            }
            Kind::Skip { .. } => EngineCommand::Skip {
                reason: self.nonempty(Role::Reason).unwrap_or_default(),
                typed,
            },
            Kind::MarkDone { .. } => EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone {
                evidence: self.nonempty(Role::Evidence).unwrap_or_default(),
            }),
            Kind::Note { .. } => EngineCommand::Note {
                text: self.nonempty(Role::Note).unwrap_or_default(),
            },
            Kind::Abort => EngineCommand::Abort {
                reason: self.nonempty(Role::Reason).unwrap_or_default(),
            },
            Kind::InDoubt { .. } | Kind::Quit { .. } | Kind::Cancel { .. } => return Reply::Stay,
        };
        self.sent = true;
        self.refused = None;
        Reply::Send(cmd)
    }

    fn choose(&mut self, c: char, now: DateTime<Utc>) -> Reply {
        let Some(idx) = self.choices().iter().position(|(k, _)| *k == c) else {
            return Reply::Stay;
        };
        self.choice = idx;
        match &self.kind {
            Kind::Quit { .. } => match c {
                'y' => Reply::Quit,
                _ => Reply::Close,
            },
            Kind::Cancel { .. } => match c {
                'y' => Reply::Send(EngineCommand::Cancel),
                _ => Reply::Close,
            },
            Kind::InDoubt { step, .. } => match c {
                'r' => Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::Rerun)),
                'd' => Reply::Next(Box::new(Dialog::new(
                    Kind::MarkDone { step: step.clone() },
                    now,
                ))),
                's' => Reply::Next(Box::new(Dialog::new(
                    Kind::Skip {
                        step: step.clone(),
                        typed: false,
                        in_doubt: true,
                    },
                    now,
                ))),
                'k' => Reply::Send(EngineCommand::KillStale),
                'l' => Reply::Send(EngineCommand::Retry),
                _ => Reply::Stay,
            },
            _ => Reply::Stay,
        }
    }

    /// The engine refused what was sent: show why and let the operator correct it.
    pub fn refuse(&mut self, message: String) {
        self.sent = false;
        self.refused = Some(message);
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::tui::event::Code;

    fn now() -> DateTime<Utc> {
        crate::value::parse_timestamp("2026-11-22T03:15:00Z").unwrap_or_default()
    }

    fn type_in(d: &mut Dialog, s: &str) {
        for c in s.chars() {
            d.edit(Key::char(c), now());
        }
    }

    #[test]
    fn destructive_confirm_needs_the_step_id() {
        let mut d = Dialog::new(
            Kind::Confirm {
                step: "wipe".into(),
                destructive: true,
                evidence: Evidence::None,
            },
            now(),
        );
        assert_eq!(d.fields.len(), 2);
        assert!(matches!(d.act(Action::Submit, now()), Reply::Stay));
        assert_eq!(
            d.problem.as_deref(),
            Some("type the step id 'wipe' exactly")
        );
        type_in(&mut d, "wip");
        assert!(d.problem.is_some());
        type_in(&mut d, "e");
        assert_eq!(d.problem, None);
        d.act(Action::NextField, now());
        type_in(&mut d, "done at 03:20");
        match d.act(Action::Submit, now()) {
            Reply::Send(EngineCommand::Confirm {
                note,
                evidence,
                typed,
            }) => {
                assert_eq!(typed.as_deref(), Some("wipe"));
                assert_eq!(note.as_deref(), Some("done at 03:20"));
                assert_eq!(evidence, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(d.sent);
        assert!(
            matches!(d.act(Action::Submit, now()), Reply::Stay),
            "sent once only"
        );
    }

    #[test]
    fn required_evidence() {
        let mut d = Dialog::new(
            Kind::Confirm {
                step: "a".into(),
                destructive: false,
                evidence: Evidence::Required,
            },
            now(),
        );
        assert!(
            d.problem
                .as_deref()
                .is_some_and(|p| p.contains("evidence is required"))
        );
        type_in(&mut d, "  ");
        assert!(d.problem.is_some(), "blank evidence is no evidence");
        type_in(&mut d, "ticket 7");
        assert!(matches!(
            d.act(Action::Submit, now()),
            Reply::Send(EngineCommand::Confirm { evidence: Some(e), .. }) if e == "ticket 7"
        ));
    }

    fn input(ty: ValueType, default: Option<&str>) -> Dialog {
        Dialog::new(
            Kind::Input {
                step: "t".into(),
                var: "t".into(),
                ty,
                prompt: "When?".into(),
                default: default.map(str::to_owned),
                expect: None,
                vars: BTreeMap::new(),
            },
            now(),
        )
    }

    #[test]
    fn timestamps_validate_while_typing() {
        let mut d = input(ValueType::Timestamp, None);
        assert!(
            d.problem
                .as_deref()
                .is_some_and(|p| p.starts_with("enter a value"))
        );
        type_in(&mut d, "2026-11-22T03:15:00.1234567Z");
        assert!(
            d.problem
                .as_deref()
                .is_some_and(|p| p.contains("microsecond")),
            "{:?}",
            d.problem
        );
        d.edit(Key::plain(Code::Backspace), now());
        d.edit(Key::plain(Code::Backspace), now());
        type_in(&mut d, "Z");
        assert_eq!(d.problem, None);
        assert_eq!(
            d.reading.as_deref(),
            Some("reads as 2026-11-22T03:15:00.123456Z")
        );
        match d.act(Action::Submit, now()) {
            Reply::Send(EngineCommand::Input { value }) => {
                assert_eq!(value.expose_secret(), "2026-11-22T03:15:00.123456Z");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn offsets_and_durations() {
        let mut d = input(ValueType::Offset, None);
        type_in(&mut d, "-5");
        assert!(
            d.problem
                .as_deref()
                .is_some_and(|p| p.contains("never negative"))
        );
        let mut d = input(ValueType::Duration, None);
        type_in(&mut d, "45 minutes");
        assert_eq!(d.problem, None);
        assert_eq!(d.reading.as_deref(), Some("reads as 45m"));
        let mut d = input(ValueType::Duration, None);
        type_in(&mut d, "soon");
        assert!(d.problem.is_some());
    }

    #[test]
    fn an_empty_input_accepts_the_default() {
        let mut d = input(ValueType::Duration, Some("48h"));
        assert_eq!(d.problem, None);
        assert!(matches!(
            d.act(Action::Submit, now()),
            Reply::Send(EngineCommand::Confirm {
                note: None,
                evidence: None,
                typed: None
            })
        ));
    }

    #[test]
    fn expectations_are_checked_while_typing() {
        let rb = crate::tui::fixture::runbook();
        let Some(crate::runbook::StepKind::Input { expect, .. }) =
            rb.step("ttl").map(|s| s.kind.clone())
        else {
            panic!("fixture has an input step 'ttl'");
        };
        let mut d = Dialog::new(
            Kind::Input {
                step: "ttl".into(),
                var: "ttl".into(),
                ty: ValueType::Duration,
                prompt: "ttl".into(),
                default: None,
                expect,
                vars: BTreeMap::new(),
            },
            now(),
        );
        type_in(&mut d, "30s");
        assert!(
            d.problem
                .as_deref()
                .is_some_and(|p| p.contains("is not accepted here")),
            "{:?}",
            d.problem
        );
        d.edit(Key::ctrl('u'), now());
        type_in(&mut d, "2h");
        assert_eq!(d.problem, None);
    }

    #[test]
    fn secret_inputs_are_masked_and_sent_as_secrets() {
        let mut d = input(ValueType::Secret, None);
        assert!(d.fields[0].input.is_secret());
        type_in(&mut d, "s3cr3t");
        assert_eq!(d.problem, None);
        assert_eq!(d.reading, None, "a secret is never read back");
        assert!(!format!("{d:?}").contains("s3cr3t"));
        match d.act(Action::Submit, now()) {
            Reply::Send(EngineCommand::Input { value }) => {
                assert_eq!(value.expose_secret(), "s3cr3t")
            }
            other => panic!("{other:?}"),
        }
        assert!(
            d.fields[0].input.is_empty(),
            "the field is emptied on sending"
        );
    }

    #[test]
    fn skip_needs_a_reason_and_overrides_need_the_id() {
        let mut d = Dialog::new(
            Kind::Skip {
                step: "safe".into(),
                typed: true,
                in_doubt: false,
            },
            now(),
        );
        assert!(matches!(d.act(Action::Submit, now()), Reply::Stay));
        type_in(&mut d, "approved in CHG-1");
        assert!(d.problem.as_deref().is_some_and(|p| p.contains("'safe'")));
        d.act(Action::NextField, now());
        type_in(&mut d, "safe");
        match d.act(Action::Submit, now()) {
            Reply::Send(EngineCommand::Skip { reason, typed }) => {
                assert_eq!(reason, "approved in CHG-1");
                assert_eq!(typed.as_deref(), Some("safe"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn in_doubt_choices() {
        let mut d = Dialog::new(
            Kind::InDoubt {
                step: "stop".into(),
                attempt: 1,
                action: "ingestion_stop".into(),
                still_running: None,
            },
            now(),
        );
        assert_eq!(d.key_mode(), KeyMode::Choice);
        assert!(
            !d.choices().iter().any(|(c, _)| *c == 'k'),
            "nothing to kill"
        );
        assert!(matches!(
            d.act(Action::Choose('r'), now()),
            Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::Rerun))
        ));
        let Reply::Next(mut next) = d.act(Action::Choose('d'), now()) else {
            panic!("mark done asks for evidence");
        };
        type_in(&mut next, "pg_restore log shows success");
        assert!(matches!(
            next.act(Action::Submit, now()),
            Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::MarkDone { evidence })) if evidence == "pg_restore log shows success"
        ));
        let Reply::Next(mut skip) = d.act(Action::Choose('s'), now()) else {
            panic!("skip asks for a reason");
        };
        type_in(&mut skip, "done by hand");
        assert!(matches!(
            skip.act(Action::Submit, now()),
            Reply::Send(EngineCommand::ResolveInDoubt(InDoubtChoice::Skip { reason })) if reason == "done by hand"
        ));
        d.act(Action::Down, now());
        d.act(Action::Down, now());
        d.act(Action::Down, now());
        assert!(matches!(
            d.act(Action::Submit, now()),
            Reply::Send(EngineCommand::Retry)
        ));
    }

    #[test]
    fn kill_is_offered_when_processes_still_run() {
        let mut d = Dialog::new(
            Kind::InDoubt {
                step: "stop".into(),
                attempt: 1,
                action: "x".into(),
                still_running: Some(Spawned {
                    pid: 10,
                    pgid: 10,
                    start_time: 1,
                }),
            },
            now(),
        );
        assert!(matches!(
            d.act(Action::Choose('k'), now()),
            Reply::Send(EngineCommand::KillStale)
        ));
    }

    #[test]
    fn quit_and_cancel_ask_first() {
        let mut q = Dialog::new(
            Kind::Quit {
                running: true,
                incident: "i".into(),
            },
            now(),
        );
        assert!(matches!(q.act(Action::Close, now()), Reply::Close));
        assert!(matches!(q.act(Action::Choose('n'), now()), Reply::Close));
        assert!(matches!(q.act(Action::Yes, now()), Reply::Quit));
        let mut c = Dialog::new(Kind::Cancel { step: "s".into() }, now());
        assert!(matches!(
            c.act(Action::Yes, now()),
            Reply::Send(EngineCommand::Cancel)
        ));
    }

    #[test]
    fn refusals_reopen_the_dialog() {
        let mut d = Dialog::new(Kind::Note { step: None }, now());
        type_in(&mut d, "x");
        assert!(matches!(d.act(Action::Submit, now()), Reply::Send(_)));
        d.refuse("nope".into());
        assert!(!d.sent);
        assert_eq!(d.refused.as_deref(), Some("nope"));
        type_in(&mut d, "y");
        assert_eq!(d.refused, None, "typing clears the refusal");
    }
}
