//! `vespene autoscaler` (reference §9.1, §3.2): resizes worker pools
//! through their autoscaling planner and executor plugins.
//!
//! For each pool (the pools named, or every pool with autoscaling enabled):
//!
//! 1. skip it when its autoscaling is disabled;
//! 2. unless forced, ask the planner `is_time_to_adjust`;
//! 3. ask the planner `get_parameters`, giving it the pool's counts from
//!    the database: builds RUNNING, builds QUEUED and distinct projects
//!    with QUEUED builds;
//! 4. run the executor's `scale_worker_pool` with those parameters; the
//!    commands it runs go through the caller's [`CallScope`] (the command
//!    line prints their lines);
//! 5. record the outcome: on success `last_autoscaled` = now and
//!    `autoscaling_status` = 0; on failure only `autoscaling_status` (the
//!    executor's status, or 1 when it could not run), so that, as in the
//!    original, a failed pool is tried again at the next pass rather than
//!    after `reevaluate_minutes`.
//!
//! Plugins are found by the pool's `planner` and `executor` names in the
//! `[plugins.autoscaling_planners]` and `[plugins.autoscaling_executors]`
//! settings sections; a missing one is an error naming the pool and the
//! name. [`run_loop`] repeats passes with a sleep in between (the
//! original's loop crashed at its first sleep); an error in one pool is
//! reported and never stops the others or the loop.

use super::EngineError;
use super::context::pool_info;
use crate::app::App;
use crate::db::aggregate::Aggregate;
use crate::db::schema::{builds as b, worker_pools as wp};
use crate::db::worker_pools::{WorkerPools, record_autoscale};
use crate::db::{DbConn, DbError};
use crate::plugins::{CallScope, Configured, with_scope};
use crate::settings::Section;
use diesel::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vespene_plugin_api::Variables;
use vespene_plugin_api::kinds::autoscale_executor::{ScaleRequest, ScaleResponse, ops as exec_ops};
use vespene_plugin_api::kinds::autoscale_planner::{
    AdjustResponse, ParametersResponse, PlanRequest, ops as plan_ops,
};

/// Which pools, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AutoscaleOptions {
    /// Pool names; empty: every pool with autoscaling enabled.
    pub pools: Vec<String>,
    /// Scale without asking the planner whether it is time.
    pub force: bool,
}

/// What happened to one pool in one pass.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolOutcome {
    /// Autoscaling is disabled for the pool.
    Disabled,
    /// The planner said it is not time yet.
    NotYet,
    /// The executor ran and returned `status` (0: success) for these
    /// parameters.
    Scaled { parameters: Variables, status: i64 },
    /// Something failed before or while running the executor.
    Failed(String),
}

impl PoolOutcome {
    /// Whether the pass went wrong for this pool.
    pub fn is_failure(&self) -> bool {
        match self {
            PoolOutcome::Failed(_) => true,
            PoolOutcome::Scaled { status, .. } => *status != 0,
            PoolOutcome::Disabled | PoolOutcome::NotYet => false,
        }
    }
}

/// The counts a planner needs: (running, queued, distinct queued
/// projects) of pool `pool_id`.
pub fn counts(conn: &mut DbConn, pool_id: i64) -> Result<(i64, i64, i64), DbError> {
    let running: i64 = b::table
        .filter(b::worker_pool_id.eq(pool_id))
        .filter(b::status.eq("RUNNING"))
        .count()
        .get_result(conn)?;
    let queued: i64 = b::table
        .filter(b::worker_pool_id.eq(pool_id))
        .filter(b::status.eq("QUEUED"))
        .count()
        .get_result(conn)?;
    let mut projects: Vec<Option<i64>> = b::table
        .filter(b::worker_pool_id.eq(pool_id))
        .filter(b::status.eq("QUEUED"))
        .select(b::project_id)
        .load(conn)?;
    projects.sort_unstable();
    projects.dedup();
    let queued_projects = i64::try_from(projects.len()).unwrap_or(i64::MAX);
    Ok((running, queued, queued_projects))
}

/// The ids of the pools a pass covers.
fn pool_ids(
    conn: &mut DbConn,
    options: &AutoscaleOptions,
) -> Result<Vec<(i64, String)>, EngineError> {
    if options.pools.is_empty() {
        return Ok(wp::table
            .filter(wp::autoscaling_enabled.eq(true))
            .select((wp::id, wp::name))
            .order(wp::name.asc())
            .load(conn)
            .map_err(DbError::from)?);
    }
    let mut out = Vec::new();
    for name in &options.pools {
        let row = WorkerPools::find_by_name(conn, name)?.ok_or_else(|| {
            EngineError::Worker(format!("no worker pool named '{}'", name.trim()))
        })?;
        out.push((row.id, row.name));
    }
    Ok(out)
}

fn plugin<'a>(
    app: &'a App,
    section: Section,
    what: &str,
    pool: &str,
    name: Option<&str>,
) -> Result<&'a Configured, String> {
    let key = section.as_str();
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Err(format!(
            "worker pool '{pool}' has autoscaling enabled but no {what}: set it to an entry of [plugins.{key}]"
        ));
    };
    app.plugins.registry.named(section, name).ok_or_else(|| {
        format!(
            "worker pool '{pool}' names autoscaling {what} '{name}', which is not configured in [plugins.{key}]"
        )
    })
}

