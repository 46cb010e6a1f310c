//! The real `vespene server` of a sandbox, on a free loopback port, and a
//! small HTTP client for it that keeps the session cookie and the CSRF
//! token itself (so tests can also leave them out, or forge them).

use crate::engine::EngineSandbox;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A running `vespene server`, killed when dropped.
pub struct Server {
    pub url: String,
    child: Child,
}

impl Server {
    /// Starts `vespene server --bind 127.0.0.1:0` in `es` and waits for its
    /// URL.
    pub fn start(es: &EngineSandbox) -> Server {
        let mut child = es
            .sb
            .command()
            .args(["server", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start vespene server");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.split(" serving on ").nth(1) {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let status = child.wait();
                    panic!("vespene server ended before serving: {status:?}");
                }
            }
        };
        // Keep reading so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { url, child }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A client without credentials.
    pub fn client(&self) -> Client {
        Client::new(&self.url)
    }

    /// A client logged in as `user` (a session with its CSRF token).
    pub fn login(&self, user: &str, password: &str) -> Client {
        let mut c = self.client();
        let r = c.login(user, password);
        assert_eq!(r.status, 200, "login as {user}: {}", r.text);
        c
    }

    /// A client with an API token.
    pub fn with_token(&self, token: &str) -> Client {
        let mut c = self.client();
        c.token = Some(token.to_string());
        c
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text))
    }

    /// Every value of header `name`.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `code` of an error answer.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_string()
    }
}

/// A client of one server.
pub struct Client {
    agent: ureq::Agent,
    pub base: String,
    /// The session cookie's value.
    pub session: Option<String>,
    /// Sent as `X-CSRF-Token` on state-changing requests.
    pub csrf: Option<String>,
    /// Sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Extra headers for every request.
    pub extra_headers: Vec<(String, String)>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
            session: None,
            csrf: None,
            token: None,
            extra_headers: Vec::new(),
        }
    }

    /// Logs in; keeps the session cookie and CSRF token it answers with.
    pub fn login(&mut self, user: &str, password: &str) -> Reply {
        let r = self.post(
            "/api/v1/login",
            &serde_json::json!({"username": user, "password": password}),
        );
        if r.status == 200 {
            self.csrf = r.json()["csrf_token"].as_str().map(str::to_string);
        }
        r
    }

    pub fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None, "application/json")
    }

    pub fn post(&mut self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, Some(body.to_string()), "application/json")
    }

    pub fn put(&mut self, path: &str, body: &Value) -> Reply {
        self.send("PUT", path, Some(body.to_string()), "application/json")
    }

    pub fn delete(&mut self, path: &str) -> Reply {
        self.send("DELETE", path, None, "application/json")
    }

    /// Any request; `body` with `content_type`.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<String>,
        content_type: &str,
    ) -> Reply {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(s) = &self.session {
            req = req.header("Cookie", format!("vespene_session={s}"));
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if method != "GET"
            && let Some(c) = &self.csrf
        {
            req = req.header("X-CSRF-Token", c.as_str());
        }
        for (k, v) in &self.extra_headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let result = match body {
            Some(b) => {
                let req = req
                    .header("Content-Type", content_type)
                    .body(b)
                    .expect("request");
                self.agent.run(req)
            }
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let reply = Reply {
            status: resp.status().as_u16(),
            headers,
            text,
        };
        for cookie in reply.header_all("set-cookie") {
            if let Some(rest) = cookie.strip_prefix("vespene_session=") {
                let value = rest.split(';').next().unwrap_or_default();
                self.session = (!value.is_empty()).then(|| value.to_string());
            }
        }
        reply
    }
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    /// Empty when the event has no id.
    pub id: String,
    pub data: String,
}

impl Event {
    /// `data` as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data)
            .unwrap_or_else(|e| panic!("event data not JSON ({e}): {self:?}"))
    }
}

/// An open server-sent event stream; dropping it disconnects.
pub struct Events {
    lines: std::io::Lines<BufReader<Box<dyn std::io::Read + Send>>>,
    pub status: u16,
}

impl Iterator for Events {
    type Item = Event;

    /// The next event (comments skipped), or `None` when the server ended
    /// the stream.
    fn next(&mut self) -> Option<Event> {
        let mut event = Event {
            name: String::new(),
            id: String::new(),
            data: String::new(),
        };
        let mut any = false;
        for line in self.lines.by_ref() {
            let line = line.ok()?;
            if line.is_empty() {
                if any {
                    return Some(event);
                }
                continue;
            }
            if let Some(v) = line.strip_prefix("event: ") {
                event.name = v.to_string();
                any = true;
            } else if let Some(v) = line.strip_prefix("id: ") {
                event.id = v.to_string();
                any = true;
            } else if let Some(v) = line.strip_prefix("data: ") {
                if !event.data.is_empty() {
                    event.data.push('\n');
                }
                event.data.push_str(v);
                any = true;
            }
        }
        None
    }
}

impl Client {
    /// Opens the event stream at `path`, with extra `headers`
    /// (`Last-Event-ID`, say).
    pub fn events(&self, path: &str, headers: &[(&str, &str)]) -> Events {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method("GET").uri(&url);
        if let Some(s) = &self.session {
            req = req.header("Cookie", format!("vespene_session={s}"));
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = agent
            .run(req.body(()).expect("request"))
            .unwrap_or_else(|e| panic!("GET {url}: {e}"));
        let status = resp.status().as_u16();
        let reader: Box<dyn std::io::Read + Send> = Box::new(resp.into_body().into_reader());
        Events {
            lines: BufReader::new(reader).lines(),
            status,
        }
    }
}
