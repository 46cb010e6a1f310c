//! Database benchmarks, on SQLite and (when `VESPENE_TEST_POSTGRES_URL` is
//! set) PostgreSQL:
//!
//! * `build_list/<backend>/<n>`: one filtered page (a project, two
//!   statuses, page 2 of 50) of the build list as a non-superuser whose
//!   authorization filter is "created by me or my project's owner groups",
//!   with 1,000 and 100,000 builds stored; baseline: fetching one build by
//!   id through the same operations layer.
//! * `output_append/<backend>/<batch>`: appending output in batches of 100
//!   and 1,000 lines (throughput in lines/s), and a one-shot figure: one
//!   build receiving 1,000,000 lines in batches of 1,000.
//!
//! `cargo bench -p vespene-core --bench db -- --test` runs every case once
//! on small data (1k builds, 10k lines) and finishes in seconds.

use criterion::{BenchmarkId, Criterion, Throughput};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use vespene_core::authz::{Actor, AuthorizationBackend, Authz};
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::{OutputStream, append_output};
use vespene_core::db::schema::builds as b;
use vespene_core::db::{Db, DbConn, DbOptions, now};
use vespene_core::ops::*;
use vespene_core::secrets::Secrets;
use vespene_plugin_api::kinds::authorization::{CheckRequest, Decision, Filter, FilterRequest};
use vespene_plugin_api::{GroupRef, PluginError, UserInfo};

/// "Created by me, or my project's owner groups" (the stock build rule).
struct OwnBuilds;

impl AuthorizationBackend for OwnBuilds {
    fn name(&self) -> &str {
        "own_builds"
    }
    fn check(&self, _: &CheckRequest) -> Result<Decision, PluginError> {
        Ok(Decision::allow())
    }
    fn filter(&self, r: &FilterRequest) -> Result<Filter, PluginError> {
        let u = r.user.as_ref().expect("a user");
        Ok(Filter::AnyOf(vec![
            Filter::CreatedBy(u.id),
            Filter::ProjectOwnerGroupsAny(u.groups.iter().map(|g| g.id).collect()),
        ]))
    }
}

/// A migrated database of one backend, dropped at the end.
struct BenchDb {
    name: &'static str,
    db: Db,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg
            && let Ok(mut c) = DbConn::open(url)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

fn sqlite() -> BenchDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    vespene_core::db::migrate(&url).unwrap();
    BenchDb {
        name: "sqlite",
        db: Db::connect(&url).unwrap(),
        _dir: Some(dir),
        pg: None,
    }
}

fn postgres() -> Option<BenchDb> {
    let url = std::env::var("VESPENE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let schema = format!(
        "bench_{}",
        r.iter().map(|x| format!("{x:02x}")).collect::<String>()
    );
    DbConn::open(&url)
        .unwrap()
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    let db = Db::connect_with(
        &format!("{url}{sep}options=-csearch_path%3D{schema}"),
        &DbOptions::default(),
    )
    .unwrap();
    db.migrate().unwrap();
    Some(BenchDb {
        name: "postgres",
        db,
        _dir: None,
        pg: Some((url, schema)),
    })
}

fn backends() -> Vec<BenchDb> {
    let mut v = vec![sqlite()];
    match postgres() {
        Some(pg) => v.push(pg),
        None => eprintln!("PostgreSQL not configured (VESPENE_TEST_POSTGRES_URL): SQLite only"),
    }
    v
}

