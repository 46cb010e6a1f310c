//! Running the trigger sections: every configured trigger of a section, in
//! the order written, each served by the build's call scope.
//!
//! Pre triggers stop at the first failure (the build fails before
//! checkout). Success and failure triggers all run even when one fails
//! ("Decisions" 8): a failing post trigger is reported, it never changes the
//! build's status.

use super::call_guard::{self, CallGuard, Deadline};
use crate::plugins::{CallScope, Registry, with_scope};
use std::time::Duration;

/// How long each trigger call may take, and who is told which trigger is
/// about to run (a runner child tells its worker, so that a fresh child
/// can go on after one that died).
pub struct CallLimits<'a> {
    /// `[worker] trigger_call_seconds`.
    pub per_call: Duration,
    /// The project's timeout, for pre triggers.
    pub build: Option<Deadline>,
    pub progress: &'a dyn Fn(usize),
}

fn no_progress(_: usize) {}

impl Default for CallLimits<'static> {
    /// Five minutes a call, no project timeout, nobody told.
    fn default() -> Self {
        CallLimits {
            per_call: Duration::from_secs(300),
            build: None,
            progress: &no_progress,
        }
    }
}

impl CallLimits<'_> {
    fn deadline(&self) -> Deadline {
        Deadline::after(
            self.per_call,
            call_guard::intern(format!(
                "did not return within {} s ([worker] trigger_call_seconds)",
                self.per_call.as_secs()
            )),
        )
        .min(self.build)
    }
}
use crate::settings::Section;
use vespene_plugin_api::kinds::trigger::{HookRequest, ops};
use vespene_plugin_api::{ErrorCode, PluginError};

/// How one trigger went.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerResult {
    /// The entry's name in the settings.
    pub name: String,
    pub plugin: String,
    pub result: Result<(), PluginError>,
}

/// Tells every `pre_triggers` entry that the checkout recorded the commit
/// ([`ops::CHECKED_OUT`]), in order. Entries that do not implement it
/// (`unsupported`) are left out of the results; the others' errors are for
/// the build's messages, they never fail it.
#[allow(clippy::borrowed_box)] // the scope's type is what `with_scope` takes
pub fn run_checked_out(
    registry: &Registry,
    request: &HookRequest,
    scope: &Box<dyn CallScope>,
    limits: &CallLimits<'_>,
) -> Vec<TriggerResult> {
    let Ok(args) = serde_json::to_string(request) else {
        return Vec::new();
    };
    registry
        .section(Section::PreTriggers)
        .iter()
        .filter_map(|configured| {
            let result = with_scope(scope, || {
                let _call = CallGuard::enter(
                    call_guard::label("trigger", configured.name(), ops::CHECKED_OUT),
                    Some(limits.deadline()),
                );
                configured.instance().call(ops::CHECKED_OUT, &args)
            })
            .map(|_| ());
            let unsupported = matches!(&result, Err(e) if e.code == ErrorCode::Unsupported);
            (!unsupported).then(|| TriggerResult {
                name: configured.name().to_string(),
                plugin: configured.entry.plugin.clone(),
                result,
            })
        })
        .collect()
}

/// Runs the triggers of `section` for `request`, in order.
#[allow(clippy::borrowed_box)] // the scope's type is what `with_scope` takes
pub fn run_section(
    registry: &Registry,
    section: Section,
    request: &HookRequest,
    scope: &Box<dyn CallScope>,
    limits: &CallLimits<'_>,
    from: usize,
) -> Vec<TriggerResult> {
    let args = match serde_json::to_string(request) {
        Ok(a) => a,
        Err(e) => {
            return vec![TriggerResult {
                name: String::new(),
                plugin: String::new(),
                result: Err(PluginError::failed(format!(
                    "cannot encode the trigger request: {e}"
                ))),
            }];
        }
    };
    let mut results = Vec::new();
    for (index, configured) in registry.section(section).iter().enumerate().skip(from) {
        (limits.progress)(index);
        let result = with_scope(scope, || {
            let _call = CallGuard::enter(
                call_guard::label("trigger", configured.name(), ops::EXECUTE_HOOK),
                Some(limits.deadline()),
            );
            configured.instance().call(ops::EXECUTE_HOOK, &args)
        })
        .map(|_| ());
        let failed = result.is_err();
        results.push(TriggerResult {
            name: configured.name().to_string(),
            plugin: configured.entry.plugin.clone(),
            result,
        });
        if failed && section == Section::PreTriggers {
            break;
        }
    }
    results
}
