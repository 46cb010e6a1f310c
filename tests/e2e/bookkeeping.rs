//! Issue 16 and issue 9.5: who may stop a build, launch answers checked,
//! a stop said in the output, the command line acting as the
//! administrator, through the real `vespene` binary on SQLite and
//! PostgreSQL. Each case failed on the main before these changes.

use serde_json::{Value, json};
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::ops::{GroupInput, ProjectInput, UserInput};
use vespene_e2e::engine::{EngineSandbox, backends, finish};

const WAIT: Duration = Duration::from_secs(60);

const AUTHZ: &str = r#"
[plugins.authorization]
ownership = ["vespene.plugins.authorization.ownership", { filter_view = true }]
"#;

fn each_backend(settings: &str, test: impl Fn(EngineSandbox)) {
    for backend in backends() {
        if let Some(es) = EngineSandbox::new(backend, settings) {
            eprintln!("-- {backend:?}");
            test(es);
        }
    }
}

/// A user made by the system (shared by the e2e modules that need people).
pub(crate) fn user(
    app: &vespene_core::app::App,
    name: &str,
    superuser: bool,
    groups: Vec<i64>,
) -> i64 {
    app.ops
        .users()
        .create(
            &Actor::System,
            &UserInput {
                username: name.into(),
                is_superuser: superuser,
                groups,
                ..Default::default()
            },
        )
        .unwrap()
        .user
        .id
}

/// A group made by the system.
pub(crate) fn group(app: &vespene_core::app::App, name: &str) -> i64 {
    app.ops
        .groups()
        .create(&Actor::System, &GroupInput { name: name.into() })
        .unwrap()
        .group
        .id
}

fn build_count(app: &vespene_core::app::App) -> usize {
    app.ops
        .builds()
        .list(&Actor::System, &Default::default(), Default::default())
        .unwrap()
        .items
        .len()
}

/// 16.2 and 9.5: `project start` refuses answers its project's questions
/// do not allow, with one line, and queues nothing. On the main every one
/// of these was queued.
#[test]
fn launch_answers_are_what_the_questions_allow() {
    each_backend("", |es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project(
            &app,
            "plain",
            pool,
            "#!/bin/sh\necho {{ x | default('') }}\n",
        );
        es.project_with(
            &app,
            ProjectInput {
                name: "asks".into(),
                worker_pool_id: pool,
                launch_questions: json!([
                    {"variable": "who"},
                    {"variable": "env", "type": "radio", "choices": ["dev", "prod"]}
                ])
                .to_string(),
                script: "#!/bin/sh\necho hello {{ who | quote }} on {{ env }}\n".into(),
                ..Default::default()
            },
        );
        let cases: &[(&[&str], &str)] = &[
            (&["plain", "--answer", "x=1"], "has no launch questions"),
            (&["asks"], "'who' needs an answer"),
            (&["asks", "--answer", "who=a"], "'env' needs an answer"),
            (
                &[
                    "asks",
                    "--answer",
                    "who=a",
                    "--answer",
                    "env=dev;touch PWNED",
                ],
                "is not a choice of 'env' (choices: dev, prod)",
            ),
            (
                &[
                    "asks", "--answer", "who=a", "--answer", "env=dev", "--answer", "zz=1",
                ],
                "'zz' is not one of this project's launch questions",
            ),
            (
                &[
                    "asks", "--answer", "who=a", "--answer", "who=b", "--answer", "env=dev",
                ],
                "must be one text value",
            ),
        ];
        for (args, reason) in cases {
            let mut all = vec!["project", "start"];
            all.extend_from_slice(args);
            let run = es.vespene(&all);
            assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
            assert!(run.stderr.contains(reason), "{args:?}: {}", run.stderr);
            let said: Vec<&str> = run.stderr.lines().filter(|l| l.contains(reason)).collect();
            assert_eq!(said.len(), 1, "one line: {}", run.stderr);
        }
        assert_eq!(build_count(&app), 0, "a refused start queued a build");

        // A free-text answer is quoted by the script's `quote` filter: it
        // prints, it does not run.
        let run = es.vespene(&[
            "project",
            "start",
            "asks",
            "--answer",
            "who=x;touch PWNED",
            "--answer",
            "env=prod",
            "--json",
        ]);
        let id = serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
            .as_i64()
            .unwrap();
        let worker = es.worker("main", &["--max-builds", "1"]);
        let b = es.wait_build(&app, id, WAIT);
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Success);
        let out = es.output(&app, id, OutputStream::Output);
        assert!(out.contains("| hello x;touch PWNED on prod"), "{out}");
        assert!(!es.build_root(id).join("PWNED").exists());
    });
}