/// A pool, 10 projects owned by group "dev", a user in that group, and
/// `n` builds spread over the projects and statuses, loaded with
/// multi-row INSERTs in one transaction. Returns (ops, actor, a project).
fn load_builds(bdb: &BenchDb, n: usize) -> (Ops, Actor, i64, i64) {
    let sys = Ops::new(bdb.db.clone(), Authz::none(), Secrets::none());
    let a = &Actor::System;
    let pool = sys
        .worker_pools()
        .create(
            a,
            &WorkerPoolInput {
                name: "pool".into(),
                isolation_method: "sudo".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .worker_pool
        .id;
    let dev = sys
        .groups()
        .create(a, &GroupInput { name: "dev".into() })
        .unwrap()
        .group
        .id;
    let uid = sys
        .users()
        .create(
            a,
            &UserInput {
                username: "dev".into(),
                groups: vec![dev],
                ..Default::default()
            },
        )
        .unwrap()
        .user
        .id;
    let projects: Vec<i64> = (0..10)
        .map(|i| {
            sys.projects()
                .create(
                    a,
                    &ProjectInput {
                        name: format!("project-{i}"),
                        worker_pool_id: pool,
                        owner_groups: if i % 2 == 0 { vec![dev] } else { vec![] },
                        ..Default::default()
                    },
                )
                .unwrap()
                .project
                .id
        })
        .collect();
    let statuses = [
        BuildStatus::Success,
        BuildStatus::Failure,
        BuildStatus::Success,
        BuildStatus::Aborted,
    ];
    let mut conn = bdb.db.conn().unwrap();
    let t = now();
    vespene_core::db::write_tx(&mut conn, |conn| {
        for start in (0..n).step_by(1000) {
            let rows: Vec<_> = (start..(start + 1000).min(n))
                .map(|i| {
                    (
                        b::project_id.eq(Some(projects[i % projects.len()])),
                        b::worker_pool_id.eq(pool),
                        b::status.eq(statuses[i % statuses.len()].as_str()),
                        b::queued_time.eq(t),
                        b::start_time.eq(Some(t)),
                        b::end_time.eq(Some(t)),
                        b::created_by.eq(if i % 7 == 0 { Some(uid) } else { None }),
                        b::script.eq("#!/bin/sh\necho hello\n"),
                    )
                })
                .collect();
            match conn {
                DbConn::Sqlite(c) => diesel::insert_into(b::table).values(rows).execute(c)?,
                DbConn::Postgres(c) => diesel::insert_into(b::table).values(rows).execute(c)?,
            };
        }
        Ok::<(), diesel::result::Error>(())
    })
    .unwrap();
    if let DbConn::Postgres(c) = &mut *conn {
        c.batch_execute("ANALYZE").unwrap();
    }
    drop(conn);
    let ops = Ops::new(
        bdb.db.clone(),
        Authz::new(vec![Arc::new(OwnBuilds)]),
        Secrets::none(),
    )
    .with_page_size(50);
    let actor = Actor::User(UserInfo {
        id: uid,
        username: "dev".into(),
        is_superuser: false,
        groups: vec![GroupRef {
            id: dev,
            name: "dev".into(),
        }],
    });
    let one_build: i64 = b::table
        .select(b::id)
        .order(b::id.desc())
        .first(&mut *bdb.db.conn().unwrap())
        .unwrap();
    (ops, actor, projects[0], one_build)
}

fn build_list(c: &mut Criterion, quick: bool) {
    let sizes: &[usize] = if quick { &[1_000] } else { &[1_000, 100_000] };
    let mut group = c.benchmark_group("build_list");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for &n in sizes {
        for bdb in backends() {
            let started = Instant::now();
            let (ops, actor, project, one) = load_builds(&bdb, n);
            eprintln!(
                "{}: loaded {n} builds in {:.2?}",
                bdb.name,
                started.elapsed()
            );
            let filter = BuildFilter {
                project_id: Some(project),
                statuses: vec![BuildStatus::Success, BuildStatus::Failure],
                ..Default::default()
            };
            let page = ops
                .builds()
                .list(&actor, &filter, PageRequest::page(2))
                .unwrap();
            assert!(!page.items.is_empty(), "the page holds builds");
            group.bench_function(
                BenchmarkId::new(format!("{}/filtered_page", bdb.name), n),
                |bch| {
                    bch.iter(|| {
                        black_box(
                            ops.builds()
                                .list(&actor, &filter, PageRequest::page(2))
                                .unwrap(),
                        )
                    })
                },
            );
            group.bench_function(
                BenchmarkId::new(format!("{}/baseline_get_one", bdb.name), n),
                |bch| bch.iter(|| black_box(ops.builds().get(&Actor::System, one).unwrap())),
            );
        }
    }
    group.finish();
}

fn new_build(bdb: &BenchDb) -> i64 {
    let sys = Ops::new(bdb.db.clone(), Authz::none(), Secrets::none());
    let a = &Actor::System;
    let pool = match sys.worker_pools().id_by_name(a, "out") {
        Ok(id) => id,
        Err(_) => {
            sys.worker_pools()
                .create(
                    a,
                    &WorkerPoolInput {
                        name: "out".into(),
                        isolation_method: "sudo".into(),
                        ..Default::default()
                    },
                )
                .unwrap()
                .worker_pool
                .id
        }
    };
    let project = match sys.projects().id_by_name(a, "out") {
        Ok(id) => id,
        Err(_) => {
            sys.projects()
                .create(
                    a,
                    &ProjectInput {
                        name: "out".into(),
                        worker_pool_id: pool,
                        ..Default::default()
                    },
                )
                .unwrap()
                .project
                .id
        }
    };
    vespene_core::db::builds::insert_queued(
        &mut bdb.db.conn().unwrap(),
        &vespene_core::db::builds::NewBuild::queued(project, pool),
    )
    .unwrap()
}

fn lines(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "    0.{:02}m | output line number {i} of a long build",
                i % 100
            )
        })
        .collect()
}

