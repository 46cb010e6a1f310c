//! The OpenAPI 3.1 document, made from the route table ([`Routes`]) and
//! the JSON Schemas of the types the handlers read and write, so it
//! always describes the routes the server registers.

use super::routes::{Op, Routes};
use serde_json::{Map, Value, json};

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn operation(op: &Op) -> Value {
    let mut parameters: Vec<Value> = Vec::new();
    for segment in op.path.split('/') {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            parameters.push(json!({
                "name": name, "in": "path", "required": true,
                "schema": {"type": "integer", "format": "int64"}
            }));
        }
    }
    for (name, description) in &op.query {
        parameters.push(json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": {"type": "string"}
        }));
    }
    let mut ok = json!({"description": "success"});
    if let Some((schema, media)) = &op.response {
        ok["content"] = json!({ *media: {"schema": schema} });
    }
    let mut responses = Map::new();
    responses.insert(op.status.to_string(), ok);
    responses.insert("4XX".into(), error_response("refused; `code` says why"));
    let mut o = json!({
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": parameters,
        "responses": responses,
    });
    if let Some((schema, media)) = &op.body {
        o["requestBody"] = json!({
            "required": op.operation_id != "start_project",
            "content": { *media: {"schema": schema} }
        });
    }
    o["security"] = if op.public {
        json!([])
    } else {
        json!([{"session": []}, {"token": []}])
    };
    o
}

/// The document of every route [`super::routes::configure`] adds.
pub fn document() -> Value {
    let mut routes = Routes::new(None);
    super::routes::configure(&mut routes);
    let (ops, mut schemas) = routes.finish();
    schemas.insert(
        "Error".into(),
        json!({
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable: not_found, forbidden, invalid, conflict, unauthenticated, bad_token, bad_credentials, csrf, throttled, bad_request, busy, not_stoppable, internal"},
                "message": {"type": "string"},
                "field": {"type": ["string", "null"], "description": "the field at fault"}
            }
        }),
    );
    let mut paths = Map::new();
    for op in &ops {
        let entry = paths
            .entry(op.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method.as_str().to_ascii_lowercase()] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Vespene",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The REST API of Vespene, a self-hosted build and deploy server. \
                Authenticate with a session (POST /api/v1/login; send the session's CSRF \
                token in X-CSRF-Token on every state-changing request) or with \
                'Authorization: Bearer <token>'."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": super::session::COOKIE},
                "token": {"type": "http", "scheme": "bearer"}
            }
        }
    })
}
