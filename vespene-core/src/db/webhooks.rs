//! Webhook storage beyond the original's project fields: a project's
//! delivery secret and build-the-pushed-commit opt-in, and the branch and
//! commit a build was asked to check out.

use super::schema::build_requests::dsl as r;
use super::schema::project_webhooks::dsl as w;
use super::schema::projects::dsl as p;
use super::{DbConn, DbError};
use diesel::prelude::*;

/// A project the webhook endpoint may start: enabled, with its repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookedProject {
    pub id: i64,
    pub name: String,
    pub repo_url: String,
    pub repo_branch: String,
    /// The original's `?token=`, cloaked (empty: none asked).
    pub token: String,
    /// The delivery secret as stored (cloaked; empty: none set).
    pub secret: String,
    pub build_pushed: bool,
}

/// Webhook-enabled projects whose repository URL is one of `urls`.
pub fn hooked_projects(conn: &mut DbConn, urls: &[String]) -> Result<Vec<HookedProject>, DbError> {
    if urls.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(i64, String, String, String, String)> = p::projects
        .filter(p::webhook_enabled.eq(true))
        .filter(p::repo_url.eq_any(urls))
        .select((
            p::id,
            p::name,
            p::repo_url,
            p::repo_branch,
            p::webhook_token,
        ))
        .order(p::id)
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, name, repo_url, repo_branch, token) in rows {
        let (secret, build_pushed) = settings(conn, id)?;
        out.push(HookedProject {
            id,
            name,
            repo_url,
            repo_branch,
            token,
            secret,
            build_pushed,
        });
    }
    Ok(out)
}

/// A project's stored (cloaked) secret and opt-in; empty and off when unset.
pub fn settings(conn: &mut DbConn, project_id: i64) -> Result<(String, bool), DbError> {
    Ok(w::project_webhooks
        .find(project_id)
        .select((w::secret, w::build_pushed))
        .first(conn)
        .optional()?
        .unwrap_or_default())
}

/// Stores a project's webhook settings; `secret` is already cloaked.
pub fn set_settings(
    conn: &mut DbConn,
    project_id: i64,
    secret: &str,
    build_pushed: bool,
) -> Result<(), DbError> {
    super::write_tx(conn, |conn| {
        diesel::delete(w::project_webhooks.find(project_id)).execute(conn)?;
        diesel::insert_into(w::project_webhooks)
            .values((
                w::project_id.eq(project_id),
                w::secret.eq(secret),
                w::build_pushed.eq(build_pushed),
            ))
            .execute(conn)?;
        Ok::<_, diesel::result::Error>(())
    })?;
    Ok(())
}

/// Records that build `build_id` is to check out `branch` at `commit`.
pub fn set_request(
    conn: &mut DbConn,
    build_id: i64,
    branch: &str,
    commit: &str,
) -> Result<(), DbError> {
    diesel::insert_into(r::build_requests)
        .values((
            r::build_id.eq(build_id),
            r::branch.eq(branch),
            r::commit_id.eq(commit),
        ))
        .execute(conn)?;
    Ok(())
}

/// The branch and commit build `build_id` was asked for, if any.
pub fn request(conn: &mut DbConn, build_id: i64) -> Result<Option<(String, String)>, DbError> {
    Ok(r::build_requests
        .find(build_id)
        .select((r::branch, r::commit_id))
        .first(conn)
        .optional()?)
}
