//! `POST /webhooks` (reference §8.3, Decisions 10): one URL for every
//! project. A delivery from GitHub, GitLab or Gitea starts each
//! webhook-enabled project whose repository URL is one the payload names,
//! when its `?token=` (the original's check) and its webhook secret (the
//! forge's signature or token) agree and the pushed branch or tag is the
//! project's. Unlike the original, a branch containing `/` matches, a
//! deleted branch builds nothing, and a project may opt in to building the
//! pushed branch and commit (original issue #84) instead of its branch tip.
//!
//! The HTTP handler and `vespene webhook test` only carry bytes here.

pub mod delivery;
pub mod sample;
pub mod settings;
pub mod verify;

use crate::app::App;
use crate::authz::Actor;
use crate::db::DbError;
use crate::db::webhooks::{self as store, HookedProject};
use crate::engine::EngineError;
use crate::engine::queue::{StartRequest, start_project_on};
use crate::engine::wake::Notify;
use delivery::{Event, Forge, Push, Ref};

/// A delivery as received.
pub struct Incoming<'a> {
    /// A header's value by lowercase name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The raw body (signatures are over these bytes).
    pub body: &'a [u8],
    /// The `token` query parameter.
    pub token: Option<&'a str>,
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A ping, answered.
    Pong(Forge),
    /// Builds queued: (project name, build id).
    Started(Vec<(String, i64)>),
    /// Nothing to do, and why (no matching project, other branch, deletion).
    Ignored(String),
}

impl Outcome {
    /// The one-line answer.
    pub fn message(&self) -> String {
        match self {
            Outcome::Pong(f) => format!("pong: {} webhook received", f.name()),
            Outcome::Started(started) => {
                let list: Vec<String> = started
                    .iter()
                    .map(|(p, b)| format!("build {b} of project '{p}'"))
                    .collect();
                format!("ok: queued {}", list.join(", "))
            }
            Outcome::Ignored(why) => format!("ok: nothing queued: {why}"),
        }
    }
}

/// Why a delivery was refused (nothing was queued).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Not a delivery understood here (bad JSON, unknown event, no header).
    #[error("{0}")]
    Invalid(String),
    /// Every matching project refused its token or signature.
    #[error("{0}")]
    Refused(String),
    /// The server failed (database, plugins).
    #[error("{0}")]
    Server(String),
}

impl From<DbError> for WebhookError {
    fn from(e: DbError) -> Self {
        WebhookError::Server(e.to_string())
    }
}

/// Handles one delivery.
pub fn receive(app: &App, incoming: &Incoming<'_>) -> Result<Outcome, WebhookError> {
    let (forge, event) = delivery::forge_event(incoming.header).map_err(WebhookError::Invalid)?;
    let push = match delivery::parse(forge, &event, incoming.body).map_err(WebhookError::Invalid)? {
        Event::Ping => return Ok(Outcome::Pong(forge)),
        Event::Push(push) => push,
    };
    let mut conn = app.db.conn()?;
    let candidates = store::hooked_projects(&mut conn, &push.repo_urls)?;
    if candidates.is_empty() {
        return Ok(Outcome::Ignored(format!(
            "no webhook-enabled project has repository URL {}",
            quoted(&push.repo_urls)
        )));
    }
    let mut refused = Vec::new();
    let mut skipped = Vec::new();
    let mut started = Vec::new();
    for project in &candidates {
        if let Err(why) = admit(app, forge, project, incoming) {
            refused.push(format!("project '{}': {why}", project.name));
            continue;
        }
        if let Some(why) = skip_reason(project, &push) {
            skipped.push(format!("project '{}': {why}", project.name));
            continue;
        }
        match start(app, &mut conn, project, &push) {
            Ok(build) => started.push((project.name.clone(), build)),
            Err(EngineError::Busy(why)) => skipped.push(why),
            Err(e) => return Err(WebhookError::Server(e.to_string())),
        }
    }
    if !started.is_empty() {
        Ok(Outcome::Started(started))
    } else if !refused.is_empty() {
        Err(WebhookError::Refused(refused.join("; ")))
    } else {
        Ok(Outcome::Ignored(skipped.join("; ")))
    }
}

fn quoted(urls: &[String]) -> String {
    if urls.is_empty() {
        return "(the payload names none)".into();
    }
    urls.iter()
        .map(|u| format!("'{u}'"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The original's `?token=` check, then the forge's signature when the
/// project has a webhook secret.
fn admit(
    app: &App,
    forge: Forge,
    project: &HookedProject,
    incoming: &Incoming<'_>,
) -> Result<(), String> {
    if !project.token.is_empty() {
        let token = app
            .ops
            .secrets()
            .decloak(&project.token)
            .map_err(|e| format!("its webhook token cannot be read: {e}"))?;
        match incoming.token {
            Some(given) if verify::same_secret(given, &token) => {}
            Some(_) => return Err("the ?token= does not match the project's webhook token".into()),
            None => return Err("the project needs ?token= in the webhook URL".into()),
        }
    }
    if !project.secret.is_empty() {
        let secret = app
            .ops
            .secrets()
            .decloak(&project.secret)
            .map_err(|e| format!("its webhook secret cannot be read: {e}"))?;
        verify::check(forge, &secret, incoming.body, incoming.header)?;
    }
    Ok(())
}

/// Why a push builds nothing for `project` (deletion, another branch).
fn skip_reason(project: &HookedProject, push: &Push) -> Option<String> {
    if push.deleted {
        return Some(format!("'{}' was deleted", push.git_ref.name()));
    }
    // A tag is compared with the branch by name, as the original did.
    let name = push.git_ref.name();
    if !project.repo_branch.is_empty() && !project.build_pushed && project.repo_branch != name {
        let what = match push.git_ref {
            Ref::Branch(_) => "branch",
            Ref::Tag(_) => "tag",
        };
        return Some(format!(
            "pushed {what} '{name}' is not its branch '{}'",
            project.repo_branch
        ));
    }
    None
}

/// Queues a build of `project` as the system, recording the pushed branch
/// and commit when the project builds them; wakes its pool after commit.
fn start(
    app: &App,
    conn: &mut crate::db::DbConn,
    project: &HookedProject,
    push: &Push,
) -> Result<i64, EngineError> {
    let started = crate::db::write_tx(conn, |conn| {
        let started = start_project_on(
            app,
            conn,
            &Actor::System,
            project.id,
            &StartRequest {
                unattended: true,
                ..StartRequest::default()
            },
        )?;
        if project.build_pushed && started.failed.is_none() && !push.after.is_empty() {
            store::set_request(conn, started.build.id, push.git_ref.name(), &push.after)?;
        }
        Ok::<_, EngineError>(started)
    })?;
    if let Ok(pool) = crate::engine::context::pool_name(conn, started.build.worker_pool_id) {
        app.waker.notify(&pool);
    }
    Ok(started.build.id)
}
