//! The validated runbook: every reference resolved, every expression type-checked, includes
//! flattened into one ordered list of steps.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::TimeDelta;

use crate::runbook::catalog::ProbeKind;
use crate::runbook::expr::{Expr, Ty};
use crate::runbook::template::Template;
use crate::value::{Value, ValueType};

/// A runbook ready to run.
#[derive(Debug, Clone)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    /// The document this runbook implements.
    pub source: String,
    pub source_url: Option<String>,
    pub summary: Option<String>,
    /// The time the whole procedure should take; a fragment has none.
    pub recovery_budget: Option<TimeDelta>,
    /// A fragment is meant to be included, not run on its own.
    pub fragment: bool,
    /// Variables a fragment expects its includer to have defined.
    pub needs: BTreeMap<String, ValueType>,
    pub params: BTreeMap<String, ParamDecl>,
    pub queries: BTreeMap<String, QueryDecl>,
    pub commands: BTreeMap<String, CommandDecl>,
    pub endpoints: BTreeMap<String, EndpointDecl>,
    pub steps: Vec<Step>,
    /// Every file the runbook was built from (itself first, then includes), with its text.
    pub files: Vec<SourceFile>,
    /// SHA-256 over the files' paths (as written relative to the main file) and texts.
    pub sha256: String,
}

/// One source file of a runbook.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as given (main file) or relative to the main file's directory (includes).
    pub name: String,
    pub path: PathBuf,
    pub text: String,
}

/// A site parameter: a value the profile supplies (or its default).
#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub ty: ValueType,
    pub description: String,
    pub default: Option<Value>,
}

/// A query the profile must provide.
#[derive(Debug, Clone)]
pub struct QueryDecl {
    pub description: String,
    /// Types of `$1`, `$2`, …
    pub params: Vec<ValueType>,
    /// Columns of the result and their types.
    pub returns: BTreeMap<String, ValueType>,
}

/// A command the profile must provide.
#[derive(Debug, Clone)]
pub struct CommandDecl {
    pub description: String,
    /// Environment variables the command receives from the step that runs it.
    pub env: Vec<String>,
    /// Safe to run as a probe and in dry-run mode.
    pub read_only: bool,
    /// Needs a typed confirmation before it runs.
    pub destructive: bool,
}

/// An HTTP endpoint the profile must provide.
#[derive(Debug, Clone)]
pub struct EndpointDecl {
    pub description: String,
}

/// One step.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within the runbook; included steps are `include-id.inner-id`.
    pub id: String,
    pub title: String,
    pub why: Option<String>,
    pub instructions: Option<Template>,
    pub caveat: Option<String>,
    pub budget: Option<TimeDelta>,
    /// Run only when this holds; otherwise the step is recorded as not applicable.
    pub when: Option<Expr>,
    /// Which numbered steps of the source document this step implements (`"restore-validator:3"`).
    pub implements: Vec<String>,
    /// The title of the include this step came from, if any.
    pub group: Option<String>,
    pub origin: Origin,
    pub kind: StepKind,
}

/// Where a step was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    /// The operator does something by hand and confirms it.
    Manual {
        evidence: Evidence,
        destructive: bool,
    },
    /// The operator enters a typed value.
    Input {
        var: String,
        ty: ValueType,
        prompt: String,
        default: Option<Arg>,
        expect: Option<Expr>,
    },
    /// canton-dr runs something that changes the world.
    Command(Box<CommandStep>),
    /// canton-dr observes once and judges.
    Check {
        probe: ProbeCall,
        expect: Option<Expr>,
        capture: Vec<Capture>,
        advisory: bool,
    },
    /// canton-dr observes until the expectation holds.
    Wait {
        probe: ProbeCall,
        expect: Expr,
        capture: Vec<Capture>,
        interval: TimeDelta,
        timeout: TimeDelta,
        progress: Option<Progress>,
    },
    /// The run stops here until the condition holds; passing it otherwise is an override.
    Gate {
        probe: Option<ProbeCall>,
        expect: Expr,
        interval: Option<TimeDelta>,
    },
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Manual { .. } => "manual",
            StepKind::Input { .. } => "input",
            StepKind::Command(_) => "command",
            StepKind::Check { .. } => "check",
            StepKind::Wait { .. } => "wait",
            StepKind::Gate { .. } => "gate",
        }
    }
}

/// Evidence the operator attaches when confirming a manual step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    None,
    Optional,
    Required,
}

