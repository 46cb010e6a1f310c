//! Source control: check a project's repository out into the build root
//! (reference §3.2 "SCM"). Selected by the project's `scm_type`, which names
//! an entry of the `scm` settings section.

use super::adapter;
use crate::context::{BuildInfo, Credentials, ProjectInfo};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::CheckoutRequest`] → [`super::CheckoutResult`].
    pub const CHECKOUT: &str = "checkout";
}

/// How SSH authentication is available to this build: a private agent
/// socket holding only this project's keys and/or key files in a private
/// directory, both removed when the build ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SshAccess {
    pub auth_sock: Option<String>,
    pub key_files: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckoutRequest {
    pub build: BuildInfo,
    pub project: ProjectInfo,
    /// Where to check out: the build root itself.
    pub build_root: String,
    /// The project's service login, decrypted, for http(s) URLs.
    pub credentials: Option<Credentials>,
    pub ssh: SshAccess,
    /// Give up after this many seconds (the original used 600 for git).
    pub timeout_secs: Option<u64>,
}

/// What the checkout recorded on the build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckoutResult {
    /// Short commit id or revision number.
    pub revision: String,
    /// Who made it (git: author e-mail; svn: last author).
    pub revision_username: String,
}

/// A source control plugin.
pub trait ScmPlugin: Send + Sync {
    fn checkout(&self, request: &CheckoutRequest) -> Result<CheckoutResult, PluginError>;
}

adapter!(Kind::Scm, ScmPlugin);

impl<T: ScmPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::CHECKOUT => handle(args, |r: CheckoutRequest| self.0.checkout(&r)),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
