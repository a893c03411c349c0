//! The drill judge's report, read for display. The JSON transcript keeps the report exactly as
//! recorded; the Markdown and HTML transcripts show it through this view, or as raw JSON when
//! it does not have the expected shape.

use serde::Deserialize;

/// The judge's report: `{ verdict, checks: [...], score: {...} }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrillReport {
    /// `PASS` or `FAIL`.
    #[serde(default)]
    pub verdict: Option<String>,
    /// The invariants the judge checked.
    #[serde(default)]
    pub checks: Vec<DrillCheck>,
    /// Timing and conduct of the drill.
    #[serde(default)]
    pub score: Option<DrillScore>,
}

/// One invariant the judge checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrillCheck {
    /// What was checked.
    pub name: String,
    /// Whether it held.
    pub passed: bool,
    /// What the judge saw.
    #[serde(default)]
    pub evidence: serde_json::Value,
}

/// The drill's score.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DrillScore {
    /// Time the drill took.
    #[serde(default)]
    pub total_seconds: Option<f64>,
    /// The runbook's recovery budget.
    #[serde(default)]
    pub budget_seconds: Option<f64>,
    /// Whether the drill finished within the budget.
    #[serde(default)]
    pub within_budget: Option<bool>,
    /// Time per step.
    #[serde(default)]
    pub steps: Vec<ScoreStep>,
    /// Attempts beyond the first, over all steps.
    #[serde(default)]
    pub retries: Option<u64>,
    /// Steps skipped.
    #[serde(default)]
    pub skips: Option<u64>,
    /// Departures from the runbook the judge noticed.
    #[serde(default)]
    pub deviations: Vec<String>,
}

/// The time one step took in a drill.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ScoreStep {
    /// The step id.
    pub id: String,
    /// Seconds it took.
    #[serde(default)]
    pub seconds: Option<f64>,
    /// Its budget in seconds.
    #[serde(default)]
    pub budget_seconds: Option<f64>,
    /// How many attempts it took.
    #[serde(default)]
    pub attempts: Option<u32>,
}

impl DrillReport {
    /// Reads a recorded report; `None` if it does not have the expected shape.
    pub fn read(report: &serde_json::Value) -> Option<DrillReport> {
        serde_json::from_value(report.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_is_read_and_others_are_not() {
        let report = serde_json::json!({
            "verdict": "PASS",
            "checks": [{"name": "no double ingestion", "passed": true, "evidence": "0 duplicates"}],
            "score": {"total_seconds": 312.4, "budget_seconds": 2700, "within_budget": true,
                      "steps": [{"id": "a", "seconds": 1.2, "budget_seconds": null, "attempts": 1}],
                      "retries": 0, "skips": 0, "deviations": ["skipped b"]}
        });
        let r = DrillReport::read(&report).unwrap();
        assert_eq!(r.checks[0].name, "no double ingestion");
        let score = r.score.unwrap();
        assert_eq!(score.budget_seconds, Some(2700.0));
        assert_eq!(score.steps[0].attempts, Some(1));
        assert_eq!(score.deviations, vec!["skipped b".to_owned()]);
        assert!(DrillReport::read(&serde_json::json!({"checks": "nope"})).is_none());
    }
}
