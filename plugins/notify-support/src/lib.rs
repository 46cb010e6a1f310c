//! What the notification triggers share: their common parameters
//! ([`Limits`]) and one bounded HTTP request ([`Sender::send`]) with a
//! timeout per attempt, retries with exponential backoff on transport
//! errors and 5xx answers, and HTTP 429 `Retry-After` honoured up to a
//! bound.
//!
//! A notification is never worth a build: the plugins report every problem
//! in the build's messages ([`Notifier`]) and return success, so a dead
//! chat server or forge never fails or holds up a build for longer than
//! [`Limits::worst_case`].

mod credential;
mod limits;
mod send;

pub use credential::Credential;
pub use limits::{LIMIT_KEYS, Limits};
pub use send::{Answer, Failure, Request, Sender};

use vespene_plugin_api::kinds::trigger::{Event, HookRequest};
use vespene_plugin_api::serde_json::{Map, Value};
use vespene_plugin_api::{Host, LogLevel};

/// Writes one plugin instance's notices into the build's messages (and the
/// process log), each prefixed with the trigger's name.
#[derive(Debug, Clone, Copy)]
pub struct Notifier<'a> {
    pub host: Host,
    /// `slack trigger 'chat'`, say.
    pub who: &'a str,
}

impl Notifier<'_> {
    /// A line in the build's messages.
    pub fn message(&self, text: &str) {
        let line = format!("{}: {text}", self.who);
        if self.host.message(&line).is_err() {
            // No build being served (a `vespene plugins call`): the log.
            self.host.log(LogLevel::Info, &line);
        }
    }

    /// A problem: in the build's messages and the process log as a warning.
    pub fn problem(&self, text: &str) {
        let line = format!("{}: {text}", self.who);
        self.host.log(LogLevel::Warn, &line);
        let _ = self.host.message(&line);
    }
}

/// Text cut to `max` characters on one line, for quoting an answer body.
pub fn snippet(text: &str, max: usize) -> String {
    let line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let line = line.trim();
    match line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &line[..cut]),
        None => line.to_string(),
    }
}

/// The original's Slack text for a build: `Vespene Build 5 for project
/// "demo" started` (pre), `... succeeded` (success), `... failed`
/// (failure), reference §3.2.
pub fn build_text(request: &HookRequest) -> String {
    let verb = match request.event {
        Event::Pre => "started",
        Event::Success => "succeeded",
        Event::Failure => "failed",
    };
    format!(
        "Vespene Build {} for project \"{}\" {verb}",
        request.build.id, request.project.name
    )
}

/// Refuses a key of `params` that is not in `known` (the smallest one,
/// whatever the map's order), naming the keys it takes.
pub fn refuse_unknown(params: &Map<String, Value>, known: &[&str]) -> Result<(), String> {
    match params
        .keys()
        .filter(|k| !known.contains(&k.as_str()) && !LIMIT_KEYS.contains(&k.as_str()))
        .min()
    {
        Some(key) => {
            let mut all: Vec<&str> = known.iter().chain(LIMIT_KEYS).copied().collect();
            all.sort_unstable();
            Err(format!(
                "unknown parameter '{key}' (expected {})",
                all.join(", ")
            ))
        }
        None => Ok(()),
    }
}

/// A string parameter: `None` when absent, an error when it is not a
/// non-empty string.
pub fn string_param(params: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(format!("'{key}' is empty")),
        Some(other) => Err(format!("'{key}' must be a string, not {}", kind_of(other))),
    }
}

/// A required string parameter.
pub fn required_string(params: &Map<String, Value>, key: &str) -> Result<String, String> {
    string_param(params, key)?.ok_or_else(|| format!("'{key}' is required"))
}

/// What kind of JSON value `v` is, for messages that must not echo it (it
/// may be a token).
pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

/// A base URL without its trailing slashes, refused unless http(s).
pub fn base_url(key: &str, url: &str) -> Result<String, String> {
    let trimmed = url.trim().trim_end_matches('/');
    if !(trimmed.starts_with("https://") || trimmed.starts_with("http://"))
        || trimmed.len() <= "https://".len()
    {
        return Err(format!("'{key}' must be an http:// or https:// URL"));
    }
    Ok(trimmed.to_string())
}
