//! The one error type of the HTTP layer: a status, a stable `code`, a
//! one-line message and, when one field is at fault, its name. Every
//! refusal of the API is this JSON object:
//! `{"code": "invalid", "message": "project: name: is required", "field": "name"}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use vespene_core::engine::EngineError;
use vespene_core::ops::{OpError, shorten, shorten_quoted, shorten_to};

/// A refused or failed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    /// Stable, machine-readable: `not_found`, `forbidden`, `invalid`,
    /// `conflict`, `unauthenticated`, `bad_credentials`, `csrf`,
    /// `throttled`, `bad_request`, `busy`, `not_stoppable`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds until a throttled request may be retried.
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "bad_request", message)
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            401,
            "unauthenticated",
            "log in first (a session cookie) or send 'Authorization: Bearer <token>'",
        )
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, "internal", message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after {
            response.insert_header(("Retry-After", secs.to_string()));
        }
        response.json(self)
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound { .. } => ApiError::new(404, "not_found", e.to_string()),
            OpError::Denied { .. } => ApiError::new(403, "forbidden", e.to_string()),
            OpError::Invalid { ref field, .. } => {
                let field = shorten(field).into_owned();
                ApiError::new(422, "invalid", e.to_string()).with_field(field)
            }
            OpError::Conflict { .. } => ApiError::new(409, "conflict", e.to_string()),
            // Details stay in the server's log (OpError logged them).
            OpError::Secrets(_) | OpError::Database(_) => {
                tracing::error!("request failed: {e}");
                ApiError::internal("the server could not complete the request; see its log")
            }
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Op(op) => op.into(),
            EngineError::Database(db) => OpError::from(db).into(),
            EngineError::Busy(m) => ApiError::new(409, "busy", m),
            EngineError::NotStoppable(m) => ApiError::new(409, "not_stoppable", m),
            EngineError::Worker(m) => ApiError::internal(m),
        }
    }
}

impl From<vespene_core::db::DbError> for ApiError {
    fn from(e: vespene_core::db::DbError) -> Self {
        OpError::from(e).into()
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        ApiError::internal("the server is shutting down")
    }
}

/// Runs blocking core work (database, plugins) off the async workers.
pub async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    actix_web::web::block(f).await?.map_err(Into::into)
}

/// JSON, query and path extractors answer with [`ApiError`] too.
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(4 * 1024 * 1024)
        .error_handler(|e, _| {
            let message = match &e {
                actix_web::error::JsonPayloadError::Deserialize(d) if d.is_data() => {
                    let text = d.to_string();
                    let field = unknown_field(&text);
                    let err = ApiError::new(
                        422,
                        "invalid",
                        format!("request body: {}", shorten_to(&shorten_quoted(&text), 1000)),
                    );
                    return match field {
                        Some(f) => err.with_field(f),
                        None => err,
                    }
                    .into();
                }
                other => format!(
                    "request body: {}",
                    shorten_to(&shorten_quoted(&other.to_string()), 1000)
                ),
            };
            ApiError::bad_request(message).into()
        })
}

/// The field serde names in "unknown field `x`" or "missing field `x`".
fn unknown_field(text: &str) -> Option<String> {
    for prefix in ["unknown field `", "missing field `"] {
        if let Some(rest) = text.split(prefix).nth(1) {
            return rest.split('`').next().map(|f| shorten(f).into_owned());
        }
    }
    None
}

pub fn path_config() -> actix_web::web::PathConfig {
    actix_web::web::PathConfig::default().error_handler(|e, _| {
        ApiError::new(
            404,
            "not_found",
            format!("no such object: {}", shorten(&e.to_string())),
        )
        .into()
    })
}

pub fn query_config() -> actix_web::web::QueryConfig {
    actix_web::web::QueryConfig::default().error_handler(|e, _| {
        ApiError::bad_request(format!("query string: {}", shorten(&e.to_string()))).into()
    })
}

/// Unknown paths answer JSON too.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        404,
        "not_found",
        format!("no route for {} {}", req.method(), req.path()),
    ))
}
