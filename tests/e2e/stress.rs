//! No build lost or run twice: several real `vespene worker` processes
//! drain 500 queued builds of one pool (`build_latest` off, so every build
//! must run) while one worker is killed with SIGKILL in the middle of a
//! build. Afterwards every build has ended exactly once (SUCCESS, except
//! the killed one, which is ORPHANED with the reason in its messages), and
//! a ledger file that every build script appends its build id to shows
//! that each script started exactly once.
//!
//! Four workers on PostgreSQL (`FOR UPDATE SKIP LOCKED`), two on SQLite
//! (`BEGIN IMMEDIATE`). On two shared cores each case takes about 30–40 s
//! (measured: PostgreSQL 29–35 s, SQLite 36–39 s, at load averages up to
//! 2.7), most of it the builds themselves and the orphan sweep's period.

use diesel::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::db::schema::{builds as b, projects as p};
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::engine::wake::{CHANNEL, Notify};
use vespene_core::ops::WorkerPoolInput;
use vespene_e2e::engine::{Backend, EngineSandbox, kill};
use vespene_e2e::pgcluster::ThrowawayCluster;

/// Builds queued in all.
const BUILDS: usize = 500;
/// Projects the quick builds are spread over (all in one pool).
const PROJECTS: usize = 5;
/// Where in the queue the one slow build goes (the one whose worker dies).
const VICTIM_AT: usize = BUILDS / 3;
/// How long everything may take before the test gives up.
const DEADLINE: Duration = Duration::from_secs(240);
/// The sandbox's orphan sweep runs every 5 s in every worker loop.
const SWEEP: Duration = Duration::from_secs(5);

/// A quick build: records that it started, then takes 0–99 ms.
fn quick_script(ledger: &Path) -> String {
    format!(
        "#!/bin/bash\necho \"${{PWD##*/}}\" >> {}\necho \"ran ${{PWD##*/}}\"\nsleep 0.0$RANDOM\necho done\n",
        ledger.display()
    )
}

/// The slow build: long enough to be caught running (its worker is killed
/// within a second of its start).
fn slow_script(ledger: &Path) -> String {
    format!(
        "#!/bin/bash\necho \"${{PWD##*/}}\" >> {}\necho \"ran ${{PWD##*/}}\"\nsleep 10\necho done\n",
        ledger.display()
    )
}

/// Wakes the pool every [`NUDGE_EVERY`] while the test runs.
///
/// A worker currently waits after every build until its build watcher's
/// wait for wake-ups times out (up to 1 s, `Watch::finish` in
/// `engine/runner.rs`), so an otherwise quiet pool runs about one build per
/// second per worker: 500 builds would take minutes. In production, queued
/// builds wake the pool all the time; these wake-ups stand in for them. They
/// add stress too: every wake-up sends idle workers to claim and every
/// watcher to re-read its build.
/// Stops on drop, so a failing test leaves no thread notifying.
struct Nudger {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often the [`Nudger`] wakes the pool.
const NUDGE_EVERY: Duration = Duration::from_millis(50);

impl Nudger {
    fn start(es: &EngineSandbox, app: &App, pool: &str) -> Nudger {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let app = app.clone();
        let pool = pool.to_string();
        // PostgreSQL: one connection for every NOTIFY (the engine's own
        // notifier opens a connection each time).
        let url = es.database_url().to_string();
        let mut pg = (es.backend == Backend::Postgres)
            .then(|| vespene_core::db::DbConn::open(es.database_url()).expect("connect"));
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match &mut pg {
                    Some(conn) => {
                        use diesel::connection::SimpleConnection;
                        // A failed NOTIFY only slows the test down; the
                        // connection is opened again (after a restart).
                        if conn
                            .batch_execute(&format!("NOTIFY {CHANNEL}, '{pool}'"))
                            .is_err()
                            && let Ok(fresh) = vespene_core::db::DbConn::open(&url)
                        {
                            *conn = fresh;
                        }
                    }
                    None => app.waker.notify(&pool),
                }
                std::thread::sleep(NUDGE_EVERY);
            }
        });
        Nudger {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().expect("nudger");
        }
    }
}

