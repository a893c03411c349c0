//! Reading one output stream of a child: keep the first bytes, count and hash all of them,
//! and optionally pass redacted lines on for live display.

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, watch};

use crate::secret::LineRedactor;

use super::{OutputLine, StreamKind};

/// Lines longer than this are not shown live (they are still captured).
pub const LIVE_LINE_MAX: usize = 16 * 1024;

/// What was read from one stream.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    /// The first `cap` bytes.
    pub kept: Vec<u8>,
    /// Every byte read.
    pub total: u64,
    /// SHA-256 over every byte read.
    pub sha256: [u8; 32],
    /// False when reading stopped before end-of-file (a descendant kept the pipe open).
    pub complete: bool,
}

/// Live display of one stream.
pub(crate) struct LiveSink {
    pub stream: StreamKind,
    pub sender: mpsc::Sender<OutputLine>,
    pub redactor: LineRedactor,
    pending: Vec<u8>,
    overlong: bool,
}

impl LiveSink {
    pub fn new(
        stream: StreamKind,
        sender: mpsc::Sender<OutputLine>,
        redactor: LineRedactor,
    ) -> Self {
        LiveSink {
            stream,
            sender,
            redactor,
            pending: Vec::new(),
            overlong: false,
        }
    }

    fn feed(&mut self, mut data: &[u8]) {
        while let Some(nl) = data.iter().position(|b| *b == b'\n') {
            self.push_partial(&data[..nl]);
            self.finish_line();
            data = &data[nl + 1..];
        }
        self.push_partial(data);
    }

    fn push_partial(&mut self, data: &[u8]) {
        if self.overlong {
            return;
        }
        if self.pending.len() + data.len() > LIVE_LINE_MAX {
            self.overlong = true;
            self.pending.clear();
        } else {
            self.pending.extend_from_slice(data);
        }
    }

    fn finish_line(&mut self) {
        let text = if self.overlong {
            Some(format!(
                "<line longer than {LIVE_LINE_MAX} bytes not shown>"
            ))
        } else {
            let line = self.pending.strip_suffix(b"\r").unwrap_or(&self.pending);
            self.redactor.line(line)
        };
        self.pending.clear();
        self.overlong = false;
        if let Some(text) = text {
            // Live output is best effort: a full channel drops the line, never blocks the child.
            let _ = self.sender.try_send(OutputLine {
                stream: self.stream,
                text,
            });
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() || self.overlong {
            self.finish_line();
        }
    }
}

/// Reads `reader` to end-of-file, or until `stop` turns true. After a stop, the rest of the
/// stream is drained in the background (and discarded) so that a process still writing to
/// it does not fail on a closed pipe.
pub(crate) async fn capture<R>(
    mut reader: R,
    cap: usize,
    mut stop: watch::Receiver<bool>,
    mut live: Option<LiveSink>,
) -> Capture
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let mut kept = Vec::with_capacity(cap.min(64 * 1024));
    let mut total: u64 = 0;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut complete = true;
    let mut stoppable = true;
    loop {
        tokio::select! {
            biased;
            stopped = stop.wait_for(|s| *s), if stoppable => {
                if stopped.is_ok() {
                    complete = false;
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
                    });
                    break;
                }
                // The stop sender is gone: nobody can stop us any more; read to the end.
                stoppable = false;
            }
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let chunk = &buf[..n];
                total += n as u64;
                hasher.update(chunk);
                if kept.len() < cap {
                    let room = cap - kept.len();
                    kept.extend_from_slice(&chunk[..room.min(n)]);
                }
                if let Some(sink) = live.as_mut() {
                    sink.feed(chunk);
                }
            }
        }
    }
    if let Some(sink) = live.as_mut() {
        sink.flush();
    }
    Capture {
        kept,
        total,
        sha256: hasher.finalize().into(),
        complete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretRegistry;
    use secrecy::SecretString;

    #[tokio::test]
    async fn keeps_the_cap_counts_and_hashes_everything() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (_tx, rx) = watch::channel(false);
        let c = capture(std::io::Cursor::new(data.clone()), 1000, rx, None).await;
        assert_eq!(c.kept, data[..1000]);
        assert_eq!(c.total, data.len() as u64);
        assert_eq!(c.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        assert!(c.complete);
    }

    #[tokio::test]
    async fn live_lines_are_split_redacted_and_flushed() {
        let reg = SecretRegistry::new();
        reg.register(&SecretString::from("Canary-Live-42"));
        let (tx, mut lines) = mpsc::channel(16);
        let sink = LiveSink::new(StreamKind::Stdout, tx, LineRedactor::new(reg.redactor()));
        let (_stop, rx) = watch::channel(false);
        let long = "y".repeat(LIVE_LINE_MAX + 1);
        let input = format!("one\r\ntoken Canary-Live-42\n{long}\nlast");
        let c = capture(std::io::Cursor::new(input.into_bytes()), 4, rx, Some(sink)).await;
        assert_eq!(c.kept, b"one\r");
        let mut got = Vec::new();
        while let Ok(l) = lines.try_recv() {
            assert_eq!(l.stream, StreamKind::Stdout);
            got.push(l.text);
        }
        assert_eq!(
            got,
            vec![
                "one".to_string(),
                "token <redacted:registered>".to_string(),
                format!("<line longer than {LIVE_LINE_MAX} bytes not shown>"),
                "last".to_string(),
            ]
        );
    }
}
