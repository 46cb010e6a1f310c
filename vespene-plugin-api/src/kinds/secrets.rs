//! Secrets: encrypt values at rest (reference §3.2 "Secrets"). The first
//! configured plugin encrypts; any plugin that recognizes a value decrypts.

use super::adapter;
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// The header every encrypted value starts with.
pub const CLOAK_HEADER: &str = "[VESPENE-CLOAK]";

/// Operation names.
pub mod ops {
    /// [`super::CloakRequest`] → [`super::CloakResponse`].
    pub const CLOAK: &str = "cloak";
    /// [`super::DecloakRequest`] → [`super::DecloakResponse`].
    pub const DECLOAK: &str = "decloak";
    /// [`super::DecloakRequest`] → [`super::RecognizesResponse`].
    pub const RECOGNIZES: &str = "recognizes";
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloakRequest {
    pub plaintext: String,
}

impl std::fmt::Debug for CloakRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CloakRequest { plaintext: <redacted> }")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloakResponse {
    /// Starts with [`CLOAK_HEADER`].
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecloakRequest {
    pub value: String,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecloakResponse {
    pub plaintext: String,
}

impl std::fmt::Debug for DecloakResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DecloakResponse { plaintext: <redacted> }")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecognizesResponse {
    pub recognized: bool,
}

/// A secrets plugin.
pub trait SecretsPlugin: Send + Sync {
    fn cloak(&self, plaintext: &str) -> Result<String, PluginError>;
    fn decloak(&self, value: &str) -> Result<String, PluginError>;
    fn recognizes(&self, value: &str) -> bool;
}

adapter!(Kind::Secrets, SecretsPlugin);

impl<T: SecretsPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::CLOAK => handle(args, |r: CloakRequest| {
                self.0
                    .cloak(&r.plaintext)
                    .map(|value| CloakResponse { value })
            }),
            ops::DECLOAK => handle(args, |r: DecloakRequest| {
                self.0
                    .decloak(&r.value)
                    .map(|plaintext| DecloakResponse { plaintext })
            }),
            ops::RECOGNIZES => handle(args, |r: DecloakRequest| {
                Ok(RecognizesResponse {
                    recognized: self.0.recognizes(&r.value),
                })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
