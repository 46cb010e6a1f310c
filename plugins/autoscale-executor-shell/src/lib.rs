//! `vespene.plugins.autoscale_executor.shell`: resizes a worker pool by
//! running its `executor_command` (reference §3.2 "Autoscaling executor").
//!
//! The command is a Jinja2 template rendered by [`vespene_plugin_api::jinja`]
//! strictly (an unknown name is an error), as the original's Jinja2 did,
//! with the planner's parameters as variables: `worker_pool`, `size`,
//! `queued_size` and whatever else the planner returned. `worker_pool` prints
//! as the pool's name and also offers the pool's fields, so the original's
//! documented `{{ worker_pool.name }}` keeps working. The rendered line runs
//! through the host in `/bin/sh -c`, logged and streamed into the messages
//! (the autoscaler's log); parameter `timeout_secs` bounds it.
//!
//! The status returned is the pool's new `autoscaling_status`: 0 when the
//! command succeeded, its exit code when it failed, 1 when it was killed (a
//! signal, a stop or the timeout). A command that cannot be made (an empty
//! `executor_command`, a template that does not render) or run at all is an
//! error.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use vespene_plugin_api::jinja::minijinja::value::{Object, ObjectRepr, Serde, Value};
use vespene_plugin_api::jinja::{self, Undefined};
use vespene_plugin_api::kinds::autoscale_executor::ScaleRequest;
use vespene_plugin_api::serde_json;
use vespene_plugin_api::{
    AutoscaleExecutor, CreateContext, Host, Plugin, PluginError, RunOutcome, RunRequest, Stream,
    WorkerPoolInfo, export_plugin,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// Kill the command after this many seconds (default: no limit, as in
    /// the original).
    timeout_secs: Option<u64>,
}

/// The shell executor.
#[derive(Debug)]
pub struct ShellExecutor {
    host: Host,
    timeout_secs: Option<u64>,
}

/// `worker_pool` in the template: prints as the pool's name (as the
/// original's pool object did) and has the pool's fields as attributes.
#[derive(Debug)]
struct PoolValue {
    shown: String,
    fields: Value,
}

impl Object for PoolValue {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let v = self.fields.get_item(key).ok()?;
        (!v.is_undefined()).then_some(v)
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// The template's variables: the planner's parameters, `worker_pool` as a
/// [`PoolValue`] when the planner gave the pool's name (or nothing).
fn template_context(
    pool: &WorkerPoolInfo,
    parameters: &serde_json::Map<String, serde_json::Value>,
) -> Value {
    let mut ctx: BTreeMap<String, Value> = parameters
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(Serde(v))))
        .collect();
    let shown = match parameters.get("worker_pool") {
        None => Some(pool.name.clone()),
        Some(serde_json::Value::String(name)) => Some(name.clone()),
        Some(_) => None,
    };
    if let Some(shown) = shown {
        let fields = Value::from(Serde(pool));
        ctx.insert(
            "worker_pool".into(),
            Value::from_object(PoolValue { shown, fields }),
        );
    }
    Value::from(ctx)
}

/// The pool's `autoscaling_status` for how the command ended.
pub fn status_of(outcome: &RunOutcome) -> i64 {
    if outcome.success() {
        0
    } else {
        match outcome.exit_code {
            Some(code) if code != 0 && !outcome.timed_out && !outcome.aborted => i64::from(code),
            _ => 1,
        }
    }
}

impl ShellExecutor {
    /// Renders the pool's `executor_command` with the request's parameters.
    pub fn render(&self, request: &ScaleRequest) -> Result<String, PluginError> {
        let pool = &request.worker_pool;
        if pool.executor_command.trim().is_empty() {
            return Err(PluginError::failed(format!(
                "worker pool '{}' has no executor_command: set the shell command that resizes it",
                pool.name
            )));
        }
        let ctx = template_context(pool, &request.parameters);
        let command =
            jinja::render(&pool.executor_command, &ctx, Undefined::Strict).map_err(|e| {
                let what = if e.is_syntax_error() {
                    "is not a valid template"
                } else {
                    "could not be rendered"
                };
                PluginError::failed(format!(
                    "the executor_command of worker pool '{}' {what}: {e}",
                    pool.name
                ))
            })?;
        if command.trim().is_empty() {
            return Err(PluginError::failed(format!(
                "the executor_command of worker pool '{}' rendered to an empty command",
                pool.name
            )));
        }
        Ok(command)
    }
}

impl Plugin for ShellExecutor {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        if params.timeout_secs == Some(0) {
            return Err(PluginError::invalid_params(format!(
                "timeout_secs of '{}' must be at least 1",
                ctx.name
            )));
        }
        Ok(ShellExecutor {
            host: ctx.host,
            timeout_secs: params.timeout_secs,
        })
    }
}

impl AutoscaleExecutor for ShellExecutor {
    fn scale_worker_pool(&self, request: &ScaleRequest) -> Result<i64, PluginError> {
        let command = self.render(request)?;
        let outcome = self
            .host
            .run(&RunRequest {
                shell: Some(command),
                timeout_secs: self.timeout_secs,
                stream: Stream::Messages,
                log_command: true,
                ..RunRequest::default()
            })
            .map_err(|e| {
                PluginError::failed(format!(
                    "could not run the executor_command of worker pool '{}': {e}",
                    request.worker_pool.name
                ))
            })?;
        Ok(status_of(&outcome))
    }
}

export_plugin! {
    name: "vespene.plugins.autoscale_executor.shell",
    kind: autoscale_executor,
    plugin: ShellExecutor,
    description: "Resizes a worker pool by running its executor_command, a strict Jinja2 template of the planner's parameters, in a shell.",
}

#[cfg(test)]
mod tests;
