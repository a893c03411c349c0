//! Validation of one step: its kind, its fields, its probe, its expressions and the variables it
//! reads and defines, in the order the runbook runs.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::TimeDelta;
use toml::Spanned;

use crate::runbook::catalog::{self, NameKind, Outputs, PROBE_KINDS, ParamKind, ProbeKind};
use crate::runbook::diagnostic::{Diagnostics, Source};
use crate::runbook::expr::{self, Expr, Scope, Ty};
use crate::runbook::load::{Decls, declarable_type, is_env_name, is_step_id, literal_value};
use crate::runbook::model::{
    Action, Arg, Capture, CommandStep, Evidence, Origin, ProbeCall, Progress, Step, StepKind,
    Verify,
};
use crate::runbook::raw::{RawStep, STEP_KINDS, kind_fields};
use crate::runbook::template::{Template, is_var_name, shell_refs};
use crate::value::ValueType;

/// Default time a command may run.
pub const DEFAULT_COMMAND_TIMEOUT: TimeDelta = TimeDelta::minutes(10);
/// Default poll interval of a wait step.
pub const DEFAULT_WAIT_INTERVAL: TimeDelta = TimeDelta::seconds(5);
/// Default time a wait step waits.
pub const DEFAULT_WAIT_TIMEOUT: TimeDelta = TimeDelta::minutes(30);
/// Default poll interval and time limit of a command's verification.
pub const DEFAULT_VERIFY_INTERVAL: TimeDelta = TimeDelta::seconds(2);
pub const DEFAULT_VERIFY_TIMEOUT: TimeDelta = TimeDelta::minutes(2);

type ProbeTable = Spanned<BTreeMap<String, Spanned<toml::Value>>>;

/// Validation state of one file.
pub(crate) struct StepContext<'a> {
    pub(crate) source: &'a Source,
    pub(crate) decls: Decls,
    /// Variables defined so far, with their types.
    pub(crate) defined: BTreeMap<String, Ty>,
    /// The step that first defines each variable.
    pub(crate) later: BTreeMap<String, String>,
    pub(crate) seen_ids: BTreeMap<String, Range<usize>>,
    pub(crate) steps: Vec<Step>,
    pub(crate) diags: Diagnostics,
}

