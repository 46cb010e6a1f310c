//! The cost of containing plugin calls: each build in a runner child
//! process of its worker (`[worker] contain_plugin_calls = true`, the
//! default) against the same builds run in the worker itself (`false`),
//! through a real `vespene worker` on SQLite, in this one run: trivial
//! builds (`echo hello`) per second through one worker (N queued at once)
//! and queue → finished of single builds on an idle worker (median, p95),
//! three rounds alternating which mode goes first, the median round each.
//! Target: builds/s within 10 % of the in-worker figure.
//!
//! `cargo bench -p vespene-e2e --bench plugin_calls` (release figures need
//! `cargo build --release --workspace` first). Without `--bench` (as
//! `cargo test --benches` runs it) it uses small numbers to prove it works.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{Backend, EngineSandbox, kill};

const PATIENCE: Duration = Duration::from_secs(300);

/// One way of running builds to measure.
struct Mode {
    label: &'static str,
    contain: bool,
}

struct Figures {
    per_sec: f64,
    median: Duration,
    p95: Duration,
}

fn queue(app: &App, project: i64) -> i64 {
    start_project(app, &Actor::System, project, &StartRequest::default())
        .expect("start a project")
        .build
        .id
}

/// Waits until build `id` has ended, successfully, looking every `every`.
fn wait_done(app: &App, id: i64, every: Duration) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let b = app.ops.builds().get(&Actor::System, id).expect("read");
        let s = b.status();
        if s.is_complete() && !matches!(s, BuildStatus::Aborting | BuildStatus::Queued) {
            assert_eq!(s, BuildStatus::Success, "build {id}");
            return;
        }
        assert!(Instant::now() < deadline, "build {id} did not end");
        std::thread::sleep(every);
    }
}

/// How often the throughput phase looks: its reads are this process's
/// queries against the worker's, on the same two cores (every 0.5 ms was
/// a tenth of a core), and it adds at most this much to a run of seconds.
const BATCH_POLL: Duration = Duration::from_millis(5);

/// How often a single build is looked at: its latency is the figure.
const SINGLE_POLL: Duration = Duration::from_micros(500);

fn measure(mode: &Mode, builds: usize, singles: usize) -> Figures {
    let es = EngineSandbox::new(
        Backend::Sqlite,
        &format!("[worker]\ncontain_plugin_calls = {}\n", mode.contain),
    )
    .expect("SQLite sandbox");
    // Passable down to the build roots, as an install is.
    std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let app = es.app();
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name);
    let pool = es.pool_with(&app, "bench", "sudo", &me);
    // One project per build: a pool's build_latest would abort duplicates.
    let projects: Vec<i64> = (0..builds.max(singles))
        .map(|i| es.project(&app, &format!("p{i}"), pool, "#!/bin/sh\necho hello\n"))
        .collect();
    let worker = es.worker("bench", &[]);
    // Warm: the worker has started and served one build.
    wait_done(&app, queue(&app, projects[0]), SINGLE_POLL);

    let t = Instant::now();
    let ids: Vec<i64> = projects[..builds].iter().map(|p| queue(&app, *p)).collect();
    for id in &ids {
        wait_done(&app, *id, BATCH_POLL);
    }
    let per_sec = builds as f64 / t.elapsed().as_secs_f64();

    let mut times: Vec<Duration> = projects[..singles]
        .iter()
        .map(|p| {
            // The worker is idle again (its last build's threads gone).
            std::thread::sleep(Duration::from_millis(20));
            let t = Instant::now();
            wait_done(&app, queue(&app, *p), SINGLE_POLL);
            t.elapsed()
        })
        .collect();
    kill(worker);
    times.sort_unstable();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Figures {
        per_sec,
        median: at(0.5),
        p95: at(0.95),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (builds, singles, rounds) = if full { (600, 60, 3) } else { (3, 3, 1) };
    let modes = [
        Mode {
            label: "in the worker (off)",
            contain: false,
        },
        Mode {
            label: "runner child (on)",
            contain: true,
        },
    ];
    // Rounds alternate which mode goes first; each mode's figures are the
    // median round's (by builds/s), so one disturbed run does not decide.
    let mut runs: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            runs[i].push(measure(&modes[i], builds, singles));
        }
    }
    let rows: Vec<(&Mode, Figures)> = modes
        .iter()
        .zip(runs)
        .map(|(m, mut figures)| {
            figures.sort_by(|a, b| a.per_sec.total_cmp(&b.per_sec));
            let all: Vec<String> = figures
                .iter()
                .map(|f| format!("{:.1}", f.per_sec))
                .collect();
            println!(
                "  {}: builds/s by round, sorted: {}",
                m.label,
                all.join(", ")
            );
            (m, figures.swap_remove(figures.len() / 2))
        })
        .collect();
    println!(
        "plugin call containment ({} build, SQLite, one worker, {builds} builds / {singles} single builds each, median of {rounds} alternating rounds)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "  {:<22} {:>10} {:>14} {:>12}",
        "plugin calls", "builds/s", "queue→end p50", "p95"
    );
    for (m, f) in &rows {
        println!(
            "  {:<22} {:>10.1} {:>14} {:>12}",
            m.label,
            f.per_sec,
            ms(f.median),
            ms(f.p95)
        );
    }
    let ratio = rows[1].1.per_sec / rows[0].1.per_sec;
    println!(
        "  contained / in worker: {:.1} % of the builds/s, +{:.2} ms queue→end p50 (target: within 10 %: {})",
        ratio * 100.0,
        (rows[1].1.median.as_secs_f64() - rows[0].1.median.as_secs_f64()) * 1e3,
        if ratio >= 0.9 { "met" } else { "NOT met" }
    );
}
