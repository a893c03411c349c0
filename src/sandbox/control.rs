//! The sandbox's control channel: a Unix socket `DIR/control.sock` (mode 0600 in a 0700
//! directory), one JSON request per connection and one JSON response, each on one line.
//!
//! A request names a component and an action (`ingestion stop`, `restore participant-db`…)
//! with string arguments; the response carries an exit code for `canton-dr sandbox ctl` (0 ok,
//! 3 stopped, 1 failed), a one-line message and optional data.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// The socket's name in the sandbox directory.
pub const SOCKET_NAME: &str = "control.sock";
/// Exit code: done.
pub const OK: u8 = 0;
/// Exit code: the action failed (the message says why).
pub const FAILED: u8 = 1;
/// Exit code of a status probe: the component is stopped.
pub const STOPPED: u8 = 3;
/// The longest request or response line.
const MAX_LINE: u64 = 1024 * 1024;
/// Paths longer than this do not fit a Unix socket address.
const MAX_SOCKET_PATH: usize = 100;

/// One request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub component: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
}

impl Request {
    /// A request without arguments.
    pub fn new(component: &str, action: &str) -> Request {
        Request {
            component: component.to_string(),
            action: action.to_string(),
            args: BTreeMap::new(),
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, key: &str, value: impl Into<String>) -> Request {
        self.args.insert(key.to_string(), value.into());
        self
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    pub code: u8,
    pub message: String,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub data: serde_json::Value,
}

impl Response {
    /// Done.
    pub fn ok(message: impl Into<String>) -> Response {
        Response {
            code: OK,
            message: message.into(),
            data: serde_json::Value::Null,
        }
    }

    /// Done, with data.
    pub fn with_data(message: impl Into<String>, data: serde_json::Value) -> Response {
        Response {
            code: OK,
            message: message.into(),
            data,
        }
    }

    /// A status probe found the component stopped.
    pub fn stopped(message: impl Into<String>) -> Response {
        Response {
            code: STOPPED,
            message: message.into(),
            data: serde_json::Value::Null,
        }
    }

    /// The action failed.
    pub fn failed(message: impl Into<String>) -> Response {
        Response {
            code: FAILED,
            message: message.into(),
            data: serde_json::Value::Null,
        }
    }
}

/// Why the sandbox could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no sandbox answers on {}: {source}", path.display())]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox on {} did not answer within {}s", path.display(), timeout.as_secs())]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("talking to the sandbox on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the sandbox on {} answered something unreadable: {detail}", path.display())]
    Protocol { path: PathBuf, detail: String },
}

/// The socket of the sandbox in `dir` (following the link to a shorter path, if the sandbox
/// had to use one).
pub fn socket_path(dir: &Path) -> PathBuf {
    let p = dir.join(SOCKET_NAME);
    std::fs::read_link(&p).unwrap_or(p)
}

/// A bound control socket; the short directory it may live in is removed on drop.
pub struct Bound {
    pub listener: UnixListener,
    /// Where it listens.
    pub path: PathBuf,
    short_dir: Option<tempfile::TempDir>,
}

impl Bound {
    /// Binds the socket for the sandbox in `dir` (mode 0600). A `dir` too deep for a socket
    /// address gets the socket in a private directory under the temp dir, linked from
    /// `dir/control.sock`.
    pub fn bind(dir: &Path) -> std::io::Result<Bound> {
        let wanted = dir.join(SOCKET_NAME);
        let _ = std::fs::remove_file(&wanted);
        let (path, short_dir) = if wanted.as_os_str().len() <= MAX_SOCKET_PATH {
            (wanted.clone(), None)
        } else {
            let short = tempfile::Builder::new()
                .prefix("canton-dr-ctl-")
                .tempdir()?;
            std::fs::set_permissions(short.path(), std::fs::Permissions::from_mode(0o700))?;
            let p = short.path().join(SOCKET_NAME);
            std::os::unix::fs::symlink(&p, &wanted)?;
            (p, Some(short))
        };
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Bound {
            listener,
            path,
            short_dir,
        })
    }

    /// Whether the socket had to move to a short directory.
    pub fn relocated(&self) -> bool {
        self.short_dir.is_some()
    }
}

/// Reads one line (bounded).
pub async fn read_line<R: tokio::io::AsyncRead + Unpin>(r: R) -> std::io::Result<String> {
    let mut reader = BufReader::new(tokio::io::AsyncReadExt::take(r, MAX_LINE));
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    Ok(line)
}

/// Sends `request` to the sandbox in `dir` and returns its response.
pub async fn call(
    dir: &Path,
    request: &Request,
    timeout: Duration,
) -> Result<Response, ControlError> {
    let path = socket_path(dir);
    let exchange = async {
        let mut stream =
            UnixStream::connect(&path)
                .await
                .map_err(|source| ControlError::Connect {
                    path: path.clone(),
                    source,
                })?;
        let io = |source| ControlError::Io {
            path: path.clone(),
            source,
        };
        let mut line = serde_json::to_string(request).map_err(|e| ControlError::Protocol {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        line.push('\n');
        stream.write_all(line.as_bytes()).await.map_err(io)?;
        let answer = read_line(&mut stream)
            .await
            .map_err(|source| ControlError::Io {
                path: path.clone(),
                source,
            })?;
        serde_json::from_str::<Response>(answer.trim()).map_err(|e| ControlError::Protocol {
            path: path.clone(),
            detail: if answer.is_empty() {
                "an empty answer (the sandbox may be shutting down)".into()
            } else {
                e.to_string()
            },
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ControlError::Timeout {
            path: path.clone(),
            timeout,
        })?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_responses_are_one_json_line_each() {
        let r = Request::new("ingestion", "set-start-offset").arg("START_OFFSET", "42");
        let text = serde_json::to_string(&r).unwrap();
        assert!(!text.contains('\n'));
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        let ok = serde_json::to_string(&Response::ok("done")).unwrap();
        assert_eq!(ok, r#"{"code":0,"message":"done"}"#);
        assert!(
            serde_json::from_str::<Request>(r#"{"component":"a","action":"b","x":1}"#).is_err()
        );
    }

    #[tokio::test]
    async fn a_call_reaches_a_listener_even_from_a_deep_directory() {
        let root = tempfile::tempdir().unwrap();
        let deep = root.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).unwrap();
        let bound = Bound::bind(&deep).unwrap();
        assert!(bound.relocated());
        let mode = std::fs::metadata(&bound.path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let server = tokio::spawn(async move {
            let (mut s, _) = bound.listener.accept().await.unwrap();
            let line = read_line(&mut s).await.unwrap();
            let req: Request = serde_json::from_str(line.trim()).unwrap();
            let resp = Response::stopped(format!("{} is stopped", req.component));
            let mut out = serde_json::to_string(&resp).unwrap();
            out.push('\n');
            s.write_all(out.as_bytes()).await.unwrap();
            bound
        });
        let resp = call(
            &deep,
            &Request::new("automation", "status"),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(resp.code, STOPPED);
        assert_eq!(resp.message, "automation is stopped");
        drop(server.await.unwrap());
        let err = call(&deep, &Request::new("x", "y"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, ControlError::Connect { .. }), "{err}");
    }
}
