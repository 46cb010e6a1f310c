//! Starting and stopping builds: the one core operation every door (CLI,
//! web UI, REST API, webhook, schedule, pipeline) calls.
//!
//! Starting a project computes its variables through the variables plugins
//! (in the configured order), puts launch answers on top, renders the
//! script as a Jinja2 template with strict undefined, and queues the build
//! with all of that frozen. A template error gives a FAILURE build that
//! runs nothing (reference "Decisions" 9).

use super::EngineError;
use super::context::{self, object};
use super::log::append_filtered;
use crate::app::App;
use crate::authz::Actor;
use crate::db::builds::{self, Build, BuildChanges, BuildStatus, NewBuild};
use crate::db::output::OutputStream;
use crate::db::projects::{BuildRefs, set_build_refs};
use crate::db::{DbConn, now, write_tx};
use crate::engine::wake::{ALL_POOLS, Notify};
use crate::settings::Section;
use serde_json::{Map, Value};
use vespene_plugin_api::jinja::{self, Undefined};
use vespene_plugin_api::kinds::variables::{VariablesRequest, VariablesResponse, ops as var_ops};

/// How a project is being started.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StartRequest {
    /// Answers to the project's launch questions (they override every
    /// variable).
    pub launch_answers: Map<String, Value>,
    /// The previous-stage build that triggered this one (pipelines).
    pub pipeline_parent_build: Option<i64>,
    /// A start nobody is asked at (schedule, webhook, pipeline): launch
    /// questions are not asked and templates use `| default` (reference
    /// §4.5). Otherwise (CLI, API, UI) the answers must be what the
    /// project's questions allow ([`crate::ops::launch::check_answers`]).
    pub unattended: bool,
}

/// What starting a project produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Started {
    pub build: Build,
    /// Why the build failed at once (a template or variables error), if it
    /// did.
    pub failed: Option<String>,
}

fn user_id(actor: &Actor) -> Option<i64> {
    match actor {
        Actor::User(u) => Some(u.id),
        _ => None,
    }
}

/// Runs the variables plugins in order, each merged over what came before.
fn compute_variables(
    app: &App,
    mut request: VariablesRequest,
) -> Result<Map<String, Value>, String> {
    let mut variables = Map::new();
    for plugin in app.plugins.registry.section(Section::Variables) {
        request.existing = variables.clone();
        let args = serde_json::to_string(&request).map_err(|e| e.to_string())?;
        let answer = plugin
            .instance()
            .call(var_ops::COMPUTE, &args)
            .map_err(|e| format!("variables plugin '{}' failed: {e}", plugin.name()))?;
        let response: VariablesResponse = serde_json::from_str(&answer).map_err(|e| {
            format!(
                "variables plugin '{}' answered with unexpected JSON: {e}",
                plugin.name()
            )
        })?;
        // Shallow merge: a later plugin's value replaces, never merges.
        variables.extend(response.variables);
    }
    Ok(variables)
}

/// Starts project `project_id` for `actor`: queues a build (or records a
/// FAILURE build when its script cannot be rendered).
pub fn start_project(
    app: &App,
    actor: &Actor,
    project_id: i64,
    request: &StartRequest,
) -> Result<Started, EngineError> {
    let mut conn = app.db.conn()?;
    start_project_on(app, &mut conn, actor, project_id, request)
}

/// [`start_project`] on `conn`, inside the caller's transaction when there
/// is one (a pipeline queues its next stage under the pipeline's lock).
/// The wake-up is sent at once; a caller holding a transaction sends it
/// again after committing.
pub fn start_project_on(
    app: &App,
    conn: &mut DbConn,
    actor: &Actor,
    project_id: i64,
    request: &StartRequest,
) -> Result<Started, EngineError> {
    app.ops.projects().authorize_start(actor, project_id)?;
    let project = context::project(conn, project_id)?;
    let launch_answers = if request.unattended {
        if !request.launch_answers.is_empty() {
            return Err(EngineError::Op(crate::ops::OpError::Invalid {
                object: "project start",
                field: "launch_answers".into(),
                reason: "a schedule, webhook or pipeline start takes no launch answers".into(),
            }));
        }
        Map::new()
    } else {
        crate::ops::launch::check_answers(
            &project.project.launch_questions,
            &request.launch_answers,
        )?
    };

    // Refuse only while the active build runs, as the original did; a
    // queued duplicate is handled by build_latest.
    if let Some(active) = project.project.active_build_id
        && builds::get(conn, active)
            .map(|b| b.status() == BuildStatus::Running)
            .unwrap_or(false)
    {
        return Err(EngineError::Busy(format!(
            "project '{}' has build {active} running: stop it first",
            project.project.name
        )));
    }

    let parent = match request.pipeline_parent_build {
        Some(id) => Some(builds::get(conn, id)?),
        None => None,
    };
    let mut new = NewBuild::queued(project_id, project.project.worker_pool_id);
    new.created_by = user_id(actor);
    new.pipeline_id = project.project.pipeline_id;
    new.launch_answers = Value::Object(launch_answers.clone()).to_string();
    if let Some(p) = &parent {
        new.pipeline_parent_build_id = Some(p.id);
        new.pipeline_origin_build_id = Some(p.pipeline_origin_build_id.unwrap_or(p.id));
    }

    // Variables, then launch answers on top, then the script: all frozen
    // at queue time.
    let asked = context::variables_request(conn, &project);
    let pool = match &asked {
        Ok(r) => r.worker_pool.name.clone(),
        Err(_) => context::pool_name(conn, project.project.worker_pool_id)?,
    };
    let computed = asked
        .map_err(|e| e.to_string())
        .and_then(|r| compute_variables(app, r));
    let failure = match computed {
        Ok(mut variables) => {
            variables.extend(launch_answers);
            new.variables = Value::Object(variables.clone()).to_string();
            match jinja::render(&project.project.script, &variables, Undefined::Strict) {
                Ok(script) => {
                    new.script = script;
                    None
                }
                Err(e) => Some(format!(
                    "the project could not be started due to a template error: {e}"
                )),
            }
        }
        Err(e) => Some(format!(
            "the project could not be started because its variables could not be computed: {e}"
        )),
    };

    let build_id = write_tx(conn, |conn| -> Result<i64, EngineError> {
        if failure.is_some() {
            new.status = BuildStatus::Failure;
        }
        let id = builds::insert_queued(conn, &new)?;
        if let Some(reason) = &failure {
            let t = now();
            builds::update(
                conn,
                id,
                &BuildChanges {
                    end_time: Some(Some(t)),
                    return_code: Some(Some(-1)),
                    ..BuildChanges::default()
                },
            )?;
            let registry = &app.plugins.registry;
            append_filtered(conn, registry, id, OutputStream::Output, &[reason.as_str()])?;
            append_filtered(
                conn,
                registry,
                id,
                OutputStream::Messages,
                &[reason.as_str()],
            )?;
            set_build_refs(
                conn,
                project_id,
                &BuildRefs {
                    last_build_id: Some(Some(id)),
                    ..BuildRefs::default()
                },
            )?;
        } else {
            set_build_refs(
                conn,
                project_id,
                &BuildRefs {
                    active_build_id: Some(Some(id)),
                    ..BuildRefs::default()
                },
            )?;
        }
        Ok(id)
    })?;
    if failure.is_none() {
        app.waker.notify(&pool);
    }
    let build = builds::get(conn, build_id)?;
    Ok(Started {
        build,
        failed: failure,
    })
}