/// 16.5 and 16.3: without `--as` the command line acts as the
/// administrator: `created_by` is set and a stop names them, in the output
/// as well as the messages. On the main `created_by` was NULL, the stop
/// said "the system" and the output said nothing.
#[test]
fn the_command_line_acts_as_the_administrator_and_stops_say_so() {
    each_backend("", |es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project(&app, "slow", pool, "#!/bin/sh\necho started\nsleep 30\n");
        user(&app, "zed", true, vec![]);
        let admin = user(&app, "admin", true, vec![]);

        // Queued, then stopped before it starts.
        let run = es.vespene(&["project", "start", "slow", "--json"]);
        let queued = serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
            .as_i64()
            .unwrap();
        let b = app.ops.builds().get(&Actor::System, queued).unwrap();
        assert_eq!(b.created_by, Some(admin));
        es.vespene(&["build", "stop", &queued.to_string()]).ok();
        let out = es.output(&app, queued, OutputStream::Output);
        assert!(out.contains("build stopped by admin at "), "{out}");
        assert!(out.contains(" UTC before it started"), "{out}");

        // Running, then stopped: the output says who asked and that it
        // stopped.
        let run = es.vespene(&["project", "start", "slow", "--json"]);
        let running = serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
            .as_i64()
            .unwrap();
        let worker = es.worker("main", &["--max-builds", "1"]);
        let deadline = std::time::Instant::now() + WAIT;
        while app
            .ops
            .builds()
            .get(&Actor::System, running)
            .unwrap()
            .status()
            != BuildStatus::Running
        {
            assert!(std::time::Instant::now() < deadline, "never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        es.vespene(&["project", "stop", "slow"]).ok();
        let b = es.wait_build(&app, running, WAIT);
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Aborted);
        let out = es.output(&app, running, OutputStream::Output);
        assert!(out.contains("build stop requested by admin at "), "{out}");
        assert!(out.contains("build stopped by request"), "{out}");
    });
}

/// 16.1: only someone who may view a build may stop it, through
/// `build stop --as` and `project stop --as`. On the main the launch-group
/// member stopped the owner's build through both.
#[test]
fn stopping_needs_the_right_to_view_the_build() {
    each_backend(AUTHZ, |es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let (owners, launchers) = (group(&app, "owners"), group(&app, "launchers"));
        user(&app, "olive", false, vec![owners]);
        user(&app, "lance", false, vec![launchers]);
        user(&app, "sue", true, vec![]);
        es.project_with(
            &app,
            ProjectInput {
                name: "shared".into(),
                worker_pool_id: pool,
                script: "#!/bin/sh\nsleep 30\n".into(),
                owner_groups: vec![owners],
                launch_groups: vec![launchers],
                ..Default::default()
            },
        );
        // who, door, allowed
        let cases: &[(&str, &str, bool)] = &[
            ("lance", "build", false),
            ("lance", "project", false),
            ("olive", "build", true),
            ("olive", "project", true),
            ("sue", "build", true),
            ("sue", "project", true),
        ];
        for (who, door, allowed) in cases {
            let run = es.vespene(&["project", "start", "shared", "--as", "olive", "--json"]);
            let id = serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
                .as_i64()
                .unwrap();
            let id_text = id.to_string();
            let target = if *door == "build" {
                id_text.as_str()
            } else {
                "shared"
            };
            let run = es.vespene(&[door, "stop", target, "--as", who]);
            let status = app.ops.builds().get(&Actor::System, id).unwrap().status();
            if *allowed {
                assert_eq!(run.code, Some(0), "{who} {door}: {run:#?}");
                assert_eq!(status, BuildStatus::Aborted, "{who} {door}");
            } else {
                assert_eq!(run.code, Some(1), "{who} {door}: {run:#?}");
                assert!(
                    run.stderr.contains("does not exist"),
                    "{who} {door}: {}",
                    run.stderr
                );
                assert_eq!(status, BuildStatus::Queued, "{who} {door}");
                es.vespene(&["build", "stop", &id_text]).ok();
            }
        }
    });
}

