//! Services the host lends to plugins (`run`, `append`, `info`, `status`,
//! logging).
//!
//! Build-scoped services act on "the call being served": the caller wraps a
//! plugin call in [`with_scope`], and a plugin's `run`/`append` on that
//! thread reach that scope. A call outside any scope gets a clear error.

use serde::de::DeserializeOwned;
use vespene_plugin_api::host::{AppendRequest, CallStatus, HostInfo, ops};
use vespene_plugin_api::{LogLevel, PluginError, RunOutcome, RunRequest, Stream};

/// What a plugin call can do to the build (or command) it serves.
pub trait CallScope {
    /// Runs a command under the host's process rules, streaming its lines.
    fn run(&self, request: &RunRequest) -> Result<RunOutcome, PluginError>;
    /// Appends text (one or more lines) to the build's output or messages.
    fn append(&self, stream: Stream, text: &str) -> Result<(), PluginError>;
    /// Whether the build was stopped (plugins poll it during long in-process
    /// work such as a clone).
    fn stopped(&self) -> bool {
        false
    }
}

scoped_tls::scoped_thread_local!(static SCOPE: Box<dyn CallScope>);

/// Runs `f` (a plugin call) with `scope` serving its build-scoped services.
// A scoped thread-local holds a sized `'static` type, hence the box.
#[allow(clippy::borrowed_box)]
pub fn with_scope<R>(scope: &Box<dyn CallScope>, f: impl FnOnce() -> R) -> R {
    SCOPE.set(scope, f)
}

/// The services behind every instance's `VpHost`.
pub trait HostServices: Send + Sync {
    /// Serves operation `op` for plugin `plugin`.
    fn call(&self, plugin: &str, op: &str, args: &str) -> Result<String, PluginError>;
    /// Logs a line on behalf of `plugin`.
    fn log(&self, plugin: &str, level: LogLevel, message: &str);
}

/// The host services of the `vespene` processes.
#[derive(Debug, Clone, Default)]
pub struct StandardHost {
    pub info: HostInfo,
}

fn decode<T: DeserializeOwned>(op: &str, args: &str) -> Result<T, PluginError> {
    let args = if args.trim().is_empty() { "{}" } else { args };
    serde_json::from_str(args)
        .map_err(|e| PluginError::invalid_request(format!("host service '{op}': {e}")))
}

fn no_scope(op: &str) -> PluginError {
    PluginError::failed(format!(
        "host service '{op}' is only available while the host is serving a build or command"
    ))
}

impl HostServices for StandardHost {
    fn call(&self, _plugin: &str, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::INFO => Ok(serde_json::to_string(&self.info)?),
            ops::RUN => {
                let request: RunRequest = decode(op, args)?;
                if SCOPE.is_set() {
                    let outcome = SCOPE.with(|s| s.run(&request))?;
                    Ok(serde_json::to_string(&outcome)?)
                } else {
                    Err(no_scope(op))
                }
            }
            ops::APPEND => {
                let request: AppendRequest = decode(op, args)?;
                if SCOPE.is_set() {
                    SCOPE.with(|s| s.append(request.stream, &request.text))?;
                    Ok("{}".into())
                } else {
                    Err(no_scope(op))
                }
            }
            ops::STATUS => {
                let stopped = SCOPE.is_set() && SCOPE.with(|s| s.stopped());
                Ok(serde_json::to_string(&CallStatus { stopped })?)
            }
            other => Err(PluginError::unsupported(other)),
        }
    }

    fn log(&self, plugin: &str, level: LogLevel, message: &str) {
        match level {
            LogLevel::Error => tracing::error!(plugin, "{message}"),
            LogLevel::Warn => tracing::warn!(plugin, "{message}"),
            LogLevel::Info => tracing::info!(plugin, "{message}"),
            LogLevel::Debug => tracing::debug!(plugin, "{message}"),
            LogLevel::Trace => tracing::trace!(plugin, "{message}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scope(bool);

    impl CallScope for Scope {
        fn run(&self, _: &RunRequest) -> Result<RunOutcome, PluginError> {
            Err(PluginError::failed("not here"))
        }
        fn append(&self, _: Stream, _: &str) -> Result<(), PluginError> {
            Ok(())
        }
        fn stopped(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn status_reports_whether_the_served_build_was_stopped() {
        let host = StandardHost::default();
        let status = |h: &StandardHost| h.call("p", ops::STATUS, "").unwrap();
        assert_eq!(status(&host), r#"{"stopped":false}"#, "outside any build");
        for stopped in [false, true] {
            let scope: Box<dyn CallScope> = Box::new(Scope(stopped));
            let got = with_scope(&scope, || status(&host));
            assert_eq!(got, format!(r#"{{"stopped":{stopped}}}"#));
        }
    }
}
