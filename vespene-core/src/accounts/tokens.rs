//! Personal API tokens: `vsp_` followed by 43 characters of URL-safe
//! base64 (32 random bytes). The token is shown once, when it is made; the
//! database keeps its SHA-256 (the token has 256 bits of entropy, so a fast
//! hash is enough) and its first characters to recognise it in a list.

use crate::db::tokens::{self as rows, ApiToken};
use crate::db::{Db, DbError, now};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use vespene_plugin_api::UserInfo;

/// Every token starts with this (secret scanners can look for it).
pub const TOKEN_PREFIX: &str = "vsp_";

/// How many characters of a token are stored in clear to recognise it.
const SHOWN: usize = 12;

/// A token just made: `token` is shown once and never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct NewToken {
    pub id: i64,
    pub token: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

fn digest(token: &str) -> String {
    let hash = Sha256::digest(token.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a token named `name` for user `user_id`.
pub fn create_token(db: &Db, user_id: i64, name: &str) -> Result<NewToken, DbError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(DbError::Invalid {
            object: "api token",
            field: "name".into(),
            reason: "is required".into(),
        });
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| DbError::Invalid {
        object: "api token",
        field: "token".into(),
        reason: format!("no random bytes: {e}"),
    })?;
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let mut conn = db.conn()?;
    // NotFound for a user that does not exist.
    crate::db::users::is_active(&mut conn, user_id)?;
    let id = rows::insert(&mut conn, user_id, name, &token[..SHOWN], &digest(&token))?;
    Ok(NewToken { id, token })
}

/// The active user a token belongs to, with the token's record; `None`
/// for an unknown or revoked token or an inactive user.
pub fn lookup_token(db: &Db, token: &str) -> Result<Option<(UserInfo, ApiToken)>, DbError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let mut conn = db.conn()?;
    let Some(row) = rows::find_by_hash(&mut conn, &digest(token))? else {
        return Ok(None);
    };
    let Some(user) = crate::accounts::active_user_info(&mut conn, row.user_id)? else {
        return Ok(None);
    };
    // Record use at most once a minute: a write per API request would
    // serialize requests on SQLite.
    let stale = row
        .last_used_at
        .is_none_or(|t| now() - t > chrono::Duration::seconds(60));
    if stale {
        rows::touch(&mut conn, row.id)?;
    }
    Ok(Some((user, row)))
}

/// Deletes token `id` of user `user_id`; false when there was none.
pub fn revoke_token(db: &Db, user_id: i64, id: i64) -> Result<bool, DbError> {
    rows::delete(&mut *db.conn()?, user_id, id)
}

/// The tokens of user `user_id` (without secrets), newest first.
pub fn list_tokens(db: &Db, user_id: i64) -> Result<Vec<ApiToken>, DbError> {
    rows::of_user(&mut *db.conn()?, user_id)
}
