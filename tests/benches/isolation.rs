//! Isolation benchmark: what each isolation adds to a trivial build
//! (`echo hello`), through a real `vespene worker` on SQLite, all modes in
//! this one run:
//!
//! * **none**: the sudo plugin with the build user being the worker's own
//!   (the script runs directly) — the baseline;
//! * **sudo**: the sudo plugin running the script as `nobody` (only when
//!   root and `sudo` is installed);
//! * **namespace**: the namespace plugin (its launcher,
//!   `vespene-namespace-launcher`, built beside `vespene`).
//!
//! For each: builds per second through one worker (N builds queued at
//! once, until all have ended), and queue → finished of single builds
//! queued on an idle worker (median and p95). The namespace and sudo rows
//! show their median queue → finished minus the baseline's: the cost of
//! starting the isolation (target: namespace ≤ 3 ms over none).
//!
//! Release figures: `cargo build --release --workspace && cargo bench -p
//! vespene-e2e --bench isolation`. Without `--bench` (as `cargo test
//! --benches` runs it) it uses small numbers to prove it works.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{Backend, EngineSandbox, kill};

const PATIENCE: Duration = Duration::from_secs(300);

/// One isolation to measure.
struct Mode {
    label: &'static str,
    isolation: &'static str,
    user: String,
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

/// Waits until build `id` has ended, successfully.
fn wait_done(app: &App, id: i64) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let b = app.ops.builds().get(&Actor::System, id).expect("read");
        let s = b.status();
        if s.is_complete() && !matches!(s, BuildStatus::Aborting | BuildStatus::Queued) {
            assert_eq!(s, BuildStatus::Success, "build {id}");
            return;
        }
        assert!(Instant::now() < deadline, "build {id} did not end");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn measure(mode: &Mode, builds: usize, singles: usize) -> Figures {
    let es = EngineSandbox::new(Backend::Sqlite, "").expect("SQLite sandbox");
    // Passable down to the build roots, as an install is.
    std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let app = es.app();
    let pool = es.pool_with(&app, "bench", mode.isolation, &mode.user);
    // One project per build: a pool's build_latest would abort duplicates.
    let projects: Vec<i64> = (0..builds.max(singles))
        .map(|i| es.project(&app, &format!("p{i}"), pool, "#!/bin/sh\necho hello\n"))
        .collect();
    let worker = es.worker("bench", &[]);
    // Warm: the worker has started and served one build.
    wait_done(&app, queue(&app, projects[0]));

    let t = Instant::now();
    let ids: Vec<i64> = projects[..builds].iter().map(|p| queue(&app, *p)).collect();
    for id in &ids {
        wait_done(&app, *id);
    }
    let per_sec = builds as f64 / t.elapsed().as_secs_f64();

    let mut times: Vec<Duration> = projects[..singles]
        .iter()
        .map(|p| {
            // The worker is idle again (its last build's threads gone).
            std::thread::sleep(Duration::from_millis(20));
            let t = Instant::now();
            wait_done(&app, queue(&app, *p));
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

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (builds, singles) = if full { (300, 60) } else { (3, 3) };
    let root = nix::unistd::geteuid().is_root();
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name);
    let mut modes = vec![Mode {
        label: "none (worker's own user)",
        isolation: "sudo",
        user: me,
    }];
    if root && have("sudo") {
        modes.push(Mode {
            label: "sudo (nobody)",
            isolation: "sudo",
            user: "nobody".into(),
        });
    } else {
        eprintln!("sudo: not measured (needs root and sudo)");
    }
    let launcher = vespene_e2e::harness::vespene_bin().with_file_name("vespene-namespace-launcher");
    if launcher.is_file() {
        modes.push(Mode {
            label: "namespace",
            isolation: "namespace",
            user: "nobody".into(),
        });
    } else {
        eprintln!(
            "namespace: not measured ({} is missing)",
            launcher.display()
        );
    }
    let began = Instant::now();
    let rows: Vec<(&Mode, Figures)> = modes
        .iter()
        .map(|m| {
            let t = Instant::now();
            let f = measure(m, builds, singles);
            eprintln!("{}: {:.1?}", m.label, t.elapsed());
            (m, f)
        })
        .collect();
    println!(
        "isolation benchmark ({} build, SQLite, one worker, {builds} builds / {singles} single \
         builds per mode, {:.0} s in all)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        began.elapsed().as_secs_f64()
    );
    println!(
        "  {:<26} {:>10} {:>14} {:>12} {:>16}",
        "isolation", "builds/s", "queue→end p50", "p95", "p50 over none"
    );
    let base = rows[0].1.median;
    for (m, f) in &rows {
        let over = f.median.as_secs_f64() - base.as_secs_f64();
        let target = if m.isolation == "namespace" {
            format!(
                " (target ≤ 3 ms: {})",
                if over <= 0.003 { "met" } else { "NOT met" }
            )
        } else {
            String::new()
        };
        println!(
            "  {:<26} {:>10.1} {:>14} {:>12} {:>13.2} ms{target}",
            m.label,
            f.per_sec,
            ms(f.median),
            ms(f.p95),
            over * 1e3
        );
    }
}
