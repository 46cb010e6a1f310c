//! The authorization matrix of reference §7.2 (the table of
//! `authorization.rs`, shared) over the REST API of a running `vespene
//! server`, on SQLite and PostgreSQL: each case is a real HTTP request as
//! the column's user (no credentials for `anon`, an API token otherwise),
//! allowed when it answers 2xx and refused when it answers 401, 403 or
//! 404 (a build has no create or edit route: 404 or 405 there).

use super::authorization::{MATRIX, SETTINGS, World, parse};
use serde_json::{Value, json};
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::{Client, Reply, Server};
use vespene_plugin_api::kinds::authorization::{Action, ObjectKind};

fn path(kind: ObjectKind) -> String {
    format!("/api/v1/{}s", kind.as_str())
}

/// A body creating a fresh object of `kind`.
fn fresh(world: &World<'_>, kind: ObjectKind) -> Value {
    let name = world.name(kind);
    match kind {
        ObjectKind::Project => json!({"name": name, "worker_pool_id": world.pool}),
        ObjectKind::ServiceLogin => json!({"name": name, "username": "reader"}),
        ObjectKind::WorkerPool => json!({"name": name, "isolation_method": "sudo"}),
        ObjectKind::Organization => json!({
            "name": name, "organization_identifier": "acme",
            "default_worker_pool_id": world.pool, "worker_pool_id": world.pool
        }),
        ObjectKind::User => json!({"username": name}),
        _ => json!({"name": name}),
    }
}

/// `Ok(true)` allowed, `Ok(false)` refused, `Err` anything else.
fn verdict(r: &Reply, kind: ObjectKind, action: Action) -> Result<bool, String> {
    let no_route = kind == ObjectKind::Build && matches!(action, Action::Create | Action::Edit);
    match r.status {
        200..=299 => Ok(true),
        401 | 403 | 404 => Ok(false),
        405 if no_route => Ok(false),
        other => Err(format!("{other}: {}", r.text)),
    }
}

fn run(
    world: &World<'_>,
    admin: &mut Client,
    client: &mut Client,
    kind: ObjectKind,
    action: Action,
    id: i64,
) -> Result<bool, String> {
    let base = path(kind);
    let item = format!("{base}/{id}");
    let r = match action {
        Action::List => {
            let r = client.get(&format!("{base}?page_size=1000"));
            if r.status != 200 {
                return verdict(&r, kind, action);
            }
            let page = r.json();
            assert_eq!(page["has_more"], false, "more objects than one page");
            let found = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["id"] == json!(id));
            return Ok(found);
        }
        Action::Create => client.post(&base, &fresh(world, kind)),
        Action::View => client.get(&item),
        Action::Edit => {
            // What the object is, as a superuser reads it, sent back.
            let current = admin.get(&item);
            assert_eq!(current.status, 200, "{}", current.text);
            client.put(&item, &current.json())
        }
        Action::Delete => client.delete(&item),
        Action::Start => client.post(&format!("{item}/start"), &json!({})),
        Action::Stop => client.post(&format!("{item}/stop"), &json!({})),
    };
    verdict(&r, kind, action)
}

fn the_matrix(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, SETTINGS) else {
        return;
    };
    let app = es.app();
    let world = World::new(&app);
    let token = |name: &str| {
        let user = vespene_core::accounts::user_by_name(&app.db, name).unwrap();
        vespene_core::accounts::create_token(&app.db, user.id, "matrix")
            .unwrap()
            .token
    };
    let server = Server::start(&es);
    let mut admin = server.with_token(&token("root"));
    // Reads what `edit` cases send back.
    let mut reader = server.with_token(&token("root"));
    let mut pat = server.with_token(&token("pat"));
    let mut anon = server.client();

    let cases = parse(MATRIX);
    assert_eq!(cases.len(), 293);
    let mut failures = Vec::new();
    for case in &cases {
        let id = world.target(case.kind, case.who);
        let client = match case.who {
            "anon" => &mut anon,
            "super" => &mut admin,
            _ => &mut pat,
        };
        match run(&world, &mut reader, client, case.kind, case.action, id) {
            Ok(allowed) if allowed == case.allowed => {}
            Ok(allowed) => failures.push(format!(
                "{:<46} {:<8}: got {}, table says {}",
                case.line,
                case.who,
                if allowed { "Y" } else { "N" },
                if case.allowed { "Y" } else { "N" }
            )),
            Err(e) => failures.push(format!("{:<46} {:<8}: error {e}", case.line, case.who)),
        }
    }
    assert!(
        failures.is_empty(),
        "{backend:?}: {} of {} cases differ over HTTP:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_matrix_over_http_on_sqlite() {
    the_matrix(Backend::Sqlite);
}

#[test]
fn the_matrix_over_http_on_postgres() {
    the_matrix(Backend::Postgres);
}
