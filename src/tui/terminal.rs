//! Entering and leaving the full-screen terminal. The terminal is restored on every way out:
//! normal return, error, panic (a hook restores it before the panic is reported) and drop.

use std::io::{self, IsTerminal, Stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};

/// Why the screen could not start.
#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error(
        "canton-dr's screen needs a terminal, and {0} is not one; for scripts and CI use `--headless` with an answers file"
    )]
    NotATerminal(&'static str),
    #[error("cannot prepare the terminal: {0}")]
    Setup(#[source] io::Error),
}

/// Is the screen on (raw mode, alternate screen)?
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Refuses to start when stdin or stdout is not a terminal.
pub fn ensure_terminal() -> Result<(), TerminalError> {
    if !io::stdout().is_terminal() {
        return Err(TerminalError::NotATerminal("standard output"));
    }
    if !io::stdin().is_terminal() {
        return Err(TerminalError::NotATerminal("standard input"));
    }
    Ok(())
}

/// The full screen, restored when dropped.
pub struct Screen {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Switches the terminal to raw mode and the alternate screen.
    pub fn enter() -> Result<Screen, TerminalError> {
        install_panic_hook();
        enable_raw_mode().map_err(TerminalError::Setup)?;
        ACTIVE.store(true, Ordering::SeqCst);
        let setup = execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        );
        if let Err(e) = setup {
            restore();
            return Err(TerminalError::Setup(e));
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(TerminalError::Setup(e))
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as it was. Safe to call more than once.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    // Best effort on the way out: there is nowhere left to report a failure to.
    let _ = execute!(
        io::stdout(),
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
    let _ = disable_raw_mode();
}

/// Restores the terminal before any panic is reported (installed once, chained to the hook
/// that was there, such as color-eyre's).
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_is_idempotent_when_nothing_is_active() {
        restore();
        restore();
        assert!(!ACTIVE.load(Ordering::SeqCst));
    }

    #[test]
    fn the_refusal_points_to_headless() {
        let e = TerminalError::NotATerminal("standard output");
        assert!(e.to_string().contains("--headless"));
    }
}
