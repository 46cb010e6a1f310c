//! What plugins are shown: stored rows turned into the plugin API's JSON
//! objects (`BuildInfo`, `ProjectInfo`, `WorkerPoolInfo`, the variables
//! request). Plugins never query the database; the engine gathers here
//! everything the original's plugins could reach from a project.

use crate::db::aggregate::Aggregate;
use crate::db::builds::Build;
use crate::db::pipelines::Pipelines;
use crate::db::projects::{ProjectDetail, Projects};
use crate::db::schema::{
    builds, groups, pipelines, projects, service_logins, snippets, ssh_keys, stages, users, workers,
};
use crate::db::stages::Stages;
use crate::db::variable_sets::load_many;
use crate::db::worker_pools::WorkerPools;
use crate::db::{DbConn, DbError};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Map;
use vespene_plugin_api::kinds::variables::{ProjectOutputs, StageOutputs, VariablesRequest};
use vespene_plugin_api::{
    BuildInfo, LaunchQuestion, PipelineInfo, ProjectInfo, SnippetInfo, StageInfo, VariableSetInfo,
    WorkerPoolInfo,
};

/// A stored UTC time as RFC 3339.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.and_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A stored JSON object (validated on save); anything else reads as empty.
pub use crate::db::json::parse_object as object;

fn sets(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<VariableSetInfo>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // Attached in the order stored; the original's order was unspecified.
    Ok(load_many(conn, ids)?
        .into_iter()
        .map(|s| VariableSetInfo {
            id: s.id,
            name: s.name,
            variables: object(&s.variables),
        })
        .collect())
}

fn group_names(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<String>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(groups::table
        .filter(groups::id.eq_any(ids))
        .select(groups::name)
        .order(groups::name)
        .load(conn)?)
}

/// A worker pool with its variable sets.
pub fn pool_info(conn: &mut DbConn, pool_id: i64) -> Result<WorkerPoolInfo, DbError> {
    let d = WorkerPools::get(conn, pool_id)?;
    let p = d.worker_pool;
    Ok(WorkerPoolInfo {
        id: p.id,
        name: p.name,
        variables: object(&p.variables),
        variable_sets: sets(conn, &d.variable_sets)?,
        isolation_method: p.isolation_method,
        sudo_user: p.sudo_user,
        permissions_hex: p.permissions_hex,
        sleep_seconds: p.sleep_seconds.into(),
        auto_abort_minutes: p.auto_abort_minutes.into(),
        build_latest: p.build_latest,
        autoscaling_enabled: p.autoscaling_enabled,
        planner: p.planner,
        executor: p.executor,
        running_weight: p.running_weight,
        queued_weight: p.queued_weight,
        excess: p.excess.into(),
        multiplier: p.multiplier,
        minimum: p.minimum.into(),
        maximum: p.maximum.into(),
        executor_command: p.executor_command,
        last_autoscaled: p.last_autoscaled.map(rfc3339),
        autoscaling_status: p.autoscaling_status.map(i64::from),
        reevaluate_minutes: p.reevaluate_minutes.into(),
    })
}

/// The name of pool `pool_id`, taken from `known` (a pool the caller has
/// already read) when it is that pool.
fn pool_name_known(
    conn: &mut DbConn,
    pool_id: i64,
    known: Option<&WorkerPoolInfo>,
) -> Result<String, DbError> {
    match known {
        Some(pool) if pool.id == pool_id => Ok(pool.name.clone()),
        _ => pool_name(conn, pool_id),
    }
}

/// A project with the names of what it refers to (`known`: see
/// [`pool_name_known`]).
pub fn project_info(
    conn: &mut DbConn,
    d: &ProjectDetail,
    known: Option<&WorkerPoolInfo>,
) -> Result<ProjectInfo, DbError> {
    let p = &d.project;
    let pool = pool_name_known(conn, p.worker_pool_id, known)?;
    let pipeline = match p.pipeline_id {
        Some(id) => Some(
            pipelines::table
                .find(id)
                .select(pipelines::name)
                .first::<String>(conn)?,
        ),
        None => None,
    };
    let stage = match p.stage_id {
        Some(id) => Some(stage_name(conn, id)?),
        None => None,
    };
    let scm_login = match p.scm_login_id {
        Some(id) => service_logins::table
            .find(id)
            .select(service_logins::name)
            .first::<String>(conn)
            .optional()?,
        None => None,
    };
    let keys: Vec<String> = if d.ssh_keys.is_empty() {
        Vec::new()
    } else {
        ssh_keys::table
            .filter(ssh_keys::id.eq_any(&d.ssh_keys))
            .select(ssh_keys::name)
            .order(ssh_keys::name)
            .load(conn)?
    };
    let launch_questions: Vec<LaunchQuestion> =
        serde_json::from_str(&p.launch_questions).unwrap_or_default();
    Ok(ProjectInfo {
        id: p.id,
        name: p.name.clone(),
        description: p.description.clone(),
        repo_url: p.repo_url.clone(),
        repo_branch: p.repo_branch.clone(),
        recursive: p.recursive,
        scm_type: p.scm_type.clone(),
        timeout: p.timeout.into(),
        container_base_image: p.container_base_image.clone(),
        variables: object(&p.variables),
        variable_sets: sets(conn, &d.variable_sets)?,
        launch_questions,
        worker_pool: pool,
        pipeline,
        pipeline_enabled: p.pipeline_enabled,
        stage,
        webhook_enabled: p.webhook_enabled,
        scm_login,
        ssh_keys: keys,
        created_by: p.created_by,
        owner_groups: group_names(conn, &d.owner_groups)?,
        launch_groups: group_names(conn, &d.launch_groups)?,
    })
}

