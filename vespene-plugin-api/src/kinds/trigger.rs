//! Triggers: run before a build (`pre_triggers`), after a successful one
//! (`success_triggers`) or after a failed one (`failure_triggers`), in the
//! order written in the settings (reference §3.2 "Trigger").

use super::{Empty, adapter};
use crate::context::{BuildInfo, ProjectInfo};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::HookRequest`] → `{}`; an error fails a pre trigger's build.
    pub const EXECUTE_HOOK: &str = "execute_hook";
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
}

impl HookRequest {
    pub fn new(event: Event, build: BuildInfo, project: ProjectInfo) -> HookRequest {
        HookRequest {
            hook: event.hook().to_string(),
            event,
            build,
            project,
        }
    }
}

/// A trigger.
pub trait TriggerPlugin: Send + Sync {
    fn execute_hook(&self, request: &HookRequest) -> Result<(), PluginError>;
}

adapter!(Kind::Trigger, TriggerPlugin);

impl<T: TriggerPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::EXECUTE_HOOK => handle(args, |r: HookRequest| {
                self.0.execute_hook(&r).map(|()| Empty {})
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
