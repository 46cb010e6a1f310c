//! The GitHub REST calls: `GET /orgs/{org}/repos?type=all`, following the
//! `Link: <…>; rel="next"` URLs as given (GitHub's next pages live under
//! `/organizations/{id}/`, not the org's name), each request bounded by a
//! timeout and retried with exponential backoff when the failure may pass
//! (no answer, 5xx). A rate limit (429, or 403 with `X-RateLimit-Remaining:
//! 0` or `Retry-After`) is waited out as `Retry-After` or
//! `X-RateLimit-Reset` says, outside the `retries` count, as long as all
//! the waiting for limits stays within `max_wait_seconds`; past that the
//! import fails with a line naming the limit and its reset.

use crate::link;
use crate::params::{Auth, Params};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue, USER_AGENT};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vespene_plugin_api::Credentials;
use vespene_plugin_api::serde_json::{self, Value};

/// The public service's API.
pub const PUBLIC_API: &str = "https://api.github.com";

/// What the calls need besides the URL.
pub struct Api<'a> {
    pub client: Client,
    pub params: &'a Params,
    pub credentials: Option<&'a Credentials>,
    /// Reports progress into the import build's messages.
    pub message: &'a dyn Fn(&str),
    /// Whether the import was stopped (no further attempt is made).
    pub stopped: &'a dyn Fn() -> bool,
}

/// The API base URL of an organization: blank is the public service, else
/// a GitHub Enterprise base such as `https://github.example.com/api/v3`.
pub fn base_url(api_endpoint: &str) -> Result<String, String> {
    let base = api_endpoint.trim().trim_end_matches('/');
    if base.is_empty() {
        return Ok(PUBLIC_API.into());
    }
    if !(base.starts_with("https://") || base.starts_with("http://")) {
        return Err(format!(
            "api_endpoint '{base}' is not an http(s) URL (GitHub Enterprise: https://HOST/api/v3)"
        ));
    }
    reqwest::Url::parse(base).map_err(|e| format!("api_endpoint '{base}': {e}"))?;
    Ok(base.to_string())
}

/// The first page of an organization's repositories.
pub fn first_page_url(base: &str, org: &str, per_page: u32) -> Result<String, String> {
    let org = org.trim();
    if org.is_empty()
        || !org
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "organization identifier '{org}' is not a GitHub organization name (letters, digits and -)"
        ));
    }
    Ok(format!(
        "{base}/orgs/{org}/repos?type=all&per_page={per_page}"
    ))
}

/// `scheme://host:port` of a URL, to keep credentials on the API's host.
fn origin(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

/// Builds the HTTP client: every request bounded by `timeout_seconds`.
pub fn client(params: &Params) -> Result<Client, String> {
    let timeout = Duration::from_secs(params.timeout_seconds);
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/vnd.github+json"),
    );
    headers.insert(
        "X-GitHub-Api-Version",
        HeaderValue::from_static("2022-11-28"),
    );
    headers.insert(
        USER_AGENT,
        HeaderValue::from_static(concat!("vespene/", env!("CARGO_PKG_VERSION"))),
    );
    Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .default_headers(headers)
        // A redirect to another host would carry the token there.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    message: String,
    /// `None`: do not retry; else the least wait before the next attempt.
    retry_after: Option<Duration>,
    /// A rate limit's description when the answer was one.
    rate_limit: Option<String>,
}

