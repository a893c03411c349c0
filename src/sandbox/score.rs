//! The drill's score, read from the finished incident's journal: time per step and in total
//! against the runbook's budgets, retries, skips and deviations from the procedure; and the
//! report the judge's verdict is journaled with.

use chrono::TimeDelta;
use serde_json::{Value, json};

use super::judge::Check;
use crate::engine::record::InDoubtChoice;
use crate::engine::state::{IncidentState, StepStatus};
use crate::value::format_duration;

fn seconds(ms: u64) -> f64 {
    (ms as f64 / 100.0).round() / 10.0
}

fn budget_secs(d: Option<TimeDelta>) -> Option<i64> {
    d.map(|d| d.num_seconds())
}

/// The score object of the report.
pub fn score(state: &IncidentState) -> Value {
    let total_ms = (state.last_at - state.opened_at).num_milliseconds().max(0) as u64;
    let budget = budget_secs(state.runbook.recovery_budget);
    let mut steps = Vec::new();
    let mut retries = 0u32;
    let mut skips = 0u32;
    let mut deviations = Vec::new();
    for (step, st) in state.runbook.steps.iter().zip(&state.steps) {
        let secs = seconds(st.duration_ms);
        let step_budget = budget_secs(step.budget);
        steps.push(json!({
            "id": step.id,
            "seconds": secs,
            "budget_seconds": step_budget,
            "attempts": st.attempts,
        }));
        retries += st.attempts.saturating_sub(1);
        match &st.status {
            StepStatus::Skipped {
                reason,
                overridden: false,
            } => {
                skips += 1;
                deviations.push(format!("skipped step {}: {reason}", step.id));
            }
            StepStatus::Skipped {
                reason,
                overridden: true,
            } => {
                skips += 1;
                deviations.push(format!("overrode step {}: {reason}", step.id));
            }
            _ => {}
        }
        if st.attempts > 1 {
            deviations.push(if st.failures.is_empty() {
                format!(
                    "step {} ran {} times (interrupted, then run again)",
                    step.id, st.attempts
                )
            } else {
                format!(
                    "step {} needed {} attempts ({})",
                    step.id,
                    st.attempts,
                    st.failures.join("; ")
                )
            });
        }
        if let Some(b) = step_budget
            && secs > b as f64
        {
            deviations.push(format!(
                "step {} took {secs:.1}s, over its budget of {b}s",
                step.id
            ));
        }
        for choice in &st.in_doubt_resolutions {
            let what = match choice {
                InDoubtChoice::Rerun => "run again".to_string(),
                InDoubtChoice::MarkDone { evidence } => format!("marked done ({evidence})"),
                InDoubtChoice::Skip { reason } => format!("skipped ({reason})"),
            };
            deviations.push(format!(
                "step {} was interrupted by a crash and {what}",
                step.id
            ));
        }
    }
    let within = budget.is_none_or(|b| seconds(total_ms) <= b as f64);
    if let (false, Some(b)) = (within, state.runbook.recovery_budget) {
        deviations.push(format!(
            "the drill took {}, over the runbook's budget of {}",
            format_duration(TimeDelta::milliseconds(total_ms as i64)),
            format_duration(b)
        ));
    }
    if state.sessions.len() > 1 {
        deviations.push(format!(
            "the drill was interrupted and resumed ({} sessions)",
            state.sessions.len()
        ));
    }
    for r in &state.recoveries {
        deviations.push(format!(
            "the journal was repaired ({}, {} bytes cut)",
            r.kind, r.truncated_bytes
        ));
    }
    json!({
        "total_seconds": seconds(total_ms),
        "budget_seconds": budget,
        "within_budget": within,
        "steps": steps,
        "retries": retries,
        "skips": skips,
        "deviations": deviations,
    })
}

/// The verdict (PASS only when every check passed) and the report journaled with it.
pub fn report(checks: &[Check], score: Value) -> (String, Value) {
    let verdict = if !checks.is_empty() && checks.iter().all(|c| c.passed) {
        "PASS"
    } else {
        "FAIL"
    };
    (
        verdict.to_string(),
        json!({
            "verdict": verdict,
            "checks": checks,
            "score": score,
        }),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_needs_every_check_and_the_shape_is_fixed() {
        let ok = Check {
            name: "no-gap".into(),
            passed: true,
            evidence: "fine".into(),
        };
        let bad = Check {
            passed: false,
            ..ok.clone()
        };
        let (v, r) = report(std::slice::from_ref(&ok), json!({"total_seconds": 1.0}));
        assert_eq!(v, "PASS");
        assert_eq!(r["verdict"], "PASS");
        assert_eq!(r["checks"][0]["name"], "no-gap");
        assert_eq!(r["checks"][0]["passed"], true);
        assert_eq!(r["checks"][0]["evidence"], "fine");
        assert_eq!(r["score"]["total_seconds"], 1.0);
        assert_eq!(report(&[ok, bad], Value::Null).0, "FAIL");
        assert_eq!(report(&[], Value::Null).0, "FAIL", "no checks, no pass");
    }

    #[test]
    fn seconds_are_rounded_to_a_tenth() {
        assert_eq!(seconds(1234), 1.2);
        assert_eq!(seconds(1250), 1.3);
        assert_eq!(seconds(0), 0.0);
    }
}
