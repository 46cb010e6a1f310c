//! Create, read, update, delete and list of every object, on both
//! backends, as the system (authorization is tested in `authz`).

use crate::support::{TestDb, both_backends};
use vespene_core::db::builds::{self, BuildChanges, NewBuild};
use vespene_core::db::workers::{self, Registration};
use vespene_core::ops::*;

pub fn pool(ops: &Ops, name: &str) -> i64 {
    ops.worker_pools()
        .create(
            &Actor::System,
            &WorkerPoolInput {
                name: name.into(),
                isolation_method: "sudo".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .worker_pool
        .id
}

pub fn project(ops: &Ops, name: &str, pool: i64) -> i64 {
    ops.projects()
        .create(
            &Actor::System,
            &ProjectInput {
                name: name.into(),
                worker_pool_id: pool,
                ..Default::default()
            },
        )
        .unwrap()
        .project
        .id
}

fn names<T>(page: &Paged<T>, name: impl Fn(&T) -> &str) -> Vec<String> {
    page.items.iter().map(|r| name(r).to_string()).collect()
}

fn worker_pools(t: &TestDb) {
    assert_eq!(t.db.kind(), t.kind);
    let ops = t.system_ops();
    let a = &Actor::System;
    let vs = ops
        .variable_sets()
        .create(
            a,
            &VariableSetInput {
                name: "common".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .variable_set
        .id;
    let created = ops
        .worker_pools()
        .create(
            a,
            &WorkerPoolInput {
                name: "  linux ".into(),
                isolation_method: "basic_container".into(),
                sudo_user: Some("build".into()),
                variables: r#"{"arch": "x86_64"}"#.into(),
                autoscaling_enabled: true,
                planner: Some("stock".into()),
                executor: Some("shell".into()),
                multiplier: 1.5,
                minimum: 1,
                maximum: 4,
                executor_command: "scale {{ size }}".into(),
                variable_sets: vec![vs],
                ..Default::default()
            },
        )
        .unwrap();
    let p = &created.worker_pool;
    assert_eq!(p.name, "linux", "names are trimmed");
    assert_eq!(p.permissions_hex, "0x777");
    assert_eq!(p.sleep_seconds, 10);
    assert_eq!(p.auto_abort_minutes, 1440);
    assert!(p.build_latest);
    assert_eq!(p.multiplier, 1.5);
    assert_eq!(p.planner.as_deref(), Some("stock"));
    assert_eq!(p.build_object_shelf_life, 365);
    assert_eq!(p.build_root_shelf_life, 31);
    assert_eq!(created.variable_sets, vec![vs]);

    let got = ops.worker_pools().get(a, p.id).unwrap();
    assert_eq!(got, created);

    let mut input = WorkerPoolInput::from(&got);
    input.sudo_user = None;
    input.maximum = 9;
    input.variable_sets.clear();
    let updated = ops.worker_pools().update(a, p.id, &input).unwrap();
    assert_eq!(updated.worker_pool.sudo_user, None);
    assert_eq!(updated.worker_pool.maximum, 9);
    assert!(updated.variable_sets.is_empty());

    vespene_core::db::worker_pools::record_autoscale(&mut t.conn(), p.id, 0).unwrap();
    let got = ops.worker_pools().get(a, p.id).unwrap().worker_pool;
    assert_eq!(got.autoscaling_status, Some(0));
    assert!(got.last_autoscaled.is_some());

    pool(&ops, "arm");
    pool(&ops, "mac");
    let all = ops
        .worker_pools()
        .list(a, &NameFilter::default(), PageRequest::default())
        .unwrap();
    assert_eq!(names(&all, |p| &p.name), ["arm", "linux", "mac"]);
    let some = ops
        .worker_pools()
        .list(
            a,
            &NameFilter {
                name_contains: Some("A".into()),
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(
        names(&some, |p| &p.name),
        ["arm", "mac"],
        "case-insensitive contains"
    );
    let paged = ops
        .worker_pools()
        .list(
            a,
            &NameFilter::default(),
            PageRequest {
                page: 2,
                size: Some(2),
            },
        )
        .unwrap();
    assert_eq!(names(&paged, |p| &p.name), ["mac"]);
    assert!(!paged.has_more);
    let first = ops
        .worker_pools()
        .list(
            a,
            &NameFilter::default(),
            PageRequest {
                page: 1,
                size: Some(2),
            },
        )
        .unwrap();
    assert!(first.has_more);
    assert_eq!(
        ops.worker_pools().id_by_name(a, "mac").unwrap(),
        paged.items[0].id
    );

    ops.worker_pools().delete(a, p.id).unwrap();
    assert!(matches!(
        ops.worker_pools().get(a, p.id),
        Err(OpError::NotFound { .. })
    ));
    assert!(matches!(
        ops.worker_pools().delete(a, p.id),
        Err(OpError::NotFound { .. })
    ));
}

fn projects(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let pool = pool(&ops, "default");
    let other_pool = crate::crud::pool(&ops, "other");
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
                name: "deploy".into(),
                private_key: Some("KEY".into()),
                ..Default::default()
            },
        )
        .unwrap()
        .ssh_key
        .id;
    let login = ops
        .service_logins()
        .create(
            a,
            &ServiceLoginInput {
                name: "gh".into(),
                username: "bot".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .service_login
        .id;
    let owners = ops
        .groups()
        .create(
            a,
            &GroupInput {
                name: "owners".into(),
            },
        )
        .unwrap()
        .group
        .id;
    let launchers = ops
        .groups()
        .create(
            a,
            &GroupInput {
                name: "launchers".into(),
            },
        )
        .unwrap()
        .group
        .id;
    let stage = ops
        .stages()
        .create(
            a,
            &StageInput {
                name: "build".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .stage
        .id;
    let pipeline = ops
        .pipelines()
        .create(
            a,
            &PipelineInput {
                name: "release".into(),
                stages: vec![Some(stage)],
                ..Default::default()
            },
        )
        .unwrap()
        .pipeline
        .id;

    let input = ProjectInput {
        name: "web".into(),
        description: "the site".into(),
        pipeline_id: Some(pipeline),
        pipeline_enabled: false,
        stage_id: Some(stage),
        repo_url: "https://example.invalid/web.git".into(),
        repo_branch: "main".into(),
        recursive: false,
        scm_type: "git".into(),
        webhook_enabled: true,
        webhook_token: "tok".into(),
        script: "#!/bin/sh\necho {{ x }}\n".into(),
        timeout: 5,
        container_base_image: Some("debian:stable".into()),
        variables: r#"{"x": 1}"#.into(),
        launch_questions: r#"[{"variable": "env", "type": "radio", "choices": ["qa", "prod"]}]"#
            .into(),
        scm_login_id: Some(login),
        worker_pool_id: pool,
        schedule_enabled: true,
        monday: true,
        friday: true,
        sunday: true,
        weekday_start_hours: "16, 19".into(),
        weekday_start_minutes: "0".into(),
        weekend_start_hours: "1-3".into(),
        weekend_start_minutes: "30".into(),
        schedule_threshold: 15,
        variable_sets: vec![vs],
        ssh_keys: vec![key],
        owner_groups: vec![owners],
        launch_groups: vec![launchers, launchers],
        ..Default::default()
    };
    let created = ops.projects().create(a, &input).unwrap();
    let p = &created.project;
    // The webhook token is stored encrypted (issue 9.6).
    assert!(p.webhook_token.starts_with("[VESPENE-CLOAK]"));
    assert_eq!(ops.secrets().decloak(&p.webhook_token).unwrap(), "tok");
    assert_eq!(
        ProjectInput::from(&created),
        ProjectInput {
            launch_groups: vec![launchers],
            webhook_token: p.webhook_token.clone(),
            ..input.clone()
        }
    );
    assert!(p.has_launch_questions());
    assert_eq!(p.created_by, None);
    assert_eq!(
        (
            p.last_build_id,
            p.active_build_id,
            p.last_successful_build_id
        ),
        (None, None, None)
    );

    let defaults = ops
        .projects()
        .create(
            a,
            &ProjectInput {
                name: "plain".into(),
                worker_pool_id: other_pool,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(defaults.project.timeout, 60);
    assert_eq!(defaults.project.variables, "{}");
    assert_eq!(defaults.project.launch_questions, "[]");
    assert!(defaults.project.script.starts_with("#!/bin/bash"));
    assert!(defaults.project.recursive && defaults.project.pipeline_enabled);
    assert!(!defaults.project.has_launch_questions());

    let mut change = ProjectInput::from(&created);
    change.name = "website".into();
    change.pipeline_id = None;
    change.stage_id = None;
    change.ssh_keys.clear();
    change.container_base_image = None;
    let updated = ops.projects().update(a, p.id, &change).unwrap();
    assert_eq!(updated.project.name, "website");
    assert_eq!(updated.project.pipeline_id, None);
    assert_eq!(updated.project.container_base_image, None);
    assert!(updated.ssh_keys.is_empty());
    assert_eq!(updated.owner_groups, vec![owners]);

    let by_pool = ops
        .projects()
        .list(
            a,
            &ProjectFilter {
                worker_pool_id: Some(other_pool),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(names(&by_pool, |p| &p.name), ["plain"]);
    let scheduled = ops
        .projects()
        .list(
            a,
            &ProjectFilter {
                scheduled_only: true,
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(names(&scheduled, |p| &p.name), ["website"]);
    let search = ops
        .projects()
        .list(
            a,
            &ProjectFilter {
                name_contains: Some("SITE".into()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(names(&search, |p| &p.name), ["website"]);
    let none = ops
        .projects()
        .list(
            a,
            &ProjectFilter {
                name_contains: Some("%".into()),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert!(none.items.is_empty(), "LIKE wildcards are escaped");

    // The engine's references.
    let build = builds::insert_queued(&mut t.conn(), &NewBuild::queued(p.id, pool)).unwrap();
    vespene_core::db::projects::set_build_refs(
        &mut t.conn(),
        p.id,
        &vespene_core::db::projects::BuildRefs {
            active_build_id: Some(Some(build)),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        ops.projects().get(a, p.id).unwrap().project.active_build_id,
        Some(build)
    );

    ops.projects().delete(a, p.id).unwrap();
    assert!(matches!(
        ops.projects().get(a, p.id),
        Err(OpError::NotFound { .. })
    ));
    assert!(!builds::exists(&mut t.conn(), build).unwrap());
}

fn pipelines_and_stages(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
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
    let mut stages = Vec::new();
    for name in ["build", "test", "deploy"] {
        let s = ops
            .stages()
            .create(
                a,
                &StageInput {
                    name: name.into(),
                    variables: r#"{"stage": 1}"#.into(),
                    variable_sets: vec![vs],
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(s.variable_sets, vec![vs]);
        stages.push(s.stage.id);
    }
    let (b, te, d) = (stages[0], stages[1], stages[2]);
    let created = ops
        .pipelines()
        .create(
            a,
            &PipelineInput {
                name: "release".into(),
                stages: vec![Some(b), Some(te), None, Some(d), None],
                variables: r#"{"p": true}"#.into(),
                variable_sets: vec![vs],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        created.stages,
        vec![Some(b), Some(te), None, Some(d)],
        "gaps kept, trailing gaps cut"
    );
    assert_eq!(created.all_stages(), vec![b, te, d]);
    assert_eq!(created.next_stage(b), Some(te));
    assert_eq!(created.next_stage(te), None, "a gap ends the chain");
    assert_eq!(created.previous_stage(te), Some(b));
    assert_eq!(created.previous_stage(b), None);
    assert!(created.pipeline.enabled);

    let mut change = PipelineInput::from(&created);
    change.stages = vec![Some(d), Some(b)];
    change.enabled = false;
    let updated = ops
        .pipelines()
        .update(a, created.pipeline.id, &change)
        .unwrap();
    assert_eq!(updated.stages, vec![Some(d), Some(b)]);
    assert!(!updated.pipeline.enabled);

    let pool = pool(&ops, "p");
    let pid = project(&ops, "x", pool);
    let build = builds::insert_queued(&mut t.conn(), &NewBuild::queued(pid, pool)).unwrap();
    vespene_core::db::pipelines::mark_completed(&mut t.conn(), created.pipeline.id, build).unwrap();
    let got = ops.pipelines().get(a, created.pipeline.id).unwrap();
    assert_eq!(got.pipeline.last_completed_by, Some(build));
    assert!(got.pipeline.last_completed_date.is_some());

    let listed = ops
        .stages()
        .list(a, &NameFilter::default(), PageRequest::default())
        .unwrap();
    assert_eq!(names(&listed, |s| &s.name), ["build", "deploy", "test"]);
    let mut stage_change = StageInput::from(&ops.stages().get(a, te).unwrap());
    stage_change.name = "verify".into();
    stage_change.variable_sets.clear();
    let s = ops.stages().update(a, te, &stage_change).unwrap();
    assert_eq!(s.stage.name, "verify");
    assert!(s.variable_sets.is_empty());
    let pl = ops
        .pipelines()
        .list(a, &NameFilter::default(), PageRequest::default())
        .unwrap();
    assert_eq!(names(&pl, |p| &p.name), ["release"]);

    ops.pipelines().delete(a, created.pipeline.id).unwrap();
    assert!(matches!(
        ops.pipelines().get(a, created.pipeline.id),
        Err(OpError::NotFound { .. })
    ));
    ops.stages().delete(a, te).unwrap();
    assert_eq!(
        ops.stages()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .len(),
        2
    );
}

fn snippets_variable_sets_groups(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let g1 = ops
        .groups()
        .create(a, &GroupInput { name: "dev".into() })
        .unwrap()
        .group
        .id;
    let g2 = ops
        .groups()
        .create(a, &GroupInput { name: "ops".into() })
        .unwrap()
        .group
        .id;
    let sn = ops
        .snippets()
        .create(
            a,
            &SnippetInput {
                name: "notify".into(),
                text: "echo {{ x }}".into(),
                owner_groups: vec![g2, g1],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(sn.owner_groups, vec![g1, g2]);
    let mut change = SnippetInput::from(&sn);
    change.text = "echo changed".into();
    change.owner_groups = vec![g2];
    let sn2 = ops.snippets().update(a, sn.snippet.id, &change).unwrap();
    assert_eq!(sn2.snippet.text, "echo changed");
    assert_eq!(sn2.owner_groups, vec![g2]);
    assert_eq!(
        ops.snippets()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );

    let vs = ops
        .variable_sets()
        .create(
            a,
            &VariableSetInput {
                name: "db".into(),
                variables: r#"{"host": "db1"}"#.into(),
                owner_groups: vec![g1],
                ..Default::default()
            },
        )
        .unwrap();
    let mut change = VariableSetInput::from(&vs);
    change.variables = " ".into();
    let vs2 = ops
        .variable_sets()
        .update(a, vs.variable_set.id, &change)
        .unwrap();
    assert_eq!(vs2.variable_set.variables, "{}", "blank is an empty object");
    let many =
        vespene_core::db::variable_sets::load_many(&mut t.conn(), &[vs.variable_set.id]).unwrap();
    assert_eq!(many.len(), 1);

    let renamed = ops
        .groups()
        .update(
            a,
            g1,
            &GroupInput {
                name: "developers".into(),
            },
        )
        .unwrap();
    assert_eq!(renamed.group.name, "developers");
    let groups = ops
        .groups()
        .list(a, &NameFilter::default(), PageRequest::default())
        .unwrap();
    assert_eq!(names(&groups, |g| &g.name), ["developers", "ops"]);

    ops.snippets().delete(a, sn.snippet.id).unwrap();
    ops.variable_sets().delete(a, vs.variable_set.id).unwrap();
    assert!(
        ops.snippets()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        ops.variable_sets()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .is_empty()
    );
}

fn organizations(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p1 = pool(&ops, "import");
    let p2 = pool(&ops, "default");
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
    let login = ops
        .service_logins()
        .create(
            a,
            &ServiceLoginInput {
                name: "gh".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .service_login
        .id;
    let created = ops
        .organizations()
        .create(
            a,
            &OrganizationInput {
                name: "vespene-io".into(),
                organization_identifier: "vespene-io".into(),
                api_endpoint: "https://ghe.invalid/api/v3".into(),
                import_without_dotfile: true,
                overwrite_project_script: false,
                allow_worker_pool_assignment: false,
                default_worker_pool_id: p2,
                worker_pool_id: p1,
                scm_login_id: Some(login),
                refresh_minutes: 30,
                auto_attach_ssh_keys: vec![key],
                ..Default::default()
            },
        )
        .unwrap();
    let o = &created.organization;
    assert_eq!(o.organization_type, "github");
    assert!(o.import_enabled && o.import_without_dotfile && !o.overwrite_project_script);
    assert!(o.overwrite_project_name && o.overwrite_configurations && o.allow_pipeline_definition);
    assert!(!o.allow_worker_pool_assignment && !o.force_rescan);
    assert_eq!(created.auto_attach_ssh_keys, vec![key]);

    let mut change = OrganizationInput::from(&created);
    change.force_rescan = true;
    change.auto_attach_ssh_keys.clear();
    let updated = ops.organizations().update(a, o.id, &change).unwrap();
    assert!(updated.organization.force_rescan);
    assert!(updated.auto_attach_ssh_keys.is_empty());

    let build = builds::insert_queued(
        &mut t.conn(),
        &NewBuild {
            project_id: None,
            organization_id: Some(o.id),
            ..NewBuild::queued(0, p2)
        },
    )
    .unwrap();
    vespene_core::db::organizations::set_import_state(
        &mut t.conn(),
        o.id,
        &vespene_core::db::organizations::ImportState {
            force_rescan: Some(false),
            last_build_id: Some(Some(build)),
            ..Default::default()
        },
    )
    .unwrap();
    let got = ops.organizations().get(a, o.id).unwrap().organization;
    assert_eq!(got.last_build_id, Some(build));
    assert!(!got.force_rescan);
    assert_eq!(
        ops.organizations()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );

    ops.organizations().delete(a, o.id).unwrap();
    assert!(
        !builds::exists(&mut t.conn(), build).unwrap(),
        "import builds go with the organization"
    );
}

fn users(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let g = ops
        .groups()
        .create(a, &GroupInput { name: "dev".into() })
        .unwrap()
        .group
        .id;
    let u = ops
        .users()
        .create(
            a,
            &UserInput {
                username: "alice".into(),
                email: "a@example.invalid".into(),
                groups: vec![g],
                ..Default::default()
            },
        )
        .unwrap();
    assert!(u.user.is_active && !u.user.is_superuser);
    assert_eq!(u.user.password_hash, None);
    assert_eq!(u.groups, vec![g]);
    assert_eq!(ops.groups().get(a, g).unwrap().members, vec![u.user.id]);
    let mut change = UserInput::from(&u);
    change.first_name = "Alice".into();
    change.is_superuser = true;
    let u2 = ops.users().update_user(a, u.user.id, &change).unwrap();
    assert!(u2.user.is_superuser);
    assert_eq!(u2.user.first_name, "Alice");
    let listed = ops
        .users()
        .list(
            a,
            &NameFilter {
                name_contains: Some("LIC".into()),
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(names(&listed, |u| &u.username), ["alice"]);
    let actor = ops.actor_for_user(u.user.id).unwrap();
    match actor {
        Actor::User(info) => {
            assert_eq!(info.username, "alice");
            assert!(info.is_superuser);
            assert_eq!(
                info.groups
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>(),
                ["dev"]
            );
        }
        other => panic!("{other:?}"),
    }
    ops.users().delete(a, u.user.id).unwrap();
    assert!(ops.groups().get(a, g).unwrap().members.is_empty());
    ops.groups().delete(a, g).unwrap();
}

fn builds_engine_api(t: &TestDb) {
    let ops = t.system_ops();
    let a = &Actor::System;
    let p1 = pool(&ops, "one");
    let p2 = pool(&ops, "two");
    let web = project(&ops, "web", p1);
    let api = project(&ops, "api", p2);
    let mut conn = t.conn();

    let first = builds::insert_queued(
        &mut conn,
        &NewBuild {
            variables: r#"{"a": 1}"#.into(),
            launch_answers: r#"{"env": "qa"}"#.into(),
            script: "echo".into(),
            ..NewBuild::queued(web, p1)
        },
    )
    .unwrap();
    let b = builds::get(&mut conn, first).unwrap();
    assert_eq!(b.status(), BuildStatus::Queued);
    assert_eq!(
        b.pipeline_origin_build_id,
        Some(first),
        "a build starts its own chain"
    );
    assert_eq!(b.launch_answers, r#"{"env": "qa"}"#);
    assert_eq!(
        (b.start_time, b.end_time, b.return_code),
        (None, None, None)
    );
    assert_eq!(b.output_variables, "{}");

    let child = builds::insert_queued(
        &mut conn,
        &NewBuild {
            pipeline_origin_build_id: Some(first),
            pipeline_parent_build_id: Some(first),
            ..NewBuild::queued(api, p2)
        },
    )
    .unwrap();
    let c = builds::get(&mut conn, child).unwrap();
    assert_eq!(
        (c.pipeline_origin_build_id, c.pipeline_parent_build_id),
        (Some(first), Some(first))
    );

    let worker = workers::register(
        &mut conn,
        &Registration {
            worker_uid: "w1".into(),
            hostname: "host".into(),
            port: 8000,
            build_root: "/tmp/b".into(),
            fileserving_enabled: true,
        },
    )
    .unwrap();
    let again = workers::register(
        &mut conn,
        &Registration {
            worker_uid: "w1".into(),
            hostname: "host2".into(),
            port: 8001,
            build_root: "/tmp/b".into(),
            fileserving_enabled: false,
        },
    )
    .unwrap();
    assert_eq!(again.id, worker.id, "one record per worker uid");
    assert_eq!(again.hostname, "host2");
    assert_eq!(again.first_checkin, worker.first_checkin);
    assert_eq!(ops.workers(a).unwrap().len(), 1);

    let now = vespene_core::db::now();
    builds::update(
        &mut conn,
        first,
        &BuildChanges {
            start_time: Some(Some(now)),
            worker_id: Some(Some(worker.id)),
            claimed_by: Some(Some("w1".into())),
            heartbeat_at: Some(Some(now)),
            revision: Some("abc1234".into()),
            revision_username: Some("dev@example.invalid".into()),
            working_dir: Some("/tmp/b/1".into()),
            output_variables: Some(r#"{"version": "1.2"}"#.into()),
            ..BuildChanges::default().status(BuildStatus::Running)
        },
    )
    .unwrap();
    let b = builds::get(&mut conn, first).unwrap();
    assert_eq!(b.status(), BuildStatus::Running);
    assert_eq!(b.start_time, Some(now), "timestamps round-trip");
    assert_eq!(b.worker_id, Some(worker.id));
    assert_eq!(b.claimed_by.as_deref(), Some("w1"));
    assert_eq!(b.output_variables, r#"{"version": "1.2"}"#);
    builds::update(
        &mut conn,
        first,
        &BuildChanges {
            return_code: Some(Some(2)),
            end_time: Some(Some(now)),
            ..BuildChanges::default().status(BuildStatus::Failure)
        },
    )
    .unwrap();
    assert_eq!(builds::get(&mut conn, first).unwrap().return_code, Some(2));
    let bad = builds::update(
        &mut conn,
        first,
        &BuildChanges {
            output_variables: Some("[]".into()),
            ..Default::default()
        },
    );
    assert!(
        matches!(bad, Err(vespene_core::db::DbError::Invalid { ref field, .. }) if field == "output_variables"),
        "{bad:?}"
    );
    assert!(matches!(
        builds::update(&mut conn, 999_999, &BuildChanges::default()),
        Err(vespene_core::db::DbError::NotFound { .. })
    ));

    for _ in 0..5 {
        builds::insert_queued(&mut conn, &NewBuild::queued(web, p1)).unwrap();
    }
    drop(conn);
    let all = ops
        .builds()
        .list(a, &BuildFilter::default(), PageRequest::default())
        .unwrap();
    assert_eq!(all.items.len(), 7);
    assert!(
        all.items.windows(2).all(|w| w[0].id > w[1].id),
        "newest first"
    );
    let of_web = ops
        .builds()
        .list(
            a,
            &BuildFilter {
                project_id: Some(web),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(of_web.items.len(), 6);
    let failed = ops
        .builds()
        .list(
            a,
            &BuildFilter {
                statuses: vec![BuildStatus::Failure],
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(
        failed.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        [first]
    );
    let queued_or_failed = ops
        .builds()
        .list(
            a,
            &BuildFilter {
                statuses: vec![BuildStatus::Failure, BuildStatus::Queued],
                worker_pool_id: Some(p1),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(queued_or_failed.items.len(), 6);
    let in_p2 = ops
        .builds()
        .list(
            a,
            &BuildFilter {
                worker_pool_id: Some(p2),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(
        in_p2.items.iter().map(|b| b.id).collect::<Vec<_>>(),
        [child]
    );
    let page2 = ops
        .builds()
        .list(
            a,
            &BuildFilter::default(),
            PageRequest {
                page: 2,
                size: Some(3),
            },
        )
        .unwrap();
    assert_eq!(page2.items.len(), 3);
    assert!(page2.has_more);
    assert_eq!(page2.items[0].id, all.items[3].id);
    let older = ops
        .builds()
        .list(
            a,
            &BuildFilter {
                before_id: Some(all.items[1].id),
                ..Default::default()
            },
            PageRequest::default(),
        )
        .unwrap();
    assert_eq!(older.items[0].id, all.items[2].id, "keyset paging");

    let full = ops.builds().get(a, first).unwrap();
    assert_eq!(full.status(), BuildStatus::Failure);
    ops.builds().delete(a, first).unwrap();
    assert!(matches!(
        ops.builds().get(a, first),
        Err(OpError::NotFound { .. })
    ));
    let names = vespene_core::db::projects::names(&mut t.conn(), &[web, api, web]).unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(BuildStatus::parse("queued"), Some(BuildStatus::Queued));
    assert!(BuildStatus::Running.is_stoppable() && !BuildStatus::Success.is_stoppable());
}

fn page_size_default(t: &TestDb) {
    let ops = t.system_ops().with_page_size(2);
    for n in ["a", "b", "c"] {
        pool(&ops, n);
    }
    let page = ops
        .worker_pools()
        .list(&Actor::System, &NameFilter::default(), PageRequest::page(1))
        .unwrap();
    assert_eq!(page.page_size, 2);
    assert_eq!(page.items.len(), 2);
    assert!(page.has_more);
}

both_backends!(
    worker_pools,
    projects,
    pipelines_and_stages,
    snippets_variable_sets_groups,
    organizations,
    users,
    builds_engine_api,
    page_size_default,
);