impl Api<'_> {
    fn authorization(&self) -> Option<String> {
        let c = self.credentials?;
        if c.password.is_empty() && c.username.is_empty() {
            return None;
        }
        Some(match self.params.auth {
            Auth::Token => format!("Bearer {}", c.password),
            Auth::Basic => format!(
                "Basic {}",
                base64(format!("{}:{}", c.username, c.password).as_bytes())
            ),
        })
    }

    /// Every repository's `clone_url`, all pages.
    pub fn list_clone_urls(&self, base: &str, org: &str) -> Result<Vec<String>, String> {
        let mut url = first_page_url(base, org, self.params.per_page)?;
        let home = origin(base).ok_or_else(|| format!("api_endpoint '{base}' has no host"))?;
        let mut repos = Vec::new();
        for page in 1..=self.params.max_pages {
            let (items, next) = self.get_page(&url)?;
            (self.message)(&format!(
                "GitHub: page {page} of organization '{org}': {} repositories",
                items.len()
            ));
            for item in &items {
                let clone_url = item.get("clone_url").and_then(Value::as_str);
                match clone_url {
                    Some(u) if !u.trim().is_empty() => repos.push(u.trim().to_string()),
                    _ => {
                        let name = item
                            .get("full_name")
                            .and_then(Value::as_str)
                            .unwrap_or("(unnamed)");
                        return Err(format!(
                            "GitHub's answer to GET {url} lists repository '{name}' without a clone_url"
                        ));
                    }
                }
            }
            match next {
                None => return Ok(repos),
                Some(next) => {
                    if origin(&next).as_deref() != Some(home.as_str()) {
                        return Err(format!(
                            "GitHub's next page {next} is not on the API host {home}; not following it with the organization's credentials"
                        ));
                    }
                    url = next;
                }
            }
        }
        Err(format!(
            "organization '{org}' has more than {} pages of repositories (max_pages); stopped following its Link headers",
            self.params.max_pages
        ))
    }

    /// One page, retried: its repository objects and the next page's URL.
    fn get_page(&self, url: &str) -> Result<(Vec<Value>, Option<String>), String> {
        let mut backoff = Duration::from_millis(self.params.backoff_ms);
        let mut attempt = 0;
        let mut limited_for = Duration::ZERO;
        loop {
            attempt += 1;
            let failure = match self.attempt(url) {
                Ok(page) => return Ok(page),
                Err(f) => f,
            };
            if let Some(limit) = &failure.rate_limit {
                let wait = failure
                    .retry_after
                    .unwrap_or_default()
                    .max(Duration::from_secs(1));
                let bound = Duration::from_secs(self.params.max_wait_seconds);
                if limited_for + wait > bound {
                    return Err(format!(
                        "{}: {limit}; waiting {} s more (after {} s) is past max_wait_seconds = {}: try again once the limit has reset",
                        failure.message,
                        wait.as_secs(),
                        limited_for.as_secs(),
                        self.params.max_wait_seconds
                    ));
                }
                (self.message)(&format!(
                    "GitHub: rate limited on GET {url}: {limit}; waiting {} s",
                    wait.as_secs()
                ));
                if self.sleep_unless_stopped(wait) {
                    return Err(format!("{} (import stopped)", failure.message));
                }
                limited_for += wait;
                // Waiting out a limit is not a failed attempt.
                attempt -= 1;
                continue;
            }
            let attempts = self.params.retries + 1;
            let Some(least) = failure.retry_after else {
                return Err(failure.message);
            };
            if attempt >= attempts {
                return Err(format!(
                    "{} (gave up after {attempt} attempt{})",
                    failure.message,
                    if attempt == 1 { "" } else { "s" }
                ));
            }
            let wait = backoff.max(least);
            if wait > Duration::from_secs(self.params.max_wait_seconds) {
                return Err(format!(
                    "{} (the service asks to wait {} s, more than max_wait_seconds = {})",
                    failure.message,
                    wait.as_secs(),
                    self.params.max_wait_seconds
                ));
            }
            (self.message)(&format!(
                "GitHub: {}; attempt {} of {attempts} in {:.1} s",
                failure.message,
                attempt + 1,
                wait.as_secs_f64()
            ));
            std::thread::sleep(wait);
            if (self.stopped)() {
                return Err(format!("{} (import stopped)", failure.message));
            }
            backoff = backoff.saturating_mul(2).min(Duration::from_secs(30));
        }
    }

    /// Sleeps `wait` in short steps; `true` when the import was stopped.
    fn sleep_unless_stopped(&self, wait: Duration) -> bool {
        let until = std::time::Instant::now() + wait;
        loop {
            if (self.stopped)() {
                return true;
            }
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(Duration::from_millis(250)));
        }
    }

    fn attempt(&self, url: &str) -> Result<(Vec<Value>, Option<String>), Failure> {
        let mut request = self.client.get(url);
        if let Some(auth) = self.authorization() {
            request = request.header(AUTHORIZATION, auth);
        }
        let response = request.send().map_err(|e| Failure {
            message: describe_transport(url, &e, self.params.timeout_seconds),
            retry_after: Some(Duration::ZERO),
            rate_limit: None,
        })?;
        let status = response.status();
        if !status.is_success() {
            return Err(refusal(url, response));
        }
        let next = response
            .headers()
            .get_all("link")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| link::find(v, "next"));
        let body = response.text().map_err(|e| Failure {
            message: describe_transport(url, &e, self.params.timeout_seconds),
            retry_after: Some(Duration::ZERO),
            rate_limit: None,
        })?;
        let items: Vec<Value> = match serde_json::from_str(&body) {
            Ok(Value::Array(items)) => items,
            Ok(other) => {
                return Err(Failure {
                    message: format!(
                        "GitHub's answer to GET {url} is not a list of repositories: {}",
                        cut(&other.to_string())
                    ),
                    retry_after: None,
                    rate_limit: None,
                });
            }
            Err(e) => {
                return Err(Failure {
                    message: format!(
                        "GitHub's answer to GET {url} is not JSON ({e}): {}",
                        cut(&body)
                    ),
                    retry_after: None,
                    rate_limit: None,
                });
            }
        };
        Ok((items, next))
    }
}

