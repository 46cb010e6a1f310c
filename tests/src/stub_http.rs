//! A scripted HTTP server on loopback for the notification triggers' tests:
//! it records every request's exact bytes (request line, headers, body) and
//! answers each with the next reply of its script — a real service's JSON,
//! a 429, a body that is not JSON, or no answer at all. A request beyond
//! the script is answered 599 and recorded, so the test's comparison of
//! the requests fails.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Accept the request and never answer.
    pub hang: bool,
}

impl Reply {
    /// `status` with `body` as `content-type: application/json; charset=utf-8`
    /// (what Slack sends).
    pub fn json(status: u16, body: &[u8]) -> Reply {
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: body.to_vec(),
            hang: false,
        }
    }

    /// A reply with these headers and body, nothing added.
    pub fn raw(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        Reply {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            hang: false,
        }
    }

    /// No answer, ever (until the server goes).
    pub fn hang() -> Reply {
        Reply {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
            hang: true,
        }
    }
}

/// The server; stops accepting and lets hanging connections go on drop.
pub struct StubServer {
    base: String,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
}

impl StubServer {
    /// Listens on `ip` (any loopback address) on a free port.
    pub fn start(ip: &str, script: Vec<Reply>) -> StubServer {
        let listener = TcpListener::bind((ip, 0)).expect("bind the stub server");
        let base = format!("http://{}", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let requests: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script = Arc::new(Mutex::new(script.into_iter()));
        let (rec, halt) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (rec, halt, script) = (rec.clone(), halt.clone(), script.clone());
                        std::thread::spawn(move || serve(stream, &rec, &halt, &script));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        StubServer {
            base,
            requests,
            stop,
        }
    }

    /// `http://IP:PORT`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `IP:PORT`, as the `host` header carries it.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Every request so far, as text (lossy), in arrival order.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    }

    /// Waits until `n` requests have come, or `timeout` passed.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        while self.requests.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.requests()
    }
}

impl Drop for StubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// One request per connection: read it whole, record it, answer it (or
/// hang), close.
fn serve(
    mut stream: TcpStream,
    rec: &Mutex<Vec<Vec<u8>>>,
    halt: &AtomicBool,
    script: &Mutex<std::vec::IntoIter<Reply>>,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    rec.lock().unwrap().push(request);
    let reply = script.lock().unwrap().next().unwrap_or_else(|| {
        Reply::raw(
            599,
            &[("content-type", "text/plain")],
            b"unexpected request: the test's script has no reply left",
        )
    });
    if reply.hang {
        while !halt.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        return;
    }
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (k, v) in &reply.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        reply.body.len()
    ));
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&reply.body);
    let _ = stream.flush();
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Whatever",
    }
}

/// The request's bytes: head up to the blank line, then `content-length`
/// bytes of body.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    Some(data)
}
