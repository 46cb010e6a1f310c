//! The scheduler pass: every worker runs it between builds, but only one
//! at a time (a PostgreSQL advisory lock across hosts, a file lock on one
//! SQLite host), so two workers never queue the same slot. It only queues
//! builds; the projects' own pools run them.

use super::EngineError;
use super::queue::{StartRequest, start_project};
use super::schedule::{Schedule, Verdict};
use crate::app::App;
use crate::authz::Actor;
use crate::db::DbConn;
use crate::db::builds::BuildStatus;
use crate::db::schema::{builds as b, projects as p};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};

/// The advisory lock key of the scheduler ("vespsche").
const LOCK_KEY: i64 = 0x7665_7370_7363_6865;

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Runs `f` if this process gets the scheduler lock, else does nothing.
fn exclusively<T>(
    app: &App,
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, EngineError>,
) -> Result<Option<T>, EngineError> {
    match conn {
        DbConn::Postgres(c) => {
            let got: Locked = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS locked")
                .bind::<BigInt, _>(LOCK_KEY)
                .get_result(c)?;
            if !got.locked {
                return Ok(None);
            }
            let result = f(conn);
            if let DbConn::Postgres(c) = conn {
                diesel::sql_query("SELECT pg_advisory_unlock($1) AS locked")
                    .bind::<BigInt, _>(LOCK_KEY)
                    .get_result::<Locked>(c)?;
            }
            result.map(Some)
        }
        DbConn::Sqlite(_) => {
            let dir = app.settings.data_dir.join("run");
            std::fs::create_dir_all(&dir)
                .map_err(|e| EngineError::Worker(format!("{}: {e}", dir.display())))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join("scheduler.lock"))
                .map_err(|e| EngineError::Worker(format!("scheduler lock: {e}")))?;
            match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    let result = f(conn);
                    drop(lock);
                    result.map(Some)
                }
                Err(_) => Ok(None),
            }
        }
    }
}

type ScheduleRow = (
    i64,
    String,
    Option<i64>,
    (bool, bool, bool, bool, bool, bool, bool),
    (String, String, String, String),
    i32,
);

fn scheduled_projects(conn: &mut DbConn) -> Result<Vec<ScheduleRow>, EngineError> {
    Ok(p::table
        .filter(p::schedule_enabled.eq(true))
        .select((
            p::id,
            p::name,
            p::active_build_id,
            (
                p::monday,
                p::tuesday,
                p::wednesday,
                p::thursday,
                p::friday,
                p::saturday,
                p::sunday,
            ),
            (
                p::weekday_start_hours,
                p::weekday_start_minutes,
                p::weekend_start_hours,
                p::weekend_start_minutes,
            ),
            p::schedule_threshold,
        ))
        .order(p::id)
        .load(conn)?)
}

/// One scheduler pass at time `now`: queues every project whose schedule
/// is due. Returns the builds it queued. Skipped (returns empty) while
/// another worker holds the scheduler lock.
pub fn tick(app: &App, conn: &mut DbConn, now: DateTime<Utc>) -> Result<Vec<i64>, EngineError> {
    Ok(exclusively(app, conn, |conn| {
        let mut queued = Vec::new();
        for (id, name, active, days, times, threshold) in scheduled_projects(conn)? {
            let schedule = Schedule {
                enabled: true,
                days: [days.0, days.1, days.2, days.3, days.4, days.5, days.6],
                weekday_start_hours: times.0,
                weekday_start_minutes: times.1,
                weekend_start_hours: times.2,
                weekend_start_minutes: times.3,
                threshold_minutes: i64::from(threshold),
            };
            // Being busy or built recently can only hold a due schedule
            // back: a project that is not due needs no queries.
            if !matches!(schedule.verdict(now, false, None), Verdict::Due(_)) {
                continue;
            }
            let waiting: i64 = b::table
                .filter(b::project_id.eq(id))
                .filter(b::status.eq(BuildStatus::Queued.as_str()))
                .count()
                .get_result(conn)?;
            let active_unfinished = match active {
                Some(a) => match crate::db::builds::status_of(conn, a) {
                    Ok(s) => s != BuildStatus::Unknown && !s.is_complete(),
                    Err(crate::db::DbError::NotFound { .. }) => false,
                    Err(e) => return Err(e.into()),
                },
                None => false,
            };
            let last: Option<NaiveDateTime> = b::table
                .filter(b::project_id.eq(id))
                .select(diesel::dsl::max(b::queued_time))
                .first(conn)?;
            let verdict = schedule.verdict(
                now,
                waiting > 0 || active_unfinished,
                last.map(|t| t.and_utc()),
            );
            if let Verdict::Due(marker) = verdict {
                match start_project(
                    app,
                    &Actor::System,
                    id,
                    &StartRequest {
                        unattended: true,
                        ..StartRequest::default()
                    },
                ) {
                    Ok(started) => {
                        tracing::info!(
                            "schedule: queued build {} of project '{name}' for {marker}",
                            started.build.id
                        );
                        queued.push(started.build.id);
                    }
                    Err(e) => tracing::warn!("schedule: project '{name}' not started: {e}"),
                }
            }
        }
        Ok(queued)
    })?
    .unwrap_or_default())
}
