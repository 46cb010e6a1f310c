//! What the REST API (and the command line as its client) needs beyond
//! the per-kind operations: stopping a project's active build, project
//! names for build lists, and configuration as code from a text sent
//! over the network.

use super::{OpError, Ops};
use crate::app::App;
use crate::authz::Actor;
use crate::config_as_code::{ApplyError, Document, FileReport, apply_document};
use crate::db::builds::Build;
use crate::engine::EngineError;
use std::collections::HashMap;
use std::path::Path;

/// Stops the active build of project `project_id` (the original's
/// `project_control stop`).
pub fn stop_project(app: &App, actor: &Actor, project_id: i64) -> Result<Build, EngineError> {
    let detail = app.ops.projects().get(actor, project_id)?;
    let Some(build) = detail.project.active_build_id else {
        return Err(EngineError::NotStoppable(format!(
            "project '{}' has no active build",
            detail.project.name
        )));
    };
    crate::engine::queue::stop_build(app, actor, build)
}

impl Ops {
    /// The names of the projects among `ids` (for build lists, whose rows
    /// the caller was already allowed to see).
    pub fn project_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>, OpError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let mut conn = self.db.conn()?;
        Ok(crate::db::projects::names(&mut conn, ids)?
            .into_iter()
            .collect())
    }
}

/// Applies a configuration-as-code document received over the network,
/// `name` naming it in messages. Secret sources (`*_file`, `*_env`) name
/// the server's files and environment, not the sender's, so they are
/// refused: secrets are set through the objects' REST endpoints.
pub fn apply_text(
    ops: &Ops,
    actor: &Actor,
    name: &str,
    text: &str,
) -> Result<FileReport, ApplyError> {
    let doc = Document::parse(Path::new(name), text)?;
    if let Some(field) = secret_source(&doc) {
        return Err(ApplyError {
            file: doc.path.clone(),
            object: None,
            field: Some(field.to_string()),
            reason: "secret sources (*_file, *_env) are read on the server, so they are \
                     refused over the API; set secrets through the REST API instead"
                .into(),
        });
    }
    apply_document(ops, actor, &doc)
}

fn secret_source(doc: &Document) -> Option<&'static str> {
    let s = &doc.spec;
    for k in &s.ssh_keys {
        if k.private_key_file.is_some() || k.private_key_env.is_some() {
            return Some("private_key_file");
        }
        if k.unlock_password_file.is_some() || k.unlock_password_env.is_some() {
            return Some("unlock_password_file");
        }
    }
    for l in &s.service_logins {
        if l.password_file.is_some() || l.password_env.is_some() {
            return Some("password_file");
        }
    }
    for p in &s.projects {
        if p.webhook_token_file.is_some() || p.webhook_token_env.is_some() {
            return Some("webhook_token_file");
        }
    }
    None
}