impl StepContext<'_> {
    fn err(&mut self, span: Range<usize>, step: &str, msg: impl Into<String>) {
        let d = self.source.diag(Some(span), Some(step), msg);
        self.diags.push(d);
    }

    fn scope(&self, value: Option<Ty>) -> Scope {
        Scope {
            value,
            vars: self.defined.clone(),
            later: self
                .later
                .iter()
                .filter(|(k, _)| !self.defined.contains_key(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn duration(&mut self, step: &str, field: &str, s: &Spanned<String>) -> Option<TimeDelta> {
        match crate::value::parse_duration(s.get_ref()) {
            Ok(d) if d > TimeDelta::zero() => Some(d),
            Ok(_) => {
                self.err(
                    s.span(),
                    step,
                    format!("'{field}' must be a positive duration"),
                );
                None
            }
            Err(e) => {
                self.err(
                    s.span(),
                    step,
                    format!("'{field}' = \"{}\" is not a duration ({}; write e.g. \"90s\", \"45m\", \"2h\")", s.get_ref(), short_duration_error(&e)),
                );
                None
            }
        }
    }

    fn expr(
        &mut self,
        step: &str,
        field: &str,
        s: &Spanned<String>,
        value: Option<Ty>,
        want: Option<&Ty>,
    ) -> Option<Expr> {
        let scope = self.scope(value);
        match expr::check(s.get_ref(), &scope, want) {
            Ok(e) => Some(e),
            Err(e) => {
                self.err(s.span(), step, format!("in '{field}': {}", e.message));
                None
            }
        }
    }

    /// The type of a referenced variable, or a diagnostic.
    fn var_ref(&mut self, step: &str, span: Range<usize>, name: &str) -> Option<Ty> {
        if let Some(t) = self.defined.get(name) {
            return Some(t.clone());
        }
        let msg = match self.later.get(name) {
            Some(by) => format!("variable '{name}' is used before step '{by}' captures it"),
            None => format!("variable '{name}' is not defined"),
        };
        self.err(span, step, msg);
        None
    }

    /// A display or path template; secrets are refused.
    fn template(&mut self, step: &str, field: &str, s: &Spanned<String>) -> Option<Template> {
        let t = match Template::parse(s.get_ref()) {
            Ok(t) => t,
            Err(e) => {
                self.err(s.span(), step, format!("in '{field}': {e}"));
                return None;
            }
        };
        let mut ok = true;
        for v in t.vars().map(str::to_owned).collect::<Vec<_>>() {
            match self.var_ref(step, s.span(), &v) {
                Some(Ty::Secret) => {
                    self.err(
                        s.span(),
                        step,
                        format!("'{field}' would show secret variable '{v}'"),
                    );
                    ok = false;
                }
                Some(_) => {}
                None => ok = false,
            }
        }
        ok.then_some(t)
    }
}

/// Reads and checks the step id.
pub(crate) fn step_id(
    ctx: &mut StepContext<'_>,
    span: &Range<usize>,
    raw: &RawStep,
) -> Option<String> {
    let Some(id) = &raw.id else {
        let what = raw
            .title
            .as_ref()
            .map(|t| format!(" (titled \"{}\")", t.get_ref()))
            .unwrap_or_default();
        let d = ctx.source.diag(
            Some(span.clone()),
            None,
            format!("a step{what} has no 'id'"),
        );
        ctx.diags.push(d);
        return None;
    };
    let name = id.get_ref().clone();
    if !is_step_id(&name) {
        ctx.err(
            id.span(),
            &name,
            "step ids are lowercase letters, digits and '-', at most 64 characters",
        );
    }
    if let Some(first) = ctx.seen_ids.get(&name) {
        let (line, _) = ctx.source.line_col(first.start);
        ctx.err(
            id.span(),
            &name,
            format!("duplicate step id (first used on line {line})"),
        );
        return None;
    }
    ctx.seen_ids.insert(name.clone(), id.span());
    Some(name)
}

/// Checks a step's `when` and returns its source, for includes.
pub(crate) fn when_source(
    ctx: &mut StepContext<'_>,
    step: &str,
    raw: &RawStep,
) -> Option<(String, Range<usize>)> {
    let w = raw.when.as_ref()?;
    ctx.expr(step, "when", w, None, Some(&Ty::Bool))
        .map(|e| (e.source().to_owned(), w.span()))
}

/// `outer && inner` for a step inside a conditional include.
pub(crate) fn combine_when(
    ctx: &mut StepContext<'_>,
    step: &str,
    outer: &str,
    inner: Option<Expr>,
) -> Option<Expr> {
    let src = match &inner {
        Some(i) => format!("({outer}) && ({})", i.source()),
        None => outer.to_owned(),
    };
    match expr::check(&src, &ctx.scope(None), Some(&Ty::Bool)) {
        Ok(e) => Some(e),
        Err(e) => {
            let d = ctx
                .source
                .diag(None, Some(step), format!("in 'when': {}", e.message));
            ctx.diags.push(d);
            inner
        }
    }
}

/// Validates one non-include step and appends it to the context.
pub(crate) fn validate_step(ctx: &mut StepContext<'_>, span: Range<usize>, raw: RawStep) {
    let Some(id) = step_id(ctx, &span, &raw) else {
        return;
    };
    let Some(kind) = raw.kind.as_ref() else {
        ctx.err(
            span,
            &id,
            format!("missing 'kind' (one of: {})", STEP_KINDS.join(", ")),
        );
        return;
    };
    let kind_name = kind.get_ref().clone();
    let Some(allowed) = kind_fields(&kind_name) else {
        ctx.err(
            kind.span(),
            &id,
            format!(
                "unknown step kind '{kind_name}' (expected one of: {})",
                STEP_KINDS.join(", ")
            ),
        );
        return;
    };
    for (field, fspan) in raw.set_fields() {
        if !allowed.contains(&field) {
            ctx.err(
                fspan,
                &id,
                format!(
                    "field '{field}' does not belong in a '{kind_name}' step (it takes: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
    let title = match &raw.title {
        Some(t) if !t.get_ref().trim().is_empty() => t.get_ref().clone(),
        _ => {
            ctx.err(
                span.clone(),
                &id,
                "missing 'title' (what the step does, in a few words)",
            );
            String::new()
        }
    };
    let budget = raw
        .budget
        .as_ref()
        .and_then(|b| ctx.duration(&id, "budget", b));
    let when = raw
        .when
        .as_ref()
        .and_then(|w| ctx.expr(&id, "when", w, None, Some(&Ty::Bool)));
    let instructions = raw
        .instructions
        .as_ref()
        .and_then(|i| ctx.template(&id, "instructions", i));
    let why = raw.why.as_ref().map(|w| w.get_ref().clone());
    let caveat = raw.caveat.as_ref().map(|c| c.get_ref().clone());
    let implements = raw
        .implements
        .as_ref()
        .map(|i| i.get_ref().clone())
        .unwrap_or_default();

    let step_kind = match kind_name.as_str() {
        "manual" => manual(ctx, &id, &raw),
        "input" => input(ctx, &id, &span, &raw, &title),
        "command" => command(ctx, &id, &span, &raw),
        "check" => check(ctx, &id, &span, &raw),
        "wait" => wait(ctx, &id, &span, &raw),
        "gate" => gate(ctx, &id, &span, &raw),
        _ => None,
    };
    let Some(step_kind) = step_kind else {
        return;
    };
    let (line, _) = ctx.source.line_col(span.start);
    let step = Step {
        id,
        title,
        why,
        instructions,
        caveat,
        budget,
        when,
        implements,
        group: None,
        origin: Origin {
            file: ctx.source.path.display().to_string(),
            line,
        },
        kind: step_kind,
    };
    for (var, ty) in step.defines() {
        ctx.defined.insert(var, Ty::of(ty));
    }
    ctx.steps.push(step);
}

fn manual(ctx: &mut StepContext<'_>, id: &str, raw: &RawStep) -> Option<StepKind> {
    let evidence = match raw.evidence.as_ref() {
        None => Evidence::None,
        Some(e) => match e.get_ref().as_str() {
            "none" => Evidence::None,
            "optional" => Evidence::Optional,
            "required" => Evidence::Required,
            other => {
                ctx.err(
                    e.span(),
                    id,
                    format!("evidence '{other}' is not one of: none, optional, required"),
                );
                Evidence::None
            }
        },
    };
    Some(StepKind::Manual {
        evidence,
        destructive: raw.destructive.as_ref().is_some_and(|d| *d.get_ref()),
    })
}

fn input(
    ctx: &mut StepContext<'_>,
    id: &str,
    span: &Range<usize>,
    raw: &RawStep,
    title: &str,
) -> Option<StepKind> {
    let var = match &raw.var {
        Some(v) if is_var_name(v.get_ref()) => v.get_ref().clone(),
        Some(v) => {
            ctx.err(
                v.span(),
                id,
                format!(
                    "'{}' is not a valid variable name (lowercase letters, digits and _)",
                    v.get_ref()
                ),
            );
            return None;
        }
        None => {
            ctx.err(
                span.clone(),
                id,
                "an 'input' step needs 'var', the variable it sets",
            );
            return None;
        }
    };
    let ty = match &raw.ty {
        Some(t) => match declarable_type(t.get_ref()) {
            Ok(t) => t,
            Err(msg) => {
                ctx.err(t.span(), id, msg);
                return None;
            }
        },
        None => {
            ctx.err(
                span.clone(),
                id,
                format!(
                    "an 'input' step needs 'type' (one of: {})",
                    ValueType::DECLARABLE.map(ValueType::name).join(", ")
                ),
            );
            return None;
        }
    };
    check_redefinition(
        ctx,
        id,
        raw.var.as_ref().map_or(span.clone(), Spanned::span),
        &var,
        ty,
    );
    let default = match &raw.default {
        Some(d) => value_arg(ctx, id, "default", d, ty),
        None => None,
    };
    let expect = match &raw.expect {
        Some(e) if ty == ValueType::Secret => {
            ctx.err(
                e.span(),
                id,
                "a secret input cannot have an 'expect' (it is never evaluated)",
            );
            None
        }
        Some(e) => ctx.expr(id, "expect", e, Some(Ty::of(ty)), Some(&Ty::Bool)),
        None => None,
    };
    Some(StepKind::Input {
        var,
        ty,
        prompt: raw
            .prompt
            .as_ref()
            .map_or_else(|| title.to_owned(), |p| p.get_ref().clone()),
        default,
        expect,
    })
}

fn check_redefinition(
    ctx: &mut StepContext<'_>,
    id: &str,
    span: Range<usize>,
    var: &str,
    ty: ValueType,
) {
    if let Some(have) = ctx.defined.get(var)
        && have.value_type() != Some(ty)
    {
        let have = have.clone();
        ctx.err(
            span,
            id,
            format!(
                "variable '{var}' is already defined as {}; it cannot become {}",
                expr::article(&have),
                expr::article(&ty)
            ),
        );
    }
}

fn command(
    ctx: &mut StepContext<'_>,
    id: &str,
    span: &Range<usize>,
    raw: &RawStep,
) -> Option<StepKind> {
    let chosen: Vec<&str> = [
        raw.run.as_ref().map(|_| "run"),
        raw.argv.as_ref().map(|_| "argv"),
        raw.script.as_ref().map(|_| "script"),
        raw.action.as_ref().map(|_| "action"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if chosen.len() != 1 {
        let msg = if chosen.is_empty() {
            "a 'command' step needs one of 'run' (a named command), 'argv', 'script' or 'action'"
                .to_owned()
        } else {
            format!(
                "a 'command' step takes only one of run, argv, script and action (found: {})",
                chosen.join(", ")
            )
        };
        ctx.err(span.clone(), id, msg);
        return None;
    }
    if let (Some(s), None) = (&raw.shell, &raw.script) {
        ctx.err(s.span(), id, "'shell' is only used with 'script'");
    }
    // Environment bindings first: a script may use them.
    let mut env = Vec::new();
    let mut env_names = Vec::new();
    if let Some(e) = &raw.env {
        for (name, value) in e.get_ref() {
            if !is_env_name(name) {
                ctx.err(
                    value.span(),
                    id,
                    format!("'{name}' is not an environment variable name (A-Z, 0-9, _)"),
                );
                continue;
            }
            if let Some(arg) = env_arg(ctx, id, name, value) {
                env.push((name.clone(), arg));
                env_names.push(name.clone());
            }
        }
    }
    let mut destructive = raw.destructive.as_ref().is_some_and(|d| *d.get_ref());
    let (action, outputs) = if let Some(run) = &raw.run {
        let name = run.get_ref();
        match ctx.decls.commands.get(name).cloned() {
            None => {
                let known: Vec<String> = ctx.decls.commands.keys().cloned().collect();
                ctx.err(run.span(), id, undeclared("command", name, &known));
                return None;
            }
            Some(decl) => {
                destructive |= decl.destructive;
                for needed in &decl.env {
                    if !env_names.contains(needed) {
                        ctx.err(
                            run.span(),
                            id,
                            format!("command '{name}' needs env '{needed}' (declared in [commands.{name}])"),
                        );
                    }
                }
                for given in &env_names {
                    if !decl.env.contains(given) {
                        ctx.err(
                            raw.env.as_ref().map_or(run.span(), Spanned::span),
                            id,
                            format!(
                                "command '{name}' does not take env '{given}' (it takes: {})",
                                if decl.env.is_empty() {
                                    "none".to_owned()
                                } else {
                                    decl.env.join(", ")
                                }
                            ),
                        );
                    }
                }
                (
                    Action::Named(name.clone()),
                    record(catalog::command_outputs()),
                )
            }
        }
    } else if let Some(argv) = &raw.argv {
        if argv.get_ref().is_empty() {
            ctx.err(
                argv.span(),
                id,
                "'argv' is empty; it needs at least the program to run",
            );
            return None;
        }
        let mut args = Vec::new();
        for (i, a) in argv.get_ref().iter().enumerate() {
            if let Some(arg) = argv_arg(ctx, id, i, a) {
                args.push(arg);
            }
        }
        (Action::Argv(args), record(catalog::command_outputs()))
    } else if let Some(script) = &raw.script {
        let shell = raw
            .shell
            .as_ref()
            .map_or_else(|| "/bin/sh".to_owned(), |s| s.get_ref().clone());
        for r in shell_refs(script.get_ref()) {
            let is_runbook_var = ctx.defined.contains_key(&r) || ctx.later.contains_key(&r);
            if is_runbook_var && !env_names.contains(&r) {
                let upper = r.to_ascii_uppercase();
                ctx.err(
                    script.span(),
                    id,
                    format!(
                        "the script uses runbook variable '{r}': values are never spliced into script text; bind it with env = {{ {upper} = \"${{{r}}}\" }} and write \"${upper}\" in the script"
                    ),
                );
            }
        }
        (
            Action::Shell {
                shell,
                script: script.get_ref().clone(),
            },
            record(catalog::command_outputs()),
        )
    } else if let Some(action) = &raw.action {
        let call = probe_call(ctx, id, "action", action, true)?;
        if !env.is_empty() {
            ctx.err(
                raw.env.as_ref().map_or(action.span(), Spanned::span),
                id,
                "'env' applies to programs; a built-in action takes its values as parameters",
            );
        }
        let ty = call.result_ty.clone();
        (Action::Builtin(call), ty)
    } else {
        return None;
    };
    let timeout = raw
        .timeout
        .as_ref()
        .and_then(|t| ctx.duration(id, "timeout", t));
    let capture = captures(ctx, id, raw.capture.as_ref(), &outputs);
    let verify = match &raw.verify {
        Some(v) => {
            let v = v.get_ref();
            let probe = probe_call(ctx, id, "verify.probe", &v.probe, false);
            let expect = probe.as_ref().and_then(|p| {
                ctx.expr(
                    id,
                    "verify.expect",
                    &v.expect,
                    Some(p.result_ty.clone()),
                    Some(&Ty::Bool),
                )
            });
            let interval = v
                .interval
                .as_ref()
                .map_or(Some(DEFAULT_VERIFY_INTERVAL), |i| {
                    ctx.duration(id, "verify.interval", i)
                });
            let vt = v
                .timeout
                .as_ref()
                .map_or(Some(DEFAULT_VERIFY_TIMEOUT), |t| {
                    ctx.duration(id, "verify.timeout", t)
                });
            match (probe, expect, interval, vt) {
                (Some(probe), Some(expect), Some(interval), Some(timeout)) => Some(Verify {
                    probe,
                    expect,
                    interval,
                    timeout,
                }),
                _ => None,
            }
        }
        None => None,
    };
    let success_codes = raw
        .success_codes
        .as_ref()
        .map_or_else(|| vec![0], |c| c.get_ref().clone());
    if let Some(c) = raw
        .success_codes
        .as_ref()
        .filter(|_| success_codes.is_empty())
    {
        ctx.err(
            c.span(),
            id,
            "'success_codes' is empty: no exit status could succeed",
        );
    }
    Some(StepKind::Command(Box::new(CommandStep {
        action,
        env,
        timeout,
        destructive,
        keep_running_on_exit: raw
            .keep_running_on_exit
            .as_ref()
            .is_some_and(|k| *k.get_ref()),
        success_codes,
        capture,
        verify,
    })))
}

fn check(
    ctx: &mut StepContext<'_>,
    id: &str,
    span: &Range<usize>,
    raw: &RawStep,
) -> Option<StepKind> {
    let Some(p) = &raw.probe else {
        ctx.err(
            span.clone(),
            id,
            "a 'check' step needs 'probe' (what to observe)",
        );
        return None;
    };
    let probe = probe_call(ctx, id, "probe", p, false)?;
    let expect = match &raw.expect {
        Some(e) => Some(ctx.expr(
            id,
            "expect",
            e,
            Some(probe.result_ty.clone()),
            Some(&Ty::Bool),
        )?),
        None => None,
    };
    let capture = captures(ctx, id, raw.capture.as_ref(), &probe.result_ty);
    Some(StepKind::Check {
        probe,
        expect,
        capture,
        advisory: raw.advisory.as_ref().is_some_and(|a| *a.get_ref()),
    })
}

fn wait(
    ctx: &mut StepContext<'_>,
    id: &str,
    span: &Range<usize>,
    raw: &RawStep,
) -> Option<StepKind> {
    let Some(p) = &raw.probe else {
        ctx.err(
            span.clone(),
            id,
            "a 'wait' step needs 'probe' (what to poll)",
        );
        return None;
    };
    let probe = probe_call(ctx, id, "probe", p, false)?;
    let Some(e) = &raw.expect else {
        ctx.err(
            span.clone(),
            id,
            "a 'wait' step needs 'expect' (the condition to wait for)",
        );
        return None;
    };
    let expect = ctx.expr(
        id,
        "expect",
        e,
        Some(probe.result_ty.clone()),
        Some(&Ty::Bool),
    )?;
    let capture = captures(ctx, id, raw.capture.as_ref(), &probe.result_ty);
    let interval = match &raw.interval {
        Some(i) => ctx.duration(id, "interval", i)?,
        None => DEFAULT_WAIT_INTERVAL,
    };
    let timeout = match &raw.timeout {
        Some(t) => ctx.duration(id, "timeout", t)?,
        None => DEFAULT_WAIT_TIMEOUT,
    };
    let progress = match &raw.progress {
        Some(p) => {
            let pr = p.get_ref();
            let value = Some(probe.result_ty.clone());
            let current = ctx.expr(id, "progress.current", &pr.current, value.clone(), None);
            let target = ctx.expr(id, "progress.target", &pr.target, value, None);
            match (current, target) {
                (Some(c), Some(t)) => {
                    let measurable = |t: &Ty| {
                        matches!(
                            t,
                            Ty::Timestamp
                                | Ty::Int
                                | Ty::Offset
                                | Ty::Double
                                | Ty::Duration
                                | Ty::Dyn
                        )
                    };
                    let same = c.ty() == t.ty()
                        || matches!(
                            (c.ty(), t.ty()),
                            (Ty::Int | Ty::Offset, Ty::Int | Ty::Offset)
                        )
                        || c.ty() == &Ty::Dyn
                        || t.ty() == &Ty::Dyn;
                    if !measurable(c.ty()) || !same {
                        ctx.err(
                            p.span(),
                            id,
                            format!(
                                "progress needs two comparable quantities (timestamps, numbers or durations); got {} and {}",
                                expr::article(c.ty()),
                                expr::article(t.ty())
                            ),
                        );
                        None
                    } else {
                        Some(Progress {
                            current: c,
                            target: t,
                        })
                    }
                }
                _ => None,
            }
        }
        None => None,
    };
    Some(StepKind::Wait {
        probe,
        expect,
        capture,
        interval,
        timeout,
        progress,
    })
}

fn gate(
    ctx: &mut StepContext<'_>,
    id: &str,
    span: &Range<usize>,
    raw: &RawStep,
) -> Option<StepKind> {
    let probe = match &raw.probe {
        Some(p) => Some(probe_call(ctx, id, "probe", p, false)?),
        None => None,
    };
    let Some(e) = &raw.expect else {
        ctx.err(
            span.clone(),
            id,
            "a 'gate' step needs 'expect' (the condition that opens the gate)",
        );
        return None;
    };
    let expect = ctx.expr(
        id,
        "expect",
        e,
        probe.as_ref().map(|p| p.result_ty.clone()),
        Some(&Ty::Bool),
    )?;
    let interval = match &raw.interval {
        Some(i) => Some(ctx.duration(id, "interval", i)?),
        None => None,
    };
    Some(StepKind::Gate {
        probe,
        expect,
        interval,
    })
}

fn short_duration_error(e: &str) -> String {
    e.split_once(", supported units")
        .map_or(e, |(head, _)| head)
        .to_owned()
}

fn record(fields: Vec<(&'static str, Ty)>) -> Ty {
    Ty::record(fields.into_iter().map(|(k, t)| (k.to_owned(), t)))
}

fn undeclared(what: &str, name: &str, known: &[String]) -> String {
    let section = match what {
        "query" => "queries",
        "command" => "commands",
        _ => "endpoints",
    };
    if known.is_empty() {
        format!("{what} '{name}' is not declared (add [{section}.{name}] to the runbook)")
    } else {
        format!(
            "{what} '{name}' is not declared (add [{section}.{name}]; declared: {})",
            known.join(", ")
        )
    }
}

/// Captures `{ var = "expression over value" }`.
fn captures(
    ctx: &mut StepContext<'_>,
    id: &str,
    cap: Option<&Spanned<BTreeMap<String, Spanned<String>>>>,
    value: &Ty,
) -> Vec<Capture> {
    let mut out = Vec::new();
    for (var, src) in cap.map(Spanned::get_ref).into_iter().flatten() {
        if !is_var_name(var) {
            ctx.err(
                src.span(),
                id,
                format!("'{var}' is not a valid variable name (lowercase letters, digits and _)"),
            );
            continue;
        }
        let Some(expr) = ctx.expr(
            id,
            &format!("capture.{var}"),
            src,
            Some(value.clone()),
            None,
        ) else {
            continue;
        };
        let Some(ty) = expr.ty().value_type() else {
            ctx.err(
                src.span(),
                id,
                format!(
                    "cannot capture '{var}': the type of '{}' is only known at run time; convert it, e.g. string(…) or int(…)",
                    expr.source()
                ),
            );
            continue;
        };
        check_redefinition(ctx, id, src.span(), var, ty);
        out.push(Capture {
            var: var.clone(),
            expr,
            ty,
        });
    }
    out
}

/// A typed value: a literal, or one whole `${var}` of the same type.
fn value_arg(
    ctx: &mut StepContext<'_>,
    id: &str,
    field: &str,
    v: &Spanned<toml::Value>,
    ty: ValueType,
) -> Option<Arg> {
    if let toml::Value::String(s) = v.get_ref() {
        let t = match Template::parse(s) {
            Ok(t) => t,
            Err(e) => {
                ctx.err(v.span(), id, format!("in '{field}': {e}"));
                return None;
            }
        };
        if let Some(name) = t.whole_var() {
            let have = ctx.var_ref(id, v.span(), name)?;
            if have == Ty::Secret {
                ctx.err(
                    v.span(),
                    id,
                    format!("'{field}' cannot take secret variable '{name}'"),
                );
                return None;
            }
            let compatible = have.value_type() == Some(ty)
                || (ty == ValueType::Text && have.value_type().is_some())
                || matches!(
                    (have.value_type(), ty),
                    (Some(ValueType::Integer), ValueType::Offset)
                );
            if !compatible {
                ctx.err(
                    v.span(),
                    id,
                    format!(
                        "'{field}' needs {}, but variable '{name}' is {}",
                        expr::article(&ty),
                        expr::article(&have)
                    ),
                );
                return None;
            }
            return Some(Arg::Var(name.to_owned()));
        }
        if let Some(first) = t.vars().next() {
            ctx.err(
                v.span(),
                id,
                format!("'{field}' splices variable '{first}' into text; {} parameter takes a literal or one whole \"${{{first}}}\"", expr::article(&ty)),
            );
            return None;
        }
    }
    match literal_value(ty, v.get_ref()) {
        Ok(val) => Some(Arg::Literal(val)),
        Err(msg) => {
            ctx.err(v.span(), id, format!("'{field}': {msg}"));
            None
        }
    }
}

fn env_arg(
    ctx: &mut StepContext<'_>,
    id: &str,
    name: &str,
    value: &Spanned<String>,
) -> Option<Arg> {
    let t = match Template::parse(value.get_ref()) {
        Ok(t) => t,
        Err(e) => {
            ctx.err(value.span(), id, format!("in env '{name}': {e}"));
            return None;
        }
    };
    if let Some(v) = t.whole_var() {
        ctx.var_ref(id, value.span(), v)?;
        return Some(Arg::Var(v.to_owned()));
    }
    match t.as_literal() {
        Some(l) => Some(Arg::Literal(crate::value::Value::Text(l))),
        None => {
            for v in t.vars().map(str::to_owned).collect::<Vec<_>>() {
                if ctx.var_ref(id, value.span(), &v)? == Ty::Secret {
                    ctx.err(
                        value.span(),
                        id,
                        format!("env '{name}' splices secret '{v}' into text; bind the secret alone: {name} = \"${{{v}}}\""),
                    );
                    return None;
                }
            }
            Some(Arg::Text(t))
        }
    }
}

fn argv_arg(ctx: &mut StepContext<'_>, id: &str, index: usize, a: &Spanned<String>) -> Option<Arg> {
    let t = match Template::parse(a.get_ref()) {
        Ok(t) => t,
        Err(e) => {
            ctx.err(a.span(), id, format!("in argv[{index}]: {e}"));
            return None;
        }
    };
    if let Some(v) = t.whole_var() {
        if ctx.var_ref(id, a.span(), v)? == Ty::Secret {
            ctx.err(
                a.span(),
                id,
                format!("secret '{v}' cannot be passed on the command line (anyone can read it in the process list); pass it through env"),
            );
            return None;
        }
        return Some(Arg::Var(v.to_owned()));
    }
    if let Some(v) = t.vars().next() {
        ctx.err(
            a.span(),
            id,
            format!(
                "argv[{index}] \"{}\" splices variable '{v}' into argument text; pass it as a whole element (\"${{{v}}}\") or through env",
                a.get_ref()
            ),
        );
        return None;
    }
    t.as_literal()
        .map(|l| Arg::Literal(crate::value::Value::Text(l)))
}

/// Validates a probe (or built-in action) table against the catalog.
fn probe_call(
    ctx: &mut StepContext<'_>,
    id: &str,
    field: &str,
    table: &ProbeTable,
    side_effects: bool,
) -> Option<ProbeCall> {
    let entries = table.get_ref();
    let Some(kind_value) = entries.get("kind") else {
        ctx.err(
            table.span(),
            id,
            format!(
                "'{field}' needs 'kind' (one of: {})",
                kind_names(side_effects).join(", ")
            ),
        );
        return None;
    };
    let Some(kind_name) = kind_value.get_ref().as_str() else {
        ctx.err(
            kind_value.span(),
            id,
            format!("'{field}.kind' must be a string"),
        );
        return None;
    };
    let Some(kind) = ProbeKind::find(kind_name) else {
        ctx.err(
            kind_value.span(),
            id,
            format!(
                "unknown {} '{kind_name}' (expected one of: {})",
                if side_effects { "action" } else { "probe kind" },
                kind_names(side_effects).join(", ")
            ),
        );
        return None;
    };
    if kind.side_effects && !side_effects {
        ctx.err(
            kind_value.span(),
            id,
            format!("'{kind_name}' changes the participant, so it cannot be a probe; make it the 'action' of a command step"),
        );
        return None;
    }
    if !kind.side_effects && side_effects {
        ctx.err(
            kind_value.span(),
            id,
            format!(
                "'{kind_name}' only observes; use it as the probe of a check step (actions: {})",
                kind_names(true).join(", ")
            ),
        );
        return None;
    }
    let mut args = BTreeMap::new();
    let mut ok = true;
    for (name, value) in entries.iter().filter(|(k, _)| k.as_str() != "kind") {
        let Some(spec) = kind.param(name) else {
            let takes: Vec<&str> = kind.params.iter().map(|p| p.name).collect();
            ctx.err(
                value.span(),
                id,
                format!(
                    "{kind_name} has no parameter '{name}' (it takes: {})",
                    if takes.is_empty() {
                        "none".to_owned()
                    } else {
                        takes.join(", ")
                    }
                ),
            );
            ok = false;
            continue;
        };
        match probe_arg(ctx, id, kind_name, name, spec.kind, value) {
            Some(a) => {
                args.insert(name.clone(), a);
            }
            None => ok = false,
        }
    }
    for spec in kind.params.iter().filter(|p| p.required) {
        if !entries.contains_key(spec.name) {
            ctx.err(
                table.span(),
                id,
                format!(
                    "{kind_name} needs parameter '{}' ({})",
                    spec.name, spec.help
                ),
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let result_ty = match kind.outputs {
        Outputs::Fixed => record(kind.fixed_outputs()),
        Outputs::Command => record(catalog::command_outputs()),
        Outputs::Http => record(catalog::http_outputs()),
        Outputs::Query => {
            let Some(Arg::Literal(crate::value::Value::Text(q))) = args.get("query") else {
                return None;
            };
            let decl = ctx.decls.queries.get(q)?.clone();
            let binds = match args.get("params") {
                Some(Arg::List(l)) => l.clone(),
                _ => Vec::new(),
            };
            if binds.len() != decl.params.len() {
                ctx.err(
                    table.span(),
                    id,
                    format!(
                        "query '{q}' takes {} parameter(s) ({}), but {} are given",
                        decl.params.len(),
                        decl.params
                            .iter()
                            .map(|t| t.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                        binds.len()
                    ),
                );
                return None;
            }
            for (i, (bind, want)) in binds.iter().zip(&decl.params).enumerate() {
                let have = match bind {
                    Arg::Var(v) => ctx.defined.get(v).and_then(Ty::value_type),
                    Arg::Literal(l) => l.value_type(),
                    _ => None,
                };
                let fits = have == Some(*want)
                    || matches!((have, *want), (Some(ValueType::Integer), ValueType::Offset))
                    || matches!((bind, have), (Arg::Literal(_), Some(ValueType::Text)));
                if !fits {
                    ctx.err(
                        table.span(),
                        id,
                        format!(
                            "parameter ${} of query '{q}' is {}, but {} is {}",
                            i + 1,
                            expr::article(want),
                            bind.display(),
                            have.map_or_else(|| "null".to_owned(), |h| expr::article(&h))
                        ),
                    );
                    return None;
                }
            }
            let row = Ty::record(decl.returns.iter().map(|(k, t)| (k.clone(), Ty::of(*t))));
            let mut fields: Vec<(String, Ty)> = decl
                .returns
                .iter()
                .map(|(k, t)| (k.clone(), Ty::of(*t)))
                .collect();
            fields.push(("row_count".into(), Ty::Int));
            fields.push(("rows".into(), Ty::List(Box::new(row))));
            Ty::record(fields)
        }
    };
    Some(ProbeCall {
        kind,
        args,
        result_ty,
    })
}

fn kind_names(side_effects: bool) -> Vec<&'static str> {
    PROBE_KINDS
        .iter()
        .filter(|k| k.side_effects == side_effects)
        .map(|k| k.name)
        .collect()
}

fn probe_arg(
    ctx: &mut StepContext<'_>,
    id: &str,
    kind: &str,
    name: &str,
    pkind: ParamKind,
    value: &Spanned<toml::Value>,
) -> Option<Arg> {
    let field = format!("{kind}.{name}");
    match pkind {
        ParamKind::Path => {
            let Some(s) = value.get_ref().as_str() else {
                ctx.err(
                    value.span(),
                    id,
                    format!("'{field}' must be a string (a path)"),
                );
                return None;
            };
            let spanned = Spanned::new(value.span(), s.to_owned());
            let t = ctx.template(id, &field, &spanned)?;
            Some(match t.whole_var() {
                Some(v) => Arg::Var(v.to_owned()),
                None => match t.as_literal() {
                    Some(l) => Arg::Literal(crate::value::Value::Text(l)),
                    None => Arg::Text(t),
                },
            })
        }
        ParamKind::Value(ty) => value_arg(ctx, id, &field, value, ty),
        ParamKind::Name(nk) => {
            let Some(s) = value.get_ref().as_str() else {
                ctx.err(
                    value.span(),
                    id,
                    format!("'{field}' must be the name of a {}", nk.noun()),
                );
                return None;
            };
            let (exists, known): (bool, Vec<String>) = match nk {
                NameKind::Query => (
                    ctx.decls.queries.contains_key(s),
                    ctx.decls.queries.keys().cloned().collect(),
                ),
                NameKind::Command => (
                    ctx.decls.commands.contains_key(s),
                    ctx.decls.commands.keys().cloned().collect(),
                ),
                NameKind::Endpoint => (
                    ctx.decls.endpoints.contains_key(s),
                    ctx.decls.endpoints.keys().cloned().collect(),
                ),
            };
            if !exists {
                ctx.err(value.span(), id, undeclared(nk.noun(), s, &known));
                return None;
            }
            if nk == NameKind::Command && ctx.decls.commands.get(s).is_some_and(|c| !c.read_only) {
                ctx.err(
                    value.span(),
                    id,
                    format!(
                        "command '{s}' is not declared read_only, so it cannot be used as a probe"
                    ),
                );
                return None;
            }
            Some(Arg::Literal(crate::value::Value::Text(s.to_owned())))
        }
        ParamKind::Choice(choices) => match value.get_ref().as_str() {
            Some(s) if choices.contains(&s) => {
                Some(Arg::Literal(crate::value::Value::Text(s.to_owned())))
            }
            _ => {
                ctx.err(
                    value.span(),
                    id,
                    format!("'{field}' must be one of: {}", choices.join(", ")),
                );
                None
            }
        },
        ParamKind::Bool => match value.get_ref().as_bool() {
            Some(b) => Some(Arg::Literal(crate::value::Value::Bool(b))),
            None => {
                ctx.err(value.span(), id, format!("'{field}' must be true or false"));
                None
            }
        },
        ParamKind::BindList => {
            let Some(items) = value.get_ref().as_array() else {
                ctx.err(
                    value.span(),
                    id,
                    format!("'{field}' must be a list, e.g. [\"${{t_recovery}}\"]"),
                );
                return None;
            };
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    toml::Value::String(s) => {
                        let t = match Template::parse(s) {
                            Ok(t) => t,
                            Err(e) => {
                                ctx.err(value.span(), id, format!("in '{field}'[{i}]: {e}"));
                                return None;
                            }
                        };
                        if let Some(v) = t.whole_var() {
                            if ctx.var_ref(id, value.span(), v)? == Ty::Secret {
                                ctx.err(
                                    value.span(),
                                    id,
                                    format!("'{field}' cannot bind secret '{v}'"),
                                );
                                return None;
                            }
                            out.push(Arg::Var(v.to_owned()));
                        } else if let Some(v) = t.vars().next() {
                            ctx.err(
                                value.span(),
                                id,
                                format!("'{field}'[{i}] splices '{v}' into text; bind parameters take one whole \"${{{v}}}\""),
                            );
                            return None;
                        } else {
                            out.push(Arg::Literal(crate::value::Value::Text(s.clone())));
                        }
                    }
                    toml::Value::Integer(n) => {
                        out.push(Arg::Literal(crate::value::Value::Integer(*n)))
                    }
                    toml::Value::Boolean(b) => {
                        out.push(Arg::Literal(crate::value::Value::Bool(*b)))
                    }
                    other => {
                        ctx.err(
                            value.span(),
                            id,
                            format!("'{field}'[{i}] is a {}; use a string, an integer, a bool or \"${{var}}\"", other.type_str()),
                        );
                        return None;
                    }
                }
            }
            Some(Arg::List(out))
        }
    }
}
