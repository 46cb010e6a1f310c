//! Autoscaling executors: carry out a planner's decision (reference §3.2
//! "Autoscaling executor").

use super::adapter;
use crate::context::{Variables, WorkerPoolInfo};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::ScaleRequest`] → [`super::ScaleResponse`].
    pub const SCALE_WORKER_POOL: &str = "scale_worker_pool";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScaleRequest {
    pub worker_pool: WorkerPoolInfo,
    /// What the planner returned.
    pub parameters: Variables,
}

/// `status` 0 is success; anything else is recorded as the pool's
/// `autoscaling_status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleResponse {
    pub status: i64,
}

/// An autoscaling executor.
pub trait AutoscaleExecutor: Send + Sync {
    fn scale_worker_pool(&self, request: &ScaleRequest) -> Result<i64, PluginError>;
}

adapter!(Kind::AutoscaleExecutor, AutoscaleExecutor);

impl<T: AutoscaleExecutor + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::SCALE_WORKER_POOL => handle(args, |r: ScaleRequest| {
                self.0
                    .scale_worker_pool(&r)
                    .map(|status| ScaleResponse { status })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
