//! Delete semantics of reference §1.13, each one, on both backends.

use crate::crud::{pool, project};
use crate::support::{TestDb, both_backends};
use vespene_core::db::builds::{self, NewBuild};
use vespene_core::db::output::{OutputStream, append_output, read_output};
use vespene_core::db::projects::{BuildRefs, set_build_refs};
use vespene_core::ops::*;

fn pool_in_use_is_refused(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let used = pool(&ops, "used");
    let spare = pool(&ops, "spare");
    project(&ops, "web", used);
    project(&ops, "api", used);
    let err = ops.worker_pools().delete(a, used).unwrap_err();
    match &err {
        OpError::Conflict { object, reason } => {
            assert_eq!(*object, "worker pool");
            assert!(
                reason.contains("project 'api'") && reason.contains("project 'web'"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(ops.worker_pools().get(a, used).is_ok(), "nothing deleted");

    // Organizations protect both of their pools.
    let org = ops
        .organizations()
        .create(
            a,
            &OrganizationInput {
                name: "org".into(),
                organization_identifier: "o".into(),
                default_worker_pool_id: spare,
                worker_pool_id: used,
                ..Default::default()
            },
        )
        .unwrap();
    let err = ops.worker_pools().delete(a, spare).unwrap_err().to_string();
    assert!(err.contains("organization 'org'"), "{err}");
    ops.organizations().delete(a, org.organization.id).unwrap();
    ops.worker_pools().delete(a, spare).unwrap();
}

fn pool_delete_deletes_its_builds(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let old = pool(&ops, "old");
    let new = pool(&ops, "new");
    let web = project(&ops, "web", old);
    let mut conn = t.conn();
    let b1 = builds::insert_queued(&mut conn, &NewBuild::queued(web, old)).unwrap();
    append_output(&mut conn, b1, OutputStream::Output, &["line"]).unwrap();
    set_build_refs(
        &mut conn,
        web,
        &BuildRefs {
            last_build_id: Some(Some(b1)),
            ..Default::default()
        },
    )
    .unwrap();
    drop(conn);
    // Move the project; its old builds stay in the old pool.
    let mut input = ProjectInput::from(&ops.projects().get(a, web).unwrap());
    input.worker_pool_id = new;
    ops.projects().update(a, web, &input).unwrap();
    ops.worker_pools().delete(a, old).unwrap();
    let mut conn = t.conn();
    assert!(!builds::exists(&mut conn, b1).unwrap());
    assert_eq!(
        read_output(&mut conn, b1, OutputStream::Output, 0)
            .unwrap()
            .chunks,
        0
    );
    assert_eq!(
        ops.projects().get(a, web).unwrap().project.last_build_id,
        None,
        "reference cleared"
    );
}

fn stage_delete_deletes_pipelines_using_it(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let s = |name: &str| {
        ops.stages()
            .create(
                a,
                &StageInput {
                    name: name.into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .stage
            .id
    };
    let (build, test, deploy) = (s("build"), s("test"), s("deploy"));
    let pl = |name: &str, stages: Vec<Option<i64>>| {
        ops.pipelines()
            .create(
                a,
                &PipelineInput {
                    name: name.into(),
                    stages,
                    ..Default::default()
                },
            )
            .unwrap()
            .pipeline
            .id
    };
    let first_slot = pl("first", vec![Some(test), Some(deploy)]);
    let last_slot = pl(
        "last",
        vec![Some(build), None, None, None, None, None, Some(test)],
    );
    let unrelated = pl("unrelated", vec![Some(build), Some(deploy)]);
    let p = pool(&ops, "pool");
    let in_test = ops
        .projects()
        .create(
            a,
            &ProjectInput {
                name: "t".into(),
                worker_pool_id: p,
                pipeline_id: Some(first_slot),
                stage_id: Some(test),
                ..Default::default()
            },
        )
        .unwrap()
        .project
        .id;
    let in_unrelated = ops
        .projects()
        .create(
            a,
            &ProjectInput {
                name: "u".into(),
                worker_pool_id: p,
                pipeline_id: Some(unrelated),
                stage_id: Some(build),
                ..Default::default()
            },
        )
        .unwrap()
        .project
        .id;

    ops.stages().delete(a, test).unwrap();
    assert!(matches!(
        ops.pipelines().get(a, first_slot),
        Err(OpError::NotFound { .. })
    ));
    assert!(matches!(
        ops.pipelines().get(a, last_slot),
        Err(OpError::NotFound { .. })
    ));
    assert_eq!(
        ops.pipelines().get(a, unrelated).unwrap().stages,
        vec![Some(build), Some(deploy)]
    );
    let t_project = ops.projects().get(a, in_test).unwrap().project;
    assert_eq!(
        (t_project.stage_id, t_project.pipeline_id),
        (None, None),
        "stage and deleted pipeline cleared"
    );
    let u_project = ops.projects().get(a, in_unrelated).unwrap().project;
    assert_eq!(
        (u_project.stage_id, u_project.pipeline_id),
        (Some(build), Some(unrelated))
    );
}

fn pipeline_delete_clears_projects(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let stage = ops
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
    let pl = ops
        .pipelines()
        .create(
            a,
            &PipelineInput {
                name: "pl".into(),
                stages: vec![Some(stage)],
                ..Default::default()
            },
        )
        .unwrap()
        .pipeline
        .id;
    let p = pool(&ops, "pool");
    let pr = ops
        .projects()
        .create(
            a,
            &ProjectInput {
                name: "x".into(),
                worker_pool_id: p,
                pipeline_id: Some(pl),
                stage_id: Some(stage),
                ..Default::default()
            },
        )
        .unwrap()
        .project
        .id;
    let b = builds::insert_queued(
        &mut t.conn(),
        &NewBuild {
            pipeline_id: Some(pl),
            ..NewBuild::queued(pr, p)
        },
    )
    .unwrap();
    ops.pipelines().delete(a, pl).unwrap();
    let got = ops.projects().get(a, pr).unwrap().project;
    assert_eq!(got.pipeline_id, None);
    assert_eq!(got.stage_id, Some(stage), "only the pipeline is cleared");
    assert_eq!(builds::get(&mut t.conn(), b).unwrap().pipeline_id, None);
    assert!(ops.stages().get(a, stage).is_ok(), "stages are global");
}

fn project_delete_deletes_builds(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p = pool(&ops, "pool");
    let web = project(&ops, "web", p);
    let other = project(&ops, "other", p);
    let stage = ops
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
    let pl = ops
        .pipelines()
        .create(
            a,
            &PipelineInput {
                name: "pl".into(),
                stages: vec![Some(stage)],
                ..Default::default()
            },
        )
        .unwrap()
        .pipeline
        .id;
    let mut conn = t.conn();
    let ids: Vec<i64> = (0..3)
        .map(|_| builds::insert_queued(&mut conn, &NewBuild::queued(web, p)).unwrap())
        .collect();
    let keep = builds::insert_queued(&mut conn, &NewBuild::queued(other, p)).unwrap();
    for id in &ids {
        append_output(&mut conn, *id, OutputStream::Output, &["a", "b"]).unwrap();
        append_output(&mut conn, *id, OutputStream::Messages, &["m"]).unwrap();
    }
    set_build_refs(
        &mut conn,
        web,
        &BuildRefs {
            last_build_id: Some(Some(ids[0])),
            active_build_id: Some(Some(ids[2])),
            last_successful_build_id: Some(Some(ids[1])),
        },
    )
    .unwrap();
    vespene_core::db::pipelines::mark_completed(&mut conn, pl, ids[0]).unwrap();
    drop(conn);

    ops.projects().delete(a, web).unwrap();
    let mut conn = t.conn();
    for id in &ids {
        assert!(!builds::exists(&mut conn, *id).unwrap());
        assert_eq!(
            read_output(&mut conn, *id, OutputStream::Output, 0)
                .unwrap()
                .chunks,
            0
        );
        assert_eq!(
            read_output(&mut conn, *id, OutputStream::Messages, 0)
                .unwrap()
                .chunks,
            0
        );
    }
    assert!(builds::exists(&mut conn, keep).unwrap());
    assert_eq!(
        ops.pipelines()
            .get(a, pl)
            .unwrap()
            .pipeline
            .last_completed_by,
        None
    );
}

fn service_login_delete_clears_references(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let login = ops
        .service_logins()
        .create(
            a,
            &ServiceLoginInput {
                name: "gh".into(),
                username: "u".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .service_login
        .id;
    let p = pool(&ops, "pool");
    let pr = ops
        .projects()
        .create(
            a,
            &ProjectInput {
                name: "x".into(),
                worker_pool_id: p,
                scm_login_id: Some(login),
                ..Default::default()
            },
        )
        .unwrap()
        .project
        .id;
    let org = ops
        .organizations()
        .create(
            a,
            &OrganizationInput {
                name: "o".into(),
                organization_identifier: "o".into(),
                default_worker_pool_id: p,
                worker_pool_id: p,
                scm_login_id: Some(login),
                ..Default::default()
            },
        )
        .unwrap()
        .organization
        .id;
    ops.service_logins().delete(a, login).unwrap();
    assert_eq!(
        ops.projects().get(a, pr).unwrap().project.scm_login_id,
        None
    );
    assert_eq!(
        ops.organizations()
            .get(a, org)
            .unwrap()
            .organization
            .scm_login_id,
        None
    );
}

fn links_go_with_their_targets(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p = pool(&ops, "pool");
    let g = ops
        .groups()
        .create(a, &GroupInput { name: "g".into() })
        .unwrap()
        .group
        .id;
    let vs = ops
        .variable_sets()
        .create(
            a,
            &VariableSetInput {
                name: "vs".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .variable_set
        .id;
    let key = ops
        .ssh_keys()
        .create(
            a,
            &SshKeyInput {
                name: "k".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .ssh_key
        .id;
    let pr = ops
        .projects()
        .create(
            a,
            &ProjectInput {
                name: "x".into(),
                worker_pool_id: p,
                variable_sets: vec![vs],
                ssh_keys: vec![key],
                owner_groups: vec![g],
                launch_groups: vec![g],
                ..Default::default()
            },
        )
        .unwrap()
        .project
        .id;
    let mut pool_input = WorkerPoolInput::from(&ops.worker_pools().get(a, p).unwrap());
    pool_input.variable_sets = vec![vs];
    ops.worker_pools().update(a, p, &pool_input).unwrap();
    ops.variable_sets().delete(a, vs).unwrap();
    ops.ssh_keys().delete(a, key).unwrap();
    ops.groups().delete(a, g).unwrap();
    let got = ops.projects().get(a, pr).unwrap();
    assert!(got.variable_sets.is_empty() && got.ssh_keys.is_empty());
    assert!(got.owner_groups.is_empty() && got.launch_groups.is_empty());
    assert!(
        ops.worker_pools()
            .get(a, p)
            .unwrap()
            .variable_sets
            .is_empty()
    );
}

fn user_delete_clears_created_by(t: &TestDb) {
    let ops = t.system_ops();
    let sys = &Actor::System;
    let uid = ops
        .users()
        .create(
            sys,
            &UserInput {
                username: "bob".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .user
        .id;
    let bob = ops.actor_for_user(uid).unwrap();
    // Bob creates things (no authorization plugin: make him superuser).
    let mut input = UserInput::from(&ops.users().get(sys, uid).unwrap());
    input.is_superuser = true;
    ops.users().update_user(sys, uid, &input).unwrap();
    let bob = match bob {
        Actor::User(mut u) => {
            u.is_superuser = true;
            Actor::User(u)
        }
        other => other,
    };
    let p = ops
        .worker_pools()
        .create(
            &bob,
            &WorkerPoolInput {
                name: "p".into(),
                isolation_method: "sudo".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .worker_pool
        .id;
    let pr = ops
        .projects()
        .create(
            &bob,
            &ProjectInput {
                name: "x".into(),
                worker_pool_id: p,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(pr.project.created_by, Some(uid));
    let sn = ops
        .snippets()
        .create(
            &bob,
            &SnippetInput {
                name: "s".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(sn.snippet.created_by, Some(uid));
    let b = builds::insert_queued(
        &mut t.conn(),
        &NewBuild {
            created_by: Some(uid),
            ..NewBuild::queued(pr.project.id, p)
        },
    )
    .unwrap();
    let token = vespene_core::accounts::create_token(&t.db, uid, "cli").unwrap();

    ops.users().delete(sys, uid).unwrap();
    assert_eq!(
        ops.projects()
            .get(sys, pr.project.id)
            .unwrap()
            .project
            .created_by,
        None
    );
    assert_eq!(
        ops.snippets()
            .get(sys, sn.snippet.id)
            .unwrap()
            .snippet
            .created_by,
        None
    );
    assert_eq!(
        ops.worker_pools()
            .get(sys, p)
            .unwrap()
            .worker_pool
            .created_by,
        None
    );
    assert_eq!(builds::get(&mut t.conn(), b).unwrap().created_by, None);
    assert!(
        vespene_core::accounts::lookup_token(&t.db, &token.token)
            .unwrap()
            .is_none()
    );
}

both_backends!(
    pool_in_use_is_refused,
    pool_delete_deletes_its_builds,
    stage_delete_deletes_pipelines_using_it,
    pipeline_delete_clears_projects,
    project_delete_deletes_builds,
    service_login_delete_clears_references,
    links_go_with_their_targets,
    user_delete_clears_created_by,
);
