//! The UI loop: one task selecting over terminal input, engine events and a slow tick; it
//! draws only when something changed, never more often than the frame cap, and never awaits
//! I/O while handling input (commands go to the engine over a channel).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::{Frame, Terminal};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::engine::command::{EngineCommand, EngineHandle};
use crate::engine::event::EngineEvent;
use crate::tui::event::Event;

/// The slow clock: spinners and the elapsed time.
pub const TICK: Duration = Duration::from_millis(250);

/// At most one frame per this long.
pub const FRAME_MIN: Duration = Duration::from_millis(16);

/// A screen the loop can drive.
pub trait Ui {
    /// Takes one event at `now`; returns a command for the engine, if any.
    fn handle(&mut self, event: Event, now: Instant, wall: DateTime<Utc>) -> Option<EngineCommand>;
    /// Draws the screen (pure: reads state only).
    fn render(&self, frame: &mut Frame);
    /// Did anything change since the last call?
    fn take_dirty(&mut self) -> bool;
    /// Should the loop end?
    fn done(&self) -> bool;
    /// A command could not be delivered: the engine is gone.
    fn engine_gone(&mut self) {}
}

/// Where events come from, and the time they are stamped with.
pub struct Sources<I, T, C> {
    /// Terminal input (already converted to [`Event`]s).
    pub input: I,
    /// The engine's events, for the run screen.
    pub engine: Option<UnboundedReceiver<EngineEvent>>,
    /// The slow clock.
    pub ticks: T,
    /// The time now: monotonic and wall-clock (injected so tests and benchmarks are exact).
    pub clock: C,
}

/// The real time, wall-clock truncated to microseconds.
pub fn real_clock() -> (Instant, DateTime<Utc>) {
    (Instant::now(), crate::clock::truncate_to_micros(Utc::now()))
}

/// What the loop did (for tests and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoopStats {
    pub draws: u64,
    pub events: u64,
    pub ticks: u64,
}

/// Runs `ui` until it is done. Commands go to `handle`.
pub async fn run_loop<B, U, I, T, C>(
    terminal: &mut Terminal<B>,
    ui: &mut U,
    mut src: Sources<I, T, C>,
    handle: Option<&EngineHandle>,
) -> color_eyre::Result<LoopStats>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    U: Ui,
    I: Stream<Item = Event> + Unpin,
    T: Stream<Item = ()> + Unpin,
    C: Fn() -> (Instant, DateTime<Utc>),
{
    let mut stats = LoopStats::default();
    let mut last_draw: Option<Instant> = None;
    let mut input_open = true;
    let mut ticks_open = true;
    let mut dirty = false;
    loop {
        dirty |= ui.take_dirty();
        let due = last_draw.map_or(Instant::now(), |t| t + FRAME_MIN);
        if dirty && Instant::now() >= due {
            terminal.draw(|f| ui.render(f))?;
            stats.draws += 1;
            last_draw = Some(Instant::now());
            dirty = false;
        }
        if ui.done() {
            break;
        }
        let engine_open = src.engine.is_some();
        let event = tokio::select! {
            biased;
            ev = src.input.next(), if input_open => match ev {
                Some(ev) => ev,
                None => {
                    input_open = false;
                    Event::Hangup
                }
            },
            ev = recv(&mut src.engine), if engine_open => match ev {
                Some(ev) => Event::Engine(ev),
                None => {
                    src.engine = None;
                    Event::EngineClosed
                }
            },
            () = tokio::time::sleep_until(due.into()), if dirty => continue,
            t = src.ticks.next(), if ticks_open => match t {
                Some(()) => {
                    stats.ticks += 1;
                    Event::Tick
                }
                None => {
                    ticks_open = false;
                    continue;
                }
            },
            else => break,
        };
        stats.events += 1;
        deliver(ui, event, handle, &src.clock);
        // A burst of engine events costs one frame.
        if let Some(rx) = src.engine.as_mut() {
            while let Ok(ev) = rx.try_recv() {
                stats.events += 1;
                deliver(ui, Event::Engine(ev), handle, &src.clock);
            }
        }
    }
    Ok(stats)
}

async fn recv(rx: &mut Option<UnboundedReceiver<EngineEvent>>) -> Option<EngineEvent> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

