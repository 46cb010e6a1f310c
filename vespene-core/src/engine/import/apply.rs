//! Applies one repository's `.vespene` to the database, as reference §6.2
//! (e, f) says, honouring the organization's policy flags. Runs inside the
//! repository's own transaction: a refusal leaves nothing half made.

use super::dotfile::Dotfile;
use crate::db::DbConn;
use crate::db::aggregate::{Aggregate, WriteCtx};
use crate::db::groups::Groups;
use crate::db::organizations::OrganizationDetail;
use crate::db::pipelines::{PipelineInput, Pipelines, SLOTS};
use crate::db::projects::{ProjectInput, Projects};
use crate::db::schema::projects as p;
use crate::db::stages::{StageInput, Stages};
use crate::db::worker_pools::WorkerPools;
use diesel::prelude::*;
use std::path::Path;

/// The original's words when a new repository's project name is taken.
pub const NAME_TAKEN: &str = "another project already exists with the name chosen but a different repo address, please rename them to match or remove the name the .vespene file";

/// The longest build script read from a repository.
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// What applying did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub project_id: i64,
    pub name: String,
    pub created: bool,
    /// Things the file asked for that could not be done (a missing
    /// script, an unknown pool, pipeline or stage): the rest was applied,
    /// and the repository counts as failed.
    pub problems: Vec<String>,
    /// Things worth saying that are not errors (unknown group names).
    pub notes: Vec<String>,
}

/// The project whose repository is exactly `repo_url` (the `.vespene`
/// name has no say in which project a repository updates).
pub fn project_of_repo(conn: &mut DbConn, repo_url: &str) -> Result<Option<i64>, String> {
    p::table
        .filter(p::repo_url.eq(repo_url))
        .select(p::id)
        .order(p::id.asc())
        .first::<i64>(conn)
        .optional()
        .map_err(|e| e.to_string())
}

/// Whether another project than `except` with another repository is
/// called `name`.
fn name_taken(
    conn: &mut DbConn,
    name: &str,
    repo_url: &str,
    except: Option<i64>,
) -> Result<bool, String> {
    let mut q = p::table
        .filter(p::name.eq(name.trim()))
        .filter(p::repo_url.ne(repo_url))
        .select(p::id)
        .into_boxed();
    if let Some(id) = except {
        q = q.filter(p::id.ne(id));
    }
    Ok(q.first::<i64>(conn)
        .optional()
        .map_err(|e| e.to_string())?
        .is_some())
}

