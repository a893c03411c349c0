//! One character per step status, distinct without colour, coloured with it.

use ratatui::style::Style;

use crate::engine::record::Outcome;
use crate::engine::state::StepStatus;
use crate::tui::theme::Theme;

/// Frames of the spinner shown next to a running step.
pub const SPINNER: [&str; 8] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧"];

/// How a step is drawn in the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The engine waits for the operator on this step.
    Waiting,
    /// The step runs; the spinner frame to show.
    Running(usize),
    /// Anything else: by status.
    Status,
}

/// The glyph and its style for a step.
pub fn glyph(status: &StepStatus, mark: Mark, theme: Theme) -> (&'static str, Style) {
    match (mark, status) {
        (Mark::Running(frame), _) => (SPINNER[frame % SPINNER.len()], theme.running()),
        (Mark::Waiting, StepStatus::Failed { .. } | StepStatus::TimedOut) => ("✗", theme.fail()),
        (Mark::Waiting, _) => ("▶", theme.next()),
        (Mark::Status, s) => by_status(s, theme),
    }
}

fn by_status(status: &StepStatus, theme: Theme) -> (&'static str, Style) {
    match status {
        StepStatus::Pending => ("·", theme.dim()),
        StepStatus::Running { .. } => ("…", theme.warn()),
        StepStatus::Done(Outcome::Passed | Outcome::Confirmed) => ("✓", theme.ok()),
        StepStatus::Done(Outcome::MarkedDone) => ("✓", theme.warn()),
        StepStatus::Done(Outcome::Shown) => ("○", theme.ok()),
        StepStatus::Failed { .. } | StepStatus::TimedOut => ("✗", theme.fail()),
        StepStatus::Skipped {
            overridden: true, ..
        } => ("!", theme.fail()),
        StepStatus::Skipped { .. } => ("↷", theme.warn()),
        StepStatus::NotApplicable => ("–", theme.dim()),
    }
}

#[cfg(test)]
mod tests {
    use ratatui::style::Color;

    use super::*;

    #[test]
    fn every_status_has_its_own_glyph_or_colour() {
        let t = Theme::new(false);
        let cases = [
            (StepStatus::Pending, "·", Some(Color::DarkGray)),
            (StepStatus::Done(Outcome::Passed), "✓", Some(Color::Green)),
            (
                StepStatus::Done(Outcome::MarkedDone),
                "✓",
                Some(Color::Yellow),
            ),
            (StepStatus::Done(Outcome::Shown), "○", Some(Color::Green)),
            (
                StepStatus::Failed { reason: "x".into() },
                "✗",
                Some(Color::Red),
            ),
            (StepStatus::TimedOut, "✗", Some(Color::Red)),
            (
                StepStatus::Skipped {
                    reason: "x".into(),
                    overridden: true,
                },
                "!",
                Some(Color::Red),
            ),
            (
                StepStatus::Skipped {
                    reason: "x".into(),
                    overridden: false,
                },
                "↷",
                Some(Color::Yellow),
            ),
            (StepStatus::NotApplicable, "–", Some(Color::DarkGray)),
        ];
        for (status, g, fg) in cases {
            let (got, style) = glyph(&status, Mark::Status, t);
            assert_eq!((got, style.fg), (g, fg), "{status:?}");
        }
    }

    #[test]
    fn waiting_and_running_marks() {
        let t = Theme::new(false);
        assert_eq!(glyph(&StepStatus::Pending, Mark::Waiting, t).0, "▶");
        assert_eq!(glyph(&StepStatus::TimedOut, Mark::Waiting, t).0, "✗");
        assert_eq!(
            glyph(&StepStatus::Running { attempt: 1 }, Mark::Running(9), t).0,
            SPINNER[1]
        );
    }
}
