//! `vespene.plugins.variables.pipelines`: what earlier stages of the
//! project's pipeline printed with `vespene/set NAME VALUE` (reference §5.3).
//!
//! The host lists the earlier stages nearest first, each with the output
//! variables of its projects' last successful builds (a project that never
//! succeeded has none). They are merged so that:
//!
//! * between stages, the **nearest** stage wins ("Decisions" 7; the
//!   original let the earliest stage win, a quirk). Parameter
//!   `stage_precedence = "earliest"` restores the original's behaviour for a
//!   site that relied on it;
//! * inside one stage, projects are merged in the order given, so on a
//!   collision between two projects of the same stage the **later project in
//!   the list wins** (the host lists them by name).
//!
//! A project outside a pipeline has no earlier stages and gets nothing.

// The merging itself lives apart from the export, so that the snippets
// plugin's precedence test can compile it in: two plugin libraries cannot be
// linked into one test binary (each exports the same root-module symbol).
pub mod merge;

pub use merge::StagePrecedence;
use serde::Deserialize;
use vespene_plugin_api::kinds::variables::VariablesRequest;
use vespene_plugin_api::{
    CreateContext, Plugin, PluginError, Variables, VariablesPlugin, export_plugin,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    stage_precedence: StagePrecedence,
}

/// The pipeline variables plugin.
#[derive(Debug, Default)]
pub struct PipelineVariables {
    precedence: StagePrecedence,
}

impl PipelineVariables {
    pub fn new(precedence: StagePrecedence) -> PipelineVariables {
        PipelineVariables { precedence }
    }
}

impl Plugin for PipelineVariables {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        Ok(PipelineVariables::new(params.stage_precedence))
    }
}

impl VariablesPlugin for PipelineVariables {
    fn compute(&self, request: &VariablesRequest) -> Result<Variables, PluginError> {
        Ok(merge::pipeline_variables(request, self.precedence))
    }
}

export_plugin! {
    name: "vespene.plugins.variables.pipelines",
    kind: variables,
    plugin: PipelineVariables,
    description: "Output variables (vespene/set) of the earlier stages of the project's pipeline; the nearest stage wins.",
}

#[cfg(test)]
mod tests {
    //! Unit tests: nearest stage wins, later project wins inside a stage.

    use super::*;
    use vespene_plugin_api::kinds::variables::{ProjectOutputs, StageOutputs};
    use vespene_plugin_api::serde_json::{Value, json};
    use vespene_plugin_api::testing::TestHost;

    fn outputs(project: &str, v: Value) -> ProjectOutputs {
        let Value::Object(output_variables) = v else {
            panic!("not an object")
        };
        ProjectOutputs {
            project: project.into(),
            build_id: Some(1),
            output_variables,
        }
    }

    fn stage(name: &str, projects: Vec<ProjectOutputs>) -> StageOutputs {
        StageOutputs {
            stage: name.into(),
            projects,
        }
    }

    fn plugin(params: Value) -> Result<PipelineVariables, PluginError> {
        let th = TestHost::unsupported();
        PipelineVariables::create(CreateContext {
            name: "pipelines",
            params,
            host: th.host(),
        })
    }

    /// Stage "deploy" is being computed; before it come "test" (nearest),
    /// then "build" (earliest).
    fn request() -> VariablesRequest {
        VariablesRequest {
            previous_stages: vec![
                stage(
                    "test",
                    vec![
                        outputs("unit", json!({"image": "from-test", "who": "unit"})),
                        outputs("lint", json!({"who": "lint", "lint_ok": "yes"})),
                    ],
                ),
                stage(
                    "build",
                    vec![outputs(
                        "compile",
                        json!({"image": "from-build", "ami": "ami-123"}),
                    )],
                ),
            ],
            ..VariablesRequest::default()
        }
    }

    #[test]
    fn the_nearest_stage_wins() {
        let out = plugin(Value::Null).unwrap().compute(&request()).unwrap();
        assert_eq!(out["image"], "from-test");
        assert_eq!(out["ami"], "ami-123");
        assert_eq!(out["lint_ok"], "yes");
    }

    #[test]
    fn inside_one_stage_the_later_project_wins() {
        let out = plugin(Value::Null).unwrap().compute(&request()).unwrap();
        assert_eq!(out["who"], "lint");
    }

    #[test]
    fn the_original_order_can_be_chosen() {
        let p = plugin(json!({"stage_precedence": "earliest"})).unwrap();
        let out = p.compute(&request()).unwrap();
        assert_eq!(out["image"], "from-build");
        assert_eq!(out["who"], "lint");
        let err = plugin(json!({"stage_precedence": "sideways"})).unwrap_err();
        assert!(err.message.contains("sideways"), "{err}");
        assert!(plugin(json!({"other": 1})).is_err());
    }

    #[test]
    fn no_earlier_stages_no_variables() {
        let p = plugin(Value::Null).unwrap();
        assert!(p.compute(&VariablesRequest::default()).unwrap().is_empty());
        let never_built = VariablesRequest {
            previous_stages: vec![stage(
                "build",
                vec![ProjectOutputs {
                    project: "compile".into(),
                    build_id: None,
                    output_variables: Variables::new(),
                }],
            )],
            ..VariablesRequest::default()
        };
        assert!(p.compute(&never_built).unwrap().is_empty());
    }
}
