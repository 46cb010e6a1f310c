//! Issue 9.6, the rest: an apply by a user who may not see an object
//! answers exactly as if it did not exist; the webhook token is stored
//! encrypted (read back raw from the database on SQLite and PostgreSQL),
//! and one stored in plaintext is encrypted by the next apply or edit;
//! and every door that echoes a value (apply over the CLI and HTTP, the
//! REST API's validation, launch answers) cuts it to 200 characters, so a
//! 10 MiB value gives one short line that still names the field.

use diesel::prelude::*;
use serde_json::json;
use std::path::Path;
use vespene_core::authz::Actor;
use vespene_core::ops::ProjectInput;
use vespene_e2e::engine::{EngineSandbox, backends};
use vespene_e2e::harness::Run;
use vespene_e2e::http::Server;

const AUTHZ: &str = r#"
[plugins.authorization]
ownership = ["vespene.plugins.authorization.ownership", { filter_view = true }]
"#;

fn each_backend(test: impl Fn(EngineSandbox)) {
    for backend in backends() {
        if let Some(es) = EngineSandbox::new(backend, AUTHZ) {
            eprintln!("-- {backend:?}");
            es.vespene(&["secrets", "generate"]).ok();
            test(es);
        }
    }
}

/// `vespene apply` of `text` (written to `dir/name`), with `args`.
fn apply_as(es: &EngineSandbox, dir: &Path, name: &str, text: &str, args: &[&str]) -> Run {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let out = es
        .sb
        .command()
        .arg("apply")
        .arg(&path)
        .args(args)
        .env("HOOK_TOKEN", "the-webhook-token")
        .output()
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The one error line of a refused run, with the file's directory cut.
fn refusal(run: &Run, dir: &Path) -> String {
    assert_eq!(run.code, Some(1), "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{run:#?}");
    lines[0].replace(&format!("{}/", dir.display()), "")
}

/// What alice owns (hidden from bob: projects and service logins are
/// seen by their owners only), applied as the administrator.
const ALICES: &str = "
groups:
  - name: alices
users:
  - username: alice
    groups: [alices]
  - username: bob
worker_pools:
  - name: shared
    isolation_method: sudo
service_logins:
  - name: alice-login
    username: alice
    owner_groups: [alices]
    created_by: alice
projects:
  - name: alice-site
    worker_pool: shared
    owner_groups: [alices]
    created_by: alice
";

/// Bob's file, naming `login` as its service login, `owner` as its owner
/// and `project` as its name.
fn bobs(project: &str, login: &str, owner: &str) -> String {
    format!(
        "projects:\n  - name: {project}\n    worker_pool: shared\n    scm_login: \"{login}\"\n    created_by: {owner}\n"
    )
}

/// On the main, bob's apply said "a project with this name exists and is
/// not yours to view", and `created_by: alice` (a user who exists) was
/// refused differently from `created_by: nobody`.
#[test]
fn an_apply_answers_for_a_hidden_object_as_for_a_missing_one() {
    each_backend(|es| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        apply_as(&es, d, "alice.yaml", ALICES, &[]).ok();
        let bob = ["--as", "bob"];
        // A reference: alice's login reads as one that does not exist.
        let hidden = refusal(
            &apply_as(&es, d, "a.yaml", &bobs("bobs", "alice-login", "bob"), &bob),
            d,
        );
        let missing = refusal(
            &apply_as(&es, d, "a.yaml", &bobs("bobs", "nologin-xy", "bob"), &bob),
            d,
        );
        assert_eq!(hidden.replace("alice-login", "nologin-xy"), missing);
        assert!(
            missing.contains("field 'scm_login': no service login named"),
            "{missing}"
        );
        // Giving the project to a user: alice exists, nobody-xy does not.
        let existing = refusal(
            &apply_as(&es, d, "a.yaml", &bobs("bobs", "", "alice"), &bob),
            d,
        );
        let nobody = refusal(
            &apply_as(&es, d, "a.yaml", &bobs("bobs", "", "nobody-xy"), &bob),
            d,
        );
        assert_eq!(existing, nobody);
        assert!(existing.contains("field 'created_by'"), "{existing}");
        // The object itself: bob's file names alice's project. Names are
        // unique for everyone, so it cannot be created; the answer is the
        // one a create under a taken name gets, never that it is hidden.
        let own = refusal(
            &apply_as(&es, d, "a.yaml", &bobs("alice-site", "", "bob"), &bob),
            d,
        );
        assert!(
            own.contains(
                "a.yaml: project 'alice-site': a project named 'alice-site' already exists;"
            ),
            "{own}"
        );
        for line in [&hidden, &missing, &existing, &own] {
            for leak in ["view", "not yours", "hidden"] {
                assert!(!line.contains(leak), "{line}");
            }
        }
        // The administrator's apply of the same file changes alice's
        // project (it is visible to them).
        let run = apply_as(&es, d, "a.yaml", &bobs("alice-site", "", "alice"), &[]);
        assert!(run.ok().contains("1 updated"), "{run:#?}");
    });
}

