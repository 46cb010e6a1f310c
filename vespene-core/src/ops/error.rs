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
            DbError::NotFound { object, key } => OpError::NotFound {
                object,
                key: shorten(&key).into_owned(),
            },
            DbError::Invalid {
                object,
                field,
                reason,
            } => OpError::Invalid {
                object,
                field: shorten(&field).into_owned(),
                reason: shorten(&reason).into_owned(),
            },
            DbError::Conflict { object, reason } => OpError::Conflict {
                object,
                reason: shorten(&reason).into_owned(),
            },
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

/// The most characters of a user's value an error echoes.
pub const ECHO_LIMIT: usize = 200;

/// `text` cut to [`ECHO_LIMIT`] characters, saying how long it was, so an
/// error never echoes a huge value whole (a 10 MiB field stays a one-line
/// error).
pub fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(ECHO_LIMIT) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}… ({} characters in all)",
            &text[..cut],
            text.chars().count()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_echo_at_most_the_limit() {
        assert_eq!(shorten("short"), "short");
        let huge = "x".repeat(10 << 20);
        let e: OpError =
            DbError::invalid("project", "name", format!("'{huge}' is too long")).into();
        let text = e.to_string();
        assert!(text.len() < 300, "{} bytes", text.len());
        assert!(text.contains("characters in all"), "{text}");
        let multibyte = "é".repeat(300);
        assert_eq!(
            shorten(&multibyte).chars().filter(|c| *c == 'é').count(),
            ECHO_LIMIT
        );
    }
}
