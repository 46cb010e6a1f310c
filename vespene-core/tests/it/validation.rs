//! Bad input gets a clear, typed error naming the object, the field and
//! the reason, and leaves nothing half-written.

use crate::crud::{pool, project};
use crate::support::{TestDb, both_backends};
use diesel::prelude::*;
use vespene_core::db::builds::{self, NewBuild};
use vespene_core::db::{DbError, write_tx};
use vespene_core::ops::*;

fn invalid(result: Result<impl std::fmt::Debug, OpError>) -> (&'static str, String, String) {
    match result {
        Err(OpError::Invalid {
            object,
            field,
            reason,
        }) => (object, field, reason),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn invalid_json_fields(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p = pool(&ops, "pool");
    let (object, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            name: "x".into(),
            worker_pool_id: p,
            variables: "{\"a\": 1,}".into(),
            ..Default::default()
        },
    ));
    assert_eq!((object, field.as_str()), ("project", "variables"));
    assert!(reason.starts_with("is not valid JSON"), "{reason}");

    let (_, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            name: "x".into(),
            worker_pool_id: p,
            variables: "[1, 2]".into(),
            ..Default::default()
        },
    ));
    assert_eq!(field, "variables");
    assert!(reason.contains("JSON object"), "{reason}");

    let (_, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            name: "x".into(),
            worker_pool_id: p,
            launch_questions: r#"{"variable": "x"}"#.into(),
            ..Default::default()
        },
    ));
    assert_eq!(field, "launch_questions");
    assert!(reason.contains("list"), "{reason}");

    let (_, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            name: "x".into(),
            worker_pool_id: p,
            launch_questions:
                r#"[{"variable": "ok"}, {"variable": "env", "type": "multi"}]"#.into(),
            ..Default::default()
        },
    ));
    assert_eq!(field, "launch_questions[1]");
    assert!(reason.contains("'choices' is required"), "{reason}");

    let (object, field, _) = invalid(ops.variable_sets().create(
        a,
        &VariableSetInput {
            name: "v".into(),
            variables: "nope".into(),
            ..Default::default()
        },
    ));
    assert_eq!((object, field.as_str()), ("variable set", "variables"));
    let (object, field, _) = invalid(ops.stages().create(
        a,
        &StageInput {
            name: "s".into(),
            variables: "1".into(),
            ..Default::default()
        },
    ));
    assert_eq!((object, field.as_str()), ("stage", "variables"));
    let (object, field, _) = invalid(ops.pipelines().create(
        a,
        &PipelineInput {
            name: "p".into(),
            variables: "\"s\"".into(),
            ..Default::default()
        },
    ));
    assert_eq!((object, field.as_str()), ("pipeline", "variables"));
    let (object, field, _) = invalid(ops.worker_pools().create(
        a,
        &WorkerPoolInput {
            name: "w".into(),
            isolation_method: "sudo".into(),
            variables: "{".into(),
            ..Default::default()
        },
    ));
    assert_eq!((object, field.as_str()), ("worker pool", "variables"));

    let err = builds::insert_queued(
        &mut t.conn(),
        &NewBuild {
            launch_answers: "[]".into(),
            ..NewBuild::queued(project(&ops, "y", p), p)
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, DbError::Invalid { ref field, .. } if field == "launch_answers"),
        "{err:?}"
    );

    // Nothing was stored by any of these.
    assert_eq!(
        ops.projects()
            .list(a, &ProjectFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        ops.variable_sets()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        ops.builds()
            .list(a, &BuildFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .is_empty()
    );
}

fn other_field_checks(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p = pool(&ops, "pool");
    let base = ProjectInput {
        name: "x".into(),
        worker_pool_id: p,
        ..Default::default()
    };
    let (_, field, _) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            name: "   ".into(),
            ..base.clone()
        },
    ));
    assert_eq!(field, "name");
    let (_, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            timeout: 0,
            ..base.clone()
        },
    ));
    assert_eq!(field, "timeout");
    assert!(reason.contains("between 1 and"), "{reason}");
    let (_, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            weekday_start_hours: "9, 25".into(),
            ..base.clone()
        },
    ));
    assert_eq!(field, "weekday_start_hours");
    assert!(reason.contains("25"), "{reason}");
    let (_, field, _) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            name: "n".repeat(513),
            ..base.clone()
        },
    ));
    assert_eq!(field, "name");
    let (_, field, _) = invalid(ops.worker_pools().create(
        a,
        &WorkerPoolInput {
            name: "w".into(),
            isolation_method: "sudo".into(),
            permissions_hex: "0xZZ".into(),
            ..Default::default()
        },
    ));
    assert_eq!(field, "permissions_hex");
    let (_, field, _) = invalid(ops.worker_pools().create(
        a,
        &WorkerPoolInput {
            name: "w".into(),
            isolation_method: "".into(),
            ..Default::default()
        },
    ));
    assert_eq!(field, "isolation_method");
    let (_, field, _) = invalid(ops.worker_pools().create(
        a,
        &WorkerPoolInput {
            name: "w".into(),
            isolation_method: "sudo".into(),
            minimum: 5,
            maximum: 2,
            ..Default::default()
        },
    ));
    assert_eq!(field, "maximum");
    let (_, field, _) = invalid(ops.worker_pools().create(
        a,
        &WorkerPoolInput {
            name: "w".into(),
            isolation_method: "sudo".into(),
            autoscaling_enabled: true,
            ..Default::default()
        },
    ));
    assert_eq!(field, "planner");
    let stages: Vec<Option<i64>> = (0..8).map(|_| None).collect();
    let (_, field, reason) = invalid(ops.pipelines().create(
        a,
        &PipelineInput {
            name: "p".into(),
            stages,
            ..Default::default()
        },
    ));
    assert_eq!(field, "stages");
    assert!(reason.contains("at most 7"), "{reason}");
    let s = ops
        .stages()
        .create(
            a,
            &StageInput {
                name: "s".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .stage
        .id;
    let (_, _, reason) = invalid(ops.pipelines().create(
        a,
        &PipelineInput {
            name: "p".into(),
            stages: vec![Some(s), Some(s)],
            ..Default::default()
        },
    ));
    assert!(reason.contains("only one slot"), "{reason}");
    let other = ops
        .pipelines()
        .create(
            a,
            &PipelineInput {
                name: "other".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .pipeline
        .id;
    let (_, field, reason) = invalid(ops.projects().create(
        a,
        &ProjectInput {
            pipeline_id: Some(other),
            stage_id: Some(s),
            ..base.clone()
        },
    ));
    assert_eq!(field, "stage");
    assert!(reason.contains("is not a stage of pipeline"), "{reason}");
    let (_, field, _) = invalid(ops.users().create(
        a,
        &UserInput {
            username: "two words".into(),
            ..Default::default()
        },
    ));
    assert_eq!(field, "username");
}

fn duplicate_names(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p = pool(&ops, "pool");
    let conflict = |r: Result<(), OpError>, object: &str, name: &str| match r {
        Err(OpError::Conflict { object: o, reason }) => {
            assert_eq!(o, object);
            assert_eq!(reason, format!("a {object} named '{name}' already exists"));
        }
        other => panic!("expected Conflict, got {other:?}"),
    };
    conflict(
        ops.worker_pools()
            .create(
                a,
                &WorkerPoolInput {
                    name: "pool".into(),
                    isolation_method: "sudo".into(),
                    ..Default::default()
                },
            )
            .map(drop),
        "worker pool",
        "pool",
    );
    project(&ops, "web", p);
    conflict(
        ops.projects()
            .create(
                a,
                &ProjectInput {
                    name: " web ".into(),
                    worker_pool_id: p,
                    ..Default::default()
                },
            )
            .map(drop),
        "project",
        "web",
    );
    let api = project(&ops, "api", p);
    let mut rename = ProjectInput::from(&ops.projects().get(a, api).unwrap());
    rename.name = "web".into();
    conflict(
        ops.projects().update(a, api, &rename).map(drop),
        "project",
        "web",
    );
    assert_eq!(
        ops.projects().get(a, api).unwrap().project.name,
        "api",
        "update rolled back"
    );

    for kind in [
        "snippet",
        "variable set",
        "stage",
        "pipeline",
        "ssh key",
        "service login",
        "group",
        "user",
    ] {
        let once = || -> Result<(), OpError> {
            match kind {
                "snippet" => ops
                    .snippets()
                    .create(
                        a,
                        &SnippetInput {
                            name: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
                "variable set" => ops
                    .variable_sets()
                    .create(
                        a,
                        &VariableSetInput {
                            name: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
                "stage" => ops
                    .stages()
                    .create(
                        a,
                        &StageInput {
                            name: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
                "pipeline" => ops
                    .pipelines()
                    .create(
                        a,
                        &PipelineInput {
                            name: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
                "ssh key" => ops
                    .ssh_keys()
                    .create(
                        a,
                        &SshKeyInput {
                            name: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
                "service login" => ops
                    .service_logins()
                    .create(
                        a,
                        &ServiceLoginInput {
                            name: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
                "group" => ops
                    .groups()
                    .create(
                        a,
                        &GroupInput {
                            name: "same".into(),
                        },
                    )
                    .map(drop),
                _ => ops
                    .users()
                    .create(
                        a,
                        &UserInput {
                            username: "same".into(),
                            ..Default::default()
                        },
                    )
                    .map(drop),
            }
        };
        once().unwrap();
        conflict(once(), kind, "same");
    }
    let org = |name: &str| OrganizationInput {
        name: name.into(),
        organization_identifier: "o".into(),
        default_worker_pool_id: p,
        worker_pool_id: p,
        ..Default::default()
    };
    ops.organizations().create(a, &org("o")).unwrap();
    conflict(
        ops.organizations().create(a, &org("o")).map(drop),
        "organization",
        "o",
    );
}

fn dangling_references(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p = pool(&ops, "pool");
    let base = ProjectInput {
        name: "x".into(),
        worker_pool_id: p,
        ..Default::default()
    };
    let cases: Vec<(ProjectInput, &str, &str)> = vec![
        (
            ProjectInput {
                worker_pool_id: 4242,
                ..base.clone()
            },
            "worker_pool",
            "no worker pool #4242",
        ),
        (
            ProjectInput {
                worker_pool_id: 0,
                ..base.clone()
            },
            "worker_pool",
            "is required",
        ),
        (
            ProjectInput {
                pipeline_id: Some(77),
                ..base.clone()
            },
            "pipeline",
            "no pipeline #77",
        ),
        (
            ProjectInput {
                stage_id: Some(78),
                ..base.clone()
            },
            "stage",
            "no stage #78",
        ),
        (
            ProjectInput {
                scm_login_id: Some(79),
                ..base.clone()
            },
            "scm_login",
            "no service login #79",
        ),
        (
            ProjectInput {
                variable_sets: vec![80, 81],
                ..base.clone()
            },
            "variable_sets",
            "no variable set #80, #81",
        ),
        (
            ProjectInput {
                ssh_keys: vec![82],
                ..base.clone()
            },
            "ssh_keys",
            "no ssh key #82",
        ),
        (
            ProjectInput {
                owner_groups: vec![83],
                ..base.clone()
            },
            "owner_groups",
            "no group #83",
        ),
        (
            ProjectInput {
                launch_groups: vec![84],
                ..base.clone()
            },
            "launch_groups",
            "no group #84",
        ),
    ];
    for (input, want_field, want_reason) in cases {
        let (object, field, reason) = invalid(ops.projects().create(a, &input));
        assert_eq!(
            (object, field.as_str(), reason.as_str()),
            ("project", want_field, want_reason)
        );
    }
    let (_, field, reason) = invalid(ops.organizations().create(
        a,
        &OrganizationInput {
            name: "o".into(),
            organization_identifier: "o".into(),
            default_worker_pool_id: 999,
            worker_pool_id: p,
            ..Default::default()
        },
    ));
    assert_eq!(
        (field.as_str(), reason.as_str()),
        ("default_worker_pool", "no worker pool #999")
    );
    let (_, field, _) = invalid(ops.pipelines().create(
        a,
        &PipelineInput {
            name: "p".into(),
            stages: vec![None, Some(555)],
            ..Default::default()
        },
    ));
    assert_eq!(field, "stages");
    let err = builds::insert_queued(&mut t.conn(), &NewBuild::queued(123_456, p)).unwrap_err();
    assert!(
        matches!(err, DbError::Invalid { ref field, .. } if field == "project"),
        "{err:?}"
    );
    assert!(
        ops.projects()
            .list(a, &ProjectFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        ops.projects().update(a, 999, &base),
        Err(OpError::NotFound { .. })
    ));
    assert!(matches!(
        ops.snippets().delete(a, 999),
        Err(OpError::NotFound { .. })
    ));
}

fn transactions_roll_back(t: &TestDb) {
    use vespene_core::db::schema::groups::dsl as g;
    let mut conn = t.conn();
    let result: Result<(), DbError> = write_tx(&mut conn, |c| {
        diesel::insert_into(g::groups)
            .values(g::name.eq("first"))
            .execute(c)?;
        Err(DbError::Conflict {
            object: "group",
            reason: "stop here".into(),
        })
    });
    assert!(result.is_err());
    let count: i64 = g::groups.count().get_result(&mut *conn).unwrap();
    assert_eq!(count, 0, "the insert was rolled back");

    // Nested: the inner failure rolls back to its savepoint only.
    write_tx(&mut conn, |c| {
        diesel::insert_into(g::groups)
            .values(g::name.eq("outer"))
            .execute(c)?;
        let inner: Result<(), DbError> = write_tx(c, |c| {
            diesel::insert_into(g::groups)
                .values(g::name.eq("inner"))
                .execute(c)?;
            Err(DbError::Conflict {
                object: "group",
                reason: "inner".into(),
            })
        });
        assert!(inner.is_err());
        Ok::<(), DbError>(())
    })
    .unwrap();
    let names: Vec<String> = g::groups.select(g::name).load(&mut *conn).unwrap();
    assert_eq!(names, ["outer"]);

    // A database error inside a write: nothing of it stays.
    let result: Result<(), DbError> = write_tx(&mut conn, |c| {
        diesel::insert_into(g::groups)
            .values(g::name.eq("x"))
            .execute(c)?;
        diesel::insert_into(g::groups)
            .values(g::name.eq("outer"))
            .execute(c)?;
        Ok(())
    });
    assert!(matches!(result, Err(DbError::Query(_))));
    let count: i64 = g::groups.count().get_result(&mut *conn).unwrap();
    assert_eq!(count, 1);
}

both_backends!(
    invalid_json_fields,
    other_field_checks,
    duplicate_names,
    dangling_references,
    transactions_roll_back,
);
