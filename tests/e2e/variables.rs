//! Variables, snippets and launch answers: every level of the precedence
//! (reference §4.1, "Decisions" 7) through the real variables plugins, on
//! both backends; and what the build sees of them.

use serde_json::{Value, json};
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::db::builds::{self, BuildChanges, BuildStatus, NewBuild};
use vespene_core::db::output::OutputStream;
use vespene_core::db::projects::{BuildRefs, set_build_refs};
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::ops::{
    PipelineInput, ProjectInput, SnippetInput, StageInput, VariableSetInput, WorkerPoolInput,
};
use vespene_e2e::engine::{EngineSandbox, backends, finish};

/// The levels, lowest first. Level `i` sets keys `k{i}`..`k10` to `L{i}`,
/// so in the end `k{j}` must be `L{j}`: each level beats every lower one.
const LEVELS: usize = 11;

fn vars_from(level: usize) -> String {
    let mut m = serde_json::Map::new();
    for k in level..LEVELS {
        m.insert(format!("k{k}"), Value::String(format!("L{level}")));
    }
    Value::Object(m).to_string()
}

#[test]
fn every_level_of_variable_precedence_in_order() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "keep_build_roots = true\n") else {
            continue;
        };
        let app = es.app();
        let ops = &app.ops;
        let sys = &Actor::System;
        let set = |name: &str, level: usize| {
            ops.variable_sets()
                .create(
                    sys,
                    &VariableSetInput {
                        name: name.into(),
                        variables: vars_from(level),
                        ..Default::default()
                    },
                )
                .unwrap()
                .variable_set
                .id
        };
        // 0: pool sets, 1: pool.
        let pool = ops
            .worker_pools()
            .create(
                sys,
                &WorkerPoolInput {
                    name: "main".into(),
                    isolation_method: "sudo".into(),
                    sudo_user: Some("root".into()),
                    variables: vars_from(1),
                    variable_sets: vec![set("pool-set", 0)],
                    ..Default::default()
                },
            )
            .unwrap()
            .worker_pool
            .id;
        // 4: stage sets, 5: stage.
        let build_stage = ops
            .stages()
            .create(
                sys,
                &StageInput {
                    name: "build".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .stage
            .id;
        let test_stage = ops
            .stages()
            .create(
                sys,
                &StageInput {
                    name: "test".into(),
                    variables: vars_from(5),
                    variable_sets: vec![set("stage-set", 4)],
                    ..Default::default()
                },
            )
            .unwrap()
            .stage
            .id;
        // 2: pipeline sets, 3: pipeline.
        let pipeline = ops
            .pipelines()
            .create(
                sys,
                &PipelineInput {
                    name: "ci".into(),
                    enabled: true,
                    variables: vars_from(3),
                    variable_sets: vec![set("pipeline-set", 2)],
                    stages: vec![Some(build_stage), Some(test_stage)],
                    ..Default::default()
                },
            )
            .unwrap()
            .pipeline
            .id;
        // 8: outputs of the earlier stage's project's last successful build.
        let upstream = es.project_with(
            &app,
            ProjectInput {
                name: "upstream".into(),
                worker_pool_id: pool,
                pipeline_id: Some(pipeline),
                stage_id: Some(build_stage),
                script: "true".into(),
                ..Default::default()
            },
        );
        {
            let mut conn = app.db.conn().unwrap();
            let id = builds::insert_queued(&mut conn, &NewBuild::queued(upstream, pool)).unwrap();
            builds::update(
                &mut conn,
                id,
                &BuildChanges {
                    output_variables: Some(
                        json!({"k8": "L8", "k9": "L8", "k10": "L8"}).to_string(),
                    ),
                    ..Default::default()
                }
                .status(BuildStatus::Success),
            )
            .unwrap();
            set_build_refs(
                &mut conn,
                upstream,
                &BuildRefs {
                    last_successful_build_id: Some(Some(id)),
                    ..Default::default()
                },
            )
            .unwrap();
        }
        // 9: snippets (named like the keys they set), rendered leniently
        // with the variables so far.
        for (name, text) in [
            ("k9", "L9"),
            ("k10", "L9"),
            ("rendered-snippet", "{{ k7 }}/{{ k8 }}/[{{ not_defined }}]"),
        ] {
            ops.snippets()
                .create(
                    sys,
                    &SnippetInput {
                        name: name.into(),
                        text: text.into(),
                        ..Default::default()
                    },
                )
                .unwrap();
        }
        // 6: project sets, 7: project.
        let target = es.project_with(
            &app,
            ProjectInput {
                name: "target".into(),
                worker_pool_id: pool,
                pipeline_id: Some(pipeline),
                stage_id: Some(test_stage),
                variables: vars_from(7),
                variable_sets: vec![set("project-set", 6)],
                script: "#!/bin/sh\necho {{ k0 }} {{ k5 }} {{ k10 }} {{ rendered_snippet }}\n"
                    .into(),
                launch_questions: r#"[{"variable": "k10"}]"#.into(),
                ..Default::default()
            },
        );
        // 10: launch answers.
        let mut req = StartRequest::default();
        req.launch_answers.insert("k10".into(), json!("L10"));
        let started = start_project(&app, sys, target, &req).unwrap();
        assert_eq!(started.failed, None);
        let vars: Value = serde_json::from_str(&started.build.variables).unwrap();
        for k in 0..LEVELS {
            assert_eq!(
                vars[format!("k{k}")],
                json!(format!("L{k}")),
                "{backend:?} k{k}: {vars:#}"
            );
        }
        assert_eq!(vars["rendered_snippet"], json!("L7/L8/[]"));
        assert_eq!(started.build.script, "#!/bin/sh\necho L0 L5 L10 L7/L8/[]");

        // The build sees the same in vespene.json and its script.
        let worker = es.worker("main", &["--max-builds", "1"]);
        let b = es.wait_build(&app, started.build.id, Duration::from_secs(60));
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Success);
        assert!(
            es.output(&app, b.id, OutputStream::Output)
                .ends_with("| L0 L5 L10 L7/L8/[]\n")
        );
        let json: Value = serde_json::from_str(
            &std::fs::read_to_string(es.build_root(b.id).join("vespene.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json, vars);
    }
}

#[test]
fn launch_answers_override_and_multi_answers_are_lists() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project_with(
            &app,
            ProjectInput {
                name: "asks".into(),
                worker_pool_id: pool,
                variables: json!({"env": "staging"}).to_string(),
                launch_questions: json!([
                    {"variable": "env", "type": "radio", "choices": ["staging", "prod"]},
                    {"variable": "flags", "type": "multi", "choices": ["a", "b", "c"]}
                ])
                .to_string(),
                script: "#!/bin/sh\necho {{ env }} {{ flags | join(',') }}\n".into(),
                ..Default::default()
            },
        );
        let run = es.vespene(&[
            "project", "start", "asks", "--answer", "env=prod", "--answer", "flags=a", "--answer",
            "flags=c", "--json",
        ]);
        let id = serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
            .as_i64()
            .unwrap();
        let worker = es.worker("main", &["--max-builds", "1"]);
        let b = es.wait_build(&app, id, Duration::from_secs(60));
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Success);
        assert_eq!(
            serde_json::from_str::<Value>(&b.launch_answers).unwrap(),
            json!({"env": "prod", "flags": ["a", "c"]})
        );
        let out = es.output(&app, id, OutputStream::Output);
        assert!(out.ends_with("| prod a,c\n"), "{out}");
    }
}
