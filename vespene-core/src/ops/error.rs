//! The errors of core operations, each naming the object and the reason.
//! The web layer maps them to stable codes (404, 403, 422, 409, 500).
//! Every part that can echo a user's value is cut by [`shorten`] when the
//! error is shown, so no door (CLI, HTTP, apply) prints a huge value whole.

use crate::db::DbError;
use crate::secrets::SecretsError;

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// No such object (or one the actor may not see).
    #[error("{object} {} does not exist", shorten(.key))]
    NotFound { object: &'static str, key: String },
    /// The actor may not do this.
    #[error("permission denied: {}", shorten(.reason))]
    Denied { reason: String },
    /// A field's value is not acceptable.
    #[error("{object}: {}: {}", shorten(.field), shorten(.reason))]
    Invalid {
        object: &'static str,
        field: String,
        reason: String,
    },
    /// A duplicate name, or a delete refused because others use the object.
    #[error("{object}: {}", shorten(.reason))]
    Conflict {
        object: &'static str,
        reason: String,
    },
    /// A secret could not be stored or read.
    #[error(transparent)]
    Secrets(SecretsError),
    /// The database failed (not the user's mistake).
    #[error("{}", shorten(.0))]
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
    shorten_to(text, ECHO_LIMIT)
}

/// `text` cut to `limit` characters, saying how long it was.
pub fn shorten_to(text: &str, limit: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(limit) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}… ({} characters in all)",
            &text[..cut],
            text.chars().count()
        )),
    }
}

/// A parser's message with each quoted part (between `` ` `` or `"`, as
/// serde quotes a key or a value) cut by [`shorten`], the rest kept: the
/// list of expected fields stays whole, a huge key or value does not.
pub fn shorten_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * ECHO_LIMIT));
    let mut rest = text;
    while let Some(open) = rest.find(['`', '"']) {
        let quote = rest[open..].chars().next().unwrap_or('"');
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        match after.find(quote) {
            Some(close) => {
                out.push_str(&shorten(&after[..close]));
                out.push(quote);
                rest = &after[close + 1..];
            }
            None => {
                out.push_str(&shorten(after));
                return out;
            }
        }
    }
    out.push_str(rest);
    out
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
        let quoted = shorten_quoted(&format!("unknown field `{huge}`, expected `name`"));
        assert!(quoted.len() < 300, "{} bytes", quoted.len());
        assert!(quoted.ends_with("in all)`, expected `name`"), "{quoted}");
        assert_eq!(shorten_quoted("a \"b\" `c"), "a \"b\" `c");
        let multibyte = "é".repeat(300);
        assert_eq!(
            shorten(&multibyte).chars().filter(|c| *c == 'é').count(),
            ECHO_LIMIT
        );
    }
}
