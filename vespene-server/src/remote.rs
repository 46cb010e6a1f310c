//! The command line as a client of a Vespene server: with `--server URL`
//! (or `VESPENE_SERVER`) and a token (`VESPENE_TOKEN`, or the one `vespene
//! login URL` stored), `project`, `build`, `apply` and `export` go through
//! the REST API instead of the database. The server checks the token's
//! user exactly as it checks a browser.

use anyhow::{Context, anyhow, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// Where `vespene login` keeps the server and token:
/// `$XDG_CONFIG_HOME/vespene/login.json`, else `~/.config/vespene/login.json`.
pub fn login_file() -> anyhow::Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("vespene/login.json"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".config/vespene/login.json"))
}

/// What `vespene login` stores (mode 0600).
#[derive(Serialize, Deserialize)]
pub struct StoredLogin {
    pub server: String,
    pub token: String,
}

impl StoredLogin {
    pub fn load() -> anyhow::Result<Option<StoredLogin>> {
        let path = login_file()?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| {
                format!("{} is not a stored login", path.display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self) -> anyhow::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
        let path = login_file()?;
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        // An older file may have other permissions.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        writeln!(f, "{}", serde_json::to_string_pretty(self)?)?;
        Ok(path)
    }
}

/// `http://host:port` without a trailing slash.
pub fn normalize_url(url: &str) -> anyhow::Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("server URL '{url}' must start with http:// or https://");
    }
    Ok(url.to_string())
}

/// A server and the token to use with it.
pub struct Remote {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("base", &self.base).finish()
    }
}

impl Remote {
    pub fn new(base: &str, token: Option<String>) -> anyhow::Result<Remote> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Ok(Remote {
            base: normalize_url(base)?,
            token,
            agent,
        })
    }

    /// The remote of `--server`/`VESPENE_SERVER`, with `VESPENE_TOKEN` or
    /// the stored login's token (when it is for the same server).
    pub fn from_args(server: &str, token: Option<&str>) -> anyhow::Result<Remote> {
        let base = normalize_url(server)?;
        let token = match token.filter(|t| !t.is_empty()) {
            Some(t) => t.to_string(),
            None => match StoredLogin::load()? {
                Some(stored) if normalize_url(&stored.server)? == base => stored.token,
                _ => bail!("no token for {base}: set VESPENE_TOKEN, or run `vespene login {base}`"),
            },
        };
        Remote::new(&base, Some(token))
    }

    /// Sends a request; a refusal becomes an error with the server's
    /// message.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<(String, &str)>,
    ) -> anyhow::Result<(u16, String)> {
        self.request_with(method, path, body, &[])
            .map(|(status, text, _)| (status, text))
    }

    /// [`Remote::request`] with extra headers; also returns the
    /// `Set-Cookie` values of the answer.
    pub fn request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<(String, &str)>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(u16, String, Vec<String>)> {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some((text, ct)) => self.agent.run(
                req.header("Content-Type", ct)
                    .body(text)
                    .context("bad request")?,
            ),
            None => self.agent.run(req.body(()).context("bad request")?),
        };
        let mut resp = result.with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status().as_u16();
        let cookies: Vec<String> = resp
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let text = resp
            .body_mut()
            .read_to_string()
            .with_context(|| format!("{method} {url}: cannot read the answer"))?;
        if status >= 400 {
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{method} {path}: HTTP {status}"));
            return Err(anyhow!("{message}"));
        }
        Ok((status, text, cookies))
    }

    pub fn get_json(&self, path: &str) -> anyhow::Result<Value> {
        let (_, text) = self.request("GET", path, None)?;
        serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON"))
    }

    pub fn get_text(&self, path: &str) -> anyhow::Result<String> {
        Ok(self.request("GET", path, None)?.1)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let (_, text) = self.request("POST", path, Some((body.to_string(), "application/json")))?;
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: not JSON"))
    }

    pub fn post_text(&self, path: &str, body: String, content_type: &str) -> anyhow::Result<Value> {
        let (_, text) = self.request("POST", path, Some((body, content_type)))?;
        serde_json::from_str(&text).with_context(|| format!("POST {path}: not JSON"))
    }

    /// Follows a server-sent event stream at `path`, calling `on_event`
    /// with each event's name, id (empty when it has none) and data until it returns false or the
    /// server ends the stream. A connection lost midway is resumed after
    /// the last event id seen (`Last-Event-ID`), a few times.
    pub fn follow_events(
        &self,
        path: &str,
        mut on_event: impl FnMut(&str, &str, &str) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        use std::io::BufRead;
        // No overall timeout: a build may run for hours; the server sends
        // a comment every few seconds, so a silent minute is a dead link.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_body(Some(Duration::from_secs(60)))
            .build()
            .into();
        let url = format!("{}{}", self.base, path);
        let mut last_id = String::new();
        let mut retries = 0;
        loop {
            let mut req = ureq::http::Request::builder()
                .method("GET")
                .uri(&url)
                .header("Accept", "text/event-stream");
            if let Some(t) = &self.token {
                req = req.header("Authorization", format!("Bearer {t}"));
            }
            if !last_id.is_empty() {
                req = req.header("Last-Event-ID", last_id.as_str());
            }
            let mut resp = agent
                .run(req.body(()).context("bad request")?)
                .with_context(|| format!("cannot reach {}", self.base))?;
            let status = resp.status().as_u16();
            if status >= 400 {
                let text = resp.body_mut().read_to_string().unwrap_or_default();
                let message = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_string))
                    .unwrap_or_else(|| format!("GET {path}: HTTP {status}"));
                bail!("{message}");
            }
            let reader = std::io::BufReader::new(resp.body_mut().as_reader());
            let (mut name, mut data, mut id) = (String::new(), String::new(), String::new());
            let mut lost = None;
            for line in reader.lines() {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        lost = Some(e);
                        break;
                    }
                };
                if line.is_empty() {
                    if !data.is_empty() || !name.is_empty() {
                        let event = if name.is_empty() { "message" } else { &name };
                        if !on_event(event, &id, &data)? {
                            return Ok(());
                        }
                        retries = 0;
                    }
                    name.clear();
                    data.clear();
                    id.clear();
                } else if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_string();
                    last_id = id.clone();
                }
            }
            retries += 1;
            match lost {
                Some(e) if retries <= 5 => {
                    tracing::debug!("event stream lost ({e}); resuming after '{last_id}'");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Some(e) => bail!("GET {path}: the event stream broke: {e}"),
                None if retries <= 5 => std::thread::sleep(Duration::from_millis(500)),
                None => bail!("GET {path}: the server closed the event stream before its end"),
            }
        }
    }

    /// The id of the project `name_or_id` names.
    pub fn project_id(&self, name_or_id: &str) -> anyhow::Result<i64> {
        if let Ok(id) = name_or_id.parse::<i64>() {
            return Ok(id);
        }
        let page = self.get_json(&format!(
            "/api/v1/projects?page_size=1000&name={}",
            query_escape(name_or_id)
        ))?;
        page["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str() == Some(name_or_id.trim()))
            .and_then(|p| p["id"].as_i64())
            .ok_or_else(|| anyhow!("no project named '{name_or_id}'"))
    }
}

/// Percent-encodes a query value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
