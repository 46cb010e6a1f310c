//! Builds end to end: the real `vespene` binary queues and runs them
//! through real plugins, on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::ops::ProjectInput;
use vespene_e2e::engine::{Backend, EngineSandbox, backends, finish, kill};

const WAIT: Duration = Duration::from_secs(60);

fn each_backend(test: impl Fn(EngineSandbox)) {
    for backend in backends() {
        if let Some(es) = EngineSandbox::new(backend, "") {
            eprintln!("-- {backend:?}");
            test(es);
        }
    }
}

#[test]
fn success_failure_output_and_output_variables() {
    each_backend(|es| {
        // Kept, to look at the files the build had.
        es.sb
            .write_settings("40-keep.toml", "keep_build_roots = true\n");
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project(
            &app,
            "good",
            pool,
            "#!/bin/sh\necho hello {{ who | default('world') }}\necho to stderr >&2\nprintf '\\033[31mred\\033[0m\\n'\necho 'vespene/set version \"1.2 beta\"'\n",
        );
        es.project(&app, "bad", pool, "#!/bin/sh\necho about to fail\nexit 3\n");

        let run = es.vespene(&["project", "start", "good", "--json"]);
        let started: serde_json::Value = serde_json::from_str(run.ok()).unwrap();
        let good = started["build"].as_i64().unwrap();
        assert_eq!(started["status"], "QUEUED");
        let run = es.vespene(&["project", "start", "bad"]);
        assert!(run.ok().contains("queued for project 'bad'"));
        let bad = good + 1;

        let worker = es.worker("main", &["--max-builds", "2"]);
        let g = es.wait_build(&app, good, WAIT);
        let b = es.wait_build(&app, bad, WAIT);
        finish(worker);

        assert_eq!(
            g.status(),
            BuildStatus::Success,
            "{g:#?}\n{}\n{}",
            es.output(&app, good, OutputStream::Messages),
            es.output(&app, good, OutputStream::Output)
        );
        assert_eq!(g.return_code, None);
        let out = es.output(&app, good, OutputStream::Output);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(lines[0].ends_with("m | hello world"), "{out}");
        assert!(lines[0].starts_with("    0.0"), "{out}");
        assert!(lines[1].ends_with("m | to stderr"), "{out}");
        assert!(lines[2].ends_with("m | red"), "ANSI removed: {out}");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&g.output_variables).unwrap(),
            serde_json::json!({"version": "1.2 beta"})
        );
        let root = es.build_root(good);
        assert_eq!(g.working_dir, root.display().to_string());
        assert!(root.join("vespene_launch.sh").is_file());
        let vars: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("vespene.json")).unwrap())
                .unwrap();
        assert!(vars.is_object());

        assert_eq!(b.status(), BuildStatus::Failure);
        assert_eq!(b.return_code, Some(3));
        let out = es.output(&app, bad, OutputStream::Output);
        assert!(out.contains("about to fail"), "{out}");
        assert!(out.contains("build failed with exit code 3"), "{out}");

        // The project records them.
        let p = app
            .ops
            .projects()
            .get(&Actor::System, g.project_id.unwrap())
            .unwrap()
            .project;
        assert_eq!(p.last_build_id, Some(good));
        assert_eq!(p.last_successful_build_id, Some(good));
        assert_eq!(p.active_build_id, None);

        // `build log` prints the same output; `build show` every field.
        assert_eq!(
            es.vespene(&["build", "log", &good.to_string()]).ok(),
            es.output(&app, good, OutputStream::Output)
        );
        let shown: serde_json::Value = serde_json::from_str(
            es.vespene(&["build", "show", &bad.to_string(), "--json"])
                .ok(),
        )
        .unwrap();
        assert_eq!(shown["status"], "FAILURE");
        assert_eq!(shown["return_code"], 3);
    });
}

#[test]
fn a_template_error_fails_at_queue_time_and_runs_nothing() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project(&app, "broken", pool, "echo {{ undefined_name }}\n");
        let run = es.vespene(&["project", "start", "broken"]);
        assert_eq!(run.code, Some(1));
        assert!(run.stderr.contains("template error"), "{run:#?}");
        let builds = app
            .ops
            .builds()
            .list(&Actor::System, &Default::default(), Default::default())
            .unwrap();
        let b = &builds.items[0];
        assert_eq!(b.status(), BuildStatus::Failure);
        let out = es.output(&app, b.id, OutputStream::Output);
        assert!(out.contains("undefined_name"), "{out}");
        // Nothing is queued: a worker finds no work.
        let worker = es.worker("main", &["--max-wait-minutes", "0.02"]);
        let t = Instant::now();
        let mut w = worker;
        let status = w.wait().unwrap();
        assert!(status.success());
        assert!(t.elapsed() < Duration::from_secs(20));
        assert!(!es.build_root(b.id).exists());
    });
}

