//! User-visible sentences that more than one place uses, kept together so they stay
//! consistent.

/// Shown while an in-doubt step waits for a decision.
pub const IN_DOUBT: &str = "a step was interrupted by a crash: decide whether its effect happened before anything else runs";

/// The modal when the engine stopped on its own.
pub const STOPPED: &str =
    "canton-dr stopped because the journal cannot be written; nothing more will run";

/// Under the fatal modal.
pub const FATAL_HINT: &str =
    "Everything journaled so far is safe. Free the space or fix the disk, then resume.";

/// The terminal is too small.
pub const TOO_SMALL: &str = "canton-dr needs a terminal of at least 80x24";

/// What quitting means.
pub fn saved(id: &str) -> String {
    format!("the incident is saved; resume with `canton-dr resume {id}`")
}

/// The line printed after the screen is restored.
pub fn farewell(
    id: Option<&str>,
    end: Option<&crate::engine::event::RunEnd>,
    records: u64,
    head: &str,
) -> String {
    use crate::engine::event::RunEnd;
    let id_text = id.unwrap_or("<id>");
    let journal = if head.is_empty() {
        format!("journal: {records} records")
    } else {
        format!("journal: {records} records, head {}", short(head))
    };
    match end {
        Some(RunEnd::Completed) => {
            format!(
                "canton-dr: the runbook is complete ({journal}); export it with `canton-dr export {id_text}`"
            )
        }
        Some(RunEnd::Aborted) => format!("canton-dr: the run was aborted ({journal})"),
        Some(RunEnd::Fatal) => format!(
            "canton-dr: stopped because it cannot continue safely ({journal}); {}",
            saved(id_text)
        ),
        Some(RunEnd::Quit) | None => format!("canton-dr: {} ({journal})", saved(id_text)),
    }
}

/// The first 12 characters of a digest.
pub fn short(head: &str) -> &str {
    head.get(..12).unwrap_or(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::event::RunEnd;

    #[test]
    fn farewells_say_how_to_continue() {
        let q = farewell(Some("abc"), Some(&RunEnd::Quit), 12, "0123456789abcdef");
        assert_eq!(
            q,
            "canton-dr: the incident is saved; resume with `canton-dr resume abc` (journal: 12 records, head 0123456789ab)"
        );
        assert!(
            farewell(Some("abc"), Some(&RunEnd::Completed), 1, "").contains("canton-dr export abc")
        );
    }
}