/// The `projects.webhook_token` column of `name`, as stored.
fn raw_token(es: &EngineSandbox, name: &str) -> String {
    use vespene_core::db::schema::projects::dsl as p;
    let app = es.app();
    let mut conn = app.db.conn().unwrap();
    p::projects
        .filter(p::name.eq(name))
        .select(p::webhook_token)
        .first(&mut conn)
        .unwrap()
}

/// On the main the token was stored as given.
#[test]
fn the_webhook_token_is_stored_encrypted() {
    use diesel::connection::SimpleConnection;
    each_backend(|es| {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let file = "worker_pools:\n  - name: shared\n    isolation_method: sudo\nprojects:\n  - name: hooked\n    worker_pool: shared\n    webhook_enabled: true\n    webhook_token_env: HOOK_TOKEN\n";
        assert!(
            apply_as(&es, d, "h.yaml", file, &[])
                .ok()
                .contains("2 created")
        );
        let stored = raw_token(&es, "hooked");
        assert!(stored.starts_with("[VESPENE-CLOAK]"), "{stored}");
        assert!(!stored.contains("the-webhook-token"));
        let app = es.app();
        assert_eq!(
            app.ops.secrets().decloak(&stored).unwrap(),
            "the-webhook-token"
        );
        // The same token again changes nothing.
        let again = apply_as(&es, d, "h.yaml", file, &[]);
        assert!(again.ok().contains("no changes"), "{again:#?}");
        assert_eq!(raw_token(&es, "hooked"), stored);

        // A plaintext token (stored before this change) is encrypted by
        // the next apply of the same file, then by the next edit.
        let plant = |token: &str| {
            app.db
                .conn()
                .unwrap()
                .batch_execute(&format!(
                    "UPDATE projects SET webhook_token = '{token}' WHERE name = 'hooked'"
                ))
                .unwrap();
        };
        plant("the-webhook-token");
        let run = apply_as(&es, d, "h.yaml", file, &[]);
        assert!(run.ok().contains("1 updated"), "{run:#?}");
        let upgraded = raw_token(&es, "hooked");
        assert!(upgraded.starts_with("[VESPENE-CLOAK]"), "{upgraded}");
        assert_eq!(
            app.ops.secrets().decloak(&upgraded).unwrap(),
            "the-webhook-token"
        );
        plant("plain-again");
        let a = &Actor::System;
        let id = app.ops.projects().id_by_name(a, "hooked").unwrap();
        let detail = app.ops.projects().get(a, id).unwrap();
        app.ops
            .projects()
            .update(a, id, &ProjectInput::from(&detail))
            .unwrap();
        let edited = raw_token(&es, "hooked");
        assert!(edited.starts_with("[VESPENE-CLOAK]"), "{edited}");
        assert_eq!(app.ops.secrets().decloak(&edited).unwrap(), "plain-again");
        // A new project through the operations is encrypted too.
        let pool = es.pool(&app, "other");
        es.project_with(
            &app,
            ProjectInput {
                name: "made".into(),
                worker_pool_id: pool,
                webhook_token: "made-token".into(),
                ..Default::default()
            },
        );
        let made = raw_token(&es, "made");
        assert!(made.starts_with("[VESPENE-CLOAK]"), "{made}");
    });
}

/// 10 MiB: the size the issue found echoed whole.
const HUGE: usize = 10 << 20;

/// One short line (the value cut to 200 characters, a little text
/// around it) that names `field`.
fn short_naming(door: &str, line: &str, field: &str) {
    assert!(line.len() < 1200, "{door}: {} bytes", line.len());
    assert!(!line.contains(&"x".repeat(201)), "{door}: {line}");
    assert!(line.contains(field), "{door}: no '{field}' in {line}");
}

