//! The merge of `vespene.plugins.variables.common`: pool, pipeline, stage
//! and project levels, each its variable sets in order then its own
//! variables, shallowly (a later value replaces an earlier one whole).

use vespene_plugin_api::kinds::variables::VariablesRequest;
use vespene_plugin_api::{VariableSetInfo, Variables};

/// Merges one level (its sets in order, then its own variables) over `out`.
fn merge_level(out: &mut Variables, sets: &[VariableSetInfo], own: &Variables) {
    for set in sets {
        out.extend(set.variables.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// The variables of every level of `request`, lowest to highest: pool,
/// pipeline (if any), stage (if any), project.
pub fn common_variables(request: &VariablesRequest) -> Variables {
    let mut out = Variables::new();
    let pool = &request.worker_pool;
    merge_level(&mut out, &pool.variable_sets, &pool.variables);
    if let Some(pipeline) = &request.pipeline {
        merge_level(&mut out, &pipeline.variable_sets, &pipeline.variables);
    }
    if let Some(stage) = &request.stage {
        merge_level(&mut out, &stage.variable_sets, &stage.variables);
    }
    let project = &request.project;
    merge_level(&mut out, &project.variable_sets, &project.variables);
    out
}
