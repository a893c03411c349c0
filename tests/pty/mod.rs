//! Running a program in a real pseudo-terminal and reading its screen: a vt100 parser fed by
//! a reader thread, text waited for with bounded polling (never a fixed sleep), and the
//! output always drained.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};

/// How long to wait for text before failing: `CANTON_DR_PTY_TIMEOUT_SECS`, default 60.
pub fn patience() -> Duration {
    let secs = std::env::var("CANTON_DR_PTY_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn nz(n: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(n).unwrap_or(std::num::NonZeroU16::MIN)
}

/// A program running in a pseudo-terminal.
pub struct Pty {
    pub parser: vt100::Parser,
    master: Box<dyn MasterPty + Send>,
    writer: Box<dyn Write + Send>,
    output: Receiver<Vec<u8>>,
    child: Box<dyn Child + Send + Sync>,
    /// Everything the program wrote, for failure messages.
    pub raw: Vec<u8>,
    closed: bool,
}

impl Pty {
    /// Starts `cmd` in a `cols` x `rows` terminal with `TERM=xterm-256color`.
    pub fn spawn(mut cmd: CommandBuilder, cols: u16, rows: u16) -> Pty {
        let size = PtySize {
            rows,
            cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system().openpty(size).expect("open a pty");
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        let child = pair.slave.spawn_command(cmd).expect("spawn in the pty");
        drop(pair.slave);
        let mut reader = pair.master.try_clone_reader().expect("pty reader");
        let writer = pair.master.take_writer().expect("pty writer");
        let (tx, output) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if tx.send(buf[..n].to_vec()).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Pty {
            parser: vt100::Parser::new(nz(rows), nz(cols), 0),
            master: pair.master,
            writer,
            output,
            child,
            raw: Vec::new(),
            closed: false,
        }
    }

    /// Feeds whatever output arrived within `wait` to the parser; false once the program's
    /// side of the terminal is closed.
    fn pump(&mut self, wait: Duration) -> bool {
        match self.output.recv_timeout(wait) {
            Ok(bytes) => {
                self.parser.process(&bytes);
                self.raw.extend_from_slice(&bytes);
                while let Ok(more) = self.output.try_recv() {
                    self.parser.process(&more);
                    self.raw.extend_from_slice(&more);
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => {
                self.closed = true;
                false
            }
        }
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        self.parser.screen().contents()
    }

    /// Waits until the screen shows `text`; panics with the screen after [`patience`].
    pub fn wait_for(&mut self, text: &str) {
        let deadline = Instant::now() + patience();
        loop {
            if self.screen().contains(text) {
                return;
            }
            if Instant::now() > deadline || (self.closed && !self.screen().contains(text)) {
                panic!(
                    "the screen never showed {text:?}; it shows:\n{}\n--- raw tail ---\n{}",
                    self.screen(),
                    String::from_utf8_lossy(&self.raw[self.raw.len().saturating_sub(2000)..])
                );
            }
            self.pump(Duration::from_millis(50));
        }
    }

    /// Waits until `ready` holds for the screen; panics with the screen after [`patience`],
    /// naming `what` it waited for.
    pub fn wait_until(&mut self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + patience();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if Instant::now() > deadline || self.closed {
                panic!("the screen never showed {what}; it shows:\n{screen}");
            }
            self.pump(Duration::from_millis(50));
        }
    }

    /// Types text (keys as bytes: `\r` is Enter).
    pub fn send(&mut self, text: &str) {
        self.writer
            .write_all(text.as_bytes())
            .expect("write to the pty");
        self.writer.flush().expect("flush the pty");
    }

    /// Resizes the terminal.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize the pty");
        self.parser.screen_mut().set_size(nz(rows), nz(cols));
    }

    /// Waits for the program to exit, draining its output; returns its exit code.
    pub fn wait_exit(&mut self) -> u32 {
        let deadline = Instant::now() + patience();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                // Drain what is left.
                while self.pump(Duration::from_millis(100)) && !self.closed {
                    if Instant::now() > deadline {
                        break;
                    }
                }
                return status.exit_code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the program did not exit; the screen shows:\n{}",
                    self.screen()
                );
            }
            self.pump(Duration::from_millis(50));
        }
    }

    /// Kills the program with SIGKILL (a crash: nothing is restored or written).
    pub fn crash(&mut self) {
        let pid = self.child.process_id().expect("the program's pid");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid fits"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).expect("SIGKILL");
        let _ = self.child.wait();
        while self.pump(Duration::from_millis(50)) && !self.closed {}
    }

    /// Is the terminal back in its normal mode (line editing and echo on)?
    pub fn cooked(&self) -> bool {
        let want = libc::ICANON | libc::ECHO;
        self.master
            .get_termios()
            .is_some_and(|t| t.local_flags.bits() & want == want)
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}
