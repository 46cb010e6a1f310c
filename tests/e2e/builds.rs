//! Builds end to end: the real `vespene` binary queues and runs them
//! through real plugins, on SQLite and on PostgreSQL.

use std::time::{Duration, Instant};
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{Backend, EngineSandbox, backends, kill};

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
        kill(worker);

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
        kill(worker);
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
