//! The ratatui front end. The only module that may use ratatui or crossterm.
//!
//! It is a consumer of the engine's events like the headless runner: it folds every journal
//! record into its own copy of the incident state and sends [`EngineCommand`]s back. Render is
//! a pure function of [`app::App`]; only `handle`/`update` mutate it.
//!
//! [`EngineCommand`]: crate::engine::command::EngineCommand

pub mod action;
pub mod app;
pub mod dialog;
pub mod event;
pub mod keymap;
pub mod runner;
pub mod start;
pub mod tail;
pub mod terminal;
pub mod text;
pub mod theme;
pub mod view;
pub mod widget;

#[cfg(test)]
pub(crate) mod fixture;

use std::path::PathBuf;

use chrono::TimeDelta;
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::command::EngineHandle;
use crate::engine::event::{EngineEvent, RunEnd};
use crate::engine::record::Mode;
use crate::tui::event::Event;
use crate::tui::runner::{Sources, TICK, real_clock, run_loop};
use crate::tui::terminal::frame_sync;

/// How the screen looks and what it knows beyond the engine's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TuiOptions {
    /// No colours (the `NO_COLOR` environment variable or a flag).
    pub no_color: bool,
    /// In a drill: the scenario's answer to each input step (step id to value), filled into
    /// the input dialog so that the operator need not dig paths out of the sandbox.
    pub drill_hints: std::collections::BTreeMap<String, String>,
}

impl TuiOptions {
    /// Options from a command-line flag and the `NO_COLOR` convention (set and not empty).
    pub fn from_env(no_color_flag: bool) -> TuiOptions {
        let env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        TuiOptions {
            no_color: no_color_flag || env,
            drill_hints: Default::default(),
        }
    }
}

/// How the run screen ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuiExit {
    /// How the engine ended, when it did before the screen closed.
    pub end: Option<RunEnd>,
}

/// A runbook the start screen offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookEntry {
    pub id: String,
    pub title: String,
    pub path: PathBuf,
    pub source: String,
    pub budget: Option<TimeDelta>,
}

/// What the operator picked on the start screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartChoice {
    /// Resume the incident in this directory.
    Resume(PathBuf),
    /// Start a runbook in a mode (drill, dry-run or live).
    Start { runbook: PathBuf, mode: Mode },
    /// Leave.
    Quit,
}

/// Terminal input as [`Event`]s, with hang-up and termination signals as [`Event::Hangup`].
fn terminal_events() -> impl futures::Stream<Item = Event> + Unpin {
    use ratatui::crossterm::event::EventStream;
    use tokio::signal::unix::{SignalKind, signal};
    let keys = EventStream::new().filter_map(|r| {
        futures::future::ready(match r {
            Ok(ev) => event::from_crossterm(ev),
            Err(_) => Some(Event::Hangup),
        })
    });
    let mut streams: Vec<futures::stream::BoxStream<'static, Event>> = vec![keys.boxed()];
    for kind in [
        SignalKind::hangup(),
        SignalKind::terminate(),
        SignalKind::interrupt(),
    ] {
        if let Ok(sig) = signal(kind) {
            let s = futures::stream::unfold(sig, |mut sig| async move {
                sig.recv().await.map(|()| (Event::Hangup, sig))
            });
            streams.push(s.boxed());
        }
    }
    futures::stream::select_all(streams)
}

/// The slow clock.
fn ticks() -> impl futures::Stream<Item = ()> + Unpin {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    Box::pin(futures::stream::unfold(interval, |mut i| async move {
        i.tick().await;
        Some(((), i))
    }))
}

/// Runs the TUI over a running engine until the operator leaves or the engine finishes.
pub async fn run_incident(
    handle: EngineHandle,
    events: UnboundedReceiver<EngineEvent>,
    opts: TuiOptions,
) -> color_eyre::Result<TuiExit> {
    terminal::ensure_terminal()?;
    let (now, wall) = real_clock();
    let mut app = app::App::new(opts, now, wall);
    let result = {
        let mut screen = terminal::Screen::enter()?;
        let sources = Sources {
            input: terminal_events(),
            engine: Some(events),
            ticks: ticks(),
            clock: real_clock,
            frame_sync,
        };
        run_loop(&mut screen.terminal, &mut app, sources, Some(&handle)).await
        // The screen is restored here, before anything is printed.
    };
    if app.end.is_none() && !app.quitting {
        // Leaving on an error: the engine stops as if the operator quit (all is journaled).
        let _ = handle.send(crate::engine::command::EngineCommand::Quit);
    }
    let records = app.state.as_ref().map_or(0, |s| s.records);
    println!(
        "{}",
        text::farewell(app.incident_id(), app.end.as_ref(), records, &app.head)
    );
    if let Some(message) = &app.fatal {
        eprintln!("canton-dr: {message}");
    }
    result?;
    Ok(TuiExit { end: app.end })
}

/// The start screen: pick an incident to resume or a runbook to start.
pub async fn start_screen(
    incidents: Vec<crate::engine::incident::Summary>,
    runbooks: Vec<RunbookEntry>,
    opts: TuiOptions,
) -> color_eyre::Result<StartChoice> {
    terminal::ensure_terminal()?;
    let (_, wall) = real_clock();
    let mut ui = start::StartApp::new(incidents, runbooks, opts, wall);
    {
        let mut screen = terminal::Screen::enter()?;
        let sources = Sources {
            input: terminal_events(),
            engine: None,
            ticks: futures::stream::pending::<()>(),
            clock: real_clock,
            frame_sync,
        };
        run_loop(&mut screen.terminal, &mut ui, sources, None).await?;
    }
    Ok(ui.choice())
}