#[test]
fn queue_to_start_needs_no_polling() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = es.project(&app, "quick", pool, "true\n");
        // Poll interval is 5 s in the sandbox: a start within a second
        // proves the wake-up arrived.
        let worker = es.worker("main", &["--max-builds", "1"]);
        std::thread::sleep(Duration::from_millis(1500));
        let started =
            start_project(&app, &Actor::System, project, &StartRequest::default()).unwrap();
        let t = Instant::now();
        let b = es.wait_build(&app, started.build.id, WAIT);
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Success);
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "took {:?} ({:?})",
            t.elapsed(),
            es.backend
        );
        let _ = Backend::Sqlite;
    });
}

/// Whether a process id from a pid file is still alive (a zombie is dead).
fn alive(pid_file: &std::path::Path) -> bool {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return false;
    };
    let pid = text.trim();
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stopping_a_running_build_kills_its_process_tree() {
    each_backend(|es| {
        let marker = es.sb.root().join("failure-trigger-ran");
        let es = EngineSandbox::new(
            es.backend,
            &format!(
                "[plugins.failure_triggers]\nmark = [\"vespene.plugins.triggers.command\", \"echo {{{{ build.status }}}} > {}\"]\n",
                marker.display()
            ),
        )
        .unwrap();
        let app = es.app();
        let pool = es.pool(&app, "main");
        let pids = es.sb.root().join("pids");
        std::fs::create_dir_all(&pids).unwrap();
        // A parent ignoring TERM and a grandchild: the whole tree must go.
        let project = es.project(
            &app,
            "long",
            pool,
            &format!(
                "#!/bin/sh\ntrap '' TERM\n(sleep 1000 & echo $! > {p}/grandchild; wait) &\necho $$ > {p}/script\necho started\nwait\n",
                p = pids.display()
            ),
        );
        let worker = es.worker("main", &["--max-builds", "1"]);
        let id = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        wait_until("the script to start", WAIT, || {
            alive(&pids.join("script")) && alive(&pids.join("grandchild"))
        });
        let t = Instant::now();
        let run = es.vespene(&["build", "stop", &id.to_string()]);
        assert!(run.ok().contains("ABORTING"), "{run:?}");
        let b = es.wait_build(&app, id, WAIT);
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Aborted, "{b:#?}");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "stop took {:?}",
            t.elapsed()
        );
        wait_until("the process tree to die", Duration::from_secs(5), || {
            !alive(&pids.join("script")) && !alive(&pids.join("grandchild"))
        });
        let messages = es.output(&app, id, OutputStream::Messages);
        assert!(
            messages.contains("stop requested by the system"),
            "{messages}"
        );
        assert!(messages.contains("build stopped by request"), "{messages}");
        // Failure triggers run for a stopped build (Decision 4).
        assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "ABORTED");
        // A queued build stops at once.
        let queued = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b = app.ops.builds().get(&Actor::System, queued).unwrap();
        assert_eq!(b.status(), BuildStatus::Queued);
        es.vespene(&["project", "stop", "long"]).ok();
        let b = app.ops.builds().get(&Actor::System, queued).unwrap();
        assert_eq!(b.status(), BuildStatus::Aborted);
    });
}

#[test]
fn a_timeout_kills_the_build_and_fails_it_naming_the_timeout() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let pids = es.sb.root().join("pids");
        std::fs::create_dir_all(&pids).unwrap();
        let project = es.project_with(
            &app,
            vespene_core::ops::ProjectInput {
                name: "slow".into(),
                worker_pool_id: pool,
                timeout: 1,
                script: format!(
                    "#!/bin/sh\n(sleep 1000 & echo $! > {p}/child; wait) &\nsleep 1000\n",
                    p = pids.display()
                ),
                ..Default::default()
            },
        );
        let worker = es.worker("main", &["--max-builds", "1"]);
        let id = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b = es.wait_build(&app, id, Duration::from_secs(120));
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Failure);
        assert_eq!(b.return_code, Some(124));
        let out = es.output(&app, id, OutputStream::Output);
        assert!(out.contains("build timed out after 1 minute"), "{out}");
        assert!(!alive(&pids.join("child")));
    });
}

