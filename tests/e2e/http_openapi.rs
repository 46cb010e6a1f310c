//! The OpenAPI document at `/api/v1/openapi.json`: it parses as OpenAPI
//! 3.1 (strictly, with the `oas3` crate), every `$ref` resolves, operation
//! ids are unique, and every route it lists answers on the running server
//! (no "no route" answer, no 405), while a path it does not list has no
//! route. Since routes and document come from one table, this also checks
//! that table.

use serde_json::{Value, json};
use std::collections::HashSet;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

fn document_matches_routes(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let app = es.app();
    let admin = vespene_core::accounts::create_user(&app.db, "admin", Some("pw"), true).unwrap();
    let token = vespene_core::accounts::create_token(&app.db, admin.id, "t")
        .unwrap()
        .token;
    let server = Server::start(&es);
    let mut anon = server.client();
    let r = anon.get("/api/v1/openapi.json");
    assert_eq!(r.status, 200, "{}", r.text);
    let doc = r.json();
    let parsed = oas3::from_json(&r.text).unwrap_or_else(|e| panic!("not OpenAPI 3.1: {e}"));
    assert_eq!(parsed.openapi, "3.1.0");

    for r in {
        let mut v = Vec::new();
        refs(&doc, &mut v);
        v
    } {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }

    let mut client = server.with_token(&token);
    let mut ids = HashSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
            assert!(
                !op["tags"].as_array().unwrap().is_empty(),
                "{id} has no tag"
            );
            // Path parameters are declared.
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == name),
                    "{id}: parameter {name} not declared"
                );
            }
            let url = path.replace("{id}", "999999");
            let body = if method == "get" || method == "delete" {
                None
            } else {
                Some(json!({}).to_string())
            };
            // Logging out would end nothing here (a token); logging in
            // with an empty body is a 4xx. Either way: it answers.
            let r = client.send(&method.to_uppercase(), &url, body, "application/json");
            assert_ne!(r.status, 405, "{} {url}: {}", method.to_uppercase(), r.text);
            assert!(
                !r.text.contains("no route for"),
                "{} {url} is in the document but has no route",
                method.to_uppercase()
            );
            assert!(
                r.status < 500,
                "{} {url}: {} {}",
                method.to_uppercase(),
                r.status,
                r.text
            );
        }
    }
    assert!(count > 60, "only {count} operations");
    let r = client.get("/api/v1/not-a-thing");
    assert_eq!((r.status, r.code().as_str()), (404, "not_found"));
    assert!(r.text.contains("no route for"), "{}", r.text);
}

#[test]
fn document_matches_routes_on_sqlite() {
    document_matches_routes(Backend::Sqlite);
}

#[test]
fn document_matches_routes_on_postgres() {
    document_matches_routes(Backend::Postgres);
}
