//! The worker loop (`vespene worker POOL`): register, then repeatedly sweep
//! (orphans, stale queued builds, the scheduler), claim the next build of
//! the pool and run it; when there is nothing to do, block until a wake-up
//! (a build queued, a stop requested) or the slow polling fallback.

use super::EngineError;
use super::claim::{Claimer, claim_build, claim_next, lost_claim};
use super::log::append_filtered;
use super::runner;

/// Runs a claimed build as the settings say: in a runner child (plugin
/// calls contained) or in the worker itself.
fn run_build(
    app: &App,
    who: &Claimer,
    build: crate::db::builds::Build,
    listener: Box<dyn super::wake::Listener>,
) -> (
    Result<BuildStatus, EngineError>,
    Box<dyn super::wake::Listener>,
) {
    if app.settings.worker.contain_plugin_calls {
        super::contained::run_build(app, who, build, listener)
    } else {
        runner::run_build(app, who, build, listener)
    }
}
use crate::app::App;
use crate::db::aggregate::Aggregate;
use crate::db::builds::BuildStatus;
use crate::db::output::OutputStream;
use crate::db::schema::builds as b;
use crate::db::worker_pools::WorkerPools;
use crate::db::workers::{Registration, register};
use crate::db::{DbConn, now, write_tx};
use crate::plugins::Registry;
use chrono::Duration as ChronoDuration;
use diesel::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a worker sweeps for orphans and runs the scheduler.
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// The longest an idle worker waits before it looks at its shutdown flag.
const IDLE_SLICE: Duration = Duration::from_secs(1);

/// `vespene worker` options.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    pub pool: String,
    /// Exit after this many builds.
    pub max_builds: Option<u32>,
    /// Run this one queued build and exit.
    pub build_id: Option<i64>,
    /// Exit after being idle this long.
    pub max_wait: Option<Duration>,
}

/// One turn of the worker loop.
enum Step {
    NoPool,
    Idle,
    Run(Box<crate::db::builds::Build>),
}

/// What a worker did before it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerSummary {
    pub builds: u32,
}

/// The worker id of this host: 50 random characters in a file, created on
/// first use (the original's `/etc/vespene/worker_id`).
pub fn worker_uid(path: &Path) -> Result<String, EngineError> {
    if let Ok(text) = std::fs::read_to_string(path) {
        let uid = text.trim().to_string();
        if !uid.is_empty() {
            return Ok(uid);
        }
    }
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut bytes = [0u8; 50];
    getrandom::fill(&mut bytes).map_err(|e| EngineError::Worker(e.to_string()))?;
    let uid: String = bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    // Two workers starting together: the first writer wins, both read it.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, format!("{uid}\n"))
        .and_then(|_| std::fs::hard_link(&tmp, path).or(Ok(())))
        .map_err(|e| {
            EngineError::Worker(format!(
                "cannot write worker id file {}: {e}",
                path.display()
            ))
        })?;
    let _ = std::fs::remove_file(&tmp);
    Ok(std::fs::read_to_string(path)
        .map(|t| t.trim().to_string())
        .unwrap_or(uid))
}

fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The worker id file of the settings.
pub fn worker_id_file(app: &App) -> PathBuf {
    let s = &app.settings.worker.worker_id_file;
    if s.is_empty() {
        app.settings.data_dir.join("worker_id")
    } else {
        PathBuf::from(s)
    }
}

/// Registers this worker and makes its claimer identity.
pub fn register_worker(app: &App) -> Result<Claimer, EngineError> {
    let uid = worker_uid(&worker_id_file(app))?;
    let host = if app.settings.fileserving.hostname.is_empty() {
        hostname()
    } else {
        app.settings.fileserving.hostname.clone()
    };
    let mut conn = app.db.conn()?;
    let worker = register(
        &mut conn,
        &Registration {
            worker_uid: uid.clone(),
            hostname: host,
            port: i32::from(app.settings.fileserving.port),
            build_root: app.settings.build_root.display().to_string(),
            fileserving_enabled: app.settings.fileserving.enabled,
        },
    )?;
    Ok(Claimer {
        claimed_by: format!("{uid}:{}", std::process::id()),
        worker_id: worker.id,
        build_root: app.settings.build_root.clone(),
    })
}

