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

fn sessions_tokens_csrf_and_throttle(backend: Backend) {
    let Some(es) = sandbox(backend) else { return };
    let app = es.app();
    vespene_core::accounts::create_user(&app.db, "alice", Some("alice-pw"), false).unwrap();
    vespene_core::accounts::create_user(&app.db, "bob", Some("bob-pw"), false).unwrap();
    let server = Server::start(&es);
    let body = json!({"name": "alice's snippet", "text": "echo hi"});

    // Login: an HttpOnly, SameSite session cookie, not Secure over plain HTTP.
    let mut alice = server.client();
    let r = alice.login("alice", "alice-pw");
    assert_eq!(r.status, 200, "{}", r.text);
    let cookie = r.header_all("set-cookie").join("\n");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(r.json()["username"], "alice");
    let csrf = alice.csrf.clone().expect("a CSRF token");

    // Behind a TLS proxy the cookie is Secure.
    let mut proxied = server.client();
    proxied
        .extra_headers
        .push(("X-Forwarded-Proto".into(), "https".into()));
    let r = proxied.login("bob", "bob-pw");
    assert!(
        r.header_all("set-cookie").join("").contains("Secure"),
        "{r:?}"
    );

    // CSRF: a state-changing request with the cookie but without the
    // token, or with a wrong one, is refused and changes nothing.
    alice.csrf = None;
    let r = alice.post("/api/v1/snippets", &body);
    assert_eq!((r.status, r.code().as_str()), (403, "csrf"), "{}", r.text);
    alice.csrf = Some(format!("{csrf}x"));
    let r = alice.post("/api/v1/snippets", &body);
    assert_eq!((r.status, r.code().as_str()), (403, "csrf"), "{}", r.text);
    // Bob's token does not do for Alice's session.
    alice.csrf = proxied.csrf.clone();
    assert_eq!(alice.post("/api/v1/snippets", &body).status, 403);
    alice.csrf = Some(csrf.clone());
    assert_eq!(alice.get("/api/v1/snippets").json()["items"], json!([]));
    let r = alice.post("/api/v1/snippets", &body);
    assert_eq!(r.status, 201, "{}", r.text);
    // Reads need no token; the session endpoint gives it back.
    let r = alice.get("/api/v1/session");
    assert_eq!(r.json()["csrf_token"], json!(csrf));

    // Session fixation: an id planted before login is never logged in,
    // and login answers with a new id.
    let mut victim = server.client();
    victim.session = Some("planted-by-the-attacker".into());
    assert_eq!(victim.get("/api/v1/session").status, 401);
    let r = victim.login("bob", "bob-pw");
    assert_eq!(r.status, 200);
    let fresh = victim.session.clone().unwrap();
    assert_ne!(fresh, "planted-by-the-attacker");
    // A live session id brought to a login is ended and replaced too.
    let mut attacker = server.client();
    attacker.session = Some(fresh.clone());
    victim.login("bob", "bob-pw");
    assert_ne!(victim.session.as_deref(), Some(fresh.as_str()));
    assert_eq!(attacker.get("/api/v1/session").status, 401);
    assert_eq!(victim.get("/api/v1/session").json()["username"], "bob");

    // Logout ends the session (and needs the CSRF token).
    let saved = alice.csrf.take();
    assert_eq!(alice.post("/api/v1/logout", &json!({})).status, 403);
    alice.csrf = saved;
    let old = alice.session.clone();
    let r = alice.post("/api/v1/logout", &json!({}));
    assert_eq!(r.status, 204, "{}", r.text);
    alice.session = old;
    let r = alice.get("/api/v1/projects");
    assert_eq!((r.status, r.code().as_str()), (401, "unauthenticated"));

    // API tokens: made over a session, used without cookie or CSRF token.
    let mut alice = server.login("alice", "alice-pw");
    let r = alice.post("/api/v1/tokens", &json!({"name": "ci"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let token = r.json()["token"].as_str().unwrap().to_string();
    let token_id = r.json()["id"].as_i64().unwrap();
    let listed = alice.get("/api/v1/tokens").json();
    assert!(!listed.to_string().contains(&token), "token shown again");
    let mut script = server.with_token(&token);
    let r = script.get("/api/v1/snippets");
    assert_eq!(r.json()["items"][0]["name"], "alice's snippet");
    let r = script.post("/api/v1/snippets", &json!({"name": "by token"}));
    assert_eq!(r.status, 201, "{}", r.text);
    let mut forged = server.with_token("vsp_not-a-real-token");
    let r = forged.get("/api/v1/snippets");
    assert_eq!((r.status, r.code().as_str()), (401, "bad_token"));
    assert_eq!(
        alice.delete(&format!("/api/v1/tokens/{token_id}")).status,
        204
    );
    assert_eq!(script.get("/api/v1/snippets").status, 401);

    // The throttle: 3 failures for a name lock that name (even with the
    // right password), other names from another address still log in.
    let mut guesser = server.client();
    for _ in 0..3 {
        let r = guesser.login("bob", "wrong");
        assert_eq!((r.status, r.code().as_str()), (401, "bad_credentials"));
    }
    let r = guesser.login("bob", "bob-pw");
    assert_eq!(
        (r.status, r.code().as_str()),
        (429, "throttled"),
        "{}",
        r.text
    );
    assert!(!r.header_all("retry-after").is_empty());
    // The address is used up too: alice cannot log in from it either.
    let r = guesser.login("alice", "alice-pw");
    assert_eq!(r.status, 429, "{}", r.text);
    // An unknown user name counts the same.
    let r = guesser.login("nobody-here", "x");
    assert_eq!(r.status, 429);
}

#[test]
fn sessions_tokens_csrf_and_throttle_on_sqlite() {
    sessions_tokens_csrf_and_throttle(Backend::Sqlite);
}

#[test]
fn sessions_tokens_csrf_and_throttle_on_postgres() {
    sessions_tokens_csrf_and_throttle(Backend::Postgres);
}

#[test]
fn serves_the_api_on_sqlite() {
    serves_the_api(Backend::Sqlite);
}

#[test]
fn serves_the_api_on_postgres() {
    serves_the_api(Backend::Postgres);
}

/// `vespene up` serves HTTP too: its banner names the URL, and the admin
/// login it prints works there.
#[test]
fn up_serves_http_and_its_admin_login_works() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let sb = vespene_e2e::harness::Sandbox::new();
    let data = sb.root().join("up-data");
    let mut child = sb
        .command()
        .args(["up", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vespene up");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    let field = |prefix: &str| {
        banner
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no '{prefix}' in {banner}"))
            .to_string()
    };
    let url = field("server          ");
    let password = field("admin login     admin / ");
    let mut admin = vespene_e2e::http::Client::new(&url);
    let r = admin.login("admin", &password);
    // SIGINT: `up` stops its workers and its server, then exits.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["is_superuser"], true);
}
