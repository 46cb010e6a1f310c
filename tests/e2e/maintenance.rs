//! The maintenance commands end to end: `vespene cleanup`, `vespene
//! tutorial` and `vespene autoscaler`, run as the real binary against a
//! sandbox on SQLite and on PostgreSQL, with real plugins and workers.

use crate::pipelines::{Processes, WAIT, builds_of, each_backend, start, wait_for_file, wait_nth};
use diesel::prelude::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::db::schema::builds as b;
use vespene_core::ops::WorkerPoolInput;

fn set_mtime(path: &Path, days_ago: u64) {
    let t = SystemTime::now() - Duration::from_secs(days_ago * 86_400);
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(t))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", path.display()));
}

fn build_exists(app: &App, id: i64) -> bool {
    app.ops.builds().get(&Actor::System, id).is_ok()
}

#[test]
fn cleanup_removes_the_oldest_builds_and_old_build_roots_never_active_ones() {
    each_backend(|es| {
        // Roots kept after their builds, for cleanup to find.
        es.sb
            .write_settings("40-keep.toml", "keep_build_roots = true\n");
        let app = es.app();
        let pool = es.pool(&app, "main");
        let projects: Vec<i64> = (1..=4)
            .map(|n| es.project(&app, &format!("p{n}"), pool, "#!/bin/sh\necho hi\n"))
            .collect();
        let done: Vec<i64> = projects[..3].iter().map(|p| start(&app, *p)).collect();
        let worker = Processes::workers(&es, "main", 1, &["--max-builds", "3"]);
        for id in &done {
            assert_eq!(
                es.wait_build(&app, *id, WAIT).status(),
                BuildStatus::Success
            );
        }
        worker.wait();
        // Still queued (no worker): active, never removed.
        let queued = start(&app, projects[3]);

        // Builds 1 and 2 and the queued one were queued ten days ago.
        let old = vespene_core::db::now() - chrono::Duration::days(10);
        {
            let mut conn = app.db.conn().unwrap();
            diesel::update(b::table.filter(b::id.eq_any([done[0], done[1], queued])))
                .set(b::queued_time.eq(old))
                .execute(&mut *conn)
                .unwrap();
        }
        // Roots: build 1's and build 3's are old, build 2's is recent; the
        // queued build's directory is old but its build is active; a
        // stray directory is recent.
        let root = |id: i64| es.build_root(id);
        set_mtime(&root(done[0]), 10);
        set_mtime(&root(done[2]), 10);
        std::fs::create_dir_all(root(queued)).unwrap();
        set_mtime(&root(queued), 10);
        let stray = es.settings().build_root.join("scratch");
        std::fs::create_dir_all(&stray).unwrap();

        let run = es.vespene(&["cleanup", "--remove-builds", "--days", "5"]);
        assert_eq!(run.ok(), "Deleted 2 builds\n");
        assert!(!build_exists(&app, done[0]) && !build_exists(&app, done[1]));
        assert!(build_exists(&app, done[2]), "a recent build stays");
        assert!(build_exists(&app, queued), "an active build stays");
        let p1 = app
            .ops
            .projects()
            .get(&Actor::System, projects[0])
            .unwrap()
            .project;
        assert_eq!(p1.last_build_id, None, "references are cleared");
        assert!(
            root(done[0]).exists(),
            "build roots are left to --remove-build-roots"
        );

        let run = es.vespene(&["cleanup", "--remove-build-roots", "--days", "5"]);
        assert_eq!(run.ok(), "Deleted 2 build roots\n");
        assert!(!root(done[0]).exists() && !root(done[2]).exists());
        assert!(root(done[1]).exists() && root(queued).exists() && stray.exists());

        let run = es.vespene(&[
            "cleanup",
            "--remove-builds",
            "--remove-build-roots",
            "--days",
            "5",
        ]);
        assert_eq!(run.ok(), "Deleted 0 builds\nDeleted 0 build roots\n");
        // The newest are what a one-day cleanup would spare: everything
        // here is younger than a day except what is active.
        let run = es.vespene(&["cleanup", "--remove-builds", "--days", "1"]);
        assert_eq!(run.ok(), "Deleted 0 builds\n");

        let run = es.vespene(&["cleanup", "--remove-builds", "--days", "0"]);
        assert_eq!(run.code, Some(1));
        assert!(run.stderr.contains("--days must be at least 1"), "{run:?}");
        let run = es.vespene(&["cleanup", "--days", "3"]);
        assert_eq!(run.code, Some(1));
        assert!(run.stderr.contains("nothing to clean"), "{run:?}");
        assert!(build_exists(&app, done[2]) && build_exists(&app, queued));
    });
}

