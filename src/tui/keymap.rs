//! Keys to actions, per key mode. The table below is the only place keys are bound, and the
//! help overlay is generated from it, so `?` lists every key by construction.

use crate::tui::action::Action;
use crate::tui::event::{Code, Key};

/// Which set of bindings applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyMode {
    /// The run screen, no dialog open.
    Run,
    /// A dialog with text fields: unbound keys edit the focused field.
    Text,
    /// A dialog of choices.
    Choice,
    /// The help overlay.
    Help,
    /// The start screen.
    Start,
    /// The end of a run (drill verdict, fatal stop).
    End,
}

impl KeyMode {
    /// The heading of this mode in the help overlay.
    pub fn title(self) -> &'static str {
        match self {
            KeyMode::Run => "Run screen",
            KeyMode::Text => "Dialogs with text fields",
            KeyMode::Choice => "Dialogs with choices",
            KeyMode::Help => "This help",
            KeyMode::Start => "Start screen",
            KeyMode::End => "End screen",
        }
    }
}

/// One binding: keys, what they do, and the help text.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub mode: KeyMode,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn b(mode: KeyMode, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        mode,
        keys,
        action,
        help,
    }
}

const ENTER: Key = Key::plain(Code::Enter);
const ESC: Key = Key::plain(Code::Esc);
const TAB: Key = Key::plain(Code::Tab);
const BACKTAB: Key = Key::plain(Code::BackTab);
const UP: Key = Key::plain(Code::Up);
const DOWN: Key = Key::plain(Code::Down);
const HOME: Key = Key::plain(Code::Home);
const PGUP: Key = Key::plain(Code::PageUp);
const PGDN: Key = Key::plain(Code::PageDown);
const CTRL_C: Key = Key::ctrl('c');

use KeyMode::{Choice, End, Help, Run, Start, Text};

/// Every binding, in the order the help overlay lists them.
pub const BINDINGS: &[Binding] = &[
    b(
        Run,
        &[ENTER],
        Action::Primary,
        "do what the step needs: confirm, run, enter a value, decide",
    ),
    b(
        Run,
        &[Key::char('r')],
        Action::Retry,
        "retry a failed step, re-check a gate, look again",
    ),
    b(
        Run,
        &[Key::char('s')],
        Action::Skip,
        "skip the step (a reason is mandatory)",
    ),
    b(
        Run,
        &[Key::char('n')],
        Action::Note,
        "add a note to the step on view (journaled)",
    ),
    b(
        Run,
        &[Key::char('x')],
        Action::Cancel,
        "cancel the running step",
    ),
    b(
        Run,
        &[Key::char('A')],
        Action::Abort,
        "abort the run for good (asks first)",
    ),
    b(
        Run,
        &[UP, Key::char('k')],
        Action::Up,
        "view the previous step",
    ),
    b(
        Run,
        &[DOWN, Key::char('j')],
        Action::Down,
        "view the next step",
    ),
    b(
        Run,
        &[HOME, Key::char('g')],
        Action::Current,
        "back to the step the run is at",
    ),
    b(Run, &[PGUP], Action::PageUp, "scroll the step panel up"),
    b(Run, &[PGDN], Action::PageDown, "scroll the step panel down"),
    b(
        Run,
        &[Key::char('v')],
        Action::ToggleVars,
        "show or hide the variables",
    ),
    b(
        Run,
        &[Key::char('l')],
        Action::ToggleJournal,
        "show or hide the journal tail",
    ),
    b(
        Run,
        &[Key::char('o')],
        Action::ToggleOutput,
        "show or hide command output",
    ),
    b(
        Run,
        &[Key::char('?')],
        Action::Help,
        "show or hide this help",
    ),
    b(
        Run,
        &[Key::char('q'), CTRL_C],
        Action::Quit,
        "quit; the incident is saved and can be resumed",
    ),
    b(Text, &[ENTER], Action::Submit, "send"),
    b(Text, &[ESC], Action::Close, "close without sending"),
    b(Text, &[TAB, DOWN], Action::NextField, "next field"),
    b(Text, &[BACKTAB, UP], Action::PrevField, "previous field"),
    b(Text, &[CTRL_C], Action::Quit, "quit (asks first)"),
    b(
        Choice,
        &[ENTER],
        Action::Submit,
        "take the highlighted choice",
    ),
    b(Choice, &[Key::char('y')], Action::Yes, "yes"),
    b(Choice, &[ESC, Key::char('n')], Action::Close, "no, close"),
    b(Choice, &[UP, Key::char('k')], Action::Up, "previous choice"),
    b(Choice, &[DOWN, Key::char('j')], Action::Down, "next choice"),
    b(Choice, &[CTRL_C], Action::Quit, "quit (asks first)"),
    b(
        Help,
        &[Key::char('?'), ESC, Key::char('q')],
        Action::Close,
        "close the help",
    ),
    b(Help, &[UP, Key::char('k')], Action::Up, "scroll up"),
    b(Help, &[DOWN, Key::char('j')], Action::Down, "scroll down"),
    b(Start, &[UP, Key::char('k')], Action::Up, "previous entry"),
    b(Start, &[DOWN, Key::char('j')], Action::Down, "next entry"),
    b(
        Start,
        &[TAB, BACKTAB],
        Action::SwitchList,
        "switch between incidents and runbooks",
    ),
    b(
        Start,
        &[ENTER],
        Action::Primary,
        "resume the incident, or start the runbook",
    ),
    b(
        Start,
        &[Key::char('?')],
        Action::Help,
        "show or hide this help",
    ),
    b(
        Start,
        &[Key::char('q'), ESC, CTRL_C],
        Action::Quit,
        "leave without doing anything",
    ),
    b(
        End,
        &[Key::char('q'), ENTER, ESC, CTRL_C],
        Action::Leave,
        "leave canton-dr",
    ),
    b(End, &[UP, Key::char('k')], Action::Up, "scroll up"),
    b(End, &[DOWN, Key::char('j')], Action::Down, "scroll down"),
    b(
        End,
        &[Key::char('l')],
        Action::ToggleJournal,
        "show or hide the journal tail",
    ),
];

