//! Pipeline advancement after a successful build (reference §5.2).
//!
//! After every SUCCESS build the runner calls [`after_success`], which
//! writes each step into the finishing build's messages, as the original
//! did:
//!
//! 1. `----------` / `Pipeline evaluation....`; it stops, saying why, when
//!    the project has no pipeline, no stage, has opted out
//!    (`pipeline_enabled` off) or the pipeline is disabled;
//! 2. `processing pipeline: X`, `current stage: Y`, `peer projects for
//!    stage: a,b` (the other projects of the same pipeline and stage);
//! 3. it waits, saying for whom, while a peer never built, a peer's last
//!    build is not SUCCESS or a peer has a build queued or running. So the
//!    *last* peer to succeed advances the pipeline (fan-in). Each waiting
//!    peer is named once, under its most current state (the original named
//!    only the first kind found, so a peer re-running after a failure was
//!    reported as "not successful" rather than as running);
//! 4. the next stage is the next slot (a gap ends the chain). On the last
//!    stage, or when the next stage has no projects, the pipeline records
//!    its completion (`last_completed_date`, `last_completed_by`);
//! 5. otherwise every project of the next stage is queued, as the system,
//!    with this build as `pipeline_parent_build` (`queueing project: p`,
//!    `queueing complete`).
//!
//! Differences from the original, on purpose:
//!
//! * **Fan-out does not abort.** The original's first next-stage project
//!   that was running made `start_project` raise and the rest of the stage
//!   was never queued. Here that project is reported and skipped and the
//!   others still queue.
//! * **Fan-in advances exactly once.** Two peers finishing together could
//!   each see the other one done and both advance, queueing the next stage
//!   twice. The evaluation runs in one write transaction holding the
//!   pipeline's lock (`BEGIN IMMEDIATE` on SQLite, the pipeline row `FOR NO
//!   KEY UPDATE` on PostgreSQL), the next-stage builds are queued inside it,
//!   and a peer that finds them already queued for the same round (a
//!   next-stage build whose parent is one of the peers' last builds and
//!   which is newer than all of them) says so and does nothing. The
//!   wake-ups are sent again after the commit.
//! * **Next-stage projects with `pipeline_enabled` off are queued**, as
//!   the original did. The flag's documented meaning is "this project does
//!   not advance its pipeline": it stops the chain *after* the project,
//!   which still runs when its stage is reached. Skipping it would make a
//!   stage look done without one of its projects having run, and the flag
//!   would then mean two things. The message says the chain will stop
//!   there.
//! * Completion is recorded for both endings ("this is the last stage of
//!   the pipeline" and an empty next stage), and "pipeline complete!" is
//!   said for both.
//!
//! Pipeline variables (earlier stages' `vespene/set` outputs, nearest
//! stage winning) are computed by the variables plugins when the next
//! stage is queued; nothing here deals with them.

use super::EngineError;
use super::context::stage_projects;
use super::queue::{StartRequest, start_project_on};
use crate::app::App;
use crate::authz::Actor;
use crate::db::aggregate::Aggregate;
use crate::db::builds::{self, Build, BuildStatus};
use crate::db::pipelines::{Pipelines, mark_completed};
use crate::db::schema::{builds as b, projects as p, worker_pools as wp};
use crate::db::stages::Stages;
use crate::db::{DbConn, DbError, write_tx};
use crate::engine::wake::Notify;
use diesel::prelude::*;

/// How an evaluation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The build is not part of an enabled pipeline (no pipeline, no
    /// stage, project opted out, pipeline disabled), or has no project.
    NotApplicable,
    /// A peer of the stage is not done yet.
    Waiting,
    /// The pipeline completed with this build.
    Completed,
    /// A peer finishing at the same time already queued the next stage
    /// (the build it queued from).
    AlreadyAdvanced(i64),
    /// The next stage was queued: the builds queued (failed-at-once builds
    /// included; skipped projects are not).
    Queued(Vec<i64>),
}

/// What an evaluation said and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The message lines, in order.
    pub lines: Vec<String>,
    pub outcome: Outcome,
    /// Pools that got new builds (to wake after the commit).
    pub pools: Vec<String>,
}

/// Evaluates the pipeline of `build`'s project after it succeeded, writing
/// what it did, or why it did not advance, through `message`. An error is
/// reported there too: the build's own result never changes.
pub fn after_success(app: &App, conn: &mut DbConn, build: &Build, message: &mut dyn FnMut(&str)) {
    match evaluate(app, conn, build) {
        Ok(evaluation) => {
            for line in &evaluation.lines {
                message(line);
            }
            for pool in &evaluation.pools {
                app.waker.notify(pool);
            }
        }
        Err(e) => {
            tracing::error!("build {}: pipeline evaluation failed: {e}", build.id);
            message("----------\nPipeline evaluation....");
            message(&format!("pipeline evaluation failed: {e}"));
        }
    }
}