#[test]
fn tutorial_objects_are_idempotent_and_its_pipeline_runs_to_completion() {
    each_backend(|es| {
        // Builds of the tutorial pool run as `nobody` when the tests run as
        // root: let it reach the build root inside the sandbox.
        std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let app = es.app();
        let admin =
            vespene_core::accounts::create_user(&app.db, "admin", Some("secret"), true).unwrap();

        let run = es.vespene(&["tutorial"]);
        let out = run.ok();
        for line in [
            "created group 'developers'",
            "created group 'management'",
            "created worker pool 'tutorial-pool'",
            "created stage 'release'",
            "created pipeline 'tutorial-fake-CI/CD'",
            "created snippet 'tutorial_snippet'",
            "created variable set 'tutorial-common-variables'",
            "created variable set 'tutorial-deploy-variables'",
            "created project 'tutorial-project1-release'",
            "added superuser 'admin' to the tutorial groups",
            "Tutorial ready",
        ] {
            assert!(out.contains(line), "{line:?} not in\n{out}");
        }
        let again = es.vespene(&["tutorial"]);
        let out2 = again.ok();
        assert!(
            !out2.contains("created") && !out2.contains("added"),
            "{out2}"
        );
        assert!(
            out2.contains("Nothing changed: every tutorial object already exists."),
            "{out2}"
        );
        assert!(
            out2.contains("exists  pipeline 'tutorial-fake-CI/CD'"),
            "{out2}"
        );

        // The objects, as the original made them.
        let ops = &app.ops;
        let sys = &Actor::System;
        let groups: Vec<i64> = ["developers", "qa", "management", "ops"]
            .iter()
            .map(|g| ops.groups().id_by_name(sys, g).unwrap())
            .collect();
        let mut admin_groups = ops.users().get(sys, admin.id).unwrap().groups;
        admin_groups.sort_unstable();
        let mut want = groups.clone();
        want.sort_unstable();
        assert_eq!(admin_groups, want);
        let pid = ops
            .pipelines()
            .id_by_name(sys, "tutorial-fake-CI/CD")
            .unwrap();
        let pipeline = ops.pipelines().get(sys, pid).unwrap();
        let stages: Vec<i64> = ["build", "qa", "stage", "release"]
            .iter()
            .map(|s| ops.stages().id_by_name(sys, s).unwrap())
            .collect();
        assert_eq!(pipeline.all_stages(), stages);
        assert_eq!(pipeline.owner_groups, vec![groups[3]]);
        let common = ops
            .variable_sets()
            .id_by_name(sys, "tutorial-common-variables")
            .unwrap();
        let deploy = ops
            .variable_sets()
            .id_by_name(sys, "tutorial-deploy-variables")
            .unwrap();
        for s in &stages {
            assert_eq!(
                ops.stages().get(sys, *s).unwrap().variable_sets,
                vec![common]
            );
        }
        let names = [
            "tutorial-project1-build",
            "tutorial-project1-qa",
            "tutorial-project1-stage",
            "tutorial-project1-release",
        ];
        let projects: Vec<i64> = names
            .iter()
            .map(|n| ops.projects().id_by_name(sys, n).unwrap())
            .collect();
        for (i, id) in projects.iter().enumerate() {
            let p = ops.projects().get(sys, *id).unwrap();
            assert_eq!(p.project.pipeline_id, Some(pid));
            assert_eq!(p.project.stage_id, Some(stages[i]));
            assert_eq!(p.project.repo_url, "", "no repository to clone");
        }
        let release = ops.projects().get(sys, projects[3]).unwrap();
        let mut sets = release.variable_sets.clone();
        sets.sort_unstable();
        let mut want_sets = vec![common, deploy];
        want_sets.sort_unstable();
        assert_eq!(sets, want_sets);
        let pool = ops
            .worker_pools()
            .get(
                sys,
                ops.worker_pools().id_by_name(sys, "tutorial-pool").unwrap(),
            )
            .unwrap()
            .worker_pool;
        // Namespaces where the launcher can start a sandbox, else sudo.
        let namespaces = vespene_e2e::harness::namespaces_work();
        let expected_isolation = if namespaces { "namespace" } else { "sudo" };
        assert_eq!(pool.isolation_method, expected_isolation);
        let expected_user = if nix::unistd::geteuid().is_root() {
            "nobody".to_string()
        } else {
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .unwrap()
                .unwrap()
                .name
        };
        assert_eq!(pool.sudo_user.as_deref(), Some(expected_user.as_str()));

        // The pipeline works as shipped: one worker runs all four stages.
        let run = es.vespene(&["project", "start", "tutorial-project1-build"]);
        run.ok();
        let worker = Processes::workers(&es, "tutorial-pool", 1, &["--max-builds", "4"]);
        let built: Vec<_> = projects
            .iter()
            .map(|p| wait_nth(&es, &app, *p, 1))
            .collect();
        worker.wait();
        for b in &built {
            assert_eq!(
                b.status(),
                BuildStatus::Success,
                "{}\n{}",
                es.output(&app, b.id, OutputStream::Messages),
                es.output(&app, b.id, OutputStream::Output)
            );
        }
        let out = |i: usize| es.output(&app, built[i].id, OutputStream::Output);
        let build_out = out(0);
        assert!(
            build_out.contains("Welcome to the Vespene Build Tutorial"),
            "{build_out}"
        );
        assert!(
            build_out.contains("corporate database: foo.example.com"),
            "{build_out}"
        );
        let version = serde_json::from_str::<serde_json::Value>(&built[0].output_variables)
            .unwrap()["artifact_version"]
            .as_str()
            .expect("the build stage set artifact_version")
            .to_string();
        assert!(version.starts_with("1.0."), "{version}");
        assert!(
            out(1).contains(&format!("testing version {version} (checksum ")),
            "{}",
            out(1)
        );
        let stage_out = out(2);
        assert!(stage_out.contains("Frobnicating..."), "{stage_out}");
        assert!(!stage_out.contains("Defrobnicating"), "{stage_out}");
        assert!(stage_out.contains("qa passed: yes"), "{stage_out}");
        let release_out = out(3);
        for line in [
            format!("releasing version {version}, tested as {version}"),
            format!("staged at http://staging.example.com/tutorial/{version}"),
            "deploy settings: testing=1234 veeblefritzer=1".to_string(),
        ] {
            assert!(
                release_out.contains(&line),
                "{line:?} not in\n{release_out}"
            );
        }
        for pair in built.windows(2) {
            assert_eq!(pair[1].pipeline_parent_build_id, Some(pair[0].id));
            assert_eq!(pair[1].pipeline_origin_build_id, Some(built[0].id));
        }
        let p = ops.pipelines().get(sys, pid).unwrap().pipeline;
        assert_eq!(p.last_completed_by, Some(built[3].id));
        assert!(p.last_completed_date.is_some());

        // Still nothing to do afterwards.
        let out3 = es.vespene(&["tutorial"]);
        assert!(out3.ok().contains("Nothing changed"), "{out3:?}");
    });
}

