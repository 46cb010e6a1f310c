//! Isolation: how the build script runs (reference §3.2 "Isolation").
//! Selected by the worker pool's `isolation_method`, which names an entry of
//! the `isolation` settings section.
//!
//! Before `begin`, the host has written `vespene_launch.sh` (the rendered
//! script) and `vespene.json` (the variables) into the build root.

use super::{Empty, adapter};
use crate::context::{BuildInfo, ProjectInfo, WorkerPoolInfo};
use crate::export::{Dispatch, handle};
use crate::host::RunOutcome;
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names, called in this order: begin, execute, end (always, even
/// after a failed execute). `abort` may come from another thread while
/// `execute` runs, when the build is stopped.
pub mod ops {
    pub const BEGIN: &str = "begin";
    /// → [`super::RunOutcome`].
    pub const EXECUTE: &str = "execute";
    pub const END: &str = "end";
    pub const ABORT: &str = "abort";
    /// Outside any build: can this isolation run builds on this host now
    /// (kernel features, programs)? `{}` → `{}`, or an error saying why
    /// not. Plugins written before it answer `unsupported`.
    pub const PROBE: &str = "probe";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IsolationRequest {
    pub build: BuildInfo,
    pub project: ProjectInfo,
    pub worker_pool: WorkerPoolInfo,
    pub build_root: String,
    /// Absolute path of `vespene_launch.sh`.
    pub script_path: String,
    /// Absolute path of `vespene.json`.
    pub variables_path: String,
    /// The project's timeout in seconds.
    pub timeout_secs: Option<u64>,
}

/// An isolation plugin.
pub trait IsolationPlugin: Send + Sync {
    fn begin(&self, _request: &IsolationRequest) -> Result<(), PluginError> {
        Ok(())
    }
    /// Runs the script; its lines stream into the build output. A script that
    /// ran and failed is an `Ok` outcome with its exit code.
    fn execute(&self, request: &IsolationRequest) -> Result<RunOutcome, PluginError>;
    fn end(&self, _request: &IsolationRequest) -> Result<(), PluginError> {
        Ok(())
    }
    /// The build was stopped: release what the host cannot kill by itself
    /// (a container, say). The host kills the process tree regardless.
    fn abort(&self, _request: &IsolationRequest) -> Result<(), PluginError> {
        Ok(())
    }
    /// Whether builds can run here (see [`ops::PROBE`]).
    fn probe(&self) -> Result<(), PluginError> {
        Err(PluginError::unsupported(ops::PROBE))
    }
}

adapter!(Kind::Isolation, IsolationPlugin);

impl<T: IsolationPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::BEGIN => handle(args, |r: IsolationRequest| {
                self.0.begin(&r).map(|()| Empty {})
            }),
            ops::EXECUTE => handle(args, |r: IsolationRequest| self.0.execute(&r)),
            ops::END => handle(args, |r: IsolationRequest| {
                self.0.end(&r).map(|()| Empty {})
            }),
            ops::ABORT => handle(args, |r: IsolationRequest| {
                self.0.abort(&r).map(|()| Empty {})
            }),
            ops::PROBE => handle(args, |_: Empty| self.0.probe().map(|()| Empty {})),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