fn stage_name(conn: &mut DbConn, stage_id: i64) -> Result<String, DbError> {
    Ok(stages::table
        .find(stage_id)
        .select(stages::name)
        .first(conn)?)
}

/// A worker pool's name.
pub fn pool_name(conn: &mut DbConn, pool_id: i64) -> Result<String, DbError> {
    Ok(crate::db::schema::worker_pools::table
        .find(pool_id)
        .select(crate::db::schema::worker_pools::name)
        .first(conn)?)
}

/// The names a [`BuildInfo`] shows for a build's ids. They do not change
/// while a build runs, so the engine reads them once per build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildNames {
    pub worker_pool: String,
    pub created_by: Option<String>,
    pub worker: Option<String>,
}

impl BuildNames {
    /// `known`: see [`pool_name_known`].
    pub fn of(
        conn: &mut DbConn,
        b: &Build,
        known: Option<&WorkerPoolInfo>,
    ) -> Result<BuildNames, DbError> {
        let created_by = match b.created_by {
            Some(id) => users::table
                .find(id)
                .select(users::username)
                .first::<String>(conn)
                .optional()?,
            None => None,
        };
        let worker = match b.worker_id {
            Some(id) => workers::table
                .find(id)
                .select(workers::hostname)
                .first::<String>(conn)
                .optional()?,
            None => None,
        };
        Ok(BuildNames {
            worker_pool: pool_name_known(conn, b.worker_pool_id, known)?,
            created_by,
            worker,
        })
    }

    /// `b` as plugins and trigger templates see it, with these names.
    pub fn info(&self, b: &Build) -> BuildInfo {
        BuildInfo {
            id: b.id,
            project_id: b.project_id,
            organization_id: b.organization_id,
            status: b.status_text.clone(),
            revision: b.revision.clone(),
            revision_username: b.revision_username.clone(),
            queued_time: Some(rfc3339(b.queued_time)),
            start_time: b.start_time.map(rfc3339),
            end_time: b.end_time.map(rfc3339),
            return_code: b.return_code.map(i64::from),
            working_dir: b.working_dir.clone(),
            variables: object(&b.variables),
            launch_answers: object(&b.launch_answers),
            output_variables: object(&b.output_variables),
            script: b.script.clone(),
            worker_pool: self.worker_pool.clone(),
            created_by: self.created_by.clone(),
            pipeline_origin_build_id: b.pipeline_origin_build_id,
            pipeline_parent_build_id: b.pipeline_parent_build_id,
            worker: self.worker.clone(),
        }
    }
}

/// Projects of `pipeline` in `stage`, sorted by name: (id, name, last
/// successful build).
pub fn stage_projects(
    conn: &mut DbConn,
    pipeline: i64,
    stage: i64,
) -> Result<Vec<(i64, String, Option<i64>)>, DbError> {
    Ok(projects::table
        .filter(projects::pipeline_id.eq(pipeline))
        .filter(projects::stage_id.eq(stage))
        .select((
            projects::id,
            projects::name,
            projects::last_successful_build_id,
        ))
        .order(projects::name)
        .load(conn)?)
}

/// Everything the variables plugins need to compute a project's variables.
pub fn variables_request(
    conn: &mut DbConn,
    d: &ProjectDetail,
) -> Result<VariablesRequest, DbError> {
    let p = &d.project;
    let worker_pool = pool_info(conn, p.worker_pool_id)?;
    let project = project_info(conn, d, Some(&worker_pool))?;
    let mut pipeline = None;
    let mut stage = None;
    let mut previous_stages = Vec::new();
    if let Some(pid) = p.pipeline_id {
        let pd = Pipelines::get(conn, pid)?;
        pipeline = Some(PipelineInfo {
            id: pd.pipeline.id,
            name: pd.pipeline.name.clone(),
            enabled: pd.pipeline.enabled,
            variables: object(&pd.pipeline.variables),
            variable_sets: sets(conn, &pd.variable_sets)?,
        });
        if let Some(sid) = p.stage_id {
            // Walk back from the project's stage, nearest first; a gap in
            // the slots ends the chain, as in the original.
            let mut current = sid;
            while let Some(prev) = pd.previous_stage(current) {
                let name = stage_name(conn, prev)?;
                let mut outputs = Vec::new();
                for (_, project_name, last_ok) in stage_projects(conn, pid, prev)? {
                    let output_variables = match last_ok {
                        Some(b) => object(
                            &builds::table
                                .find(b)
                                .select(builds::output_variables)
                                .first::<String>(conn)?,
                        ),
                        None => Map::new(),
                    };
                    outputs.push(ProjectOutputs {
                        project: project_name,
                        build_id: last_ok,
                        output_variables,
                    });
                }
                previous_stages.push(StageOutputs {
                    stage: name,
                    projects: outputs,
                });
                current = prev;
            }
        }
    }
    if let Some(sid) = p.stage_id {
        let sd = Stages::get(conn, sid)?;
        stage = Some(StageInfo {
            id: sd.stage.id,
            name: sd.stage.name,
            variables: object(&sd.stage.variables),
            variable_sets: sets(conn, &sd.variable_sets)?,
        });
    }
    let snippets: Vec<SnippetInfo> = snippets::table
        .select((snippets::name, snippets::text))
        .order(snippets::name)
        .load::<(String, String)>(conn)?
        .into_iter()
        .map(|(name, text)| SnippetInfo { name, text })
        .collect();
    Ok(VariablesRequest {
        project,
        worker_pool,
        pipeline,
        stage,
        previous_stages,
        snippets,
        existing: Map::new(),
    })
}

/// A project's detail, without permission checks (the engine's door).
pub fn project(conn: &mut DbConn, id: i64) -> Result<ProjectDetail, DbError> {
    Projects::get(conn, id)
}
