//! One bounded HTTP request with retries. Transport errors (no connection,
//! no answer within the timeout) and 5xx answers are retried after an
//! exponential backoff; HTTP 429 is retried after its `Retry-After`
//! (integer seconds) when that is within the bound, after the backoff when
//! it is missing or unreadable. Every other answer goes back to the caller,
//! who knows what the service's body means.
//!
//! Nothing here prints a URL or a header: callers name the service
//! themselves, so a secret in a webhook URL or a token never reaches a
//! message.

use crate::Limits;
use crate::snippet;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

/// A request to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST`, `PUT` ...
    pub method: String,
    pub url: String,
    /// Sent in this order, after none of the client's own but `host`,
    /// `content-length` and `accept` (when not given here).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// An answer the caller has to judge (not a 429, not a 5xx left after the
/// retries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    /// Attempts it took (1 when the first one answered).
    pub attempts: u32,
}

/// Why no usable answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No answer at all (connection refused, timeout ...), every attempt.
    Transport { reason: String, attempts: u32 },
    /// Still rate limited (HTTP 429) after the retries, or asked to wait
    /// longer than the bound.
    RateLimited {
        retry_after: Option<u64>,
        attempts: u32,
        too_long: bool,
    },
    /// A 5xx answer, every attempt.
    Server {
        status: u16,
        body: String,
        attempts: u32,
    },
    /// The request could not even be made (a bad header, say).
    Request(String),
}

fn attempts(n: u32) -> String {
    format!("{n} attempt{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Transport {
                reason,
                attempts: n,
            } => {
                write!(f, "{reason} ({})", attempts(*n))
            }
            Failure::RateLimited {
                retry_after,
                attempts: n,
                too_long,
            } => {
                write!(f, "rate limited (HTTP 429")?;
                if let Some(s) = retry_after {
                    write!(f, ", Retry-After {s} s")?;
                }
                write!(f, ")")?;
                if *too_long {
                    write!(f, ": longer than max_retry_after_secs, given up")?;
                }
                write!(f, " ({})", attempts(*n))
            }
            Failure::Server {
                status,
                body,
                attempts: n,
            } => {
                write!(f, "HTTP {status}")?;
                if !body.is_empty() {
                    write!(f, ": {}", snippet(body, 200))?;
                }
                write!(f, " ({})", attempts(*n))
            }
            Failure::Request(why) => f.write_str(why),
        }
    }
}

/// Sends requests within [`Limits`]. The HTTP client (its connection pool
/// and runtime thread) is made on first use, so an instance that never
/// notifies (a server process loading the settings) costs nothing.
#[derive(Debug)]
pub struct Sender {
    limits: Limits,
    client: OnceLock<Result<reqwest::blocking::Client, String>>,
}

/// What one attempt gave.
enum Attempt {
    Answered(Answer),
    Retry { wait: Duration, failure: Failure },
    GiveUp(Failure),
}

impl Sender {
    pub fn new(limits: Limits) -> Sender {
        Sender {
            limits,
            client: OnceLock::new(),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn client(&self) -> Result<&reqwest::blocking::Client, Failure> {
        self.client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .timeout(self.limits.timeout)
                    .connect_timeout(self.limits.timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))
            })
            .as_ref()
            .map_err(|e| Failure::Request(e.clone()))
    }

    /// Sends `request`, retrying as the module says. `retrying` hears of
    /// each retry (for the build's messages) before its wait.
    pub fn send(
        &self,
        request: &Request,
        retrying: &mut dyn FnMut(&str),
    ) -> Result<Answer, Failure> {
        let client = self.client()?;
        let total = self.limits.retries + 1;
        let mut n = 1;
        loop {
            match self.attempt(client, request, n) {
                Attempt::Answered(a) => return Ok(a),
                Attempt::GiveUp(f) => return Err(f),
                Attempt::Retry { failure, .. } if n >= total => return Err(failure),
                Attempt::Retry { wait, failure } => {
                    retrying(&format!(
                        "{}; retrying in {} (attempt {} of {total})",
                        describe_now(&failure),
                        seconds(wait),
                        n + 1
                    ));
                    std::thread::sleep(wait);
                }
            }
            n += 1;
        }
    }

    fn attempt(&self, client: &reqwest::blocking::Client, request: &Request, n: u32) -> Attempt {
        let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
            Ok(m) => m,
            Err(_) => {
                return Attempt::GiveUp(Failure::Request(format!(
                    "'{}' is not an HTTP method",
                    request.method
                )));
            }
        };
        let mut builder = client.request(method, &request.url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let sent = builder.body(request.body.clone()).send();
        let backoff = self.limits.backoff_before(n);
        let response = match sent {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Attempt::GiveUp(Failure::Request(format!(
                    "cannot make the request: {}",
                    chain(&e)
                )));
            }
            Err(e) => {
                return Attempt::Retry {
                    wait: backoff,
                    failure: Failure::Transport {
                        reason: transport_reason(&e, self.limits.timeout),
                        attempts: n,
                    },
                };
            }
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = match response.text() {
            Ok(b) => b,
            Err(e) => {
                return Attempt::Retry {
                    wait: backoff,
                    failure: Failure::Transport {
                        reason: format!(
                            "the answer (HTTP {status}) broke off: {}",
                            transport_reason(&e, self.limits.timeout)
                        ),
                        attempts: n,
                    },
                };
            }
        };
        if status == 429 {
            let wait = retry_after.map(Duration::from_secs);
            let too_long = wait.is_some_and(|w| w > self.limits.max_retry_after);
            let failure = Failure::RateLimited {
                retry_after,
                attempts: n,
                too_long,
            };
            if too_long {
                return Attempt::GiveUp(failure);
            }
            return Attempt::Retry {
                wait: wait.unwrap_or(backoff),
                failure,
            };
        }
        if (500..600).contains(&status) {
            return Attempt::Retry {
                wait: backoff,
                failure: Failure::Server {
                    status,
                    body,
                    attempts: n,
                },
            };
        }
        Attempt::Answered(Answer {
            status,
            body,
            attempts: n,
        })
    }
}

/// The failure of one attempt, without the attempt count.
fn describe_now(f: &Failure) -> String {
    match f {
        Failure::Transport { reason, .. } => reason.clone(),
        Failure::RateLimited { retry_after, .. } => match retry_after {
            Some(s) => format!("rate limited (HTTP 429, Retry-After {s} s)"),
            None => "rate limited (HTTP 429, no usable Retry-After)".into(),
        },
        Failure::Server { status, .. } => format!("HTTP {status}"),
        Failure::Request(why) => why.clone(),
    }
}

fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// A transport error in words, without its URL.
fn transport_reason(e: &reqwest::Error, timeout: Duration) -> String {
    if e.is_timeout() {
        return format!("no answer within {} (timeout_secs)", seconds(timeout));
    }
    let what = if e.is_connect() {
        "cannot connect"
    } else {
        "the request failed"
    };
    format!("{what}: {}", chain(e))
}

/// An error and its sources on one line, its URL left out (a webhook URL
/// may hold a secret).
fn chain(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut parts = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !text.is_empty() && !parts.contains(&text) {
            parts.push(text);
        }
        source = s.source();
    }
    if parts.is_empty() {
        // Display of the error itself names the URL; leave it out.
        return "unknown error".into();
    }
    parts.join(": ")
}
