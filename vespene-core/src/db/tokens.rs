//! Personal API tokens, as stored: a SHA-256 digest of the token, never the
//! token. [`crate::accounts`] makes and checks them.

use super::schema::api_tokens::{self, dsl as t};
use super::{DbConn, DbError, now};
use chrono::NaiveDateTime;
use diesel::prelude::*;

/// A stored token (without its secret).
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_tokens)]
pub struct ApiToken {
    pub id: i64,
    pub user_id: i64,
    /// What the user called it.
    pub name: String,
    /// The first characters of the token, to recognise it in a list.
    pub token_prefix: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = super::stamp::OptStamp)]
    pub last_used_at: Option<NaiveDateTime>,
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiToken")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("name", &self.name)
            .field("token_prefix", &self.token_prefix)
            .field("created_at", &self.created_at)
            .field("last_used_at", &self.last_used_at)
            .finish_non_exhaustive()
    }
}

/// Stores a token digest; returns the row id.
pub fn insert(
    conn: &mut DbConn,
    user_id: i64,
    name: &str,
    token_prefix: &str,
    token_hash: &str,
) -> Result<i64, DbError> {
    Ok(diesel::insert_into(t::api_tokens)
        .values((
            t::user_id.eq(user_id),
            t::name.eq(name),
            t::token_prefix.eq(token_prefix),
            t::token_hash.eq(token_hash),
            t::created_at.eq(now()),
        ))
        .returning(t::id)
        .get_result(conn)?)
}

/// The token with this digest.
pub fn find_by_hash(conn: &mut DbConn, token_hash: &str) -> Result<Option<ApiToken>, DbError> {
    Ok(t::api_tokens
        .filter(t::token_hash.eq(token_hash))
        .select(ApiToken::as_select())
        .first(conn)
        .optional()?)
}

/// Records a use of token `id`.
pub fn touch(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    diesel::update(t::api_tokens.find(id))
        .set(t::last_used_at.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// The tokens of a user, newest first.
pub fn of_user(conn: &mut DbConn, user_id: i64) -> Result<Vec<ApiToken>, DbError> {
    Ok(t::api_tokens
        .filter(t::user_id.eq(user_id))
        .select(ApiToken::as_select())
        .order(t::id.desc())
        .load(conn)?)
}

/// Deletes token `id` of user `user_id`; false when there was none.
pub fn delete(conn: &mut DbConn, user_id: i64, id: i64) -> Result<bool, DbError> {
    Ok(diesel::delete(
        t::api_tokens
            .filter(t::id.eq(id))
            .filter(t::user_id.eq(user_id)),
    )
    .execute(conn)?
        > 0)
}
