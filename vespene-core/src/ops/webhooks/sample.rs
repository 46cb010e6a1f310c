//! `vespene webhook test PROJECT`: a sample GitHub push for a project's
//! repository and branch, with its `?token=` and signed with its secret,
//! as the original's test_webhook sent one to its own server.

use crate::app::App;
use crate::authz::Actor;
use crate::db::webhooks as store;
use crate::ops::OpError;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A request to send to `POST /webhooks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleDelivery {
    /// `/webhooks` with `?token=` when the project has one.
    pub path_and_query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The sample push for project `id` (the actor must be able to see it).
pub fn sample_push(app: &App, actor: &Actor, id: i64) -> Result<SampleDelivery, OpError> {
    let project = app.ops.projects().get(actor, id)?.project;
    if project.repo_url.is_empty() {
        return Err(OpError::Invalid {
            object: "project",
            field: "repo_url".into(),
            reason: format!(
                "project '{}' has no repository URL, so no webhook can match it",
                project.name
            ),
        });
    }
    let branch = if project.repo_branch.is_empty() {
        "master"
    } else {
        &project.repo_branch
    };
    // No `after`: a project building pushed commits builds its branch tip.
    let body = serde_json::to_vec_pretty(&serde_json::json!({
        "ref": format!("refs/heads/{branch}"),
        "created": false,
        "deleted": false,
        "repository": {
            "name": project.name,
            "clone_url": project.repo_url,
        },
        "sender": {"login": "vespene-webhook-test"},
    }))
    .map_err(|e| OpError::Denied {
        reason: e.to_string(),
    })?;
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), "vespene-webhook-test".to_string()),
        ("X-GitHub-Event".to_string(), "push".to_string()),
    ];
    let mut conn = app.db.conn()?;
    let (secret, _) = store::settings(&mut conn, id)?;
    if !secret.is_empty() {
        let secret = app
            .ops
            .secrets()
            .decloak(&secret)
            .map_err(OpError::Secrets)?;
        headers.push((
            "X-Hub-Signature-256".into(),
            format!("sha256={}", sign(&secret, &body)),
        ));
    }
    let mut path_and_query = "/webhooks".to_string();
    if !project.webhook_token.is_empty() {
        let token = app
            .ops
            .secrets()
            .decloak(&project.webhook_token)
            .map_err(OpError::Secrets)?;
        path_and_query.push_str("?token=");
        path_and_query.extend(percent_encoding::utf8_percent_encode(
            &token,
            percent_encoding::NON_ALPHANUMERIC,
        ));
    }
    Ok(SampleDelivery {
        path_and_query,
        headers,
        body,
    })
}

/// Lowercase hex HMAC-SHA256 of `body` under `secret`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}
