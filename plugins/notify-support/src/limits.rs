//! The bounds every notification trigger takes in its parameters:
//! `timeout_secs`, `retries` and `max_retry_after_secs`.

use std::time::Duration;
use vespene_plugin_api::serde_json::{Map, Value};

/// The parameter names [`Limits::from_params`] reads.
pub const LIMIT_KEYS: &[&str] = &["timeout_secs", "retries", "max_retry_after_secs"];

/// How long one notification may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One attempt, connection included.
    pub timeout: Duration,
    /// Attempts after the first one.
    pub retries: u32,
    /// The first wait before a retry; doubled for each further one.
    pub backoff: Duration,
    /// The longest HTTP 429 `Retry-After` waited for; a longer one gives up.
    pub max_retry_after: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// Reads `timeout_secs` (at least 1), `retries` (0 to 10) and
    /// `max_retry_after_secs` from a parameters table; absent keys keep
    /// their defaults. The error is a one-line reason.
    pub fn from_params(params: &Map<String, Value>) -> Result<Limits, String> {
        let mut limits = Limits::default();
        let whole = |key: &str, min: u64, max: u64| -> Result<Option<u64>, String> {
            match params.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
                    _ => Err(format!(
                        "'{key}' must be a whole number from {min} to {max}, not {v}"
                    )),
                },
            }
        };
        if let Some(n) = whole("timeout_secs", 1, 300)? {
            limits.timeout = Duration::from_secs(n);
        }
        if let Some(n) = whole("retries", 0, 10)? {
            limits.retries = n as u32;
        }
        if let Some(n) = whole("max_retry_after_secs", 0, 3600)? {
            limits.max_retry_after = Duration::from_secs(n);
        }
        Ok(limits)
    }

    /// The longest one notification can hold up a build: every attempt
    /// timing out, with the longest wait before each retry.
    pub fn worst_case(&self) -> Duration {
        let attempts = self.retries + 1;
        let waits: Duration = (1..attempts)
            .map(|n| self.backoff_before(n).max(self.max_retry_after))
            .sum();
        self.timeout * attempts + waits
    }

    /// The wait before retry `n` (1 for the first) when the server said
    /// nothing about it: backoff, 2 × backoff, 4 × backoff ...
    pub fn backoff_before(&self, n: u32) -> Duration {
        self.backoff * 2u32.saturating_pow(n.saturating_sub(1).min(16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::serde_json::json;

    fn parse(v: Value) -> Result<Limits, String> {
        Limits::from_params(v.as_object().unwrap())
    }

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(parse(json!({})).unwrap(), Limits::default());
        let l = parse(json!({"timeout_secs": 3, "retries": 0, "max_retry_after_secs": 5})).unwrap();
        assert_eq!(l.timeout, Duration::from_secs(3));
        assert_eq!(l.retries, 0);
        assert_eq!(l.max_retry_after, Duration::from_secs(5));
        assert_eq!(l.worst_case(), Duration::from_secs(3));
    }

    #[test]
    fn refusals_name_the_key() {
        assert_eq!(
            parse(json!({"timeout_secs": 0})).unwrap_err(),
            "'timeout_secs' must be a whole number from 1 to 300, not 0"
        );
        assert!(
            parse(json!({"retries": -1}))
                .unwrap_err()
                .contains("'retries'")
        );
        assert!(
            parse(json!({"retries": "2"}))
                .unwrap_err()
                .contains("not \"2\"")
        );
    }

    #[test]
    fn backoff_doubles() {
        let l = Limits::default();
        assert_eq!(l.backoff_before(1), Duration::from_secs(1));
        assert_eq!(l.backoff_before(2), Duration::from_secs(2));
        assert_eq!(l.backoff_before(3), Duration::from_secs(4));
        // 3 attempts of 10 s and two waits of at most 30 s.
        assert_eq!(l.worst_case(), Duration::from_secs(90));
    }
}