/// The one-shot figure: one build receives `total` lines in batches of
/// 1,000; reports lines/s, next to writing the same bytes to a file.
fn million_lines(quick: bool) {
    let total = if quick { 10_000 } else { 1_000_000 };
    let batch = lines(1000);
    let bytes: usize = batch.iter().map(|l| l.len() + 1).sum::<usize>() * (total / 1000);
    let dir = tempfile::tempdir().unwrap();
    let file_start = Instant::now();
    {
        use std::io::Write;
        let mut f =
            std::io::BufWriter::new(std::fs::File::create(dir.path().join("out.txt")).unwrap());
        for _ in 0..total / 1000 {
            for l in &batch {
                writeln!(f, "{l}").unwrap();
            }
        }
        f.into_inner().unwrap().sync_all().unwrap();
    }
    let file_time = file_start.elapsed();
    eprintln!(
        "baseline: {total} lines ({} MB) to a file: {file_time:.2?}",
        bytes / 1_000_000
    );
    for bdb in backends() {
        let build = new_build(&bdb);
        let mut conn = bdb.db.conn().unwrap();
        let started = Instant::now();
        for _ in 0..total / 1000 {
            append_output(&mut conn, build, OutputStream::Output, &batch).unwrap();
        }
        let took = started.elapsed();
        let read_start = Instant::now();
        let read = vespene_core::db::output::read_output(&mut conn, build, OutputStream::Output, 0)
            .unwrap();
        let read_took = read_start.elapsed();
        assert_eq!(read.lines, total as i64);
        eprintln!(
            "{}: appended {total} lines in batches of 1000 in {took:.2?} = {:.0} lines/s ({:.1}x the file baseline); read back in {read_took:.2?}",
            bdb.name,
            total as f64 / took.as_secs_f64(),
            took.as_secs_f64() / file_time.as_secs_f64()
        );
    }
}

fn output_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("output_append");
    group.measurement_time(Duration::from_secs(3));
    group.warm_up_time(Duration::from_secs(1));
    for bdb in backends() {
        let build = new_build(&bdb);
        let mut conn = bdb.db.conn().unwrap();
        for size in [100usize, 1000] {
            let batch = lines(size);
            group.throughput(Throughput::Elements(size as u64));
            group.bench_function(BenchmarkId::new(bdb.name, size), |bch| {
                bch.iter(|| append_output(&mut conn, build, OutputStream::Output, &batch).unwrap())
            });
        }
    }
    group.finish();
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    million_lines(quick);
    let mut c = Criterion::default().configure_from_args();
    build_list(&mut c, quick);
    output_append(&mut c);
    c.final_summary();
}