/// Stops build `build_id` for `actor`: a queued build ends ABORTED at once;
/// a running one is asked to stop (ABORTING) and its worker kills its
/// process tree within seconds, then records ABORTED.
pub fn stop_build(app: &App, actor: &Actor, build_id: i64) -> Result<Build, EngineError> {
    app.ops.builds().authorize_stop(actor, build_id)?;
    let mut conn = app.db.conn()?;
    let who = match actor {
        Actor::User(u) => u.username.clone(),
        _ => "the system".to_string(),
    };
    let when = now();
    let at = when.format("%Y-%m-%d %H:%M:%S UTC");
    let changed = write_tx(&mut conn, |conn| -> Result<bool, EngineError> {
        let build = builds::get(conn, build_id)?;
        match build.status() {
            BuildStatus::Queued => {
                builds::update(
                    conn,
                    build_id,
                    &BuildChanges {
                        end_time: Some(Some(when)),
                        ..BuildChanges::default()
                    }
                    .status(BuildStatus::Aborted),
                )?;
                // In the output too, as failures and timeouts say theirs.
                let line = format!("build stopped by {who} at {at} before it started");
                let registry = &app.plugins.registry;
                append_filtered(conn, registry, build_id, OutputStream::Output, &[&line])?;
                append_filtered(conn, registry, build_id, OutputStream::Messages, &[&line])?;
                if let Some(p) = build.project_id {
                    clear_active(conn, p, build_id, true)?;
                }
                Ok(true)
            }
            BuildStatus::Running => {
                builds::update(
                    conn,
                    build_id,
                    &BuildChanges::default().status(BuildStatus::Aborting),
                )?;
                // The worker ends the build ABORTED within seconds; the
                // output says who asked and when.
                let line = format!("build stop requested by {who} at {at}");
                let registry = &app.plugins.registry;
                append_filtered(conn, registry, build_id, OutputStream::Output, &[&line])?;
                append_filtered(conn, registry, build_id, OutputStream::Messages, &[&line])?;
                Ok(true)
            }
            other => Err(EngineError::NotStoppable(format!(
                "build {build_id} is {other}, there is nothing to stop"
            ))),
        }
    })?;
    if changed {
        app.waker.notify(ALL_POOLS);
        app.waker.notify_output(build_id);
    }
    Ok(builds::get(&mut conn, build_id)?)
}

/// Clears a project's active build if it is `build_id`; with `last`, also
/// records it as the last build.
pub(crate) fn clear_active(
    conn: &mut DbConn,
    project_id: i64,
    build_id: i64,
    last: bool,
) -> Result<(), EngineError> {
    if last {
        set_build_refs(
            conn,
            project_id,
            &BuildRefs {
                last_build_id: Some(Some(build_id)),
                ..BuildRefs::default()
            },
        )?;
    }
    release_active(conn, project_id, build_id)
}

/// Clears a project's active build if it is still `build_id` (a newer
/// build may have taken its place), in one statement.
pub(crate) fn release_active(
    conn: &mut DbConn,
    project_id: i64,
    build_id: i64,
) -> Result<(), EngineError> {
    use crate::db::schema::projects;
    use diesel::prelude::*;
    diesel::update(
        projects::table
            .find(project_id)
            .filter(projects::active_build_id.eq(build_id)),
    )
    .set(projects::active_build_id.eq(None::<i64>))
    .execute(conn)
    .map_err(crate::db::DbError::from)?;
    Ok(())
}

/// The launch answers of a stored build, as variables.
pub fn launch_answers(build: &Build) -> Map<String, Value> {
    object(&build.launch_answers)
}
