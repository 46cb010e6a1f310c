//! The per-build cost of killing what a build leaves behind: the worker,
//! a child subreaper, looks for leftover children (`/proc/self/task/*/
//! children`) twice per build. Measured in-process against the baseline of
//! one trivial build command (`echo hello` through the engine's process
//! runner) in the same run, and against the 3.85 ms a trivial build takes
//! at today's 260 builds/s (SQLite, one worker).
//!
//! `cargo bench -p vespene-e2e --bench containment` (a few seconds).

use std::time::{Duration, Instant};
use vespene_core::process::reaper::{become_subreaper, kill_leftovers};
use vespene_core::process::{CommandSpec, run};

fn per_call(n: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..n / 10 {
        f();
    }
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed() / n as u32
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick { 200 } else { 5000 };
    become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
    let spec = CommandSpec::argv(["echo", "hello"]);
    let command = per_call(n / 10, || {
        run(&spec, |_| {}).expect("echo");
    });
    let sweep = per_call(n, || {
        let left = kill_leftovers();
        assert_eq!(left.killed, 0);
    });
    // Two sweeps per build (after the script, at the end).
    let per_build = sweep * 2;
    let build = Duration::from_secs_f64(1.0 / 260.0);
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| one leftover sweep (no leftovers) | {:.1} µs |",
        sweep.as_secs_f64() * 1e6
    );
    println!(
        "| baseline: `echo hello` through the process runner | {:.1} µs |",
        command.as_secs_f64() * 1e6
    );
    println!(
        "| two sweeps per build / one build at 260 builds/s | {:.2} % (target: builds/s within 10 %) |",
        per_build.as_secs_f64() / build.as_secs_f64() * 100.0
    );
}
