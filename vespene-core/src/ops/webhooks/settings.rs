//! A project's webhook settings (`vespene webhook show|set`): its delivery
//! secret, cloaked at rest by the secrets plugins, and whether webhooks
//! build the pushed branch and commit.

use crate::app::App;
use crate::authz::Actor;
use crate::db::webhooks as store;
use crate::ops::OpError;
use vespene_plugin_api::kinds::authorization::Action;

/// What `show` tells (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookSettings {
    pub project: String,
    pub enabled: bool,
    pub repo_url: String,
    pub branch: String,
    pub has_token: bool,
    pub has_secret: bool,
    pub build_pushed: bool,
}

/// A change: `None` keeps the stored value; `Some("")` removes the secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SettingsChange {
    pub secret: Option<String>,
    pub build_pushed: Option<bool>,
}

/// The webhook settings of project `id`, for an actor who may view it.
pub fn show(app: &App, actor: &Actor, id: i64) -> Result<WebhookSettings, OpError> {
    let detail = app.ops.projects().get(actor, id)?;
    let p = detail.project;
    let mut conn = app.db.conn()?;
    let (secret, build_pushed) = store::settings(&mut conn, id)?;
    Ok(WebhookSettings {
        project: p.name,
        enabled: p.webhook_enabled,
        repo_url: p.repo_url,
        branch: p.repo_branch,
        has_token: !p.webhook_token.is_empty(),
        has_secret: !secret.is_empty(),
        build_pushed,
    })
}

/// Changes the webhook settings of project `id`, for an actor who may edit it.
pub fn set(
    app: &App,
    actor: &Actor,
    id: i64,
    change: &SettingsChange,
) -> Result<WebhookSettings, OpError> {
    if !app.ops.projects().can(actor, Action::Edit, Some(id))? {
        return Err(OpError::Denied {
            reason: format!("{} may not edit project {id}", actor_name(actor)),
        });
    }
    let mut conn = app.db.conn()?;
    let (mut secret, mut build_pushed) = store::settings(&mut conn, id)?;
    if let Some(new) = &change.secret {
        let new = new.trim();
        if new.len() > 1024 {
            return Err(OpError::Invalid {
                object: "project webhook",
                field: "secret".into(),
                reason: "is longer than 1024 bytes".into(),
            });
        }
        secret = app.ops.secrets().cloak(new).map_err(OpError::Secrets)?;
    }
    if let Some(b) = change.build_pushed {
        build_pushed = b;
    }
    store::set_settings(&mut conn, id, &secret, build_pushed)?;
    show(app, actor, id)
}

fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::User(u) => format!("user '{}'", u.username),
        Actor::Anonymous => "an anonymous user".into(),
        Actor::System => "the system".into(),
    }
}
