//! Notification tokens from service logins (trigger API 1.2): the commit
//! status's forge and the Slack entry name a login with `service_login =
//! "NAME"`; the host resolves it for the build's project, checks that the
//! project's owner may use it, and hands the password to that one call.
//! The stubs check that it arrives byte for byte in the header; the
//! builds' messages, output (the script prints its environment) and stored
//! rows never hold it; a login the owner may not use, or one that does not
//! exist, fails the notification with one line and never the build. On
//! SQLite and PostgreSQL.

use crate::notify::{git_daemon, repository, request, run_builds, slack_data};
use diesel::connection::SimpleConnection;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::ops::{GroupInput, ServiceLoginInput, UserInput};
use vespene_e2e::engine::{EngineSandbox, backends};
use vespene_e2e::stub_http::{Reply, StubServer};

const GH_SECRET: &str = "ghp_from-a-service-login-1";
const SLACK_SECRET: &str = "xoxb-from-a-service-login-2";

fn settings(github: &StubServer, slack: &StubServer) -> String {
    format!(
        "[plugins.success_triggers]\n\
         status = [\"vespene.plugins.triggers.commit_status\", {{ public_url = \"https://ci.example.com\", forges = [{{ type = \"github\", url = \"{}\", service_login = \"gh-bot\" }}] }}]\n\
         slack = [\"vespene.plugins.triggers.slack\", {{ channel = \"general\", service_login = \"slack-bot\", base_url = \"{}/api\" }}]\n\
         ghost = [\"vespene.plugins.triggers.slack\", {{ channel = \"general\", service_login = \"nobody\", base_url = \"{}/api\" }}]\n",
        github.base(),
        slack.base(),
        slack.base()
    )
}

#[test]
fn tokens_from_service_logins_reach_the_forge_and_slack_and_nothing_else() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        one_backend(backend);
    }
}

fn one_backend(backend: vespene_e2e::engine::Backend) {
    let created = br#"{"id":1,"state":"success","description":"d","context":"vespene"}"#;
    let github = StubServer::start(
        "127.0.0.1",
        vec![Reply::raw(
            201,
            &[("content-type", "application/json; charset=utf-8")],
            created,
        )],
    );
    let ok = slack_data("chat.postMessage.ok.json");
    let slack = StubServer::start("127.0.0.1", vec![Reply::json(200, &ok)]);
    let base = tempfile::tempdir().unwrap();
    let sha = repository(base.path());
    let daemon = git_daemon(base.path());
    let Some(es) = EngineSandbox::new(backend, &settings(&github, &slack)) else {
        return;
    };
    es.vespene(&["secrets", "generate"]).ok();
    let app = es.app();
    let ops = &app.ops;
    let system = &Actor::System;
    let ops_group = ops
        .groups()
        .create(system, &GroupInput { name: "ops".into() })
        .unwrap()
        .group
        .id;
    let user = |name: &str, groups: Vec<i64>| {
        ops.users()
            .create(
                system,
                &UserInput {
                    username: name.into(),
                    groups,
                    ..Default::default()
                },
            )
            .unwrap()
            .user
            .id
    };
    let alice = user("alice", vec![ops_group]);
    let bob = user("bob", vec![]);
    let login = |name: &str, password: &str, owner_groups: Vec<i64>| {
        ops.service_logins()
            .create(
                system,
                &ServiceLoginInput {
                    name: name.into(),
                    username: "bot".into(),
                    password: Some(password.into()),
                    owner_groups,
                    ..Default::default()
                },
            )
            .unwrap();
    };
    // gh-bot: created by alice; slack-bot: owned by alice's group.
    login("gh-bot", GH_SECRET, vec![]);
    login("slack-bot", SLACK_SECRET, vec![ops_group]);
    let pool = es.pool(&app, "main");
    let project = |name: &str| {
        crate::scm_common::scm_project(
            &app,
            name,
            pool,
            "git",
            &format!("git://127.0.0.1:{}/o/r.git", daemon.1),
            "main",
            |p| p.script = "#!/bin/sh\nenv\n".into(),
        )
    };
    let allowed = project("allowed");
    let refused = project("refused");
    app.db
        .conn()
        .unwrap()
        .batch_execute(&format!(
            "UPDATE service_logins SET created_by = {alice} WHERE name = 'gh-bot'; \
             UPDATE projects SET created_by = {alice} WHERE id = {allowed}; \
             UPDATE projects SET created_by = {bob} WHERE id = {refused}"
        ))
        .unwrap();

    let done = run_builds(&es, &app, "main", &[allowed, refused]);
    drop(daemon);
    let (ok_build, no_build) = (&done[0], &done[1]);
    for d in &done {
        assert_eq!(d.build.status(), BuildStatus::Success, "{d:?}");
        let everything = format!("{d:?}");
        for secret in [GH_SECRET, SLACK_SECRET] {
            assert!(!everything.contains(secret), "{secret} leaked: {d:?}");
        }
    }

    // The allowed project's requests carry the logins' passwords.
    let id = ok_build.build.id;
    assert_eq!(
        github.requests(),
        vec![request(
            &format!("POST /api/v3/repos/o/r/statuses/{sha}"),
            &[
                ("accept", "application/vnd.github+json"),
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {GH_SECRET}")),
                ("user-agent", "Vespene"),
                ("x-github-api-version", "2022-11-28"),
            ],
            github.authority(),
            &format!(
                r#"{{"state":"success","target_url":"https://ci.example.com/ui/build/{id}","description":"Vespene build {id} succeeded","context":"vespene"}}"#
            ),
        )]
    );
    let text = format!("Vespene Build {id} for project \"allowed\" succeeded");
    assert_eq!(
        slack.requests(),
        vec![request(
            "POST /api/chat.postMessage",
            &[
                ("content-type", "application/json; charset=utf-8"),
                ("authorization", &format!("Bearer {SLACK_SECRET}")),
                ("user-agent", "Vespene"),
            ],
            slack.authority(),
            &serde_json::json!({"channel": "general", "text": text}).to_string(),
        )]
    );
    let says = |d: &crate::scm_common::Done, line: &str| {
        assert!(d.messages.contains(line), "expected {line:?}: {d:?}");
    };
    let at = format!("o/r@{}", &sha[..12]);
    says(
        ok_build,
        &format!("commit_status trigger 'status': status 'success' reported on {at}"),
    );
    says(
        ok_build,
        &format!("slack trigger 'slack': posted to general: {text}"),
    );

    // Bob's project may use neither login; nothing is sent for it.
    let why = |login: &str| {
        format!(
            "service login '{login}' may not be used by project 'refused': neither its owner nor one of its owner groups owns the login"
        )
    };
    says(
        no_build,
        &format!(
            "commit_status trigger 'status': {}: no status reported to o/r",
            why("gh-bot")
        ),
    );
    says(
        no_build,
        &format!(
            "slack trigger 'slack': {}: nothing posted to general",
            why("slack-bot")
        ),
    );
    // A login that does not exist, for every project.
    for d in &done {
        says(
            d,
            "slack trigger 'ghost': service login 'nobody': there is no service login of that name: nothing posted to general",
        );
    }
}