/// The evaluation itself, in one write transaction holding the pipeline's
/// lock. Messages are collected and written by the caller after the
/// commit: the build's log writer needs the database too.
pub fn evaluate(app: &App, conn: &mut DbConn, build: &Build) -> Result<Evaluation, EngineError> {
    let mut ev = Evaluation {
        lines: vec!["----------\nPipeline evaluation....".to_string()],
        outcome: Outcome::NotApplicable,
        pools: Vec::new(),
    };
    let Some(project_id) = build.project_id else {
        ev.lines.push("no project: nothing to evaluate".into());
        return Ok(ev);
    };
    // The reasons not to evaluate need no lock: most builds are in no
    // pipeline, and their workers should not queue on one.
    let (pipeline_id, stage_id, pipeline_enabled) = placement(conn, project_id)?;
    let Some(pipeline_id) = pipeline_id else {
        ev.lines.push("no pipeline is configured".into());
        return Ok(ev);
    };
    let Some(stage_id) = stage_id else {
        ev.lines.push("no stage is configured".into());
        return Ok(ev);
    };
    if !pipeline_enabled {
        ev.lines
            .push("pipeline is disabled at project level".into());
        return Ok(ev);
    }
    let place = Place {
        project: project_id,
        pipeline: pipeline_id,
        stage: stage_id,
    };
    let ev = write_tx(conn, |conn| -> Result<Evaluation, EngineError> {
        advance(app, conn, build, place, &mut ev)?;
        Ok(ev)
    })?;
    Ok(ev)
}

/// A project's pipeline, stage and whether it takes part, as stored now.
fn placement(
    conn: &mut DbConn,
    project_id: i64,
) -> Result<(Option<i64>, Option<i64>, bool), DbError> {
    p::table
        .find(project_id)
        .select((p::pipeline_id, p::stage_id, p::pipeline_enabled))
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found("project", project_id))
}

/// Where the finished build's project sits.
#[derive(Debug, Clone, Copy)]
struct Place {
    project: i64,
    pipeline: i64,
    stage: i64,
}

/// One peer of the stage, as the evaluation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Peer {
    name: String,
    last_build: Option<i64>,
    last_status: Option<BuildStatus>,
    active: bool,
}

fn peers(
    conn: &mut DbConn,
    pipeline: i64,
    stage: i64,
    except: i64,
) -> Result<Vec<Peer>, EngineError> {
    let rows: Vec<(String, Option<i64>, Option<i64>)> = p::table
        .filter(p::pipeline_id.eq(pipeline))
        .filter(p::stage_id.eq(stage))
        .filter(p::id.ne(except))
        .select((p::name, p::last_build_id, p::active_build_id))
        .order(p::name.asc())
        .load(conn)
        .map_err(crate::db::DbError::from)?;
    let mut out = Vec::with_capacity(rows.len());
    for (name, last_build, active_build) in rows {
        let last_status = match last_build {
            Some(id) => Some(builds::status_of(conn, id)?),
            None => None,
        };
        // A reference left behind by a crash does not block forever: only
        // a build that is still queued, running or stopping counts.
        let active = match active_build {
            Some(id) => builds::status_of(conn, id).is_ok_and(|s| {
                matches!(
                    s,
                    BuildStatus::Queued | BuildStatus::Running | BuildStatus::Aborting
                )
            }),
            None => false,
        };
        out.push(Peer {
            name,
            last_build,
            last_status,
            active,
        });
    }
    Ok(out)
}

/// Takes the pipeline's lock for the rest of the transaction. SQLite's
/// `BEGIN IMMEDIATE` (see [`write_tx`]) already serialises writers;
/// PostgreSQL locks the pipeline row. `FOR NO KEY UPDATE` does not block
/// builds being inserted with a reference to the pipeline.
fn lock_pipeline(conn: &mut DbConn, pipeline: i64) -> Result<(), EngineError> {
    if let DbConn::Postgres(pg) = conn {
        diesel::sql_query(format!(
            "SELECT id FROM pipelines WHERE id = {pipeline} FOR NO KEY UPDATE"
        ))
        .execute(pg)
        .map_err(crate::db::DbError::from)?;
    }
    Ok(())
}