/// Ends a build that can no longer finish; only if it is still in `from`
/// (two sweepers never both record it). True when this call ended it.
fn end_build(
    conn: &mut DbConn,
    registry: &Registry,
    id: i64,
    from: BuildStatus,
    to: BuildStatus,
    reason: &str,
) -> Result<bool, EngineError> {
    write_tx(conn, |conn| -> Result<bool, EngineError> {
        let n = diesel::update(
            b::table
                .filter(b::id.eq(id))
                .filter(b::status.eq(from.as_str())),
        )
        .set((
            b::status.eq(to.as_str()),
            b::end_time.eq(Some(now())),
            b::return_code.eq(Some(-1)),
        ))
        .execute(conn)?;
        if n != 1 {
            return Ok(false);
        }
        append_filtered(conn, registry, id, OutputStream::Messages, &[reason])?;
        append_filtered(conn, registry, id, OutputStream::Output, &[reason])?;
        let project: Option<i64> = b::table.find(id).select(b::project_id).first(conn)?;
        if let Some(p) = project {
            super::queue::clear_active(conn, p, id, true)?;
        }
        Ok(true)
    })
}

fn pid_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Marks builds whose worker is gone: no heartbeat for
/// `orphan_after_seconds`, or (on this host) a claiming process that no
/// longer exists. Also ends queued builds older than their pool's
/// `auto_abort_minutes`. Returns how many builds it ended.
pub fn sweep(app: &App, conn: &mut DbConn, uid: &str) -> Result<usize, EngineError> {
    let mut ended = 0;
    let cutoff = now() - ChronoDuration::seconds(app.settings.worker.orphan_after_seconds as i64);
    let running: Vec<(i64, String, Option<String>, Option<chrono::NaiveDateTime>)> = b::table
        .filter(b::status.eq_any([
            BuildStatus::Running.as_str(),
            BuildStatus::Aborting.as_str(),
        ]))
        .select((b::id, b::status, b::claimed_by, b::heartbeat_at))
        .load(conn)?;
    for (id, status, claimed_by, beat) in running {
        let status = BuildStatus::parse(&status).unwrap_or(BuildStatus::Unknown);
        let claimer = claimed_by.unwrap_or_default();
        let local_dead = claimer
            .split_once(':')
            .filter(|(u, _)| *u == uid)
            .and_then(|(_, pid)| pid.parse::<i32>().ok())
            .is_some_and(|pid| !pid_alive(pid));
        let silent = beat.is_none_or(|t| t < cutoff);
        if !(local_dead || silent) {
            continue;
        }
        let why = if local_dead {
            format!("its worker process ({claimer}) on this host is gone")
        } else {
            format!(
                "its worker ({claimer}) stopped sending heartbeats{}",
                beat.map(|t| format!(" at {}", super::context::rfc3339(t)))
                    .unwrap_or_default()
            )
        };
        let (to, reason) = if status == BuildStatus::Aborting {
            (BuildStatus::Aborted, format!("build stopped: {why}"))
        } else {
            (BuildStatus::Orphaned, format!("build orphaned: {why}"))
        };
        if end_build(conn, &app.plugins.registry, id, status, to, &reason)? {
            tracing::warn!("build {id}: {reason}");
            ended += 1;
        }
    }

    // Queued too long: never picked, so ORPHANED (reference §2.10).
    let pools: Vec<(i64, i32)> = crate::db::schema::worker_pools::table
        .select((
            crate::db::schema::worker_pools::id,
            crate::db::schema::worker_pools::auto_abort_minutes,
        ))
        .load(conn)?;
    for (pool, minutes) in pools {
        let too_old = now() - ChronoDuration::minutes(i64::from(minutes.max(1)));
        let stale: Vec<i64> = b::table
            .filter(b::worker_pool_id.eq(pool))
            .filter(b::status.eq(BuildStatus::Queued.as_str()))
            .filter(b::queued_time.le(too_old))
            .select(b::id)
            .load(conn)?;
        for id in stale {
            let reason = format!(
                "build orphaned: it stayed queued longer than its pool's auto_abort_minutes ({minutes})"
            );
            if end_build(
                conn,
                &app.plugins.registry,
                id,
                BuildStatus::Queued,
                BuildStatus::Orphaned,
                &reason,
            )? {
                ended += 1;
            }
        }
    }
    super::scheduler::tick(app, conn, chrono::Utc::now())?;
    Ok(ended)
}

/// Waits for a wake-up up to `total`, looking at `shutdown` every
/// [`IDLE_SLICE`] so a stopping worker does not linger. True when woken.
fn wait_idle(
    listener: &mut dyn super::wake::Listener,
    total: Duration,
    shutdown: &AtomicBool,
) -> bool {
    let until = Instant::now() + total;
    loop {
        if shutdown.load(Ordering::SeqCst) {
            return false;
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if listener.wait(left.min(IDLE_SLICE)) {
            return true;
        }
    }
}

/// Runs the worker loop until `max_builds`, `max_wait`, `--build-id` or
/// `shutdown` says to stop. Beside it, an importer thread imports the
/// pool's organizations when they are due (not with `--build-id`), so a
/// slow or hanging forge never holds up builds.
pub fn run(
    app: &App,
    options: &WorkerOptions,
    shutdown: &AtomicBool,
) -> Result<WorkerSummary, EngineError> {
    if options.build_id.is_some() {
        return run_builds(app, options, shutdown);
    }
    let claimer_uid = worker_uid(&worker_id_file(app))?;
    let stop_importer = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let who = format!("{claimer_uid}:{}", std::process::id());
        let stop = &stop_importer;
        std::thread::Builder::new()
            .name("importer".into())
            .spawn_scoped(scope, move || {
                super::import::serve(app, &options.pool, &who, stop)
            })
            .map_err(|e| EngineError::Worker(format!("cannot start the importer thread: {e}")))?;
        let result = run_builds(app, options, shutdown);
        stop_importer.store(true, Ordering::SeqCst);
        result
    })
}

