//! Issue 16.1 and 16.2 as tables over every door, on SQLite and
//! PostgreSQL: who may stop a build (its starter, an owner, a superuser;
//! not a launch-group member who did not start it, not a stranger)
//! through `build stop` and `project stop` on the command line and the
//! REST API; and `project start` with and without questions and answers
//! through the command line and the REST API. `bookkeeping.rs` holds the
//! first cases found; these tables complete them with every role and door.

use crate::bookkeeping::{group, user};
use serde_json::{Value, json};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::ops::ProjectInput;
use vespene_e2e::engine::{EngineSandbox, backends};
use vespene_e2e::http::{Client, Server};

const AUTHZ: &str = r#"
[plugins.authorization]
ownership = ["vespene.plugins.authorization.ownership", { filter_view = true }]
"#;

/// Each person's API token.
fn client(app: &App, server: &Server, id: i64) -> Client {
    let token = vespene_core::accounts::create_token(&app.db, id, "doors")
        .unwrap()
        .token;
    server.with_token(&token)
}

/// A queued build of `project` started by `who` on the command line.
fn start_as(es: &EngineSandbox, project: &str, who: &str) -> i64 {
    let run = es.vespene(&["project", "start", project, "--as", who, "--json"]);
    serde_json::from_str::<Value>(run.ok()).unwrap()["build"]
        .as_i64()
        .unwrap()
}

#[derive(Debug, Clone, Copy)]
enum Door {
    CliBuild,
    CliProject,
    HttpBuild,
    HttpProject,
}

const DOORS: [Door; 4] = [
    Door::CliBuild,
    Door::CliProject,
    Door::HttpBuild,
    Door::HttpProject,
];

/// Role, the user who asks, the user who started the build, allowed.
/// `lance` and `lena` are launch-group members, `olive` an owner, `sue`
/// a superuser, `sam` a stranger.
const STOPS: &[(&str, &str, &str, bool)] = &[
    ("starter", "lance", "lance", true),
    ("owner", "olive", "lance", true),
    ("superuser", "sue", "lance", true),
    ("launch-group member", "lena", "lance", false),
    ("stranger", "sam", "lance", false),
];

#[test]
fn who_may_stop_a_build_through_every_door() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, AUTHZ) else {
            continue;
        };
        eprintln!("-- {backend:?}");
        let app = es.app();
        let pool = es.pool(&app, "main");
        let (owners, launchers, others) = (
            group(&app, "owners"),
            group(&app, "launchers"),
            group(&app, "others"),
        );
        let mut ids = std::collections::HashMap::new();
        for (name, superuser, groups) in [
            ("olive", false, vec![owners]),
            ("lance", false, vec![launchers]),
            ("lena", false, vec![launchers]),
            ("sue", true, vec![]),
            ("sam", false, vec![others]),
        ] {
            ids.insert(name, user(&app, name, superuser, groups));
        }
        let project = es.project_with(
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
        let server = Server::start(&es);
        for (role, who, starter, allowed) in STOPS {
            for door in DOORS {
                let id = start_as(&es, "shared", starter);
                let (ok, said) = match door {
                    Door::CliBuild | Door::CliProject => {
                        let (noun, target) = match door {
                            Door::CliBuild => ("build", id.to_string()),
                            _ => ("project", "shared".to_string()),
                        };
                        let run = es.vespene(&[noun, "stop", &target, "--as", who]);
                        (run.code == Some(0), run.stderr)
                    }
                    Door::HttpBuild | Door::HttpProject => {
                        let path = match door {
                            Door::HttpBuild => format!("/api/v1/builds/{id}/stop"),
                            _ => format!("/api/v1/projects/{project}/stop"),
                        };
                        let r = client(&app, &server, ids[who]).post(&path, &json!({}));
                        (r.status == 200, format!("{} {}", r.status, r.text))
                    }
                };
                let status = app.ops.builds().get(&Actor::System, id).unwrap().status();
                let case = format!("{backend:?} {role} ({who}) via {door:?}");
                assert_eq!(ok, *allowed, "{case}: {said}");
                if *allowed {
                    assert_eq!(status, BuildStatus::Aborted, "{case}");
                } else {
                    assert_eq!(status, BuildStatus::Queued, "{case}");
                    // Refused as if the build did not exist (404 over HTTP).
                    assert!(
                        said.contains("does not exist") || said.starts_with("404"),
                        "{case}: {said}"
                    );
                    es.vespene(&["build", "stop", &id.to_string()]).ok();
                }
            }
        }
    }
}

