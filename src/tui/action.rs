//! What the operator means by a key: the keymap turns keys into these, `update` acts on them.

/// A UI intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Do what the current step needs: confirm, run, enter a value, retry, decide.
    Primary,
    /// Retry a failed step, re-check a closed gate, look again at an in-doubt step.
    Retry,
    /// Skip the current step (a reason is mandatory).
    Skip,
    /// Add a note to the current step (journaled).
    Note,
    /// Stop the running step.
    Cancel,
    /// End the run for good (asks first).
    Abort,
    /// Leave; the incident is saved and can be resumed (asks first).
    Quit,
    /// Show or hide the list of keys.
    Help,
    /// Show or hide the variables pane.
    ToggleVars,
    /// Show or hide the journal tail.
    ToggleJournal,
    /// Show or hide the command output pane.
    ToggleOutput,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// Go back to the step the run is at.
    Current,
    /// Scroll the step panel up.
    PageUp,
    /// Scroll the step panel down.
    PageDown,
    /// Send the open dialog.
    Submit,
    /// Close the open dialog or overlay without doing anything.
    Close,
    /// Next field of a dialog.
    NextField,
    /// Previous field of a dialog.
    PrevField,
    /// Answer yes.
    Yes,
    /// Pick the option with this letter.
    Choose(char),
    /// Switch between the lists of the start screen.
    SwitchList,
    /// Leave the end screen.
    Leave,
}
