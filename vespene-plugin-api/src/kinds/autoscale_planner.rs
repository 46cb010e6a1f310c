//! Autoscaling planners: decide when and how far to resize a worker pool
//! (reference §3.2 "Autoscaling planner").

use super::adapter;
use crate::context::{Variables, WorkerPoolInfo};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::PlanRequest`] → [`super::AdjustResponse`].
    pub const IS_TIME_TO_ADJUST: &str = "is_time_to_adjust";
    /// [`super::PlanRequest`] → [`super::ParametersResponse`].
    pub const GET_PARAMETERS: &str = "get_parameters";
}

/// A pool and the counts a planner needs (plugins do not query the
/// database themselves).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlanRequest {
    pub worker_pool: WorkerPoolInfo,
    /// RFC 3339.
    pub now: String,
    /// Builds RUNNING in the pool.
    pub running: i64,
    /// Builds QUEUED in the pool.
    pub queued: i64,
    /// Distinct projects with QUEUED builds in the pool.
    pub queued_projects: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustResponse {
    pub adjust: bool,
}

/// Parameters for the executor, e.g. `worker_pool`, `size`, `queued_size`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParametersResponse {
    pub parameters: Variables,
}

/// An autoscaling planner.
pub trait AutoscalePlanner: Send + Sync {
    fn is_time_to_adjust(&self, request: &PlanRequest) -> Result<bool, PluginError>;
    fn get_parameters(&self, request: &PlanRequest) -> Result<Variables, PluginError>;
}

adapter!(Kind::AutoscalePlanner, AutoscalePlanner);

impl<T: AutoscalePlanner + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::IS_TIME_TO_ADJUST => handle(args, |r: PlanRequest| {
                self.0
                    .is_time_to_adjust(&r)
                    .map(|adjust| AdjustResponse { adjust })
            }),
            ops::GET_PARAMETERS => handle(args, |r: PlanRequest| {
                self.0
                    .get_parameters(&r)
                    .map(|parameters| ParametersResponse { parameters })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