/// 16.6: a failing pre trigger records the trigger's exit code. On the
/// main the build's return code was -1.
#[test]
fn a_failing_pre_trigger_records_its_exit_code() {
    let settings = "[plugins.pre_triggers]\ngate = [\"vespene.plugins.triggers.command\", \"echo gate closed; exit 7\"]\n";
    each_backend(settings, |es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project(&app, "gated", pool, "#!/bin/sh\necho never\n");
        let run = es.vespene(&["project", "start", "gated", "--json"]);
        let id = serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
            .as_i64()
            .unwrap();
        let worker = es.worker("main", &["--max-builds", "1"]);
        let b = es.wait_build(&app, id, WAIT);
        finish(worker);
        assert_eq!(b.status(), BuildStatus::Failure);
        assert_eq!(b.return_code, Some(7));
        let out = es.output(&app, id, OutputStream::Output);
        assert!(out.contains("pre trigger 'gate' failed"), "{out}");
        assert!(!out.contains("never"), "{out}");
    });
}

/// 16.4: an idle worker's `last_checkin` moves with its heartbeat. On the
/// main it was only written when the worker process started.
#[test]
fn workers_check_in_while_they_live() {
    each_backend("", |es| {
        let app = es.app();
        es.pool(&app, "main");
        let worker = es.worker("main", &["--max-wait-minutes", "0.2"]);
        let checkin = || {
            let mut conn = app.db.conn().unwrap();
            vespene_core::db::workers::list(&mut conn)
                .unwrap()
                .first()
                .map(|w| w.last_checkin)
        };
        let deadline = std::time::Instant::now() + WAIT;
        let first = loop {
            if let Some(t) = checkin() {
                break t;
            }
            assert!(std::time::Instant::now() < deadline, "never registered");
            std::thread::sleep(Duration::from_millis(100));
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(11);
        let moved = loop {
            let now = checkin().unwrap();
            if now > first {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        finish(worker);
        assert!(
            moved,
            "last_checkin stayed {first} for 11 s of a live worker"
        );
    });
}

/// 9.6, table-driven: who may give an object to a group, and who may join
/// a project to a pipeline, through the real ownership plugin. On the main
/// every `N` below was allowed (bob joined alice's pipeline and received
/// her stage's outputs; he gave a project to a group he is not in).
#[test]
fn owner_groups_and_pipeline_joins_need_rights() {
    use vespene_core::ops::{OpError, PipelineInput};
    each_backend(AUTHZ, |es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let (alices, bobs) = (group(&app, "alices"), group(&app, "bobs"));
        let alice = user(&app, "alice", false, vec![alices]);
        let bob = user(&app, "bob", false, vec![bobs]);
        let root = user(&app, "root", true, vec![]);
        let actor = |id: i64| app.ops.actor_for_user(id).unwrap();
        let pipeline = app
            .ops
            .pipelines()
            .create(
                &actor(alice),
                &PipelineInput {
                    name: "alices-pipeline".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .pipeline
            .id;
        let serial = std::cell::Cell::new(0);
        // who, owner group given, pipeline joined, allowed
        let cases: &[(&str, i64, Option<i64>, bool)] = &[
            ("alice", alices, None, true),
            ("alice", bobs, None, false),
            ("bob", bobs, None, true),
            ("bob", alices, None, false),
            ("root", alices, None, true),
            ("alice", alices, Some(pipeline), true),
            ("bob", bobs, Some(pipeline), false),
            ("root", bobs, Some(pipeline), true),
        ];
        for (who, owner, join, allowed) in cases {
            let id = match *who {
                "alice" => alice,
                "bob" => bob,
                _ => root,
            };
            serial.set(serial.get() + 1);
            let input = ProjectInput {
                name: format!("p{}", serial.get()),
                worker_pool_id: pool,
                owner_groups: vec![*owner],
                pipeline_id: *join,
                ..Default::default()
            };
            let created = app.ops.projects().create(&actor(id), &input);
            match (allowed, &created) {
                (true, Ok(_)) => {}
                (false, Err(OpError::Denied { reason })) => {
                    assert!(
                        reason.contains("you are not in group")
                            || reason.contains("joining pipeline"),
                        "{who}: {reason}"
                    );
                }
                _ => panic!("{who} owner {owner} join {join:?}: {created:?}"),
            }
            // The same through an update of a project the user owns.
            let own = app
                .ops
                .projects()
                .create(
                    &actor(id),
                    &ProjectInput {
                        name: format!("own{}", serial.get()),
                        worker_pool_id: pool,
                        ..Default::default()
                    },
                )
                .unwrap()
                .project
                .id;
            let updated = app.ops.projects().update(
                &actor(id),
                own,
                &ProjectInput {
                    name: format!("own{}", serial.get()),
                    ..input.clone()
                },
            );
            assert_eq!(updated.is_ok(), *allowed, "{who} update: {updated:?}");
        }
    });
}

/// True when `line` starts with the stock timestamp filter's elapsed
/// prefix (`    0.00m | `).
fn stamped(line: &str) -> bool {
    let Some((head, _)) = line.split_once("m | ") else {
        return false;
    };
    let head = head.trim_start();
    head.len() >= 4
        && head.as_bytes()[head.len() - 3] == b'.'
        && head
            .bytes()
            .filter(|b| *b != b'.')
            .all(|b| b.is_ascii_digit())
}

/// 16.6: every line of a build's messages (and output) carries the output
/// plugin's prefix, those written outside the worker's log too: a stop
/// before the start, a stop while running, a refused `vespene/set`. On
/// the main the stop lines and the log's own notes had no prefix.
#[test]
fn every_message_line_carries_the_output_prefix() {
    let settings = "[worker]\nmax_output_variables = 1\n";
    each_backend(settings, |es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        es.project(
            &app,
            "stamped",
            pool,
            "#!/bin/sh\necho vespene/set a 1\necho vespene/set b 2\necho started\nsleep 30\n",
        );
        let start = || {
            let run = es.vespene(&["project", "start", "stamped", "--json"]);
            serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
                .as_i64()
                .unwrap()
        };
        let queued = start();
        es.vespene(&["build", "stop", &queued.to_string()]).ok();
        let running = start();
        let worker = es.worker("main", &["--max-builds", "1"]);
        let deadline = std::time::Instant::now() + WAIT;
        while !es
            .output(&app, running, OutputStream::Output)
            .contains("started")
        {
            assert!(std::time::Instant::now() < deadline, "never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        es.vespene(&["build", "stop", &running.to_string()]).ok();
        es.wait_build(&app, running, WAIT);
        finish(worker);
        for id in [queued, running] {
            for stream in [OutputStream::Messages, OutputStream::Output] {
                let text = es.output(&app, id, stream);
                assert!(text.lines().count() >= 1, "build {id} {stream:?}: {text}");
                for line in text.lines() {
                    assert!(stamped(line), "build {id} {stream:?}: {line:?} in\n{text}");
                }
            }
        }
        let messages = es.output(&app, running, OutputStream::Messages);
        assert!(messages.contains("stop requested by"), "{messages}");
        assert!(messages.contains("vespene/set b: ignored"), "{messages}");
    });
}