#[test]
fn build_latest_runs_the_newest_and_aborts_older_duplicates() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = es.project_with(
            &app,
            ProjectInput {
                name: "dup".into(),
                worker_pool_id: pool,
                script: "#!/bin/sh\necho {{ n | default(0) }}\n".into(),
                launch_questions: r#"[{"variable": "n"}]"#.into(),
                ..ProjectInput::default()
            },
        );
        let ids: Vec<i64> = (1..=3)
            .map(|n| {
                let mut req = StartRequest::default();
                req.launch_answers.insert("n".into(), n.to_string().into());
                start_project(&app, &Actor::System, project, &req)
                    .unwrap()
                    .build
                    .id
            })
            .collect();
        let worker = es.worker("main", &["--max-wait-minutes", "0.05"]);
        let newest = es.wait_build(&app, ids[2], WAIT);
        let mut w = worker;
        w.wait().unwrap();
        assert_eq!(newest.status(), BuildStatus::Success);
        assert!(
            es.output(&app, ids[2], OutputStream::Output)
                .ends_with("| 3\n")
        );
        for old in &ids[..2] {
            let b = app.ops.builds().get(&Actor::System, *old).unwrap();
            assert_eq!(b.status(), BuildStatus::Aborted, "build {old}");
            let m = es.output(&app, *old, OutputStream::Messages);
            assert!(
                m.contains(&format!("superseded by build {}", ids[2])),
                "{m}"
            );
        }
    });
}

#[test]
fn a_build_whose_worker_died_is_orphaned_with_a_reason() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = es.project(
            &app,
            "victim",
            pool,
            "#!/bin/sh\necho running\nsleep 1000\n",
        );
        let mut doomed = es.worker("main", &["--max-builds", "1"]);
        let id = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        wait_until("the build to run", WAIT, || {
            app.ops.builds().get(&Actor::System, id).unwrap().status() == BuildStatus::Running
        });
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(doomed.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        doomed.wait().unwrap();
        // Another worker notices.
        let rescuer = es.worker("main", &[]);
        let b = es.wait_build(&app, id, Duration::from_secs(30));
        kill(rescuer);
        assert_eq!(b.status(), BuildStatus::Orphaned);
        let m = es.output(&app, id, OutputStream::Messages);
        assert!(m.contains("build orphaned:"), "{m}");
        assert!(
            m.contains("is gone") || m.contains("stopped sending heartbeats"),
            "{m}"
        );
        let p = app
            .ops
            .projects()
            .get(&Actor::System, project)
            .unwrap()
            .project;
        assert_eq!(p.active_build_id, None);
        assert_eq!(p.last_build_id, Some(id));
    });
}

#[test]
fn build_log_follow_streams_a_running_build_to_its_end() {
    let Some(es) = EngineSandbox::new(Backend::Sqlite, "") else {
        return;
    };
    let app = es.app();
    let pool = es.pool(&app, "main");
    let project = es.project(
        &app,
        "slowly",
        pool,
        "#!/bin/sh\nfor i in 1 2 3 4 5; do echo line $i; sleep 0.4; done\necho done\n",
    );
    let worker = es.worker("main", &["--max-builds", "1"]);
    let id = start_project(&app, &Actor::System, project, &StartRequest::default())
        .unwrap()
        .build
        .id;
    wait_until("the build to start", WAIT, || {
        app.ops.builds().get(&Actor::System, id).unwrap().status() == BuildStatus::Running
    });
    // Follow while it runs: the first line arrives before the build ends,
    // and the command ends by itself with the whole output.
    let mut follow = es
        .sb
        .command()
        .args(["build", "log", &id.to_string(), "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    std::io::BufRead::read_line(&mut out, &mut first).unwrap();
    assert!(first.ends_with("| line 1\n"), "{first}");
    let still_running =
        app.ops.builds().get(&Actor::System, id).unwrap().status() == BuildStatus::Running;
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(follow.wait().unwrap().success());
    finish(worker);
    assert!(
        still_running,
        "the first line came only after the build ended"
    );
    let all = format!("{first}{rest}");
    assert_eq!(all, es.output(&app, id, OutputStream::Output));
    assert!(all.ends_with("| done\n"), "{all}");
    assert_eq!(all.lines().count(), 6);
}