/// The build loop of [`run`].
fn run_builds(
    app: &App,
    options: &WorkerOptions,
    shutdown: &AtomicBool,
) -> Result<WorkerSummary, EngineError> {
    let claimer = register_worker(app)?;
    let uid = claimer
        .claimed_by
        .split_once(':')
        .map(|(u, _)| u.to_string())
        .unwrap_or_default();
    let mut listener = app.waker.listen(&options.pool);
    let mut summary = WorkerSummary::default();

    if let Some(id) = options.build_id {
        let mut conn = app.db.conn()?;
        let build = claim_build(&mut conn, id, &claimer).map_err(EngineError::Worker)?;
        drop(conn);
        let (result, _) = run_build(app, &claimer, build, listener);
        result?;
        summary.builds = 1;
        return Ok(summary);
    }

    let poll = Duration::from_secs_f64(app.settings.worker.poll_seconds.max(0.05));
    let mut last_sweep: Option<Instant> = None;
    let mut idle_since = Instant::now();
    let mut warned_missing = false;
    // Every build this worker has run, and whether a step failed since the
    // last look for a claim whose answer the database lost.
    let mut ran = std::collections::HashSet::new();
    let mut claim_in_doubt = false;
    while !shutdown.load(Ordering::SeqCst) {
        // A database that is briefly unreachable or busy must not end the
        // worker: report, wait a little, try again.
        let step = (|| -> Result<Step, EngineError> {
            let mut conn = app.db.conn()?;
            if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
                last_sweep = Some(Instant::now());
                if let Err(e) = crate::db::workers::check_in(&mut conn, claimer.worker_id) {
                    tracing::error!("worker check-in: {e}");
                }
                if let Err(e) = sweep(app, &mut conn, &uid) {
                    tracing::error!("worker sweep: {e}");
                }
            }
            if claim_in_doubt {
                if let Some(build) = lost_claim(&mut conn, &claimer, &ran)? {
                    tracing::warn!(
                        "build {}: claimed before a database error; running it",
                        build.id
                    );
                    return Ok(Step::Run(Box::new(build)));
                }
                claim_in_doubt = false;
            }
            let Some(pool) = WorkerPools::find_by_name(&mut conn, &options.pool)? else {
                return Ok(Step::NoPool);
            };
            let claimed = claim_next(
                &mut conn,
                &app.plugins.registry,
                pool.id,
                pool.build_latest,
                i64::from(pool.auto_abort_minutes),
                &claimer,
            )?;
            Ok(claimed.map_or(Step::Idle, |b| Step::Run(Box::new(b))))
        })();
        match step {
            Ok(Step::NoPool) => {
                if !warned_missing {
                    tracing::warn!("worker pool '{}' does not (yet?) exist", options.pool);
                    warned_missing = true;
                }
                wait_idle(&mut *listener, poll.min(SWEEP_EVERY), shutdown);
            }
            Ok(Step::Run(build)) => {
                warned_missing = false;
                let id = build.id;
                ran.insert(id);
                let (result, back) = run_build(app, &claimer, *build, listener);
                listener = back;
                match result {
                    Ok(status) => tracing::info!("build {id} ended {status}"),
                    Err(e) => tracing::error!("build {id}: {e}"),
                }
                summary.builds += 1;
                idle_since = Instant::now();
                if options.max_builds.is_some_and(|m| summary.builds >= m) {
                    break;
                }
            }
            Ok(Step::Idle) => {
                warned_missing = false;
                if options.max_wait.is_some_and(|m| idle_since.elapsed() >= m) {
                    break;
                }
                let mut wait = poll.min(SWEEP_EVERY);
                if let Some(m) = options.max_wait {
                    wait = wait.min(
                        m.saturating_sub(idle_since.elapsed())
                            .max(Duration::from_millis(10)),
                    );
                }
                wait_idle(&mut *listener, wait, shutdown);
            }
            Err(e) => {
                claim_in_doubt = true;
                tracing::error!("worker for pool '{}': {e}; retrying", options.pool);
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    Ok(summary)
}