fn autoscaling_pool(app: &App, name: &str, planner: &str, command: &str, reevaluate: i32) -> i64 {
    app.ops
        .worker_pools()
        .create(
            &Actor::System,
            &WorkerPoolInput {
                name: name.into(),
                isolation_method: "sudo".into(),
                sudo_user: Some("nobody".into()),
                autoscaling_enabled: true,
                planner: Some(planner.into()),
                executor: Some("shell".into()),
                excess: 1,
                executor_command: command.into(),
                reevaluate_minutes: reevaluate,
                ..WorkerPoolInput::default()
            },
        )
        .expect("create pool")
        .worker_pool
        .id
}

fn pool_state(app: &App, id: i64) -> (Option<i32>, bool) {
    let p = app
        .ops
        .worker_pools()
        .get(&Actor::System, id)
        .unwrap()
        .worker_pool;
    (p.autoscaling_status, p.last_autoscaled.is_some())
}

#[test]
fn autoscaler_runs_the_planner_and_the_shell_executor_and_records_the_outcome() {
    each_backend(|es| {
        let app = es.app();
        let sizes = es.sb.root().join("sizes");
        let command = format!(
            "echo size={{{{ size }}}} queued={{{{ queued_size }}}} pool={{{{ worker_pool }}}} >> {}",
            sizes.display()
        );
        // The pool runs builds as the current user (the sandbox allows
        // root): set up through the sandbox, then switched to autoscaling.
        let pool = es.pool(&app, "auto");
        let mut input =
            WorkerPoolInput::from(&app.ops.worker_pools().get(&Actor::System, pool).unwrap());
        input.autoscaling_enabled = true;
        input.planner = Some("stock".into());
        input.executor = Some("shell".into());
        input.excess = 1;
        input.executor_command = command.clone();
        app.ops
            .worker_pools()
            .update(&Actor::System, pool, &input)
            .unwrap();

        // One build running, three queued for two projects.
        let flag = es.sb.root().join("release-long");
        let long = es.project(&app, "long", pool, &wait_for_file(&flag));
        let q1 = es.project(&app, "q1", pool, "true\n");
        let q2 = es.project(&app, "q2", pool, "true\n");
        let worker = Processes::workers(&es, "auto", 1, &["--max-builds", "1"]);
        let running = start(&app, long);
        let deadline = Instant::now() + WAIT;
        while app
            .ops
            .builds()
            .get(&Actor::System, running)
            .unwrap()
            .status()
            != BuildStatus::Running
        {
            assert!(Instant::now() < deadline, "the long build never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        start(&app, q1);
        start(&app, q1);
        start(&app, q2);

        let run = es.vespene(&["autoscaler", "--queue", "auto", "--force"]);
        let out = run.ok();
        assert!(out.contains("auto: scaled with"), "{out}");
        // build_latest: queued counts distinct projects (2); running 1;
        // size = (2 + 1) x 1.0 + 1, queued_size = 2 x 1.0 + 1.
        assert_eq!(
            std::fs::read_to_string(&sizes).unwrap(),
            "size=4 queued=3 pool=auto\n"
        );
        assert_eq!(pool_state(&app, pool), (Some(0), true));

        // Not forced and just autoscaled: the planner says not yet (the
        // loop keeps going; SIGTERM stops it).
        let mut lp = es.sb.command();
        lp.args(["autoscaler", "--queue", "auto", "--sleep", "0.2"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = lp.spawn().unwrap();
        // Killed if the test fails before it is stopped.
        let guard = Processes::one(child);
        std::thread::sleep(Duration::from_millis(1500));
        let done = guard.stop();
        assert!(done.status.success(), "{done:?}");
        let text = String::from_utf8_lossy(&done.stdout);
        assert!(
            text.matches("auto: not time to adjust yet").count() >= 2,
            "{text}"
        );
        assert_eq!(std::fs::read_to_string(&sizes).unwrap().lines().count(), 1);

        // The loop: every pass scales a pool whose reevaluation period is 0.
        let ticks = es.sb.root().join("ticks");
        let looping = autoscaling_pool(
            &app,
            "looping",
            "stock",
            &format!("echo tick >> {}", ticks.display()),
            0,
        );
        let mut lp = es.sb.command();
        lp.args(["autoscaler", "--sleep", "0.2"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = lp.spawn().unwrap();
        let guard = Processes::one(child);
        let deadline = Instant::now() + WAIT;
        while std::fs::read_to_string(&ticks).map_or(0, |t| t.lines().count()) < 3 {
            assert!(Instant::now() < deadline, "the loop did not keep going");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(guard.stop().status.success());
        assert_eq!(pool_state(&app, looping), (Some(0), true));

        // A failing executor command: its status is recorded.
        let failing = autoscaling_pool(&app, "failing", "stock", "echo no capacity; exit 3", 10);
        let run = es.vespene(&["autoscaler", "--queue", "failing", "--force"]);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(run.stdout.contains("no capacity"), "{run:?}");
        assert!(
            run.stderr
                .contains("failing: the executor failed with status 3"),
            "{run:?}"
        );
        assert_eq!(pool_state(&app, failing), (Some(3), false));

        // A pool naming a planner that is not configured.
        let lost = autoscaling_pool(&app, "lost", "nonexistent", "true", 10);
        let run = es.vespene(&["autoscaler", "--queue", "lost", "--force"]);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr.contains(
                "worker pool 'lost' names autoscaling planner 'nonexistent', which is not configured in [plugins.autoscaling_planners]"
            ),
            "{run:?}"
        );
        assert_eq!(pool_state(&app, lost), (None, false));
        let run = es.vespene(&["autoscaler", "--queue", "nope", "--force"]);
        assert_eq!(run.code, Some(1));
        assert!(
            run.stderr.contains("no worker pool named 'nope'"),
            "{run:?}"
        );

        std::fs::write(&flag, "").unwrap();
        assert_eq!(
            es.wait_build(&app, running, WAIT).status(),
            BuildStatus::Success
        );
        drop(worker);
        assert_eq!(builds_of(&app, q1).len(), 2);
    });
}
