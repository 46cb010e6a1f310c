//! Configuration as code over HTTP: `POST /api/v1/apply` (a YAML document,
//! all or nothing, as the caller) and `GET /api/v1/export` (what the
//! caller may see, as YAML, secrets left out).

use super::query::QueryArgs;
use crate::http::auth::Caller;
use crate::http::errors::{ApiError, blocking};
use crate::http::routes::{Op, Routes};
use crate::http::state::State;
use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::Serialize;
use vespene_core::config_as_code::{Kind, export};

/// What applying did.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApplyReport {
    /// `created`, `updated` or `unchanged`, with the object
    /// (`project 'web'`), in apply order.
    pub changes: Vec<ChangeInfo>,
    /// One line, as `vespene apply` prints it.
    pub summary: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangeInfo {
    pub outcome: String,
    pub object: String,
}

async fn apply(
    state: web::Data<State>,
    caller: Caller,
    query: web::Query<Vec<(String, String)>>,
    body: String,
) -> Result<web::Json<ApplyReport>, ApiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let name = q.text("file").unwrap_or_else(|| "request".into());
    q.finish()?;
    let app = state.app.clone();
    let report = blocking(move || {
        vespene_core::ops::apply_text(&app.ops, &caller.actor, &name, &body).map_err(|e| {
            let err = ApiError::new(
                422,
                "invalid",
                format!("{e}; nothing of this file was stored"),
            );
            match e.field {
                Some(f) => err.with_field(vespene_core::ops::shorten(&f).into_owned()),
                None => err,
            }
        })
    })
    .await?;
    Ok(web::Json(ApplyReport {
        summary: report.summary(),
        changes: report
            .changes
            .iter()
            .map(|c| ChangeInfo {
                outcome: c.outcome.as_str().into(),
                object: c.object.to_string(),
            })
            .collect(),
    }))
}

async fn export_yaml(
    state: web::Data<State>,
    caller: Caller,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let kinds = q
        .all("kind")
        .iter()
        .map(|k| {
            Kind::parse(k).ok_or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).collect();
                ApiError::bad_request(format!(
                    "query 'kind': unknown kind '{k}' (one of {})",
                    known.join(", ")
                ))
                .with_field("kind")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    q.finish()?;
    let app = state.app.clone();
    let text = blocking(move || {
        export(&app.ops, &caller.actor, &kinds).map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .body(text))
}

pub fn add(r: &mut Routes<'_>) {
    let yaml = serde_json::json!({"type": "string"});
    let report = r.schema::<ApplyReport>();
    r.add(
        Op::post("/api/v1/apply", "config")
            .id(
                "apply",
                "Create or update objects by name from a YAML document, all or nothing",
            )
            .query("file", "the document's name, for messages")
            .body_as(yaml.clone(), "application/yaml")
            .returns(report),
        apply,
    );
    r.add(
        Op::get("/api/v1/export", "config")
            .id(
                "export",
                "The objects you may see, as YAML (secrets left out)",
            )
            .query("kind", "only these kinds (repeat, or a comma list)")
            .returns_as(yaml, "application/yaml"),
        export_yaml,
    );
}
