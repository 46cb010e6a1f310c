//! `POST /api/v1/organizations/{id}/import`: imports the organization now
//! and answers with what the import did, as `vespene import ORG` does (the
//! same operation, `vespene_core::ops::import`). 409 when another process
//! is importing it.

use crate::http::auth::Caller;
use crate::http::errors::{ApiError, blocking};
use crate::http::routes::{Op, Routes};
use crate::http::state::State;
use actix_web::web;
use vespene_core::ops::import::{ImportResult, import_organization};

async fn import(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<ImportResult>, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    Ok(web::Json(
        blocking(move || import_organization(&app, &caller.actor, &id.to_string())).await?,
    ))
}

pub fn add(r: &mut Routes<'_>) {
    let result = r.schema::<ImportResult>();
    r.add(
        Op::post("/api/v1/organizations/{id}/import", "organizations")
            .id(
                "import_organization",
                "Import the organization's repositories now; answers when the import has ended",
            )
            .returns(result),
        import,
    );
}
