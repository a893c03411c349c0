//! A step's action as text: what it runs, with the values known so far (secrets stay hidden).

use std::collections::BTreeMap;

use crate::runbook::model::{Action as CmdAction, Arg, ProbeCall, Step, StepKind};
use crate::value::{Value, format_duration};

/// An argument with the values known so far (secrets stay hidden).
pub fn arg_text(arg: &Arg, vars: &BTreeMap<String, Value>) -> String {
    match arg {
        Arg::Literal(v) => v.to_string(),
        Arg::Var(name) => match vars.get(name) {
            Some(Value::Null) | None => format!("${{{name}}}"),
            Some(v) => v.to_string(),
        },
        Arg::Text(tpl) => tpl.render_partial(vars),
        Arg::List(l) => format!(
            "[{}]",
            l.iter()
                .map(|a| arg_text(a, vars))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn call_text(call: &ProbeCall, vars: &BTreeMap<String, Value>) -> String {
    let args: Vec<String> = call
        .args
        .iter()
        .map(|(k, v)| format!("{k}={}", arg_text(v, vars)))
        .collect();
    format!("{}({})", call.kind.name, args.join(", "))
}

/// What a step runs, as declared, with the values known so far.
pub fn declared_action(step: &Step, vars: &BTreeMap<String, Value>) -> Vec<String> {
    match &step.kind {
        StepKind::Manual { .. } => vec!["nothing: you do this by hand".into()],
        StepKind::Input { var, ty, .. } => vec![format!("nothing: you enter {var} ({ty})")],
        StepKind::Command(c) => {
            let mut v = match &c.action {
                CmdAction::Named(n) => vec![format!("the profile's command '{n}'")],
                CmdAction::Argv(args) => vec![
                    args.iter()
                        .map(|a| arg_text(a, vars))
                        .collect::<Vec<_>>()
                        .join(" "),
                ],
                CmdAction::Shell { shell, script } => {
                    let mut v = vec![format!("a {shell} script:")];
                    v.extend(script.lines().map(|l| format!("  {l}")));
                    v
                }
                CmdAction::Builtin(call) => vec![call_text(call, vars)],
            };
            for (k, a) in &c.env {
                v.push(format!("env {k}={}", arg_text(a, vars)));
            }
            if let Some(to) = c.timeout {
                v.push(format!("timeout {}", format_duration(to)));
            }
            if let Some(verify) = &c.verify {
                v.push(format!(
                    "then verifies {} until {}",
                    call_text(&verify.probe, vars),
                    verify.expect.source()
                ));
            }
            v
        }
        StepKind::Check { probe, .. } => vec![call_text(probe, vars)],
        StepKind::Wait {
            probe,
            interval,
            timeout,
            ..
        } => vec![
            call_text(probe, vars),
            format!(
                "every {} for at most {}",
                format_duration(*interval),
                format_duration(*timeout)
            ),
        ],
        StepKind::Gate { probe, .. } => match probe {
            Some(p) => vec![call_text(p, vars)],
            None => vec!["nothing: evaluates the condition".into()],
        },
    }
}
