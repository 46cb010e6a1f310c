//! The REST API's contract over real HTTP, on SQLite and PostgreSQL:
//! secrets are write-only, a GET sent back with PUT changes nothing,
//! errors carry a stable code and the field at fault, lists are paged,
//! filtered and sorted as the original's, projects start with launch
//! answers.

use serde_json::json;
use vespene_core::authz::Actor;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

fn api_contract(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let app = es.app();
    let admin = vespene_core::accounts::create_user(&app.db, "admin", Some("pw"), true).unwrap();
    let token = vespene_core::accounts::create_token(&app.db, admin.id, "t")
        .unwrap()
        .token;
    vespene_core::secrets::generate_key_file(&es.settings().secrets_key_file).unwrap();
    let server = Server::start(&es);
    let mut c = server.with_token(&token);

    // Secrets are write-only.
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n";
    let r = c.post(
        "/api/v1/ssh_keys",
        &json!({"name": "deploy", "private_key": key, "unlock_password": "s3cret"}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.json()["id"].as_i64().unwrap();
    let got = c.get(&format!("/api/v1/ssh_keys/{id}"));
    for text in [&r.text, &got.text, &c.get("/api/v1/ssh_keys").text] {
        assert!(
            !text.contains("abc") && !text.contains("s3cret") && !text.contains("CLOAK"),
            "{text}"
        );
    }
    // What a GET returns, sent back, changes nothing (secrets kept).
    let mut body = got.json();
    body["description"] = json!("for deploys");
    let r = c.put(&format!("/api/v1/ssh_keys/{id}"), &body);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["description"], "for deploys");
    let app2 = es.app();
    let secrets = app2.ops.ssh_keys().reveal(&Actor::System, id).unwrap();
    assert_eq!(secrets.private_key, key);
    assert_eq!(secrets.unlock_password, "s3cret");

    // Errors: a code, a message, the field.
    let r = c.post("/api/v1/snippets", &json!({"name": "x", "colour": "red"}));
    assert_eq!(
        (r.status, r.code().as_str()),
        (422, "invalid"),
        "{}",
        r.text
    );
    assert_eq!(r.json()["field"], "colour");
    let r = c.post("/api/v1/snippets", &json!({"name": 5}));
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("name")),
        "{}",
        r.text
    );
    let r = c.post(
        "/api/v1/projects",
        &json!({"name": "p", "worker_pool_id": 999}),
    );
    assert_eq!(r.status, 422, "{}", r.text);
    assert!(r.json()["field"].is_string(), "{}", r.text);
    let r = c.post("/api/v1/snippets", &json!({"name": ""}));
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (422, Some("name")),
        "{}",
        r.text
    );
    let r = c.get("/api/v1/snippets?colour=red");
    assert_eq!((r.status, r.code().as_str()), (400, "bad_request"));
    assert_eq!(r.json()["field"], "colour");
    let r = c.get("/api/v1/snippets/424242");
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    let r = c.send(
        "POST",
        "/api/v1/snippets",
        Some("{not json".into()),
        "application/json",
    );
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.code(), "bad_request");
    c.post("/api/v1/snippets", &json!({"name": "dup"}));
    let r = c.post("/api/v1/snippets", &json!({"name": "dup"}));
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "conflict"),
        "{}",
        r.text
    );

    // Lists: by name, paged, filtered.
    for name in ["charlie", "alpha", "bravo"] {
        assert_eq!(
            c.post("/api/v1/variable_sets", &json!({"name": name}))
                .status,
            201
        );
    }
    let page = c.get("/api/v1/variable_sets?page_size=2").json();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "bravo"]);
    assert_eq!(page["has_more"], true);
    let page = c.get("/api/v1/variable_sets?page_size=2&page=2").json();
    assert_eq!(page["items"][0]["name"], "charlie");
    assert_eq!(page["has_more"], false);
    let page = c.get("/api/v1/variable_sets?name=RAV").json();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // Start with launch answers; builds newest first, filtered by status.
    let pool = es.pool(&app, "api");
    let r = c.post(
        "/api/v1/projects",
        &json!({
            "name": "asks", "worker_pool_id": pool,
            "script": "echo {{ colour }}",
            "launch_questions": "[{\"variable\": \"colour\", \"prompt\": \"Colour\", \"type\": \"text\"}]"
        }),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    let pid = r.json()["id"].as_i64().unwrap();
    let r = c.post(
        &format!("/api/v1/projects/{pid}/start"),
        &json!({"answers": {"colour": "blue"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["error"], serde_json::Value::Null, "{}", r.text);
    assert_eq!(r.json()["build"]["script"], "echo blue");
    let first = r.json()["build"]["id"].as_i64().unwrap();
    let r = c.post(&format!("/api/v1/projects/{pid}/stop"), &json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c.post(
        &format!("/api/v1/projects/{pid}/start"),
        &json!({"answers": {"colour": "red"}}),
    );
    let second = r.json()["build"]["id"].as_i64().unwrap();
    let list = c.get(&format!("/api/v1/builds?project_id={pid}")).json();
    let ids: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, first]);
    assert_eq!(list["items"][0]["project_name"], "asks");
    let list = c
        .get(&format!("/api/v1/builds?project_id={pid}&status=aborted"))
        .json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let r = c.get("/api/v1/builds?status=sideways");
    assert_eq!(
        (r.status, r.json()["field"].as_str()),
        (400, Some("status"))
    );
}

#[test]
fn api_contract_on_sqlite() {
    api_contract(Backend::Sqlite);
}

#[test]
fn api_contract_on_postgres() {
    api_contract(Backend::Postgres);
}
