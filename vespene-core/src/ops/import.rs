//! Importing an organization now: the one operation behind `vespene import
//! ORG` (on the database) and `POST /api/v1/organizations/{id}/import`
//! (and so `vespene import ORG --server URL`). The import itself is the
//! workers' ([`crate::engine::import`]); the rule is here: the caller must
//! be allowed to edit the organization.

use super::OpError;
use crate::app::App;
use crate::authz::Actor;
use crate::db::builds::BuildStatus;
use crate::engine::EngineError;
use crate::engine::import::{ImportReport, RepoOutcome, run_now};
use vespene_plugin_api::kinds::authorization::Action;

/// How one repository of an import went.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ImportedRepository {
    /// The clone URL the organization's plugin listed.
    pub url: String,
    /// `created`, `updated`, `skipped` (no `.vespene`, and
    /// `import_without_dotfile` off) or `failed`.
    pub outcome: String,
    /// The project created or updated.
    pub project: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
}

/// What an import did: its build (the organization's import build, whose
/// messages tell every step) and every repository.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ImportResult {
    pub build_id: i64,
    /// SUCCESS, or FAILURE when a repository or the listing failed.
    pub status: String,
    /// Repositories that failed (the build's `return_code`).
    pub failures: i32,
    /// Why the import as a whole failed (listing the repositories, ...).
    pub error: Option<String>,
    pub repositories: Vec<ImportedRepository>,
}

impl ImportResult {
    pub fn succeeded(&self) -> bool {
        self.status == BuildStatus::Success.to_string()
    }
}

impl From<ImportReport> for ImportResult {
    fn from(r: ImportReport) -> ImportResult {
        ImportResult {
            build_id: r.build_id,
            status: r.status.to_string(),
            failures: r.failures,
            error: r.error,
            repositories: r
                .repos
                .into_iter()
                .map(|(url, outcome)| {
                    let (word, project, error) = match outcome {
                        RepoOutcome::Imported { project, created } => (
                            if created { "created" } else { "updated" },
                            Some(project),
                            None,
                        ),
                        RepoOutcome::Skipped => ("skipped", None, None),
                        RepoOutcome::Failed(why) => ("failed", None, Some(why)),
                    };
                    ImportedRepository {
                        url,
                        outcome: word.into(),
                        project,
                        error,
                    }
                })
                .collect(),
        }
    }
}

/// Imports organization `key` (a name, or an id with or without `#`) now,
/// as `actor`, who must be allowed to edit it; waits for the import's end.
/// [`EngineError::Busy`] when another process is importing it.
pub fn import_organization(
    app: &App,
    actor: &Actor,
    key: &str,
) -> Result<ImportResult, EngineError> {
    let id = match key.trim().trim_start_matches('#').parse::<i64>() {
        Ok(id) => id,
        Err(_) => app.ops.organizations().id_by_name(actor, key.trim())?,
    };
    // Seeing it first: an organization that is not there is a 404.
    let org = app.ops.organizations().get(actor, id)?;
    if !app.ops.organizations().can(actor, Action::Edit, Some(id))? {
        return Err(OpError::Denied {
            reason: "importing an organization needs the right to edit it".into(),
        }
        .into());
    }
    Ok(run_now(app, org)?.into())
}
