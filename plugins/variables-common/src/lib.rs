//! `vespene.plugins.variables.common`: the variables typed into Vespene
//! itself (reference §4.1, levels 1–4).
//!
//! Lowest to highest: the worker pool's variable sets (in the order given)
//! then the pool's own variables; the pipeline's sets then its variables (if
//! the project has a pipeline); the stage's sets then its variables (if it
//! has a stage); the project's sets then its variables. Within a level the
//! loose variables override the level's sets. Merging is shallow: a
//! dictionary-valued variable replaces the one below it whole.
//!
//! The result is this plugin's contribution; the host merges it over what
//! earlier plugins produced (`existing` is not read here).

// The merging itself lives apart from the export, so that the snippets
// plugin's precedence test can compile it in: two plugin libraries cannot be
// linked into one test binary (each exports the same root-module symbol).
pub mod merge;

use serde::Deserialize;
use vespene_plugin_api::kinds::variables::VariablesRequest;
use vespene_plugin_api::{
    CreateContext, Plugin, PluginError, Variables, VariablesPlugin, export_plugin,
};

/// This plugin takes no parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {}

/// The common variables plugin.
#[derive(Debug, Default)]
pub struct CommonVariables;

impl Plugin for CommonVariables {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let Params {} = ctx.params()?;
        Ok(CommonVariables)
    }
}

impl VariablesPlugin for CommonVariables {
    fn compute(&self, request: &VariablesRequest) -> Result<Variables, PluginError> {
        Ok(merge::common_variables(request))
    }
}

export_plugin! {
    name: "vespene.plugins.variables.common",
    kind: variables,
    plugin: CommonVariables,
    description: "Variables and variable sets of the worker pool, pipeline, stage and project, in that order (later wins).",
}

#[cfg(test)]
mod tests {
    //! Unit tests: the levels merge in order, dictionaries are replaced.

    use super::*;
    use vespene_plugin_api::serde_json::{self, Value, json};
    use vespene_plugin_api::testing::TestHost;
    use vespene_plugin_api::{
        PipelineInfo, ProjectInfo, StageInfo, VariableSetInfo, WorkerPoolInfo,
    };

    fn vars(v: Value) -> Variables {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn set(name: &str, v: Value) -> VariableSetInfo {
        VariableSetInfo {
            id: 0,
            name: name.into(),
            variables: vars(v),
        }
    }

    fn plugin() -> CommonVariables {
        let th = TestHost::unsupported();
        CommonVariables::create(CreateContext {
            name: "common",
            params: Value::Null,
            host: th.host(),
        })
        .unwrap()
    }

    /// Every level sets `level` and a key of its own; sets set `from_set`.
    fn full_request() -> VariablesRequest {
        VariablesRequest {
            worker_pool: WorkerPoolInfo {
                variable_sets: vec![
                    set(
                        "pool-a",
                        json!({"level": "pool set a", "a": 1, "x": "pool-a"}),
                    ),
                    set("pool-b", json!({"level": "pool set b", "x": "pool-b"})),
                ],
                variables: vars(json!({"level": "pool", "pool_only": true})),
                ..WorkerPoolInfo::default()
            },
            pipeline: Some(PipelineInfo {
                variable_sets: vec![set("pipe", json!({"level": "pipeline set", "p": 1}))],
                variables: vars(json!({"level": "pipeline"})),
                ..PipelineInfo::default()
            }),
            stage: Some(StageInfo {
                variable_sets: vec![set("stage", json!({"level": "stage set", "s": 1}))],
                variables: vars(json!({"level": "stage", "deep": {"a": 1, "b": 2}})),
                ..StageInfo::default()
            }),
            project: ProjectInfo {
                variable_sets: vec![set(
                    "proj",
                    json!({"level": "project set", "only_in_project_set": 1}),
                )],
                variables: vars(json!({"level": "project", "deep": {"c": 3}})),
                ..ProjectInfo::default()
            },
            existing: vars(json!({"ignored": "existing is not read"})),
            ..VariablesRequest::default()
        }
    }

    #[test]
    fn levels_merge_lowest_to_highest() {
        let out = plugin().compute(&full_request()).unwrap();
        assert_eq!(out["level"], "project");
        assert_eq!(out["x"], "pool-b", "later pool sets win over earlier ones");
        assert_eq!(out["a"], 1);
        assert_eq!(out["pool_only"], true);
        assert_eq!(out["p"], 1);
        assert_eq!(out["s"], 1);
        assert_eq!(out["only_in_project_set"], 1);
        assert!(!out.contains_key("ignored"));
    }

    #[test]
    fn each_level_overrides_the_one_below() {
        let p = plugin();
        let mut req = full_request();
        let expect = |req: &VariablesRequest, level: &str| {
            assert_eq!(p.compute(req).unwrap()["level"], level);
        };
        expect(&req, "project");
        req.project.variables.remove("level");
        expect(&req, "project set");
        req.project.variable_sets.clear();
        expect(&req, "stage");
        req.stage.as_mut().unwrap().variables.remove("level");
        expect(&req, "stage set");
        req.stage = None;
        expect(&req, "pipeline");
        req.pipeline.as_mut().unwrap().variables.remove("level");
        expect(&req, "pipeline set");
        req.pipeline = None;
        expect(&req, "pool");
        req.worker_pool.variables.remove("level");
        expect(&req, "pool set b");
        req.worker_pool.variable_sets.pop();
        expect(&req, "pool set a");
    }

    #[test]
    fn dictionaries_are_replaced_not_merged() {
        let out = plugin().compute(&full_request()).unwrap();
        assert_eq!(out["deep"], json!({"c": 3}));
    }

    #[test]
    fn no_variables_anywhere_is_an_empty_result() {
        let out = plugin().compute(&VariablesRequest::default()).unwrap();
        assert!(out.is_empty());
        let th = TestHost::unsupported();
        let err = CommonVariables::create(CreateContext {
            name: "common",
            params: json!({"surprise": 1}),
            host: th.host(),
        })
        .unwrap_err();
        assert!(err.message.contains("surprise"), "{err}");
        // Through the boundary, as the host calls it.
        let args = serde_json::to_string(&full_request()).unwrap();
        let adapter = vespene_plugin_api::kinds::variables::Adapter(plugin());
        let out = vespene_plugin_api::export::Dispatch::call(&adapter, "compute", &args).unwrap();
        let out: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(out["variables"]["level"], "project");
    }
}
