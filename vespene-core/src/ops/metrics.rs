//! `/metrics`: what a monitoring system scrapes, gathered from the
//! database and the plugin host, and written in the Prometheus text
//! exposition format (version 0.0.4) by [`Metrics::exposition`].
//!
//! Every number is read when scraped (a few aggregate queries), so it is
//! true for every server and worker sharing the database; plugin calls are
//! this process's (the server's, and its embedded worker's).

use crate::app::App;
use crate::db::builds::BuildStatus;
use crate::db::schema::{builds, worker_pools, workers};
use crate::db::{DbConn, DbError, now};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double};
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// Upper bounds (seconds) of the build duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0,
];

/// One scrape's numbers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Builds stored, by status (every status, zeros included).
    pub builds: Vec<(BuildStatus, i64)>,
    /// Queued builds per worker pool (every pool).
    pub queued: Vec<(String, i64)>,
    /// Builds that ran and ended: how many ended within each bucket of
    /// [`DURATION_BUCKETS`] (cumulative), their count and total seconds.
    pub duration_buckets: Vec<i64>,
    pub duration_count: i64,
    pub duration_sum: f64,
    /// Workers registered, and those that checked in within the window.
    pub workers: i64,
    pub workers_alive: i64,
    pub alive_window_seconds: u64,
    /// Per plugin: calls and failed calls in this process.
    pub plugins: Vec<(String, u64, u64)>,
}

#[derive(QueryableByName)]
struct Durations {
    #[diesel(sql_type = BigInt)]
    count: i64,
    #[diesel(sql_type = Double)]
    total: f64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Seconds between a build's start and end, per backend.
fn duration_sql(conn: &DbConn) -> &'static str {
    match conn {
        DbConn::Sqlite(_) => "((julianday(end_time) - julianday(start_time)) * 86400.0)",
        DbConn::Postgres(_) => {
            "CAST(EXTRACT(EPOCH FROM (end_time - start_time)) AS DOUBLE PRECISION)"
        }
    }
}

fn durations(conn: &mut DbConn) -> Result<(Vec<i64>, i64, f64), DbError> {
    let d = duration_sql(conn);
    let ended = "FROM builds WHERE start_time IS NOT NULL AND end_time IS NOT NULL";
    let total: Durations = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS count, CAST(COALESCE(SUM({d}), 0) AS REAL) AS total {ended}"
        ))
        .get_result(c)?,
        DbConn::Postgres(c) => diesel::sql_query(format!(
            "SELECT COUNT(*) AS count, CAST(COALESCE(SUM({d}), 0) AS DOUBLE PRECISION) AS total {ended}"
        ))
        .get_result(c)?,
    };
    let mut buckets = Vec::with_capacity(DURATION_BUCKETS.len());
    for le in DURATION_BUCKETS {
        let sql = format!("SELECT COUNT(*) AS n {ended} AND {d} <= {le:.1}");
        let n: Count = match conn {
            DbConn::Sqlite(c) => diesel::sql_query(sql).get_result(c)?,
            DbConn::Postgres(c) => diesel::sql_query(sql).get_result(c)?,
        };
        buckets.push(n.n);
    }
    Ok((buckets, total.count, total.total))
}

