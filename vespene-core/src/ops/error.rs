//! The errors of core operations, each naming the object and the reason.
//! The web layer maps them to stable codes (404, 403, 422, 409, 500).

use crate::db::DbError;
use crate::secrets::SecretsError;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// No such object (or one the actor may not see).
    #[error("{object} {key} does not exist")]
    NotFound { object: &'static str, key: String },
    /// The actor may not do this.
    #[error("permission denied: {reason}")]
    Denied { reason: String },
    /// A field's value is not acceptable.
    #[error("{object}: {field}: {reason}")]
    Invalid {
        object: &'static str,
        field: String,
        reason: String,
    },
    /// A duplicate name, or a delete refused because others use the object.
    #[error("{object}: {reason}")]
    Conflict {
        object: &'static str,
        reason: String,
    },
    /// A secret could not be stored or read.
    #[error(transparent)]
    Secrets(SecretsError),
    /// The database failed (not the user's mistake).
    #[error("{0}")]
    Database(String),
}

impl From<DbError> for OpError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound { object, key } => OpError::NotFound { object, key },
            DbError::Invalid {
                object,
                field,
                reason,
            } => OpError::Invalid {
                object,
                field,
                reason,
            },
            DbError::Conflict { object, reason } => OpError::Conflict { object, reason },
            DbError::Secrets(s) => OpError::Secrets(s),
            other => {
                tracing::error!("database failure: {other}");
                OpError::Database(other.to_string())
            }
        }
    }
}

impl From<crate::authz::Denied> for OpError {
    fn from(d: crate::authz::Denied) -> Self {
        OpError::Denied { reason: d.reason }
    }
}