fn deliver<U: Ui>(
    ui: &mut U,
    event: Event,
    handle: Option<&EngineHandle>,
    clock: &impl Fn() -> (Instant, DateTime<Utc>),
) {
    let (now, wall) = clock();
    if let Some(cmd) = ui.handle(event, now, wall) {
        let delivered = handle.is_some_and(|h| h.send(cmd));
        if !delivered {
            ui.engine_gone();
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::stream;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::engine::event::{RunEnd, Waiting};
    use crate::engine::record::{Mode, Outcome};
    use crate::runbook::model::Evidence;
    use crate::tui::TuiOptions;
    use crate::tui::app::App;
    use crate::tui::event::{Code, Key};
    use crate::tui::fixture;

    fn fixed_clock() -> impl Fn() -> (Instant, DateTime<Utc>) {
        let at = Instant::now();
        move || (at, fixture::t0())
    }

    fn started() -> EngineEvent {
        EngineEvent::Started {
            state: Box::new(fixture::state(Mode::Drill)),
        }
    }

    fn confirm() -> EngineEvent {
        EngineEvent::Waiting(Waiting::Confirm {
            step: "confirm-incident".into(),
            destructive: false,
            evidence: Evidence::None,
        })
    }

    fn recorded(seq: u64, secs: i64, e: crate::engine::record::Event) -> EngineEvent {
        EngineEvent::Recorded {
            seq,
            head: format!("{seq:064x}"),
            record: Box::new(fixture::rec(secs, e)),
        }
    }

    #[tokio::test]
    async fn a_scripted_session_answers_and_ends() {
        let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
        let handle = EngineHandle::new(tx);
        let script = vec![
            Event::Engine(started()),
            Event::Engine(confirm()),
            Event::Key(Key::plain(Code::Enter)),
            Event::Key(Key::plain(Code::Enter)),
            Event::Engine(recorded(
                2,
                1,
                fixture::completed("confirm-incident", Outcome::Confirmed, 900),
            )),
            Event::Key(Key::char('q')),
            Event::Key(Key::char('y')),
            Event::Engine(EngineEvent::Finished(RunEnd::Quit)),
        ];
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("backend");
        let clock = fixed_clock();
        let (now, wall) = clock();
        let mut app = App::new(TuiOptions::default(), now, wall);
        let sources = Sources {
            input: stream::iter(script),
            engine: None,
            ticks: stream::pending::<()>(),
            clock,
        };
        let stats = run_loop(&mut terminal, &mut app, sources, Some(&handle))
            .await
            .expect("loop");
        assert!(app.done());
        assert_eq!(app.end, Some(RunEnd::Quit));
        assert_eq!(stats.events, 8);
        assert!(stats.draws >= 1);
        assert!(matches!(
            commands.try_recv(),
            Ok(EngineCommand::Confirm { .. })
        ));
        assert!(matches!(commands.try_recv(), Ok(EngineCommand::Quit)));
        assert!(commands.try_recv().is_err(), "nothing else was sent");
    }

    #[tokio::test]
    async fn engine_events_are_drained_and_a_finished_run_leaves() {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for e in [
            started(),
            confirm(),
            EngineEvent::Finished(RunEnd::Completed),
        ] {
            tx.send(e).expect("send");
        }
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("backend");
        let clock = fixed_clock();
        let (now, wall) = clock();
        let mut app = App::new(TuiOptions::default(), now, wall);
        let sources = Sources {
            input: stream::pending::<Event>(),
            engine: Some(rx),
            ticks: stream::pending::<()>(),
            clock,
        };
        let stats = run_loop(&mut terminal, &mut app, sources, None)
            .await
            .expect("loop");
        assert_eq!(stats.events, 3);
        assert_eq!(app.end, Some(RunEnd::Completed));
        drop(tx);
    }

    #[tokio::test]
    async fn idle_ticks_draw_nothing() {
        let mut terminal = Terminal::new(TestBackend::new(100, 30)).expect("backend");
        let clock = fixed_clock();
        let (now, wall) = clock();
        let mut app = App::new(TuiOptions::default(), now, wall);
        app.handle(Event::Engine(started()), now, wall);
        app.handle(Event::Engine(confirm()), now, wall);
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let ticks = stream::iter(vec![(); 1000]).chain(
            stream::once(async move {
                let _ = done_tx.send(());
            })
            .filter(|()| futures::future::ready(false)),
        );
        let input = stream::once(async move {
            let _ = done_rx.await;
            Event::Hangup
        });
        let sources = Sources {
            input: Box::pin(input),
            engine: None,
            ticks: Box::pin(ticks),
            clock,
        };
        let stats = run_loop(&mut terminal, &mut app, sources, None)
            .await
            .expect("loop");
        assert_eq!(stats.ticks, 1000);
        assert_eq!(
            stats.draws, 1,
            "one frame for the first state, none for idle ticks"
        );
    }

    #[test]
    fn the_tick_is_a_quarter_second() {
        assert_eq!(TICK, Duration::from_millis(250));
        assert!(FRAME_MIN < TICK);
    }
}