fn names(peers: &[&Peer]) -> String {
    peers
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

fn advance(
    app: &App,
    conn: &mut DbConn,
    build: &Build,
    place: Place,
    ev: &mut Evaluation,
) -> Result<(), EngineError> {
    let Place {
        project: project_id,
        pipeline: pipeline_id,
        stage: stage_id,
    } = place;
    lock_pipeline(conn, pipeline_id)?;
    let pipeline = Pipelines::get(conn, pipeline_id)?;
    if !pipeline.pipeline.enabled {
        ev.lines.push("the pipeline is disabled".into());
        return Ok(());
    }
    let stage_name = Stages::get(conn, stage_id)?.stage.name;
    ev.lines
        .push(format!("processing pipeline: {}", pipeline.pipeline.name));
    ev.lines.push(format!("current stage: {stage_name}"));

    let peers = peers(conn, pipeline_id, stage_id, project_id)?;
    let all: Vec<&Peer> = peers.iter().collect();
    ev.lines
        .push(format!("peer projects for stage: {}", names(&all)));
    // Each peer is listed once, under its most current state: a peer that
    // is running (maybe fixing its last failure) is waited for as running.
    let busy: Vec<&Peer> = peers.iter().filter(|p| p.active).collect();
    let never: Vec<&Peer> = peers
        .iter()
        .filter(|p| !p.active && p.last_build.is_none())
        .collect();
    let unsuccessful: Vec<&Peer> = peers
        .iter()
        .filter(|p| {
            !p.active && p.last_build.is_some() && p.last_status != Some(BuildStatus::Success)
        })
        .collect();
    if !never.is_empty() {
        ev.lines.push(format!(
            "pipeline waiting: need for some projects to build before continuing: {}",
            names(&never)
        ));
    }
    if !unsuccessful.is_empty() {
        ev.lines.push(format!(
            "pipeline waiting: need for some peer project builds to have a successful status before continuing: {}",
            names(&unsuccessful)
        ));
    }
    if !busy.is_empty() {
        ev.lines.push(format!(
            "pipeline waiting: need for some peer project builds to complete before continuing: {}",
            names(&busy)
        ));
    }
    if !(never.is_empty() && unsuccessful.is_empty() && busy.is_empty()) {
        ev.outcome = Outcome::Waiting;
        return Ok(());
    }

    // The round: this build and the peers' last (successful) builds.
    let mut round: Vec<i64> = peers.iter().filter_map(|p| p.last_build).collect();
    round.push(build.id);
    let newest = round.iter().copied().max().unwrap_or(build.id);

    let Some(next) = pipeline.next_stage(stage_id) else {
        ev.lines
            .push("this is the last stage of the pipeline".into());
        ev.lines.push("there are no more projects to launch".into());
        complete(conn, pipeline_id, build.id, ev)?;
        return Ok(());
    };
    let next_name = Stages::get(conn, next)?.stage.name;
    let next_projects = stage_projects(conn, pipeline_id, next)?;
    ev.lines.push(format!("next pipeline stage: {next_name}"));
    if next_projects.is_empty() {
        ev.lines
            .push("there are no projects remaining in the pipeline".into());
        complete(conn, pipeline_id, build.id, ev)?;
        return Ok(());
    }

    // Fan-in: a peer that finished at the same time may have queued the
    // next stage for this very round already.
    let next_ids: Vec<i64> = next_projects.iter().map(|(id, _, _)| *id).collect();
    let already: Option<(i64, Option<i64>)> = b::table
        .filter(b::project_id.eq_any(&next_ids))
        .filter(b::pipeline_parent_build_id.eq_any(&round))
        .filter(b::id.gt(newest))
        .select((b::id, b::pipeline_parent_build_id))
        .order(b::id.asc())
        .first(conn)
        .optional()
        .map_err(crate::db::DbError::from)?;
    if let Some((queued, Some(parent))) = already {
        ev.lines.push(format!(
            "stage {next_name} was already queued by build {parent} of a peer (build {queued}): nothing to do"
        ));
        ev.outcome = Outcome::AlreadyAdvanced(parent);
        return Ok(());
    }

    let request = StartRequest {
        pipeline_parent_build: Some(build.id),
        unattended: true,
        ..StartRequest::default()
    };
    let mut queued = Vec::new();
    for (id, name, _) in &next_projects {
        ev.lines.push(format!("queueing project: {name}"));
        // A savepoint each: a project that cannot be queued leaves the
        // transaction usable for the others (PostgreSQL aborts a whole
        // transaction on an error otherwise).
        let started = write_tx(conn, |conn| {
            start_project_on(app, conn, &Actor::System, *id, &request)
        });
        match started {
            Ok(started) => {
                queued.push(started.build.id);
                if let Some(reason) = started.failed {
                    ev.lines.push(format!(
                        "build {} of project {name} failed at once: {reason}",
                        started.build.id
                    ));
                } else {
                    ev.lines.push(format!("build {} queued", started.build.id));
                    let pool: String = wp::table
                        .find(started.build.worker_pool_id)
                        .select(wp::name)
                        .first(conn)
                        .map_err(crate::db::DbError::from)?;
                    if !ev.pools.contains(&pool) {
                        ev.pools.push(pool);
                    }
                }
                if let Ok(detail) = super::context::project(conn, *id)
                    && !detail.project.pipeline_enabled
                {
                    ev.lines.push(format!(
                        "project {name} has pipeline_enabled off: the pipeline will not advance past it"
                    ));
                }
            }
            Err(EngineError::Busy(reason)) => {
                ev.lines
                    .push(format!("not queueing project {name}: {reason}"));
            }
            Err(e) => {
                ev.lines
                    .push(format!("could not queue project {name}: {e}"));
            }
        }
    }
    ev.lines.push("queueing complete".into());
    ev.outcome = Outcome::Queued(queued);
    Ok(())
}

fn complete(
    conn: &mut DbConn,
    pipeline: i64,
    build: i64,
    ev: &mut Evaluation,
) -> Result<(), EngineError> {
    mark_completed(conn, pipeline, build)?;
    ev.lines.push("pipeline complete!".into());
    ev.outcome = Outcome::Completed;
    Ok(())
}
