//! Triggers: run before a build (`pre_triggers`), after a successful one
//! (`success_triggers`) or after a failed one (`failure_triggers`), in the
//! order written in the settings (reference §3.2 "Trigger").

use super::{Empty, adapter};
use crate::context::{BuildInfo, Credentials, ProjectInfo};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Operation names.
pub mod ops {
    /// [`super::HookRequest`] → `{}`; an error fails a pre trigger's build.
    pub const EXECUTE_HOOK: &str = "execute_hook";
    /// [`super::HookRequest`] (event `pre`, with the checked-out revision
    /// and `commit`) → `{}`: called on the `pre_triggers` entries once the
    /// checkout has recorded the commit, for triggers that report on it
    /// (a commit status's "pending"). Trigger API 1.1; a plugin without it
    /// answers `unsupported` and the host carries on. An error is reported
    /// in the build's messages and never fails the build.
    pub const CHECKED_OUT: &str = "checked_out";
}

/// Which moment of a build a trigger is called for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Before checkout.
    #[default]
    Pre,
    /// After the build ended SUCCESS.
    Success,
    /// After the build ended otherwise.
    Failure,
}

impl Event {
    /// The original's `hook` value: `pre` or `post`.
    pub fn hook(self) -> &'static str {
        match self {
            Event::Pre => "pre",
            Event::Success | Event::Failure => "post",
        }
    }
}

/// The original's trigger context: `hook`, `build` and `project`, plus the
/// event that tells success from failure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HookRequest {
    /// `pre` or `post`.
    pub hook: String,
    pub event: Event,
    pub build: BuildInfo,
    pub project: ProjectInfo,
    /// The full id of the commit built, once the scm plugin has reported
    /// it (git: 40 hex digits; `build.revision` is the short id). Absent
    /// before the checkout and for scm plugins that report none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Trigger API 1.2: every service login named by a `service_login =
    /// "NAME"` anywhere in this entry's parameters, resolved by the host
    /// for this one call (decrypted, or why the build's project may not
    /// use it). Never stored, never logged; read it with
    /// [`HookRequest::service_login`].
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub service_logins: BTreeMap<String, ServiceLoginGrant>,
}

/// A service login named in a trigger's parameters, as the host resolved
/// it for the build's project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceLoginGrant {
    /// The project's owner may use it: its username and password.
    Granted(Credentials),
    /// Why not (no such login, the project's owner may not use it, it
    /// cannot be decrypted), in one line.
    Refused(String),
}

impl HookRequest {
    pub fn new(event: Event, build: BuildInfo, project: ProjectInfo) -> HookRequest {
        HookRequest {
            hook: event.hook().to_string(),
            event,
            build,
            project,
            commit: None,
            service_logins: BTreeMap::new(),
        }
    }

    /// The service login `name` the host resolved for this call, or why
    /// it cannot be used (a host older than trigger API 1.2 resolves none).
    pub fn service_login(&self, name: &str) -> Result<&Credentials, String> {
        match self.service_logins.get(name) {
            Some(ServiceLoginGrant::Granted(c)) => Ok(c),
            Some(ServiceLoginGrant::Refused(why)) => Err(why.clone()),
            None => Err(format!(
                "service login '{name}' was not resolved by the host (trigger API 1.2 needed)"
            )),
        }
    }

    /// The same request with the full commit id.
    pub fn with_commit(mut self, commit: Option<String>) -> HookRequest {
        self.commit = commit;
        self
    }
}

/// A trigger.
pub trait TriggerPlugin: Send + Sync {
    fn execute_hook(&self, request: &HookRequest) -> Result<(), PluginError>;

    /// [`ops::CHECKED_OUT`]: the checkout of a build this trigger ran
    /// `pre` for has recorded its commit. Unsupported unless implemented.
    fn checked_out(&self, request: &HookRequest) -> Result<(), PluginError> {
        let _ = request;
        Err(PluginError::unsupported(ops::CHECKED_OUT))
    }
}

adapter!(Kind::Trigger, TriggerPlugin);

impl<T: TriggerPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::EXECUTE_HOOK => handle(args, |r: HookRequest| {
                self.0.execute_hook(&r).map(|()| Empty {})
            }),
            ops::CHECKED_OUT => handle(args, |r: HookRequest| {
                self.0.checked_out(&r).map(|()| Empty {})
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