impl Drop for Nudger {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// (status, end_time) of every build, by id.
type Snapshot = BTreeMap<i64, (String, Option<chrono::NaiveDateTime>)>;

/// Every build's state; retried for a while when the database is away (a
/// restart).
fn snapshot(app: &App) -> Snapshot {
    let mut tries = 0;
    loop {
        tries += 1;
        let read = app
            .db
            .conn()
            .map_err(|e| e.to_string())
            .and_then(|mut conn| {
                b::table
                    .select((b::id, b::status, b::end_time))
                    .load::<(i64, String, Option<chrono::NaiveDateTime>)>(&mut *conn)
                    .map_err(|e| e.to_string())
            });
        match read {
            Ok(rows) => {
                return rows
                    .into_iter()
                    .map(|(id, status, end)| (id, (status, end)))
                    .collect();
            }
            Err(e) if tries < 100 => {
                eprintln!("reading builds: {e}; retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("reading builds: {e}"),
        }
    }
}

fn is_final(status: &str) -> bool {
    BuildStatus::parse(status).is_some_and(|s| {
        s.is_complete() && !matches!(s, BuildStatus::Aborting | BuildStatus::Queued)
    })
}

/// Remembers the first final state seen for every build and fails if a
/// build ever leaves it (ended twice, or ended and then ran again).
#[derive(Default)]
struct Finals {
    seen: HashMap<i64, (String, Option<chrono::NaiveDateTime>)>,
}

impl Finals {
    fn observe(&mut self, snap: &Snapshot) {
        for (id, state) in snap {
            match self.seen.get(id) {
                Some(first) => assert_eq!(
                    first, state,
                    "build {id} ended as {first:?} and later became {state:?}"
                ),
                None if is_final(&state.0) => {
                    assert!(
                        state.1.is_some(),
                        "build {id} is {} without end_time",
                        state.0
                    );
                    self.seen.insert(*id, state.clone());
                }
                None => {}
            }
        }
    }
}

/// The pid of a `<worker uid>:<pid>` claimer.
fn claimer_pid(claimed_by: &str) -> u32 {
    claimed_by
        .rsplit_once(':')
        .and_then(|(_, pid)| pid.parse().ok())
        .unwrap_or_else(|| panic!("claimed_by '{claimed_by}' has no pid"))
}

/// Where the stress test runs.
enum Database {
    Sqlite,
    /// The shared test cluster.
    Postgres,
    /// A cluster of the test's own, restarted right after the kill, while
    /// builds are running.
    Restarted(ThrowawayCluster),
}

fn stress(db: Database, worker_count: usize) {
    let (es, cluster) = match db {
        Database::Sqlite => (EngineSandbox::new(Backend::Sqlite, ""), None),
        Database::Postgres => (EngineSandbox::new(Backend::Postgres, ""), None),
        Database::Restarted(c) => (Some(EngineSandbox::on(Some(c.url()), "")), Some(c)),
    };
    let Some(es) = es else {
        return;
    };
    let backend = es.backend;
    let began = Instant::now();
    let app = es.app();
    let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into());
    let pool = app
        .ops
        .worker_pools()
        .create(
            &Actor::System,
            &WorkerPoolInput {
                name: "stress".into(),
                isolation_method: "sudo".into(),
                sudo_user: Some(user),
                build_latest: false,
                ..WorkerPoolInput::default()
            },
        )
        .expect("create pool")
        .worker_pool
        .id;
    let ledger = es.sb.root().join("ledger");
    std::fs::write(&ledger, "").unwrap();
    let projects: Vec<i64> = (0..PROJECTS)
        .map(|i| es.project(&app, &format!("stress-{i}"), pool, &quick_script(&ledger)))
        .collect();
    let slow = es.project(&app, "stress-slow", pool, &slow_script(&ledger));

    // Queue everything first (a project refuses a new start while its
    // build runs), then let the workers loose on the full queue.
    let t = Instant::now();
    let ids: Vec<i64> = (0..BUILDS)
        .map(|i| {
            let project = if i == VICTIM_AT {
                slow
            } else {
                projects[i % projects.len()]
            };
            let started = start_project(&app, &Actor::System, project, &StartRequest::default())
                .expect("queue a build");
            assert_eq!(started.failed, None);
            started.build.id
        })
        .collect();
    let queue_time = t.elapsed();
    let victim = ids[VICTIM_AT];
    let mut workers: Vec<Child> = (0..worker_count)
        .map(|_| es.worker("stress", &[]))
        .collect();
    let nudger = Nudger::start(&es, &app, "stress");

    // Kill the worker running the slow build once its script has started
    // (its id is in the ledger) and the start of its log is stored.
    let deadline = Instant::now() + DEADLINE;
    let claim_line = format!("build {victim} running on");
    let ran_line = format!("m | ran {victim}");
    loop {
        let ledger_has_it = std::fs::read_to_string(&ledger)
            .unwrap()
            .lines()
            .any(|l| l == victim.to_string());
        if ledger_has_it
            && es
                .output(&app, victim, OutputStream::Messages)
                .contains(&claim_line)
            && es
                .output(&app, victim, OutputStream::Output)
                .contains(&ran_line)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the slow build {victim} never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let claimed_by: String = {
        let mut conn = app.db.conn().unwrap();
        b::table
            .find(victim)
            .select(b::claimed_by)
            .first::<Option<String>>(&mut *conn)
            .unwrap()
            .expect("a running build has a claimer")
    };
    let pid = claimer_pid(&claimed_by);
    let index = workers
        .iter()
        .position(|w| w.id() == pid)
        .unwrap_or_else(|| panic!("build {victim} claimed by {claimed_by}, not one of ours"));
    let killed_at = began.elapsed();
    // `Child::kill` is SIGKILL; reaping it lets the sweep see it is gone.
    kill(workers.swap_remove(index));
    // The kill landed mid-build: the slow build (and only it) is still
    // RUNNING for the dead worker.
    {
        let mut conn = app.db.conn().unwrap();
        let running: Vec<i64> = b::table
            .filter(b::claimed_by.eq(&claimed_by))
            .filter(b::status.eq(BuildStatus::Running.as_str()))
            .select(b::id)
            .load(&mut *conn)
            .unwrap();
        assert_eq!(
            running,
            [victim],
            "builds left running by the killed worker"
        );
    }

    // The database goes away and comes back while the other workers'
    // builds run: every result must still be recorded, once.
    let restarted_at = cluster.as_ref().map(|c| {
        c.restart();
        began.elapsed()
    });
    // Wait for every build to end (the victim through the orphan sweep),
    // checking all along that an ended build never changes again.
    let mut finals = Finals::default();
    loop {
        let snap = snapshot(&app);
        finals.observe(&snap);
        assert_eq!(snap.len(), BUILDS, "builds in the database");
        if finals.seen.len() == BUILDS {
            break;
        }
        if Instant::now() >= deadline {
            let open: Vec<_> = snap.iter().filter(|(_, s)| !is_final(&s.0)).collect();
            panic!("{} builds never ended: {open:?}", open.len());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let all_done = began.elapsed();
    // One more round of sweeps by every surviving worker: nothing ended may
    // change (a sweep must not orphan a finished build).
    let settle = Instant::now() + SWEEP + Duration::from_millis(500);
    while Instant::now() < settle {
        finals.observe(&snapshot(&app));
        std::thread::sleep(Duration::from_millis(100));
    }
    nudger.stop();
    for w in workers {
        kill(w);
    }

    // Every build ended once, in the state it had to.
    for &id in &ids {
        let build = app.ops.builds().get(&Actor::System, id).unwrap();
        let messages = es.output(&app, id, OutputStream::Messages);
        let output = es.output(&app, id, OutputStream::Output);
        let claims = messages
            .lines()
            .filter(|l| l.contains(&format!("build {id} running on")))
            .count();
        assert_eq!(claims, 1, "build {id} claimed {claims} times:\n{messages}");
        assert!(
            build.start_time.is_some() && build.end_time.is_some(),
            "{build:#?}"
        );
        if id == victim {
            assert_eq!(
                build.status(),
                BuildStatus::Orphaned,
                "{build:#?}\n{messages}"
            );
            assert_eq!(build.claimed_by.as_deref(), Some(claimed_by.as_str()));
            assert_eq!(build.return_code, Some(-1));
            assert!(
                messages
                    .lines()
                    .any(|l| l.contains("build orphaned:") && l.contains(&claimed_by)),
                "build {id} has no orphan reason:\n{messages}"
            );
            // What was stored before the kill is still there, once.
            assert_eq!(output.matches(&ran_line).count(), 1, "{output}");
            continue;
        }
        assert_eq!(
            build.status(),
            BuildStatus::Success,
            "build {id}: {build:#?}\n{messages}\n{output}"
        );
        // The whole output was stored, once.
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines.len(), 2, "build {id} output:\n{output}");
        assert!(lines[0].ends_with(&format!("m | ran {id}")), "{output}");
        assert!(lines[1].ends_with("m | done"), "{output}");
    }

    // Every script started exactly once, the killed one included (it was
    // caught after it had started).
    let text = std::fs::read_to_string(&ledger).unwrap();
    let mut runs: BTreeMap<i64, usize> = BTreeMap::new();
    for line in text.lines() {
        let id: i64 = line
            .parse()
            .unwrap_or_else(|_| panic!("ledger line '{line}'"));
        *runs.entry(id).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "builds run more than once: {twice:?}");
    let expected: Vec<i64> = {
        let mut v = ids.clone();
        v.sort_unstable();
        v
    };
    assert_eq!(
        runs.keys().copied().collect::<Vec<_>>(),
        expected,
        "builds that never ran (or ids nobody queued)"
    );

    // No project is left with an active build.
    let mut conn = app.db.conn().unwrap();
    let active: Vec<(i64, Option<i64>)> = p::table
        .select((p::id, p::active_build_id))
        .load(&mut *conn)
        .unwrap();
    assert!(
        active.iter().all(|(_, a)| a.is_none()),
        "projects still active: {active:?}"
    );

    // Who ran what, for the record.
    let per_worker: Vec<(Option<String>, i64)> = b::table
        .group_by(b::claimed_by)
        .select((b::claimed_by, diesel::dsl::count_star()))
        .load(&mut *conn)
        .unwrap();
    let mut counts: Vec<i64> = per_worker.iter().map(|(_, n)| *n).collect();
    counts.sort_unstable();
    eprintln!(
        "{backend:?}, {worker_count} workers: queued {BUILDS} builds in {queue_time:.1?}, \
         killed a worker at {killed_at:.1?}, restarted the database at {restarted_at:?}, all ended at {all_done:.1?}, total {:.1?}; \
         builds per worker {counts:?}",
        began.elapsed()
    );
}

#[test]
fn two_workers_on_sqlite_lose_no_build_and_run_none_twice() {
    stress(Database::Sqlite, 2);
}

#[test]
fn four_workers_on_postgres_lose_no_build_and_run_none_twice() {
    stress(Database::Postgres, 4);
}

#[test]
fn a_postgres_restart_mid_run_loses_no_finished_build_and_runs_none_twice() {
    if let Some(cluster) = ThrowawayCluster::start() {
        stress(Database::Restarted(cluster), 4);
    }
}
