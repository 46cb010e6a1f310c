//! The caller's personal API tokens: list, make (the token is shown once,
//! in the answer), revoke.

use crate::http::auth::Caller;
use crate::http::errors::{ApiError, blocking};
use crate::http::routes::{Op, Routes};
use crate::http::state::State;
use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A stored token, without its secret.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    /// The first characters, to recognise it.
    pub token_prefix: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    pub name: String,
}

/// A token just made: `token` is never shown again.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NewTokenInfo {
    pub id: i64,
    pub name: String,
    pub token: String,
}

async fn list(
    state: web::Data<State>,
    caller: Caller,
) -> Result<web::Json<Vec<TokenInfo>>, ApiError> {
    let app = state.app.clone();
    let rows =
        blocking(move || vespene_core::accounts::list_tokens(&app.db, caller.user.id)).await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|t| TokenInfo {
                id: t.id,
                name: t.name,
                token_prefix: t.token_prefix,
                created_at: t.created_at,
                last_used_at: t.last_used_at,
            })
            .collect(),
    ))
}

async fn create(
    state: web::Data<State>,
    caller: Caller,
    body: web::Json<NewTokenBody>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let name = body.into_inner().name;
    let name2 = name.clone();
    let made =
        blocking(move || vespene_core::accounts::create_token(&app.db, caller.user.id, &name2))
            .await?;
    Ok(HttpResponse::Created().json(NewTokenInfo {
        id: made.id,
        name: name.trim().to_string(),
        token: made.token,
    }))
}

async fn revoke(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    let gone =
        blocking(move || vespene_core::accounts::revoke_token(&app.db, caller.user.id, id)).await?;
    if gone {
        state.actors.clear();
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::new(
            404,
            "not_found",
            format!("api token #{id} does not exist"),
        ))
    }
}

pub fn add(r: &mut Routes<'_>) {
    let (list_s, body, made) = (
        r.schema::<Vec<TokenInfo>>(),
        r.schema::<NewTokenBody>(),
        r.schema::<NewTokenInfo>(),
    );
    r.add(
        Op::get("/api/v1/tokens", "tokens")
            .id("list_tokens", "Your API tokens (without their secrets)")
            .returns(list_s),
        list,
    );
    r.add(
        Op::post("/api/v1/tokens", "tokens")
            .id(
                "create_token",
                "Make an API token (shown once, in this answer)",
            )
            .body(body)
            .returns(made)
            .status(201),
        create,
    );
    r.add(
        Op::delete("/api/v1/tokens/{id}", "tokens")
            .id("revoke_token", "Revoke one of your API tokens"),
        revoke,
    );
}
