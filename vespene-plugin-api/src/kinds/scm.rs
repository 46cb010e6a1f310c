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
    /// The same keys, decrypted, for plugins that authenticate in-process
    /// (libgit2) and so never need a file or an agent. Optional: absent
    /// from older hosts' requests.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<SshKey>,
}

/// One of the project's SSH keys, decrypted.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SshKey {
    /// The key's name, for messages.
    pub name: String,
    /// The private key (OpenSSH or PEM text).
    pub private_key: String,
    /// Its passphrase; empty when it has none.
    pub unlock_password: String,
}

impl std::fmt::Debug for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshKey")
            .field("name", &self.name)
            .field("private_key", &"<redacted>")
            .field("unlock_password", &"<redacted>")
            .finish()
    }
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
    /// Check out this branch instead of the project's (a webhook's pushed
    /// branch). Optional, like `commit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Check out exactly this commit (a full or abbreviated id), e.g. the
    /// one a webhook reported pushed. Optional: absent, the branch's tip is built.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// What the checkout recorded on the build.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckoutResult {
    /// Short commit id or revision number.
    pub revision: String,
    /// Who made it (git: author e-mail; svn: last author).
    pub revision_username: String,
    /// The full commit id (git: 40 hex digits), for those who need more
    /// than the short `revision` (commit statuses). Optional: scm plugins
    /// without one leave it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
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
