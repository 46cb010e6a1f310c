//! The merge of `vespene.plugins.variables.pipelines`: earlier stages'
//! output variables, the nearest stage winning (or the earliest, on request),
//! and inside a stage the later project in the list.

use serde::Deserialize;
use vespene_plugin_api::Variables;
use vespene_plugin_api::kinds::variables::{StageOutputs, VariablesRequest};

/// Which earlier stage wins when two set the same variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StagePrecedence {
    /// The stage nearest to the project's own wins (the default).
    #[default]
    Nearest,
    /// The first stage of the pipeline wins (the original's behaviour).
    Earliest,
}

/// Merges one stage's projects, in order, over `out`.
fn merge_stage(out: &mut Variables, stage: &StageOutputs) {
    for project in &stage.projects {
        out.extend(
            project
                .output_variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
    }
}

/// The output variables of `request.previous_stages` (nearest first), the
/// stage `precedence` names winning.
pub fn pipeline_variables(request: &VariablesRequest, precedence: StagePrecedence) -> Variables {
    let mut out = Variables::new();
    // Whatever is merged last wins.
    match precedence {
        StagePrecedence::Nearest => {
            for stage in request.previous_stages.iter().rev() {
                merge_stage(&mut out, stage);
            }
        }
        StagePrecedence::Earliest => {
            for stage in &request.previous_stages {
                merge_stage(&mut out, stage);
            }
        }
    }
    out
}
