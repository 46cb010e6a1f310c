//! The REST API under `/api/v1`: sessions, every stored object kind,
//! builds, project start and stop, tokens, configuration as code, and the
//! OpenAPI document describing all of it.

mod builds;
mod config;
mod control;
mod import;
pub mod query;
pub mod resources;
mod tokens;

use super::auth;
use super::routes::{Op, Routes};
use super::state::State;
use actix_web::web;
use vespene_core::ops::*;

async fn openapi(state: web::Data<State>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}

pub fn configure(r: &mut Routes<'_>) {
    let (login_form, session_info) = (
        r.schema::<auth::LoginForm>(),
        r.schema::<auth::SessionInfo>(),
    );
    r.add(
        Op::post("/api/v1/login", "session")
            .id(
                "login",
                "Log in (JSON or a form); sets the session cookie and returns the CSRF token",
            )
            .public()
            .body(login_form)
            .returns(session_info.clone()),
        auth::login,
    );
    r.add(
        Op::post("/api/v1/logout", "session")
            .id("logout", "End the session")
            .status(204),
        auth::logout,
    );
    r.add(
        Op::get("/api/v1/session", "session")
            .id("session", "Who you are, and your session's CSRF token")
            .returns(session_info),
        auth::session,
    );
    resources::add::<Projects>(r);
    control::add(r);
    builds::add(r);
    resources::add::<Pipelines>(r);
    resources::add::<Stages>(r);
    resources::add::<Snippets>(r);
    resources::add::<VariableSets>(r);
    resources::add::<SshKeys>(r);
    resources::add::<ServiceLogins>(r);
    resources::add::<WorkerPools>(r);
    resources::add::<Organizations>(r);
    import::add(r);
    resources::add::<Users>(r);
    resources::add::<Groups>(r);
    tokens::add(r);
    config::add(r);
    let doc = serde_json::json!({"type": "object"});
    r.add(
        Op::get("/api/v1/openapi.json", "meta")
            .id("openapi", "This document")
            .public()
            .returns(doc),
        openapi,
    );
}
