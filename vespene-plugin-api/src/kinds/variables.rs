//! Variables: each configured plugin computes a dictionary that is merged
//! over what the earlier ones produced (reference §4). Plugins see data, not
//! the database: the host gathers everything the stock plugins need.

use super::adapter;
use crate::context::{
    PipelineInfo, ProjectInfo, SnippetInfo, StageInfo, Variables, WorkerPoolInfo,
};
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::VariablesRequest`] → [`super::VariablesResponse`].
    pub const COMPUTE: &str = "compute";
}

/// Output variables of one project's last successful build.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectOutputs {
    pub project: String,
    pub build_id: Option<i64>,
    pub output_variables: Variables,
}

/// An earlier stage of the project's pipeline with its projects' outputs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageOutputs {
    pub stage: String,
    pub projects: Vec<ProjectOutputs>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VariablesRequest {
    pub project: ProjectInfo,
    pub worker_pool: WorkerPoolInfo,
    pub pipeline: Option<PipelineInfo>,
    pub stage: Option<StageInfo>,
    /// Earlier stages of the pipeline, the nearest first.
    pub previous_stages: Vec<StageOutputs>,
    /// Every snippet, sorted by name.
    pub snippets: Vec<SnippetInfo>,
    /// What the plugins before this one produced.
    pub existing: Variables,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VariablesResponse {
    pub variables: Variables,
}

/// A variables plugin.
pub trait VariablesPlugin: Send + Sync {
    /// Returns the variables this plugin contributes; the host merges them
    /// over `request.existing` (later plugins win).
    fn compute(&self, request: &VariablesRequest) -> Result<Variables, PluginError>;
}

adapter!(Kind::Variables, VariablesPlugin);

impl<T: VariablesPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::COMPUTE => handle(args, |r: VariablesRequest| {
                self.0
                    .compute(&r)
                    .map(|variables| VariablesResponse { variables })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
