//! The errors of the database layer. User mistakes (a missing object, a bad
//! field, a duplicate name, a refused delete) are typed and name the object
//! and the reason; only genuine database failures carry diesel's error.

use crate::secrets::SecretsError;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No such object.
    #[error("{object} {key} does not exist")]
    NotFound {
        /// The noun (`project`, `worker pool` …).
        object: &'static str,
        /// How it was asked for (`#12`, `'name'`).
        key: String,
    },
    /// A field's value is not acceptable.
    #[error("{object}: {field}: {reason}")]
    Invalid {
        object: &'static str,
        field: String,
        reason: String,
    },
    /// The change conflicts with what is stored (a duplicate name, a
    /// delete refused because others refer to the object).
    #[error("{object}: {reason}")]
    Conflict {
        object: &'static str,
        reason: String,
    },
    /// A secret could not be encrypted or decrypted.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    /// The database URL cannot be used.
    #[error("database URL: {0}")]
    Url(String),
    /// The database cannot be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// Any other database failure.
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
}

impl DbError {
    pub(crate) fn not_found(object: &'static str, id: i64) -> DbError {
        DbError::NotFound {
            object,
            key: format!("#{id}"),
        }
    }

    pub(crate) fn invalid(
        object: &'static str,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> DbError {
        DbError::Invalid {
            object,
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn conflict(object: &'static str, reason: impl Into<String>) -> DbError {
        DbError::Conflict {
            object,
            reason: reason.into(),
        }
    }
}