/// A command step.
#[derive(Debug, Clone)]
pub struct CommandStep {
    pub action: Action,
    pub env: Vec<(String, Arg)>,
    pub timeout: Option<TimeDelta>,
    pub destructive: bool,
    /// Keep the command running if canton-dr itself dies (some restores are safer finished).
    pub keep_running_on_exit: bool,
    /// Expected exit codes (default: 0).
    pub success_codes: Vec<i32>,
    pub capture: Vec<Capture>,
    pub verify: Option<Verify>,
}

/// What a command step runs.
#[derive(Debug, Clone)]
pub enum Action {
    /// A command the profile provides.
    Named(String),
    /// A program with arguments; each argument a literal or a whole variable.
    Argv(Vec<Arg>),
    /// A script for a shell; values only through `env`.
    Shell { shell: String, script: String },
    /// A built-in action with side effects (`canton.upload_dars`).
    Builtin(ProbeCall),
}

/// A check run after a command to confirm its effect, polled until it holds or times out.
#[derive(Debug, Clone)]
pub struct Verify {
    pub probe: ProbeCall,
    pub expect: Expr,
    pub interval: TimeDelta,
    pub timeout: TimeDelta,
}

/// A value passed to a probe or a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Literal(Value),
    Var(String),
    /// Text with variables spliced in (file paths only).
    Text(Template),
    List(Vec<Arg>),
}

impl Arg {
    /// The variables this argument reads.
    pub fn vars(&self) -> Vec<String> {
        match self {
            Arg::Literal(_) => Vec::new(),
            Arg::Var(v) => vec![v.clone()],
            Arg::Text(t) => t.vars().map(str::to_owned).collect(),
            Arg::List(l) => l.iter().flat_map(Arg::vars).collect(),
        }
    }

    /// How the argument is written, for display before values are known.
    pub fn display(&self) -> String {
        match self {
            Arg::Literal(v) => v.to_string(),
            Arg::Var(v) => format!("${{{v}}}"),
            Arg::Text(t) => t.to_string(),
            Arg::List(l) => format!(
                "[{}]",
                l.iter().map(Arg::display).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

/// A probe with its arguments.
#[derive(Debug, Clone)]
pub struct ProbeCall {
    pub kind: &'static ProbeKind,
    pub args: BTreeMap<String, Arg>,
    /// The static type of the result (`value` in expressions).
    pub result_ty: Ty,
}

impl ProbeCall {
    pub fn arg(&self, name: &str) -> Option<&Arg> {
        self.args.get(name)
    }

    /// A one-line description: `canton.offset_at(synchronizer=${sync}, at=${t})`.
    pub fn display(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|(k, v)| format!("{k}={}", v.display()))
            .collect();
        format!("{}({})", self.kind.name, args.join(", "))
    }

    /// Every variable the call reads.
    pub fn vars(&self) -> Vec<String> {
        self.args.values().flat_map(Arg::vars).collect()
    }
}

/// A variable set from a probe result.
#[derive(Debug, Clone)]
pub struct Capture {
    pub var: String,
    pub expr: Expr,
    pub ty: ValueType,
}

/// How a wait step shows its progress: a current value moving toward a target.
#[derive(Debug, Clone)]
pub struct Progress {
    pub current: Expr,
    pub target: Expr,
}

impl Runbook {
    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// The position of the step with this id.
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }

    /// The variables defined by steps and params, with their types, in definition order.
    pub fn variables(&self) -> Vec<(String, ValueType, Option<String>)> {
        let mut out: Vec<(String, ValueType, Option<String>)> = self
            .params
            .iter()
            .map(|(k, p)| (k.clone(), p.ty, None))
            .collect();
        for (k, t) in &self.needs {
            out.push((k.clone(), *t, None));
        }
        for step in &self.steps {
            for (var, ty) in step.defines() {
                out.push((var, ty, Some(step.id.clone())));
            }
        }
        out
    }
}

impl Step {
    /// Variables this step defines.
    pub fn defines(&self) -> Vec<(String, ValueType)> {
        match &self.kind {
            StepKind::Input { var, ty, .. } => vec![(var.clone(), *ty)],
            StepKind::Command(c) => c.capture.iter().map(|c| (c.var.clone(), c.ty)).collect(),
            StepKind::Check { capture, .. } | StepKind::Wait { capture, .. } => {
                capture.iter().map(|c| (c.var.clone(), c.ty)).collect()
            }
            StepKind::Manual { .. } | StepKind::Gate { .. } => Vec::new(),
        }
    }

    /// Does this step change anything outside canton-dr?
    pub fn has_side_effects(&self) -> bool {
        matches!(&self.kind, StepKind::Command(_))
    }
}
