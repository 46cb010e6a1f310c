//! Claiming a build: a build runs once, on one worker, ever.
//!
//! PostgreSQL locks the candidate row with `FOR UPDATE SKIP LOCKED`, so
//! many workers on many hosts claim different builds without waiting for
//! each other; SQLite serialises claimers with `BEGIN IMMEDIATE`. Either
//! way the state change QUEUED → RUNNING happens inside the transaction
//! that chose the build (the original released its lock first and could
//! run a build twice).
//!
//! With the pool's `build_latest`, queued duplicates of one project are
//! collapsed: the NEWEST queued build runs (its script and variables are
//! the latest) and the older ones end ABORTED, saying which build
//! superseded them. (The original kept the oldest, contrary to its own help
//! text; the setting's name and help say "latest".)

use super::log::append_filtered;
use crate::db::builds::{self, Build, BuildChanges, BuildStatus};
use crate::db::output::OutputStream;
use crate::db::schema::builds as b;
use crate::db::{DbConn, DbError, now, write_tx};
use crate::plugins::Registry;
use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use std::path::PathBuf;

/// Who is claiming.
#[derive(Debug, Clone)]
pub struct Claimer {
    /// `<worker uid>:<pid>`: unique per worker process.
    pub claimed_by: String,
    /// The worker's registration row.
    pub worker_id: i64,
    /// Where this worker makes build roots: a claimed build's working
    /// directory is `<build_root>/<id>`, recorded with the claim.
    pub build_root: PathBuf,
}

impl Claimer {
    /// The working directory of build `id` on this worker.
    pub fn working_dir(&self, id: i64) -> PathBuf {
        self.build_root.join(id.to_string())
    }
}

/// The lowest-numbered claimable build of the pool, locked on PostgreSQL.
fn candidate(
    conn: &mut DbConn,
    pool_id: i64,
    not_before: NaiveDateTime,
) -> Result<Option<(i64, Option<i64>)>, DbError> {
    let query = b::table
        .filter(b::worker_pool_id.eq(pool_id))
        .filter(b::status.eq(BuildStatus::Queued.as_str()))
        .filter(b::queued_time.gt(not_before))
        .order(b::id)
        .select((b::id, b::project_id));
    Ok(match conn {
        DbConn::Postgres(c) => query
            .for_update()
            .skip_locked()
            .first::<(i64, Option<i64>)>(c)
            .optional()?,
        DbConn::Sqlite(c) => query.first::<(i64, Option<i64>)>(c).optional()?,
    })
}

/// The queued builds of a project in a pool, oldest first (locked on
/// PostgreSQL, in id order so claimers never deadlock).
fn queued_of_project(
    conn: &mut DbConn,
    pool_id: i64,
    project_id: i64,
    not_before: NaiveDateTime,
) -> Result<Vec<i64>, DbError> {
    let query = b::table
        .filter(b::worker_pool_id.eq(pool_id))
        .filter(b::project_id.eq(project_id))
        .filter(b::status.eq(BuildStatus::Queued.as_str()))
        .filter(b::queued_time.gt(not_before))
        .order(b::id)
        .select(b::id);
    Ok(match conn {
        DbConn::Postgres(c) => query.for_update().load(c)?,
        DbConn::Sqlite(c) => query.load(c)?,
    })
}

fn mark_running(conn: &mut DbConn, id: i64, who: &Claimer) -> Result<bool, DbError> {
    let t = now();
    let n = diesel::update(
        b::table
            .filter(b::id.eq(id))
            .filter(b::status.eq(BuildStatus::Queued.as_str())),
    )
    .set((
        b::status.eq(BuildStatus::Running.as_str()),
        b::start_time.eq(Some(t)),
        b::heartbeat_at.eq(Some(t)),
        b::claimed_by.eq(Some(&who.claimed_by)),
        b::worker_id.eq(Some(who.worker_id)),
        b::working_dir.eq(who.working_dir(id).display().to_string()),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Claims the next build of pool `pool_id`, if any. Builds queued longer
/// than `auto_abort_minutes` ago are never claimed (the sweep orphans
/// them).
pub fn claim_next(
    conn: &mut DbConn,
    registry: &Registry,
    pool_id: i64,
    build_latest: bool,
    auto_abort_minutes: i64,
    who: &Claimer,
) -> Result<Option<Build>, DbError> {
    let not_before = now() - Duration::minutes(auto_abort_minutes.max(1));
    let claimed = write_tx(conn, |conn| -> Result<Option<Build>, DbError> {
        let Some((first, project)) = candidate(conn, pool_id, not_before)? else {
            return Ok(None);
        };
        let mut chosen = first;
        if build_latest && let Some(project) = project {
            let queued = queued_of_project(conn, pool_id, project, not_before)?;
            if let Some(&newest) = queued.last() {
                chosen = newest;
                for &older in &queued[..queued.len() - 1] {
                    builds::update(
                        conn,
                        older,
                        &BuildChanges {
                            end_time: Some(Some(now())),
                            ..BuildChanges::default()
                        }
                        .status(BuildStatus::Aborted),
                    )?;
                    let line = format!(
                        "not run: superseded by build {newest} of the same project (the pool builds only the latest)"
                    );
                    append_filtered(conn, registry, older, OutputStream::Messages, &[&line])?;
                }
            }
        }
        // Read the claimed build in the same transaction: an answer lost
        // after the commit must not leave a claim the worker never saw.
        if mark_running(conn, chosen, who)? {
            builds::get(conn, chosen).map(Some)
        } else {
            Ok(None)
        }
    })?;
    Ok(claimed)
}

/// A build claimed by `who` that the worker never ran: the claim's commit
/// landed but its answer was lost (the database restarted in between).
/// `ran` holds every build this worker has run; anything else RUNNING in
/// its name never started its script, so running it now runs it once.
pub fn lost_claim(
    conn: &mut DbConn,
    who: &Claimer,
    ran: &std::collections::HashSet<i64>,
) -> Result<Option<Build>, DbError> {
    let mine: Vec<i64> = b::table
        .filter(b::claimed_by.eq(Some(&who.claimed_by)))
        .filter(b::status.eq(BuildStatus::Running.as_str()))
        .order(b::id)
        .select(b::id)
        .load(conn)?;
    match mine.into_iter().find(|id| !ran.contains(id)) {
        Some(id) => builds::get(conn, id).map(Some),
        None => Ok(None),
    }
}

/// Claims one particular build (`vespene worker --build-id`), which must be
/// queued: a build runs once, ever.
pub fn claim_build(conn: &mut DbConn, id: i64, who: &Claimer) -> Result<Build, String> {
    let claimed = write_tx(conn, |conn| -> Result<bool, DbError> {
        if let DbConn::Postgres(c) = conn {
            b::table
                .find(id)
                .select(b::id)
                .for_update()
                .first::<i64>(c)
                .optional()?;
        }
        mark_running(conn, id, who)
    })
    .map_err(|e| e.to_string())?;
    let build = builds::get(conn, id).map_err(|e| e.to_string())?;
    if claimed {
        Ok(build)
    } else {
        Err(format!(
            "build {id} is {}, not queued: a build runs only once",
            build.status()
        ))
    }
}
