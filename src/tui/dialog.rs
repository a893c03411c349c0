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
    /// The value field was filled in with the drill scenario's answer.
    pub drill_hint: bool,
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
            drill_hint: false,
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

    /// Fills the value field of an input dialog with a drill scenario's answer.
    pub fn fill_drill_hint(&mut self, value: &str, now: DateTime<Utc>) {
        if matches!(self.kind, Kind::Input { .. })
            && let Some(i) = self.fields.iter().position(|f| f.role == Role::Value)
            && !self.fields[i].input.is_secret()
        {
            self.focus = i;
            self.drill_hint = self.paste(value, now);
        }
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
            Kind::Note { step } => EngineCommand::Note {
                text: self.nonempty(Role::Note).unwrap_or_default(),
                step: step.clone(),
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
mod tests;