/// Reads the script a `.vespene` names, which must be a file inside the
/// clone (no absolute path, no `..`, no link out of it).
pub fn read_script(clone: &Path, relative: &str) -> Result<String, String> {
    let missing = || format!("build script as referenced in .vespene is missing: {relative}");
    let rel = Path::new(relative.trim());
    if rel.as_os_str().is_empty()
        || rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(format!(
            "build script '{relative}' in .vespene must be a path inside the repository"
        ));
    }
    let root = clone.canonicalize().map_err(|e| e.to_string())?;
    let path = match root.join(rel).canonicalize() {
        Ok(p) => p,
        Err(_) => return Err(missing()),
    };
    if !path.starts_with(&root) {
        return Err(format!(
            "build script '{relative}' in .vespene leads out of the repository"
        ));
    }
    let meta = std::fs::metadata(&path).map_err(|_| missing())?;
    if !meta.is_file() {
        return Err(missing());
    }
    if meta.len() > MAX_SCRIPT_BYTES {
        return Err(format!(
            "build script '{relative}' is larger than {MAX_SCRIPT_BYTES} bytes"
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("build script '{relative}': {e}"))?;
    String::from_utf8(bytes).map_err(|_| format!("build script '{relative}' is not UTF-8 text"))
}

/// Creates `name` as a pipeline (enabled) or sets the stages of the one
/// that exists, creating stages that are missing (the original filled
/// slots 1–6 of new pipelines only; this fills all seven, and an existing
/// pipeline follows its definition as the original's docs said).
fn define_pipeline(
    conn: &mut DbConn,
    ctx: &WriteCtx<'_>,
    name: &str,
    stage_names: &[String],
) -> Result<i64, String> {
    if stage_names.len() > SLOTS {
        return Err(format!(
            "pipeline_definition lists {} stages; a pipeline has at most {SLOTS}",
            stage_names.len()
        ));
    }
    let mut stages = Vec::new();
    for stage in stage_names {
        let id = match Stages::find_by_name(conn, stage).map_err(|e| e.to_string())? {
            Some(s) => s.id,
            None => Stages::insert(
                conn,
                ctx,
                &StageInput {
                    name: stage.clone(),
                    ..StageInput::default()
                },
            )
            .map_err(|e| e.to_string())?,
        };
        stages.push(Some(id));
    }
    match Pipelines::find_by_name(conn, name).map_err(|e| e.to_string())? {
        Some(existing) => {
            let detail = Pipelines::get(conn, existing.id).map_err(|e| e.to_string())?;
            if detail.stages != stages {
                let mut input = PipelineInput::from(&detail);
                input.stages = stages;
                Pipelines::update(conn, ctx, existing.id, &input).map_err(|e| e.to_string())?;
            }
            Ok(existing.id)
        }
        None => Pipelines::insert(
            conn,
            ctx,
            &PipelineInput {
                name: name.to_string(),
                enabled: true,
                stages,
                ..PipelineInput::default()
            },
        )
        .map_err(|e| e.to_string()),
    }
}

/// Group ids of `names`; unknown names are reported in `notes`.
fn group_ids(
    conn: &mut DbConn,
    key: &str,
    names: &[String],
    notes: &mut Vec<String>,
) -> Result<Vec<i64>, String> {
    let mut ids = Vec::new();
    for name in names {
        match Groups::find_by_name(conn, name).map_err(|e| e.to_string())? {
            Some(g) => {
                if !ids.contains(&g.id) {
                    ids.push(g.id)
                }
            }
            None => notes.push(format!("{key}: no group named '{name}', ignored")),
        }
    }
    Ok(ids)
}

/// Creates or updates the project of `repo_url` from `config` (the
/// `.vespene` with the defaults under it).
pub fn apply(
    conn: &mut DbConn,
    ctx: &WriteCtx<'_>,
    org: &OrganizationDetail,
    repo_url: &str,
    clone: &Path,
    config: &Dotfile,
) -> Result<Applied, String> {
    let o = &org.organization;
    let existing = project_of_repo(conn, repo_url)?;
    let name = config.name.clone().unwrap_or_default();
    let mut out = Applied::default();
    let mut input = match existing {
        Some(id) => ProjectInput::from(&Projects::get(conn, id).map_err(|e| e.to_string())?),
        None => {
            if name_taken(conn, &name, repo_url, None)? {
                return Err(NAME_TAKEN.into());
            }
            out.created = true;
            ProjectInput {
                name: name.clone(),
                repo_url: repo_url.to_string(),
                scm_type: "git".into(),
                worker_pool_id: o.default_worker_pool_id,
                ..ProjectInput::default()
            }
        }
    };
    if input.scm_login_id.is_none() {
        input.scm_login_id = o.scm_login_id;
    }
    if o.overwrite_project_name && !name.trim().is_empty() && existing.is_some() {
        if name_taken(conn, &name, repo_url, existing)? {
            return Err(NAME_TAKEN.into());
        }
        input.name = name.clone();
    }
    if o.overwrite_project_script
        && let Some(script) = config.script.as_deref().filter(|s| !s.trim().is_empty())
    {
        match read_script(clone, script) {
            Ok(text) => input.script = text,
            Err(problem) => out.problems.push(problem),
        }
    }
    if o.allow_worker_pool_assignment
        && let Some(pool) = &config.worker_pool
    {
        match WorkerPools::find_by_name(conn, pool).map_err(|e| e.to_string())? {
            Some(found) => input.worker_pool_id = found.id,
            None => out.problems.push(format!(
                "worker pool not found: {pool} (the pool stays as it is)"
            )),
        }
    }
    if o.overwrite_configurations {
        if let Some(t) = config.timeout {
            input.timeout = t;
        }
        if let Some(image) = &config.container_base_image {
            input.container_base_image = Some(image.clone());
        }
        if let Some(branch) = &config.repo_branch {
            input.repo_branch = branch.clone();
        }
        if let Some(on) = config.webhook_enabled {
            input.webhook_enabled = on;
        }
        if let Some(questions) = &config.launch_questions {
            input.launch_questions = serde_json::Value::Array(questions.clone()).to_string();
        }
        if let Some(vars) = &config.variables {
            input.variables = serde_json::Value::Object(vars.clone()).to_string();
        }
    }
    if o.allow_pipeline_definition
        && let (Some(pipeline), Some(stages)) = (&config.pipeline, &config.pipeline_definition)
    {
        define_pipeline(conn, ctx, pipeline, stages)?;
    }
    if o.overwrite_configurations {
        if let Some(pipeline) = &config.pipeline {
            match Pipelines::find_by_name(conn, pipeline).map_err(|e| e.to_string())? {
                Some(found) => input.pipeline_id = Some(found.id),
                None => out.problems.push(format!("pipeline not found: {pipeline}")),
            }
        }
        if let Some(stage) = &config.stage {
            match Stages::find_by_name(conn, stage).map_err(|e| e.to_string())? {
                Some(found) => input.stage_id = Some(found.id),
                None => out.problems.push(format!("stage not found: {stage}")),
            }
        }
        if let Some(names) = &config.owner_groups {
            input.owner_groups = group_ids(conn, "owner_groups", names, &mut out.notes)?;
        }
        if let Some(names) = &config.launch_groups {
            input.launch_groups = group_ids(conn, "launch_groups", names, &mut out.notes)?;
        }
    }
    // The organization's keys go to every project it imports (declared by
    // the original, never applied there).
    for key in &org.auto_attach_ssh_keys {
        if !input.ssh_keys.contains(key) {
            input.ssh_keys.push(*key);
        }
    }
    let id = match existing {
        Some(id) => {
            Projects::update(conn, ctx, id, &input).map_err(|e| e.to_string())?;
            id
        }
        None => Projects::insert(conn, ctx, &input).map_err(|e| e.to_string())?,
    };
    out.project_id = id;
    out.name = input.name;
    Ok(out)
}