/// Reads every number of a scrape.
pub fn gather(app: &App) -> Result<Metrics, DbError> {
    let mut conn = app.db.conn()?;
    let by_status: Vec<(String, i64)> = builds::table
        .group_by(builds::status)
        .select((builds::status, diesel::dsl::count_star()))
        .load(&mut conn)?;
    let builds = BuildStatus::ALL
        .iter()
        .map(|s| {
            let n = by_status
                .iter()
                .filter(|(name, _)| name == s.as_str())
                .map(|(_, n)| *n)
                .sum();
            (*s, n)
        })
        .collect();
    let pools: Vec<(i64, String)> = worker_pools::table
        .select((worker_pools::id, worker_pools::name))
        .order(worker_pools::name.asc())
        .load(&mut conn)?;
    let queued_by_pool: Vec<(i64, i64)> = builds::table
        .filter(builds::status.eq(BuildStatus::Queued.as_str()))
        .group_by(builds::worker_pool_id)
        .select((builds::worker_pool_id, diesel::dsl::count_star()))
        .load(&mut conn)?;
    let queued = pools
        .into_iter()
        .map(|(id, name)| {
            let n = queued_by_pool
                .iter()
                .find(|(p, _)| *p == id)
                .map_or(0, |(_, n)| *n);
            (name, n)
        })
        .collect();
    let (duration_buckets, duration_count, duration_sum) = durations(&mut conn)?;
    let window = app.settings.worker.orphan_after_seconds.max(1);
    let since = now() - chrono::Duration::seconds(i64::try_from(window).unwrap_or(i64::MAX));
    let workers: i64 = workers::table.count().get_result(&mut conn)?;
    let workers_alive: i64 = workers::table
        .filter(workers::last_checkin.ge(since))
        .count()
        .get_result(&mut conn)?;
    let mut plugins: Vec<(String, u64, u64)> = Vec::new();
    for entry in app.plugins.registry.entries() {
        let name = &entry.library.manifest.name;
        if plugins.iter().any(|(n, _, _)| n == name) {
            continue;
        }
        let c = &entry.library.calls;
        plugins.push((
            name.clone(),
            c.calls.load(Relaxed),
            c.failures.load(Relaxed),
        ));
    }
    plugins.sort();
    Ok(Metrics {
        builds,
        queued,
        duration_buckets,
        duration_count,
        duration_sum,
        workers,
        workers_alive,
        alive_window_seconds: window,
        plugins,
    })
}

/// A label value as the text format writes it.
pub fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Writes one metric family's header.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

impl Metrics {
    /// The Prometheus text exposition of these numbers.
    pub fn exposition(&self) -> String {
        let mut out = String::with_capacity(4096);
        family(
            &mut out,
            "vespene_builds",
            "gauge",
            "Builds stored, by status.",
        );
        for (status, n) in &self.builds {
            let _ = writeln!(out, "vespene_builds{{status=\"{}\"}} {n}", status.as_str());
        }
        family(
            &mut out,
            "vespene_queue_depth",
            "gauge",
            "Builds waiting in each worker pool's queue.",
        );
        for (pool, n) in &self.queued {
            let _ = writeln!(
                out,
                "vespene_queue_depth{{pool=\"{}\"}} {n}",
                escape_label(pool)
            );
        }
        family(
            &mut out,
            "vespene_build_duration_seconds",
            "histogram",
            "Run time of the builds that ran and ended (start to end).",
        );
        for (le, n) in DURATION_BUCKETS.iter().zip(&self.duration_buckets) {
            let _ = writeln!(
                out,
                "vespene_build_duration_seconds_bucket{{le=\"{le}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "vespene_build_duration_seconds_bucket{{le=\"+Inf\"}} {}",
            self.duration_count
        );
        let _ = writeln!(
            out,
            "vespene_build_duration_seconds_sum {}",
            self.duration_sum
        );
        let _ = writeln!(
            out,
            "vespene_build_duration_seconds_count {}",
            self.duration_count
        );
        family(&mut out, "vespene_workers", "gauge", "Workers registered.");
        let _ = writeln!(out, "vespene_workers {}", self.workers);
        family(
            &mut out,
            "vespene_workers_alive",
            "gauge",
            &format!(
                "Workers that checked in within the last {} s (worker.orphan_after_seconds).",
                self.alive_window_seconds
            ),
        );
        let _ = writeln!(out, "vespene_workers_alive {}", self.workers_alive);
        family(
            &mut out,
            "vespene_plugin_calls_total",
            "counter",
            "Plugin operations called by this process, per plugin.",
        );
        for (name, calls, _) in &self.plugins {
            let _ = writeln!(
                out,
                "vespene_plugin_calls_total{{plugin=\"{}\"}} {calls}",
                escape_label(name)
            );
        }
        family(
            &mut out,
            "vespene_plugin_call_failures_total",
            "counter",
            "Plugin operations called by this process that failed, per plugin.",
        );
        for (name, _, failures) in &self.plugins {
            let _ = writeln!(
                out,
                "vespene_plugin_call_failures_total{{plugin=\"{}\"}} {failures}",
                escape_label(name)
            );
        }
        out
    }
}
