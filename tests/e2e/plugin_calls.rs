//! Plugin calls are contained: a trigger or output filter that crashes,
//! aborts, calls `exit` or hangs fails its own build only (FAILURE, a
//! message naming the plugin, the call and the signal or deadline), all
//! output printed before it is kept, failure triggers still run, and the
//! same worker goes on to the next build. Stop and the call deadlines work
//! during a hung call. The plugins are C, built here from the header.

use std::path::Path;
use std::time::{Duration, Instant};
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{EngineSandbox, backends};
use vespene_e2e::fixtures;

const WAIT: Duration = Duration::from_secs(60);

/// A sandbox with the misbehaving plugins installed and `settings` on top.
fn sandbox(backend: vespene_e2e::engine::Backend, settings: &str) -> Option<EngineSandbox> {
    let es = EngineSandbox::new(backend, "")?;
    fixtures::misbehaving_plugins(&es.sb.plugin_dir());
    es.sb.write_settings("30-test.toml", settings);
    Some(es)
}

fn marks(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// How each misbehaviour is reported.
const MODES: [(&str, &str); 4] = [
    ("segv", "crashed with SIGSEGV"),
    ("abort", "crashed with SIGABRT"),
    ("exit", "ended the process with exit status 3"),
    (
        "hang",
        "did not return within 2 s ([worker] output_call_seconds)",
    ),
];

#[test]
fn an_output_filter_that_crashes_exits_or_hangs_fails_only_its_build() {
    for backend in backends() {
        for (mode, reported) in MODES {
            eprintln!("-- {backend:?} {mode}");
            let Some(es) = sandbox(backend, "") else {
                continue;
            };
            let mark = es.sb.root().join("failure-trigger-ran");
            es.sb.write_settings(
                "30-test.toml",
                &format!(
                    "[worker]\noutput_call_seconds = 2\n\n[plugins.output]\nbad = [\"vespene.fixtures.misbehaving_filter\", \"line-{mode}\"]\n\n[plugins.failure_triggers]\nmark = [\"vespene.fixtures.misbehaving_trigger\", \"mark={}\"]\n",
                    mark.display()
                ),
            );
            let app = es.app();
            let pool = es.pool(&app, "main");
            let boom = es.project(
                &app,
                "boom",
                pool,
                "#!/bin/sh\necho before the crash\necho BOOM\necho after\n",
            );
            let fine = es.project(&app, "fine", pool, "#!/bin/sh\necho fine\n");
            let first = start_project(&app, &Actor::System, boom, &StartRequest::default())
                .unwrap()
                .build
                .id;
            let second = start_project(&app, &Actor::System, fine, &StartRequest::default())
                .unwrap()
                .build
                .id;
            // One worker, two builds: it must live through the first.
            let mut worker = es.worker("main", &["--max-builds", "2"]);
            let b = es.wait_build(&app, first, WAIT);
            let messages = es.output(&app, first, OutputStream::Messages);
            let out = es.output(&app, first, OutputStream::Output);
            assert_eq!(b.status(), BuildStatus::Failure, "{messages}\n{out}");
            assert!(
                messages.contains(&format!("output plugin 'bad' (filter_line) {reported}")),
                "{messages}"
            );
            assert!(out.contains("before the crash"), "{out}");
            assert!(out.contains(reported), "{out}");
            let b = es.wait_build(&app, second, WAIT);
            assert_eq!(
                b.status(),
                BuildStatus::Success,
                "{}",
                es.output(&app, second, OutputStream::Messages)
            );
            assert!(
                es.output(&app, second, OutputStream::Output)
                    .ends_with("| fine\n")
            );
            let deadline = Instant::now() + WAIT;
            let status = loop {
                if let Some(s) = worker.try_wait().unwrap() {
                    break s;
                }
                assert!(Instant::now() < deadline, "the worker did not exit");
                std::thread::sleep(Duration::from_millis(20));
            };
            assert!(status.success(), "the worker died: {status:?}");
            // The failure trigger ran (after the end was recorded).
            let messages = es.output(&app, first, OutputStream::Messages);
            assert_eq!(
                marks(&mark),
                1,
                "the failure trigger did not run: {messages}"
            );
        }
    }
}

#[test]
fn a_success_trigger_that_crashes_leaves_the_build_a_success_and_the_next_trigger_runs() {
    for backend in backends() {
        let Some(es) = sandbox(backend, "") else {
            continue;
        };
        let mark = es.sb.root().join("second-trigger-ran");
        es.sb.write_settings(
            "30-test.toml",
            &format!(
                "[plugins.success_triggers]\ncrash = [\"vespene.fixtures.misbehaving_trigger\", \"call-segv\"]\nafter = [\"vespene.fixtures.misbehaving_trigger\", \"mark={}\"]\n",
                mark.display()
            ),
        );
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = es.project(&app, "ok", pool, "#!/bin/sh\necho ok\n");
        let worker = es.worker("main", &["--max-builds", "2"]);
        // One after the other (the pool builds only the latest of a
        // project's queued builds).
        for _ in 0..2 {
            let id = start_project(&app, &Actor::System, project, &StartRequest::default())
                .unwrap()
                .build
                .id;
            let b = es.wait_build(&app, id, WAIT);
            assert_eq!(b.status(), BuildStatus::Success);
        }
        vespene_e2e::engine::finish(worker);
        assert_eq!(marks(&mark), 2);
        let messages = es.output(&app, 1, OutputStream::Messages);
        assert!(
            messages.contains("trigger plugin 'crash' (execute_hook) crashed with SIGSEGV"),
            "{messages}"
        );
    }
}

fn wait_running(es: &EngineSandbox, app: &vespene_core::app::App, id: i64) {
    let deadline = Instant::now() + WAIT;
    while app.ops.builds().get(&Actor::System, id).unwrap().status() != BuildStatus::Running {
        assert!(Instant::now() < deadline, "build {id} never ran");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = es;
}

#[test]
fn stop_and_the_call_deadline_end_a_hung_pre_trigger() {
    for backend in backends() {
        let Some(es) = sandbox(backend, "") else {
            continue;
        };
        let mark = es.sb.root().join("failure-trigger-ran");
        es.sb.write_settings(
            "30-test.toml",
            &format!(
                "[worker]\ntrigger_call_seconds = 12\n\n[plugins.pre_triggers]\nhang = [\"vespene.fixtures.misbehaving_trigger\", \"call-hang\"]\n\n[plugins.failure_triggers]\nmark = [\"vespene.fixtures.misbehaving_trigger\", \"mark={}\"]\n",
                mark.display()
            ),
        );
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = es.project(&app, "p", pool, "#!/bin/sh\necho never\n");
        let worker = es.worker("main", &["--max-builds", "2"]);

        // Stopped while the trigger hangs: ABORTED, in seconds.
        let stopped = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        wait_running(&es, &app, stopped);
        std::thread::sleep(Duration::from_millis(500));
        let t = Instant::now();
        es.vespene(&["build", "stop", &stopped.to_string()]).ok();
        let b = es.wait_build(&app, stopped, WAIT);
        let messages = es.output(&app, stopped, OutputStream::Messages);
        assert_eq!(b.status(), BuildStatus::Aborted, "{messages}");
        assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
        assert!(
            messages.contains(
                "trigger plugin 'hang' (execute_hook) was still running 10 s after the build was stopped"
            ),
            "{messages}"
        );
        // Left alone: killed at its deadline, FAILURE.
        let timed = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b = es.wait_build(&app, timed, WAIT);
        vespene_e2e::engine::finish(worker);
        let messages = es.output(&app, timed, OutputStream::Messages);
        assert_eq!(b.status(), BuildStatus::Failure, "{messages}");
        assert!(
            messages.contains(
                "trigger plugin 'hang' (execute_hook) did not return within 12 s ([worker] trigger_call_seconds)"
            ),
            "{messages}"
        );
        // The failure triggers ran for both.
        assert_eq!(marks(&mark), 2, "{messages}");
    }
}

#[test]
fn a_create_that_crashes_exits_or_hangs_is_named_in_one_line() {
    let sb = vespene_e2e::harness::Sandbox::new();
    let [file, _] = fixtures::misbehaving_plugins(&sb.plugin_dir());
    for (mode, reported) in [
        ("segv", "crashed with SIGSEGV"),
        ("abort", "crashed with SIGABRT"),
        ("exit", "called exit and ended the process"),
    ] {
        sb.write_settings(
            "30-test.toml",
            &format!(
                "[plugins.success_triggers]\nbad = [\"vespene.fixtures.misbehaving_trigger\", \"create-{mode}\"]\n"
            ),
        );
        let run = sb.run(&["plugins", "list"]);
        assert_ne!(run.code, Some(0), "{run:?}");
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let line = run
            .stderr
            .lines()
            .find(|l| l.starts_with("vespene: plugin vespene.fixtures.misbehaving_trigger (entry 'bad' of [plugins.success_triggers], file "))
            .unwrap_or_else(|| panic!("{mode}: {run:?}"));
        assert!(
            line.ends_with(&format!("{name}) in create {reported}")),
            "{mode}: {line}"
        );
    }
}

/// The process ids in a `mark=` file, one per trigger call.
fn marked_pids(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("ran ").map(String::from))
        .collect()
}

#[test]
fn one_runner_child_serves_many_builds_and_is_replaced_after_a_crash_or_a_stop() {
    for backend in backends() {
        let Some(es) = sandbox(backend, "") else {
            continue;
        };
        let mark = es.sb.root().join("success-trigger-pids");
        es.sb.write_settings(
            "30-test.toml",
            &format!(
                "[plugins.output]\nbad = [\"vespene.fixtures.misbehaving_filter\", \"line-segv\"]\n\n[plugins.success_triggers]\nmark = [\"vespene.fixtures.misbehaving_trigger\", \"mark={}\"]\n",
                mark.display()
            ),
        );
        let app = es.app();
        let pool = es.pool(&app, "main");
        let fine = es.project(&app, "fine", pool, "#!/bin/sh\necho fine\n");
        let boom = es.project(&app, "boom", pool, "#!/bin/sh\necho BOOM\n");
        let slow = es.project(&app, "slow", pool, "#!/bin/sh\necho slow\nsleep 60\n");
        let worker = es.worker("main", &[]);
        let run = |project: i64, expected: BuildStatus| {
            let id = start_project(&app, &Actor::System, project, &StartRequest::default())
                .unwrap()
                .build
                .id;
            let b = es.wait_build(&app, id, WAIT);
            let messages = es.output(&app, id, OutputStream::Messages);
            assert_eq!(b.status(), expected, "build {id}: {messages}");
            messages
        };
        for _ in 0..3 {
            run(fine, BuildStatus::Success);
        }
        let messages = run(boom, BuildStatus::Failure);
        assert!(
            messages.contains("output plugin 'bad' (filter_line) crashed with SIGSEGV"),
            "{messages}"
        );
        for _ in 0..2 {
            run(fine, BuildStatus::Success);
        }
        let stopped = start_project(&app, &Actor::System, slow, &StartRequest::default())
            .unwrap()
            .build
            .id;
        wait_running(&es, &app, stopped);
        std::thread::sleep(Duration::from_millis(300));
        es.vespene(&["build", "stop", &stopped.to_string()]).ok();
        let b = es.wait_build(&app, stopped, WAIT);
        assert_eq!(b.status(), BuildStatus::Aborted);
        run(fine, BuildStatus::Success);
        vespene_e2e::engine::kill(worker);

        let pids = marked_pids(&mark);
        assert_eq!(pids.len(), 6, "{pids:?}");
        // The same child ran the first three builds…
        assert!(pids[..3].iter().all(|p| *p == pids[0]), "{pids:?}");
        // …a fresh one those after the crash…
        assert_ne!(pids[3], pids[0], "{pids:?}");
        assert_eq!(pids[3], pids[4], "{pids:?}");
        // …and another after the stop.
        assert_ne!(pids[5], pids[4], "{pids:?}");
        assert_ne!(pids[5], pids[0], "{pids:?}");
    }
}
