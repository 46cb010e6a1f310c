//! `GET /healthz`: 200 `ok` when the server reaches its database, else
//! 503 with the reason (for load balancers and service monitors).

use super::super::routes::{Op, Routes};
use super::super::state::State;
use actix_web::{HttpResponse, web};

async fn healthz(state: web::Data<State>) -> HttpResponse {
    match web::block(move || vespene_core::ops::health::check(&state.app)).await {
        Ok(Ok(())) => HttpResponse::Ok().content_type("text/plain").body("ok\n"),
        Ok(Err(why)) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("unhealthy: {why}\n")),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("unhealthy: the server is overloaded\n"),
    }
}

pub fn add(r: &mut Routes<'_>) {
    r.add(
        Op::get("/healthz", "meta")
            .id(
                "healthz",
                "200 ok when the server reaches its database, else 503",
            )
            .public()
            .returns_as(serde_json::json!({"type": "string"}), "text/plain"),
        healthz,
    );
}
