//! Logs go to a file in the data directory, never to the terminal the UI owns; every line
//! passes through the redactor first.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Mutex, PoisonError};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::cli::paths::Paths;
use crate::secret::SecretRegistry;

/// Environment variable with the log filter (e.g. `debug`, `canton_dr=trace`).
pub const LOG_ENV: &str = "CANTON_DR_LOG";

/// The log file, written through the redactor of the run's secrets.
struct RedactingLog {
    file: Mutex<File>,
    registry: SecretRegistry,
}

/// One write to the log: each formatted event arrives in one `write` call and is redacted
/// as a whole.
struct LogWriter<'a> {
    log: &'a RedactingLog,
}

impl Write for LogWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let redacted = self.log.registry.redact(&text);
        let mut file = self.log.file.lock().unwrap_or_else(PoisonError::into_inner);
        file.write_all(redacted.text.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.log
            .file
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .flush()
    }
}

impl<'a> MakeWriter<'a> for RedactingLog {
    type Writer = LogWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LogWriter { log: self }
    }
}

/// Starts logging to `<data>/logs/canton-dr.log` (mode 0600), redacting what `registry`
/// knows (now and later) and secret-shaped text. Logging is best effort: a read-only data
/// directory must not stop an incident.
pub fn init(paths: &Paths, registry: &SecretRegistry) -> Option<()> {
    let dir = paths.logs();
    fs::create_dir_all(&dir).ok()?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join("canton-dr.log"))
        .ok()?;
    let filter = EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactingLog {
            file: Mutex::new(file),
            registry: registry.clone(),
        })
        .with_ansi(false)
        .try_init()
        .ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    #[test]
    fn log_lines_are_redacted_with_values_registered_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let registry = SecretRegistry::new();
        let log = RedactingLog {
            file: Mutex::new(File::create(&path).unwrap()),
            registry: registry.clone(),
        };
        registry.register(&SecretString::from("canary-log-5e3a1"));
        let mut w = log.make_writer();
        let line = b"connecting with canary-log-5e3a1 to db\n";
        assert_eq!(w.write(line).unwrap(), line.len());
        w.write_all(b"password=hunter22 set\n").unwrap();
        w.flush().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("canary-log-5e3a1") && !text.contains("hunter22"),
            "{text}"
        );
        assert!(
            text.contains("connecting with <redacted:registered> to db"),
            "{text}"
        );
    }
}
