//! Container isolation benchmark, all in one run, through a real
//! `vespene worker` on SQLite:
//!
//! * a trivial build (`echo hello`), queue → finished on an idle worker
//!   (median of N): in a container (`basic_container`, the busybox test
//!   image), under sudo isolation as `nobody` (when root and sudo is
//!   installed), and as the worker's own user (none); against `docker run
//!   --rm IMAGE echo hello` timed the same way (target: the container
//!   build ≤ 1.2× `docker run`);
//! * `seq 1000000` as a build, queue → finished with every line stored,
//!   in a container against the same under sudo (or none).
//!
//! Release figures: `cargo build --release --workspace && cargo bench -p
//! vespene-e2e --bench container`. Without `--bench` (as `cargo test
//! --benches` runs it) it uses small numbers to prove it works. Needs the
//! Docker engine (tests/services/docker.sh makes the image); without one it
//! says so and measures nothing (in CI a missing engine fails it).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::docker::test_image;
use vespene_e2e::engine::{Backend, EngineSandbox, kill};

const PATIENCE: Duration = Duration::from_secs(600);

/// One way of running builds.
struct Mode {
    label: &'static str,
    isolation: &'static str,
    user: String,
}

/// Queues project `project` and waits for its build to succeed: the time
/// from queueing to the end, with every line stored.
fn one_build(app: &App, project: i64) -> (i64, Duration) {
    let t = Instant::now();
    let id = start_project(app, &Actor::System, project, &StartRequest::default())
        .expect("start a project")
        .build
        .id;
    loop {
        let b = app.ops.builds().get(&Actor::System, id).expect("read");
        let s = b.status();
        if s.is_complete() && !matches!(s, BuildStatus::Aborting | BuildStatus::Queued) {
            assert_eq!(s, BuildStatus::Success, "build {id}");
            return (id, t.elapsed());
        }
        assert!(t.elapsed() < PATIENCE, "build {id} did not end");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Median queue → finished of `singles` trivial builds, and the time of
/// one `seq LINES` build (its stored line count checked).
fn measure(mode: &Mode, image: &str, singles: usize, lines: u64) -> (Duration, Duration) {
    let settings = format!(
        "[plugins.isolation]\nbench_container = [\"vespene.plugins.isolation.basic_container\", {{ default_image = \"{image}\" }}]\n"
    );
    let es = EngineSandbox::new(Backend::Sqlite, &settings).expect("SQLite sandbox");
    std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let app = es.app();
    let pool = es.pool_with(&app, "bench", mode.isolation, &mode.user);
    let trivial = es.project(&app, "trivial", pool, "#!/bin/sh\necho hello\n");
    let seq = es.project(&app, "seq", pool, &format!("#!/bin/sh\nseq {lines}\n"));
    let worker = es.worker("bench", &[]);
    one_build(&app, trivial); // warm
    let times = (0..singles)
        .map(|_| {
            // The worker is idle again (its last build's threads gone).
            std::thread::sleep(Duration::from_millis(20));
            one_build(&app, trivial).1
        })
        .collect();
    let (id, seq_time) = one_build(&app, seq);
    let stored = app
        .ops
        .builds()
        .output(&Actor::System, id, OutputStream::Output, 0)
        .expect("read output")
        .text;
    assert!(
        stored.contains(&format!("| {lines}\n")),
        "{}: the last line of seq {lines} was not stored",
        mode.label
    );
    kill(worker);
    (median(times), seq_time)
}

/// Median of `runs` runs of `docker run --rm IMAGE echo hello`.
fn docker_run(image: &str, runs: usize) -> Duration {
    let run = || {
        let t = Instant::now();
        let out = Command::new("docker")
            .args(["run", "--rm", image, "echo", "hello"])
            .output()
            .expect("run docker");
        assert!(out.status.success() && out.stdout == b"hello\n");
        t.elapsed()
    };
    run(); // warm
    median((0..runs).map(|_| run()).collect())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (singles, lines) = if full { (30, 1_000_000) } else { (3, 20_000) };
    let Some(image) = test_image() else {
        println!("container benchmark: not measured (no Docker engine)");
        return;
    };
    let root = nix::unistd::geteuid().is_root();
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name);
    let sudo = root
        && Command::new("sh")
            .args(["-c", "command -v sudo"])
            .output()
            .is_ok_and(|o| o.status.success());
    let mut modes = vec![
        Mode {
            label: "container (nobody)",
            isolation: "bench_container",
            user: "nobody".into(),
        },
        Mode {
            label: "none (worker's own user)",
            isolation: "sudo",
            user: me,
        },
    ];
    if sudo {
        modes.insert(
            1,
            Mode {
                label: "sudo (nobody)",
                isolation: "sudo",
                user: "nobody".into(),
            },
        );
    } else {
        eprintln!("sudo: not measured (needs root and sudo)");
    }
    let began = Instant::now();
    let docker = docker_run(&image, singles);
    let rows: Vec<(&Mode, Duration, Duration)> = modes
        .iter()
        .map(|m| {
            let (trivial, seq) = measure(m, &image, singles, lines);
            (m, trivial, seq)
        })
        .collect();
    println!(
        "container benchmark ({} build, SQLite, one worker, {singles} single builds per mode, \
         seq {lines}, {:.0} s in all)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        began.elapsed().as_secs_f64()
    );
    println!(
        "  {:<26} {:>16} {:>14} {:>16} {:>14}",
        "", "echo hello p50", "÷ docker run", "seq build", "÷ container"
    );
    println!(
        "  {:<26} {:>16} {:>14}",
        "docker run --rm (CLI)",
        ms(docker),
        "1.00"
    );
    let container_seq = rows[0].2;
    for (m, trivial, seq) in &rows {
        println!(
            "  {:<26} {:>16} {:>14.2} {:>16} {:>14.2}",
            m.label,
            ms(*trivial),
            trivial.as_secs_f64() / docker.as_secs_f64(),
            ms(*seq),
            seq.as_secs_f64() / container_seq.as_secs_f64()
        );
    }
    let ratio = rows[0].1.as_secs_f64() / docker.as_secs_f64();
    println!(
        "  target: a container build ≤ 1.2× docker run: {:.2}× ({})",
        ratio,
        if ratio <= 1.2 { "met" } else { "NOT met" }
    );
}