/// The action bound to `key` in `mode`. In a choice dialog, an unbound letter picks the option
/// with that letter.
pub fn action(mode: KeyMode, key: Key) -> Option<Action> {
    let bound = BINDINGS
        .iter()
        .find(|b| b.mode == mode && b.keys.contains(&key))
        .map(|b| b.action);
    match (bound, mode, key.code) {
        (Some(a), _, _) => Some(a),
        (None, KeyMode::Choice, Code::Char(c)) if !key.ctrl && !key.alt => Some(Action::Choose(c)),
        _ => None,
    }
}

/// The bindings of one mode, for help and key hints.
pub fn bindings(mode: KeyMode) -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().filter(move |b| b.mode == mode)
}

/// The keys bound to `action` in `mode`, as shown to people ("q / Ctrl-c").
pub fn keys_for(mode: KeyMode, action: Action) -> String {
    bindings(mode)
        .filter(|b| b.action == action)
        .flat_map(|b| b.keys.iter().map(ToString::to_string))
        .collect::<Vec<_>>()
        .join(" / ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn run_screen_keys() {
        assert_eq!(action(Run, ENTER), Some(Action::Primary));
        assert_eq!(action(Run, Key::char('q')), Some(Action::Quit));
        assert_eq!(action(Run, CTRL_C), Some(Action::Quit));
        assert_eq!(action(Run, Key::char('s')), Some(Action::Skip));
        assert_eq!(action(Run, Key::char('A')), Some(Action::Abort));
        assert_eq!(
            action(Run, Key::char('a')),
            None,
            "abort needs the capital letter"
        );
        assert_eq!(action(Run, Key::char('j')), Some(Action::Down));
        assert_eq!(action(Run, Key::char('?')), Some(Action::Help));
    }

    #[test]
    fn text_dialogs_leave_letters_to_the_field() {
        for c in "qsnrxAvlo?jk yg".chars() {
            assert_eq!(
                action(Text, Key::char(c)),
                None,
                "'{c}' must be typed, not bound"
            );
        }
        assert_eq!(action(Text, ENTER), Some(Action::Submit));
        assert_eq!(action(Text, ESC), Some(Action::Close));
        assert_eq!(action(Text, TAB), Some(Action::NextField));
        assert_eq!(action(Text, CTRL_C), Some(Action::Quit));
    }

    #[test]
    fn choices_take_letters() {
        assert_eq!(action(Choice, Key::char('y')), Some(Action::Yes));
        assert_eq!(action(Choice, Key::char('n')), Some(Action::Close));
        assert_eq!(action(Choice, Key::char('d')), Some(Action::Choose('d')));
        assert_eq!(action(Choice, Key::ctrl('d')), None);
    }

    #[test]
    fn no_key_is_bound_twice_in_a_mode() {
        for mode in [Run, Text, Choice, Help, Start, End] {
            let mut seen = HashSet::new();
            for b in bindings(mode) {
                for k in b.keys {
                    assert!(seen.insert(*k), "{k} is bound twice in {mode:?}");
                }
            }
        }
    }

    #[test]
    fn every_binding_has_help_and_keys() {
        for b in BINDINGS {
            assert!(!b.keys.is_empty(), "{b:?}");
            assert!(!b.help.is_empty(), "{b:?}");
        }
        assert_eq!(keys_for(Run, Action::Quit), "q / Ctrl-c");
    }
}