// The scope is shared with `with_scope`, which takes the box itself.
#[allow(clippy::borrowed_box)]
fn call<T: serde::de::DeserializeOwned>(
    plugin: &Configured,
    scope: &Box<dyn CallScope>,
    op: &str,
    args: &str,
) -> Result<T, String> {
    let answer = with_scope(scope, || plugin.instance().call(op, args))
        .map_err(|e| format!("'{}' {op}: {e}", plugin.name()))?;
    serde_json::from_str(&answer).map_err(|e| {
        format!(
            "'{}' answered {op} with unexpected JSON: {e}",
            plugin.name()
        )
    })
}

fn record_failure(conn: &mut DbConn, pool_id: i64, status: i32) -> Result<(), DbError> {
    diesel::update(wp::table.find(pool_id))
        .set(wp::autoscaling_status.eq(Some(status)))
        .execute(conn)?;
    Ok(())
}

/// One pass over one pool.
// The scope is shared with `with_scope`, which takes the box itself.
#[allow(clippy::borrowed_box)]
pub fn autoscale_pool(
    app: &App,
    conn: &mut DbConn,
    pool_id: i64,
    force: bool,
    scope: &Box<dyn CallScope>,
) -> Result<PoolOutcome, EngineError> {
    let row = pool_info(conn, pool_id)?;
    if !row.autoscaling_enabled {
        return Ok(PoolOutcome::Disabled);
    }
    let name = row.name.clone();
    let planner = match plugin(
        app,
        Section::AutoscalingPlanners,
        "planner",
        &name,
        row.planner.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(PoolOutcome::Failed(e)),
    };
    let executor = match plugin(
        app,
        Section::AutoscalingExecutors,
        "executor",
        &name,
        row.executor.as_deref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(PoolOutcome::Failed(e)),
    };
    let (running, queued, queued_projects) = counts(conn, pool_id)?;
    let request = PlanRequest {
        worker_pool: row,
        now: super::context::rfc3339(crate::db::now()),
        running,
        queued,
        queued_projects,
    };
    let args = serde_json::to_string(&request).map_err(|e| EngineError::Worker(e.to_string()))?;
    if !force {
        match call::<AdjustResponse>(planner, scope, plan_ops::IS_TIME_TO_ADJUST, &args) {
            Ok(r) if !r.adjust => return Ok(PoolOutcome::NotYet),
            Ok(_) => {}
            Err(e) => return Ok(PoolOutcome::Failed(e)),
        }
    }
    let parameters =
        match call::<ParametersResponse>(planner, scope, plan_ops::GET_PARAMETERS, &args) {
            Ok(r) => r.parameters,
            Err(e) => {
                record_failure(conn, pool_id, 1)?;
                return Ok(PoolOutcome::Failed(e));
            }
        };
    let scale = ScaleRequest {
        worker_pool: request.worker_pool,
        parameters: parameters.clone(),
    };
    let args = serde_json::to_string(&scale).map_err(|e| EngineError::Worker(e.to_string()))?;
    match call::<ScaleResponse>(executor, scope, exec_ops::SCALE_WORKER_POOL, &args) {
        Ok(r) if r.status == 0 => {
            record_autoscale(conn, pool_id, 0)?;
            Ok(PoolOutcome::Scaled {
                parameters,
                status: 0,
            })
        }
        Ok(r) => {
            let status = i32::try_from(r.status).unwrap_or(1);
            record_failure(conn, pool_id, status)?;
            Ok(PoolOutcome::Scaled {
                parameters,
                status: r.status,
            })
        }
        Err(e) => {
            record_failure(conn, pool_id, 1)?;
            Ok(PoolOutcome::Failed(e))
        }
    }
}

/// Each pool's name and outcome, in order.
pub type Pass = Vec<(String, PoolOutcome)>;

/// One pass over the pools of `options`, in order; each pool's outcome.
/// An unknown pool name is an error before anything runs.
#[allow(clippy::borrowed_box)]
pub fn autoscale_once(
    app: &App,
    options: &AutoscaleOptions,
    scope: &Box<dyn CallScope>,
) -> Result<Pass, EngineError> {
    let mut conn = app.db.conn()?;
    let pools = pool_ids(&mut conn, options)?;
    let mut out = Vec::with_capacity(pools.len());
    for (id, name) in pools {
        let outcome = autoscale_pool(app, &mut conn, id, options.force, scope)
            .unwrap_or_else(|e| PoolOutcome::Failed(e.to_string()));
        out.push((name, outcome));
    }
    Ok(out)
}

/// Passes every `sleep` until `stop` is set, reporting each pool's outcome
/// through `report`. A pass that fails as a whole (the database is away,
/// say) is reported and retried at the next one.
#[allow(clippy::borrowed_box)]
pub fn run_loop(
    app: &App,
    options: &AutoscaleOptions,
    sleep: Duration,
    scope: &Box<dyn CallScope>,
    stop: &AtomicBool,
    report: &mut dyn FnMut(&Result<Pass, EngineError>),
) {
    while !stop.load(Ordering::SeqCst) {
        report(&autoscale_once(app, options, scope));
        let until = Instant::now() + sleep;
        while !stop.load(Ordering::SeqCst) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100).min(sleep));
        }
    }
}

#[cfg(test)]
mod tests {
    //! Unit tests: which outcomes count as failures.

    use super::*;

    #[test]
    fn failures_are_errors_and_non_zero_statuses() {
        let scaled = |status| PoolOutcome::Scaled {
            parameters: Variables::new(),
            status,
        };
        assert!(!scaled(0).is_failure());
        assert!(scaled(3).is_failure());
        assert!(scaled(-1).is_failure());
        assert!(PoolOutcome::Failed("x".into()).is_failure());
        assert!(!PoolOutcome::NotYet.is_failure());
        assert!(!PoolOutcome::Disabled.is_failure());
    }
}
