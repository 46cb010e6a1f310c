//! Errors as plain data: what crosses the boundary when an operation fails.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why an operation failed. Serialized as a lower-case string so plugins in
/// any language can produce it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The plugin does not implement this operation; the host falls back.
    Unsupported,
    /// `create` refused the instance's parameters.
    InvalidParams,
    /// The arguments of a call could not be decoded.
    InvalidRequest,
    /// The operation ran and failed (a command exited non-zero, a remote
    /// service refused, ...).
    Failed,
    /// The plugin panicked; the export layer caught it.
    Panicked,
    /// Anything else (an error reported by a plugin with an unknown code).
    #[serde(other)]
    Other,
}

impl ErrorCode {
    /// The wire spelling of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unsupported => "unsupported",
            ErrorCode::InvalidParams => "invalid_params",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::Failed => "failed",
            ErrorCode::Panicked => "panicked",
            ErrorCode::Other => "other",
        }
    }
}

/// The error of a plugin operation: `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginError {
    pub code: ErrorCode,
    pub message: String,
}

impl PluginError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        PluginError {
            code,
            message: message.into(),
        }
    }

    /// The operation ran and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Failed, message)
    }

    /// The parameters given to `create` are not acceptable.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParams, message)
    }

    /// The arguments of a call are malformed.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }

    /// The operation is not implemented by this plugin.
    pub fn unsupported(op: &str) -> Self {
        Self::new(
            ErrorCode::Unsupported,
            format!("operation '{op}' is not supported"),
        )
    }

    /// Encodes the error as the JSON that crosses the boundary.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            format!(
                "{{\"code\":\"{}\",\"message\":\"unencodable error\"}}",
                self.code.as_str()
            )
        })
    }

    /// Decodes an error that came back from a plugin. Text that is not the
    /// expected JSON is kept verbatim as the message, so a sloppy plugin's
    /// error is still shown to the user.
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_else(|_| PluginError::new(ErrorCode::Other, text))
    }
}

impl fmt::Display for PluginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            ErrorCode::Failed | ErrorCode::Other => f.write_str(&self.message),
            code => write!(f, "{} ({})", self.message, code.as_str()),
        }
    }
}

impl std::error::Error for PluginError {}

impl From<serde_json::Error> for PluginError {
    fn from(e: serde_json::Error) -> Self {
        PluginError::invalid_request(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_plain_text() {
        let e = PluginError::invalid_params("mode must be 'elapsed'");
        assert_eq!(
            e.to_json(),
            r#"{"code":"invalid_params","message":"mode must be 'elapsed'"}"#
        );
        assert_eq!(PluginError::from_json(&e.to_json()), e);
        let plain = PluginError::from_json("segfault-ish text");
        assert_eq!(plain.code, ErrorCode::Other);
        assert_eq!(plain.message, "segfault-ish text");
        let unknown = PluginError::from_json(r#"{"code":"weird","message":"m"}"#);
        assert_eq!(unknown.code, ErrorCode::Other);
    }
}
