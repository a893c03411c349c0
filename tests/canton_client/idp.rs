//! A tiny OAuth2 token endpoint on loopback (HTTP/1.1, one request per connection) that
//! records the form fields it receives and mints numbered tokens.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// How the IdP answers.
#[derive(Clone, Debug)]
pub enum Mode {
    /// An opaque token with this `expires_in`.
    Opaque { expires_in: Option<u64> },
    /// A JWT whose `exp` is the given Unix time, plus `expires_in`.
    Jwt { exp: i64, expires_in: Option<u64> },
    /// HTTP 401 with an OAuth2 error body.
    Reject,
}

#[derive(Clone)]
pub struct Idp {
    pub url: String,
    pub requests: Arc<Mutex<Vec<HashMap<String, String>>>>,
    pub mode: Arc<Mutex<Mode>>,
    count: Arc<AtomicUsize>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for Idp {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

impl Idp {
    pub fn token_count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().expect("lock") = mode;
    }
}

/// The token the IdP mints as its `n`-th (1-based) under `mode`.
pub fn minted(n: usize, mode: &Mode) -> String {
    match mode {
        Mode::Jwt { exp, .. } => {
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!(
                "{}.{}.c2lnbmF0dXJl",
                b64(r#"{"alg":"RS256","typ":"JWT"}"#),
                b64(&format!(r#"{{"exp":{exp},"sub":"client-{n}"}}"#))
            )
        }
        _ => format!("opaque-token-{n}"),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_form(body: &str) -> HashMap<String, String> {
    body.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

pub async fn start(mode: Mode) -> Idp {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind idp");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let mode = Arc::new(Mutex::new(mode));
    let count = Arc::new(AtomicUsize::new(0));
    let (r, m, c) = (requests.clone(), mode.clone(), count.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let (r, m, c) = (r.clone(), m.clone(), c.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (pos + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
                r.lock().expect("lock").push(parse_form(&body));
                let mode = m.lock().expect("lock").clone();
                let (status, json) = match &mode {
                    Mode::Reject => (
                        "401 Unauthorized",
                        r#"{"error":"invalid_client","error_description":"Unknown client or wrong secret"}"#.to_string(),
                    ),
                    Mode::Opaque { expires_in } | Mode::Jwt { expires_in, .. } => {
                        let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                        let mut json = format!(
                            r#"{{"access_token":"{}","token_type":"Bearer""#,
                            minted(n, &mode)
                        );
                        if let Some(e) = expires_in {
                            json.push_str(&format!(r#","expires_in":{e}"#));
                        }
                        json.push('}');
                        ("200 OK", json)
                    }
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{json}",
                    json.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Idp {
        url: format!("http://{addr}/oauth/token"),
        requests,
        mode,
        count,
        task: Arc::new(task),
    }
}

#[test]
fn form_decoding_handles_escapes() {
    let f =
        parse_form("grant_type=client_credentials&audience=https%3A%2F%2Fx.example%2F&scope=a+b");
    assert_eq!(f["grant_type"], "client_credentials");
    assert_eq!(f["audience"], "https://x.example/");
    assert_eq!(f["scope"], "a b");
}