/// On the main each of these doors echoed the whole value.
#[test]
fn every_error_cuts_an_echoed_value_to_200_characters() {
    let Some(es) = EngineSandbox::new(vespene_e2e::engine::Backend::Sqlite, "") else {
        return;
    };
    es.vespene(&["secrets", "generate"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let huge = "x".repeat(HUGE);
    let base = "worker_pools:\n  - name: shared\n    isolation_method: sudo\nprojects:\n  - name: p\n    worker_pool: shared\n";
    apply_as(&es, d, "base.yaml", base, &[]).ok();

    // Configuration as code through the command line: a name, a
    // reference, an unknown field, a value of the wrong type, launch
    // questions and variables.
    let files: &[(&str, String, &str)] = &[
        (
            "name",
            format!("projects:\n  - name: {huge}\n    worker_pool: shared\n"),
            "field 'name'",
        ),
        (
            "reference",
            format!("projects:\n  - name: q\n    worker_pool: {huge}\n"),
            "field 'worker_pool'",
        ),
        (
            "unknown field",
            // An explicit key: YAML's plain keys stop at 1024 characters.
            format!("projects:\n  - name: q\n    ? {huge}\n    : 1\n"),
            "project 'q'",
        ),
        (
            "wrong type",
            format!("projects:\n  - name: q\n    worker_pool: shared\n    timeout: {huge}\n"),
            "field 'timeout'",
        ),
        (
            "variables",
            format!(
                "projects:\n  - name: q\n    worker_pool: shared\n    variables: '{{\"a\": {huge}'\n"
            ),
            "variables",
        ),
        (
            "launch questions",
            format!(
                "projects:\n  - name: q\n    worker_pool: shared\n    launch_questions: [{{variable: v, type: {huge}}}]\n"
            ),
            "launch_questions",
        ),
    ];
    for (what, text, field) in files {
        let run = apply_as(&es, d, "huge.yaml", text, &[]);
        let line = refusal(&run, d);
        short_naming(&format!("apply {what}"), &line, field);
    }

    // The REST API: apply, a created object's field, a start's answers.
    let app = es.app();
    let admin = vespene_core::accounts::create_user(&app.db, "admin", Some("pw"), true).unwrap();
    let token = vespene_core::accounts::create_token(&app.db, admin.id, "t")
        .unwrap()
        .token;
    let server = Server::start(&es);
    let mut c = server.with_token(&token);
    // The REST API takes JSON bodies up to 4 MiB: a 10 MiB one is
    // refused short, a 3 MiB value inside the limit is cut.
    let big = "x".repeat(3 << 20);
    let r = c.send(
        "POST",
        "/api/v1/apply",
        Some(format!(
            "projects:\n  - name: {huge}\n    worker_pool: shared\n"
        )),
        "application/yaml",
    );
    assert!(r.status >= 400, "{}", r.status);
    assert!(
        r.text.len() < 1200,
        "HTTP apply, 10 MiB: {} bytes",
        r.text.len()
    );
    // Its apply takes YAML bodies up to 256 KiB.
    let mid = "x".repeat(200_000);
    let r = c.send(
        "POST",
        "/api/v1/apply",
        Some(format!(
            "projects:\n  - name: {mid}\n    worker_pool: shared\n"
        )),
        "application/yaml",
    );
    assert_eq!(r.status, 422, "{}", &r.text[..r.text.len().min(300)]);
    short_naming("HTTP apply", &r.text, "name");
    let pool = es.pool(&app, "http");
    for (what, body, field) in [
        ("name", json!({"name": big, "worker_pool_id": pool}), "name"),
        (
            "variables",
            json!({"name": "v", "worker_pool_id": pool, "variables": format!("{{\"a\": {big}")}),
            "variables",
        ),
        (
            "type",
            json!({"name": "t", "worker_pool_id": pool, "timeout": big}),
            "timeout",
        ),
        (
            "unknown field",
            json!({"name": "u", "worker_pool_id": pool, big.as_str(): 1}),
            "unknown field",
        ),
    ] {
        let r = c.post("/api/v1/projects", &json!(body));
        assert!(r.status == 422 || r.status == 400, "{what}: {}", r.status);
        short_naming(&format!("HTTP project {what}"), &r.text, field);
    }
    let r = c.post("/api/v1/groups", &json!({"name": format!("{big}")}));
    short_naming("HTTP group name", &r.text, "name");
    let project = app.ops.projects().id_by_name(&Actor::System, "p").unwrap();
    for (what, answers, field) in [
        ("no questions", json!({big.as_str(): "1"}), "launch_answers"),
        ("an answer", json!({"a": big}), "launch_answers"),
    ] {
        let r = c.post(
            &format!("/api/v1/projects/{project}/start"),
            &json!({"answers": answers}),
        );
        assert_eq!(
            r.status,
            422,
            "{what}: {}",
            &r.text[..r.text.len().min(300)]
        );
        short_naming(&format!("HTTP start, {what}"), &r.text, field);
    }

    // The command line's own answers (an argument is at most 128 KiB).
    let arg = format!("a={}", "x".repeat(100_000));
    let run = es.vespene(&["project", "start", "p", "--answer", &arg]);
    assert_eq!(
        run.code,
        Some(1),
        "{}",
        &run.stderr[..run.stderr.len().min(300)]
    );
    short_naming("CLI start", run.stderr.trim(), "launch_answers");
}
