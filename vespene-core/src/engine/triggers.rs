//! Running the trigger sections: every configured trigger of a section, in
//! the order written, each served by the build's call scope.
//!
//! Pre triggers stop at the first failure (the build fails before
//! checkout). Success and failure triggers all run even when one fails
//! ("Decisions" 8): a failing post trigger is reported, it never changes the
//! build's status.

use super::call_guard::{self, CallGuard, Deadline};
use super::trigger_logins::{self, ActingFor};
use crate::plugins::Configured;
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
    /// The build's project, against which the service logins named in
    /// the triggers' parameters are resolved (none: every one refused).
    pub acting_for: Option<ActingFor<'a>>,
}

fn no_progress(_: usize) {}

impl Default for CallLimits<'static> {
    /// Five minutes a call, no project timeout, nobody told.
    fn default() -> Self {
        CallLimits {
            per_call: Duration::from_secs(300),
            build: None,
            progress: &no_progress,
            acting_for: None,
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

/// The arguments of one entry's call: `shared` (the request without
/// logins) unless the entry's parameters name service logins, which are
/// resolved into a copy of the request for this call only.
fn call_args(
    configured: &Configured,
    request: &HookRequest,
    shared: &str,
    limits: &CallLimits<'_>,
) -> Result<String, PluginError> {
    let names = trigger_logins::names_in(&configured.entry.params);
    if names.is_empty() {
        return Ok(shared.to_string());
    }
    let mut request = request.clone();
    request.service_logins = trigger_logins::resolve(limits.acting_for, &names);
    serde_json::to_string(&request)
        .map_err(|e| PluginError::failed(format!("cannot encode the trigger request: {e}")))
}
use vespene_plugin_api::{ErrorCode, PluginError};

/// How one trigger went.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerResult {
    /// The entry's name in the settings.
    pub name: String,
    pub plugin: String,
    pub result: Result<(), PluginError>,
}

/// Calls `op` of one entry, within the call limits, with its service
/// logins resolved when its parameters name any.
#[allow(clippy::borrowed_box)] // the scope's type is what `with_scope` takes
fn call_entry(
    configured: &Configured,
    op: &'static str,
    request: &HookRequest,
    shared: &str,
    scope: &Box<dyn CallScope>,
    limits: &CallLimits<'_>,
) -> Result<(), PluginError> {
    let args = call_args(configured, request, shared, limits)?;
    with_scope(scope, || {
        let _call = CallGuard::enter(
            call_guard::label("trigger", configured.name(), op),
            Some(limits.deadline()),
        );
        configured.instance().call(op, &args)
    })
    .map(|_| ())
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
            let result = call_entry(configured, ops::CHECKED_OUT, request, &args, scope, limits);
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
        let result = call_entry(configured, ops::EXECUTE_HOOK, request, &args, scope, limits);
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
