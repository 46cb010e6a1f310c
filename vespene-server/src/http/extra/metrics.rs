//! `GET /metrics`: Prometheus text format, no login (as `/healthz`);
//! `[server] metrics = false` turns it off (404). The numbers are core's
//! ([`vespene_core::ops::metrics`]); the server adds its live followers.

use super::super::routes::{Op, Routes};
use super::super::state::State;
use actix_web::{HttpResponse, web};
use std::fmt::Write;
use vespene_core::ops::metrics::{family, gather};

async fn metrics(state: web::Data<State>) -> HttpResponse {
    if !state.app.settings.server.metrics {
        return HttpResponse::NotFound()
            .content_type("text/plain")
            .body("metrics are turned off ([server] metrics = false)\n");
    }
    let app = state.app.clone();
    match web::block(move || gather(&app)).await {
        Ok(Ok(m)) => {
            let mut text = m.exposition();
            family(
                &mut text,
                "vespene_live_followers",
                "gauge",
                "Live output streams (server-sent events) open on this server.",
            );
            let _ = writeln!(text, "vespene_live_followers {}", state.hub.following());
            HttpResponse::Ok()
                .content_type("text/plain; version=0.0.4; charset=utf-8")
                .body(text)
        }
        Ok(Err(e)) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("metrics unavailable: {e}\n")),
        Err(_) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("metrics unavailable: the server is overloaded\n"),
    }
}

pub fn add(r: &mut Routes<'_>) {
    r.add(
        Op::get("/metrics", "meta")
            .id(
                "metrics",
                "Prometheus text: builds by status, queue depth, build durations, workers, plugin calls",
            )
            .public()
            .returns_as(serde_json::json!({"type": "string"}), "text/plain"),
        metrics,
    );
}
