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
                // One write: the child reads the three lines at once and
                // still holds the first when the filter fails on the
                // second (see vespene_core::engine::held).
                "#!/bin/sh\nprintf 'before the crash\\nBOOM\\nafter\\n'\n",
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
        // The output says it stopped, as when the runner child ends it
        // itself (on the main only the reason was there, without it).
        let out = es.output(&app, stopped, OutputStream::Output);
        assert!(
            out.contains("build stopped by request: trigger plugin 'hang' (execute_hook)"),
            "{out}"
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
        // The success trigger runs after the build is recorded as ended:
        // the last one may still be on its way.
        let deadline = Instant::now() + WAIT;
        while marked_pids(&mark).len() < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
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

/// The children of `pid` whose command line has `word`.
fn children_with(pid: u32, word: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let parent = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, r)| r.split_whitespace().nth(1).map(String::from))
            });
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if parent == Some(pid.to_string()) && cmd.split(|b| *b == 0).any(|a| a == word.as_bytes()) {
            found.push(child);
        }
    }
    found
}

#[test]
fn the_worker_ends_a_build_at_its_timeout_when_the_runner_child_cannot() {
    // The runner child enforces the project's timeout; one that cannot
    // (here: frozen with SIGSTOP, its watchdog thread too, as a stalled
    // kill of the script would leave it) is killed by the worker 40 s
    // past the deadline, and the build ends as a timed-out one with the
    // output printed before kept. The worker goes on with a fresh child.
    for backend in backends() {
        let Some(es) = sandbox(backend, "") else {
            continue;
        };
        let app = es.app();
        let pool = es.pool(&app, "main");
        let marker = format!("1000.{:06}", std::process::id() % 1_000_000);
        let stuck = es.project_with(
            &app,
            vespene_core::ops::ProjectInput {
                name: "stuck".into(),
                worker_pool_id: pool,
                timeout: 1,
                script: format!("#!/bin/sh\necho started\nsleep {marker}\n"),
                ..Default::default()
            },
        );
        let fine = es.project(&app, "fine", pool, "#!/bin/sh\necho fine\n");
        let worker = es.worker("main", &["--max-builds", "2"]);
        let id = start_project(&app, &Actor::System, stuck, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let deadline = Instant::now() + WAIT;
        while !es
            .output(&app, id, OutputStream::Output)
            .contains("started")
        {
            assert!(Instant::now() < deadline, "build {id} never started");
            std::thread::sleep(Duration::from_millis(50));
        }
        let started = Instant::now();
        let runners = children_with(worker.id(), vespene_core::engine::contained::SUBCOMMAND);
        assert_eq!(runners.len(), 1, "{runners:?}");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(runners[0]),
            nix::sys::signal::Signal::SIGSTOP,
        )
        .unwrap();
        let b = es.wait_build(&app, id, Duration::from_secs(180));
        let took = started.elapsed();
        let output = es.output(&app, id, OutputStream::Output);
        let messages = es.output(&app, id, OutputStream::Messages);
        assert_eq!(b.status(), BuildStatus::Failure, "{messages}");
        assert_eq!(b.return_code, Some(124), "{messages}");
        // The minute of the timeout and the worker's 40 s, give or take
        // the time the script took to say it started.
        assert!(
            took > Duration::from_secs(95) && took < Duration::from_secs(130),
            "{took:?}"
        );
        assert!(output.contains("started"), "{output}");
        assert!(
            output.contains("build timed out after 1 minute (the project's timeout)"),
            "{output}"
        );
        assert!(
            messages.contains(
                "build timed out after 1 minute (the project's timeout) and was killed; \
                 the build's runner process was still running 40 s after the project's \
                 timeout and was killed"
            ),
            "{messages}"
        );
        // The script it left was killed with it.
        let left = std::process::Command::new("pgrep")
            .args(["-f", &format!("sleep {marker}")])
            .output()
            .unwrap();
        assert!(left.stdout.is_empty(), "left: {:?}", left.stdout);
        // The next build runs in a fresh child.
        let next = start_project(&app, &Actor::System, fine, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b = es.wait_build(&app, next, WAIT);
        vespene_e2e::engine::finish(worker);
        assert_eq!(b.status(), BuildStatus::Success);
    }
}
