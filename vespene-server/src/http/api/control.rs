//! Starting a project (with launch answers) and stopping its active build:
//! the original's start button, start prompt and `project_control`.

use crate::http::auth::Caller;
use crate::http::errors::{ApiError, blocking};
use crate::http::routes::{Op, Routes};
use crate::http::state::State;
use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::ops::Build;

/// What to start a project with.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StartBody {
    /// Answers to the project's launch questions, by variable name.
    pub answers: serde_json::Map<String, serde_json::Value>,
}

/// The build a start queued.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StartedBody {
    pub build: Build,
    /// Why the build failed at once (a template or variables error).
    pub error: Option<String>,
}

async fn start(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
    body: Option<web::Json<StartBody>>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    let request = StartRequest {
        launch_answers: body.map(|b| b.into_inner().answers).unwrap_or_default(),
        ..StartRequest::default()
    };
    let started = blocking(move || start_project(&app, &caller.actor, id, &request)).await?;
    Ok(HttpResponse::Created().json(StartedBody {
        build: started.build,
        error: started.failed,
    }))
}

async fn stop(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Build>, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    Ok(web::Json(
        blocking(move || vespene_core::ops::stop_project(&app, &caller.actor, id)).await?,
    ))
}

pub fn add(r: &mut Routes<'_>) {
    let (body, started, build) = (
        r.schema::<StartBody>(),
        r.schema::<StartedBody>(),
        r.schema::<Build>(),
    );
    r.add(
        Op::post("/api/v1/projects/{id}/start", "projects")
            .id(
                "start_project",
                "Queue a build of the project (body optional)",
            )
            .body(body)
            .returns(started)
            .status(201),
        start,
    );
    r.add(
        Op::post("/api/v1/projects/{id}/stop", "projects")
            .id("stop_project", "Stop the project's active build")
            .returns(build),
        stop,
    );
}