/// Project, answers, allowed; `None` answers: none given at all.
type StartCase = (&'static str, Option<Value>, Result<(), &'static str>);

#[test]
fn project_start_with_and_without_questions_through_every_door() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        eprintln!("-- {backend:?}");
        es.vespene(&["secrets", "generate"]).ok();
        let app = es.app();
        let pool = es.pool(&app, "main");
        let plain = es.project(&app, "plain", pool, "#!/bin/sh\necho plain\n");
        let asks = es.project_with(
            &app,
            ProjectInput {
                name: "asks".into(),
                worker_pool_id: pool,
                launch_questions: json!([
                    {"variable": "who"},
                    {"variable": "env", "type": "radio", "choices": ["dev", "prod"]}
                ])
                .to_string(),
                script: "#!/bin/sh\necho {{ who | quote }} {{ env }}\n".into(),
                ..Default::default()
            },
        );
        let admin = vespene_core::accounts::create_user(&app.db, "root", Some("pw"), true)
            .unwrap()
            .id;
        let server = Server::start(&es);
        let mut http = client(&app, &server, admin);
        let cases: Vec<StartCase> = vec![
            ("plain", None, Ok(())),
            ("plain", Some(json!({})), Ok(())),
            (
                "plain",
                Some(json!({"x": "1"})),
                Err("has no launch questions"),
            ),
            ("asks", None, Err("'who' needs an answer")),
            (
                "asks",
                Some(json!({"who": "a"})),
                Err("'env' needs an answer"),
            ),
            ("asks", Some(json!({"who": "a", "env": "dev"})), Ok(())),
            (
                "asks",
                Some(json!({"who": "a", "env": "qa"})),
                Err("is not a choice of 'env'"),
            ),
            (
                "asks",
                Some(json!({"who": ["a", "b"], "env": "dev"})),
                Err("must be one text value"),
            ),
            (
                "asks",
                Some(json!({"who": "a", "env": "dev", "zz": "1"})),
                Err("'zz' is not one of this project's launch questions"),
            ),
        ];
        for (project, answers, expected) in &cases {
            let id = if *project == "plain" { plain } else { asks };
            // The command line.
            let mut args = vec!["project".to_string(), "start".into(), project.to_string()];
            for (k, v) in answers.iter().flat_map(|a| a.as_object().unwrap()) {
                let values: Vec<&Value> = match v {
                    Value::Array(list) => list.iter().collect(),
                    one => vec![one],
                };
                for v in values {
                    args.push("--answer".into());
                    args.push(format!("{k}={}", v.as_str().unwrap()));
                }
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let before = count(&app);
            let run = es.vespene(&args);
            let case = format!("{backend:?} CLI {project} {answers:?}");
            match expected {
                Ok(()) => {
                    assert_eq!(run.code, Some(0), "{case}: {run:#?}");
                    assert_eq!(count(&app), before + 1, "{case}");
                }
                Err(reason) => {
                    assert_eq!(run.code, Some(1), "{case}: {run:#?}");
                    assert_eq!(run.stderr.lines().count(), 1, "{case}: {}", run.stderr);
                    assert!(run.stderr.contains(reason), "{case}: {}", run.stderr);
                    assert_eq!(count(&app), before, "{case}");
                }
            }
            // The REST API (no body when no answers are given).
            let path = format!("/api/v1/projects/{id}/start");
            let r = match answers {
                None => http.send("POST", &path, None, "application/json"),
                Some(a) => http.post(&path, &json!({"answers": a})),
            };
            let case = format!("{backend:?} HTTP {project} {answers:?}");
            match expected {
                Ok(()) => assert_eq!(r.status, 201, "{case}: {}", r.text),
                Err(reason) => {
                    assert_eq!(r.status, 422, "{case}: {}", r.text);
                    assert!(r.text.contains(reason), "{case}: {}", r.text);
                }
            }
        }
    }
}

fn count(app: &App) -> usize {
    app.ops
        .builds()
        .list(&Actor::System, &Default::default(), Default::default())
        .unwrap()
        .items
        .len()
}