fn describe_transport(url: &str, e: &reqwest::Error, timeout: u64) -> String {
    if e.is_timeout() {
        format!("GET {url}: no answer within timeout_seconds = {timeout}")
    } else if e.is_connect() {
        format!("GET {url}: cannot connect: {}", source_chain(e))
    } else {
        format!("GET {url}: {}", source_chain(e))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// A non-2xx answer: GitHub's `message` (and `documentation_url`), and
/// whether it is worth another attempt (5xx, 429, a 403 rate limit).
fn refusal(url: &str, response: Response) -> Failure {
    let status = response.status();
    let headers = response.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .map(str::to_string)
    };
    let retry_after = header("retry-after").and_then(|s| s.parse::<u64>().ok());
    let rate_limited = header("x-ratelimit-remaining").as_deref() == Some("0");
    let reset_wait = header("x-ratelimit-reset")
        .and_then(|s| s.parse::<u64>().ok())
        .map(|reset| {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            reset.saturating_sub(now)
        });
    let body = response.text().unwrap_or_default();
    let detail = match serde_json::from_str::<Value>(&body) {
        Ok(v) => {
            let msg = v.get("message").and_then(Value::as_str).unwrap_or("");
            let doc = v
                .get("documentation_url")
                .and_then(Value::as_str)
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            if msg.is_empty() {
                cut(&body)
            } else {
                format!("{msg}{doc}")
            }
        }
        Err(_) => cut(&body),
    };
    let message = format!(
        "GitHub answered {} to GET {url}{}",
        status_text(status),
        if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        }
    );
    if status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN && (rate_limited || retry_after.is_some()))
    {
        let name = header("x-ratelimit-resource")
            .map(|r| format!("'{r}' "))
            .unwrap_or_default();
        let of = header("x-ratelimit-limit")
            .map(|l| format!(" of {l} requests"))
            .unwrap_or_default();
        let limit = format!("GitHub's {name}rate limit{of}");
        let reset = reset_wait.filter(|_| rate_limited);
        let (wait, limit) = match (retry_after, reset) {
            (Some(s), _) => (s, format!("{limit} asks to wait (Retry-After: {s})")),
            (None, Some(r)) => (
                r,
                format!(
                    "{limit} is used up (X-RateLimit-Remaining: 0); it resets in {r} s (X-RateLimit-Reset)"
                ),
            ),
            (None, None) => (1, format!("{limit} was hit, with no time to wait given")),
        };
        return Failure {
            message,
            retry_after: Some(Duration::from_secs(wait)),
            rate_limit: Some(limit),
        };
    }
    let retry = status
        .is_server_error()
        .then(|| Duration::from_secs(retry_after.unwrap_or(0)));
    Failure {
        message,
        retry_after: retry,
        rate_limit: None,
    }
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// At most 300 characters of a body, for messages.
fn cut(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Standard base64 with padding (RFC 4648), for Basic authentication.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(base_url("").unwrap(), PUBLIC_API);
        assert_eq!(
            base_url(" https://ghe.example.com/api/v3/ ").unwrap(),
            "https://ghe.example.com/api/v3"
        );
        assert!(
            base_url("ghe.example.com")
                .unwrap_err()
                .contains("not an http(s) URL")
        );
    }

    #[test]
    fn first_pages() {
        assert_eq!(
            first_page_url(PUBLIC_API, "vespene-io", 100).unwrap(),
            "https://api.github.com/orgs/vespene-io/repos?type=all&per_page=100"
        );
        assert!(first_page_url(PUBLIC_API, "a/b", 100).is_err());
        assert!(first_page_url(PUBLIC_API, " ", 100).is_err());
    }

    #[test]
    fn base64_vectors() {
        // RFC 4648 §10.
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://api.github.com/organizations/1/repos?page=2").as_deref(),
            Some("https://api.github.com:443")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/api/v3").as_deref(),
            Some("http://127.0.0.1:8080")
        );
    }
}
