//! `POST /webhooks`: carries a forge's delivery (headers, raw body,
//! `?token=`) to `vespene_core::ops::webhooks` and answers its one line as
//! text: 200 when handled (queued, pong or nothing to do), 400 for a
//! delivery that is not understood, 403 when every matching project
//! refused its token or signature.

use super::super::routes::{Op, Routes};
use super::super::state::State;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::HashMap;
use vespene_core::ops::webhooks::{Incoming, WebhookError, receive};

async fn deliver(
    state: web::Data<State>,
    req: HttpRequest,
    query: web::Query<HashMap<String, String>>,
    body: web::Bytes,
) -> HttpResponse {
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_ascii_lowercase(),
                v.to_str().ok()?.to_string(),
            ))
        })
        .collect();
    let token = query.get("token").filter(|t| !t.is_empty()).cloned();
    let answer = web::block(move || {
        let header = |name: &str| headers.get(name).cloned();
        let incoming = Incoming {
            header: &header,
            body: &body,
            token: token.as_deref(),
        };
        receive(&state.app, &incoming)
    })
    .await;
    let (status, line) = match answer {
        Ok(Ok(outcome)) => (200, outcome.message()),
        Ok(Err(WebhookError::Invalid(why))) => (400, format!("webhook refused: {why}")),
        Ok(Err(WebhookError::Refused(why))) => (403, format!("webhook refused: {why}")),
        Ok(Err(WebhookError::Server(why))) => {
            tracing::error!("webhook delivery failed: {why}");
            (
                503,
                "webhook not processed: the server could not reach its database; retry later"
                    .into(),
            )
        }
        Err(e) => {
            tracing::error!("webhook delivery failed: {e}");
            (
                503,
                "webhook not processed: the server is overloaded; retry later".into(),
            )
        }
    };
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type("text/plain; charset=utf-8")
        .body(line + "\n")
}

pub fn add(r: &mut Routes<'_>) {
    r.add(
        Op::post("/webhooks", "webhooks")
            .id(
                "webhook",
                "A GitHub, GitLab or Gitea push, tag push or ping; starts matching projects",
            )
            .public()
            .query("token", "the project's webhook token, when it has one")
            .body_as(serde_json::json!({"type": "object"}), "application/json")
            .returns_as(serde_json::json!({"type": "string"}), "text/plain"),
        deliver,
    );
}
