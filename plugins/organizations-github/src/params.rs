//! The plugin's parameters, from the `[plugins.organizations]` entry:
//!
//! ```toml
//! github = ["vespene.plugins.organizations.github", { timeout_seconds = 30, retries = 3 }]
//! ```

use vespene_plugin_api::{PluginError, serde_json};

/// How the service login is presented to the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <password>`: the password is a personal
    /// access token (what GitHub and GitHub Enterprise accept today).
    Token,
    /// `Authorization: Basic base64(username:password)`, as the original's
    /// client sent it.
    Basic,
}

/// Parsed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Bound of one HTTP request, connection to last byte.
    pub timeout_seconds: u64,
    /// Further attempts after a failed request (timeouts, refused
    /// connections, 5xx, rate limits).
    pub retries: u32,
    /// The first wait between attempts; it doubles each time.
    pub backoff_ms: u64,
    /// The longest wait the plugin accepts from a rate limit's
    /// `Retry-After` or reset time before giving up.
    pub max_wait_seconds: u64,
    /// Repositories asked for per page (GitHub allows at most 100).
    pub per_page: u32,
    /// Pages followed at most (a guard against a `Link` loop).
    pub max_pages: u32,
    pub auth: Auth,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            timeout_seconds: 30,
            retries: 3,
            backoff_ms: 500,
            max_wait_seconds: 60,
            per_page: 100,
            max_pages: 1000,
            auth: Auth::Token,
        }
    }
}

const KNOWN: [&str; 7] = [
    "timeout_seconds",
    "retries",
    "backoff_ms",
    "max_wait_seconds",
    "per_page",
    "max_pages",
    "auth",
];

impl Params {
    pub fn parse(name: &str, value: &serde_json::Value) -> Result<Params, PluginError> {
        let bad = |why: String| PluginError::invalid_params(format!("'{name}': {why}"));
        let empty = serde_json::Map::new();
        let map = match value {
            serde_json::Value::Null => &empty,
            serde_json::Value::Object(m) => m,
            other => return Err(bad(format!("parameters must be a table, not {other}"))),
        };
        if let Some(key) = map.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(bad(format!(
                "unknown parameter '{key}' (known: {})",
                KNOWN.join(", ")
            )));
        }
        let number = |key: &str, min: u64, max: u64, default: u64| -> Result<u64, PluginError> {
            match map.get(key) {
                None => Ok(default),
                Some(v) => match v.as_u64() {
                    Some(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(bad(format!(
                        "{key} must be a whole number from {min} to {max}, not {v}"
                    ))),
                },
            }
        };
        let d = Params::default();
        let auth = match map.get("auth") {
            None => d.auth,
            Some(v) => match v.as_str() {
                Some("token") => Auth::Token,
                Some("basic") => Auth::Basic,
                _ => return Err(bad(format!("auth must be \"token\" or \"basic\", not {v}"))),
            },
        };
        Ok(Params {
            timeout_seconds: number("timeout_seconds", 1, 3600, d.timeout_seconds)?,
            retries: number("retries", 0, 20, u64::from(d.retries))? as u32,
            backoff_ms: number("backoff_ms", 0, 60_000, d.backoff_ms)?,
            max_wait_seconds: number("max_wait_seconds", 0, 3600, d.max_wait_seconds)?,
            per_page: number("per_page", 1, 100, u64::from(d.per_page))? as u32,
            max_pages: number("max_pages", 1, 100_000, u64::from(d.max_pages))? as u32,
            auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(
            Params::parse("github", &serde_json::Value::Null).unwrap(),
            Params::default()
        );
        let p = Params::parse(
            "github",
            &json!({"timeout_seconds": 5, "retries": 0, "auth": "basic", "per_page": 30}),
        )
        .unwrap();
        assert_eq!(p.timeout_seconds, 5);
        assert_eq!(p.retries, 0);
        assert_eq!(p.auth, Auth::Basic);
        assert_eq!(p.per_page, 30);
    }

    #[test]
    fn bad_parameters_are_named() {
        let e = Params::parse("github", &json!({"timeout": 5})).unwrap_err();
        assert!(e.message.contains("unknown parameter 'timeout'"), "{e}");
        let e = Params::parse("github", &json!({"per_page": 500})).unwrap_err();
        assert!(
            e.message
                .contains("per_page must be a whole number from 1 to 100"),
            "{e}"
        );
        let e = Params::parse("github", &json!({"auth": "oauth"})).unwrap_err();
        assert!(e.message.contains("auth must be"), "{e}");
    }
}
