//! `vespene worker POOL`: run builds of a worker pool until stopped.

use super::Env;
use clap::Args;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use vespene_core::app::Migrations;
use vespene_core::engine::worker::{WorkerOptions, run as run_worker};

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The worker pool to take builds from.
    pub pool: String,
    /// Exit after this many builds.
    #[arg(long, value_name = "N")]
    pub max_builds: Option<u32>,
    /// Run this one queued build, then exit.
    #[arg(long, value_name = "ID")]
    pub build_id: Option<i64>,
    /// Exit after being idle this many minutes.
    #[arg(long, value_name = "M")]
    pub max_wait_minutes: Option<f64>,
}

/// SIGTERM and SIGINT ask the worker to stop after the current build.
pub fn shutdown_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, flag.clone())?;
    }
    Ok(flag)
}

pub fn run(env: &Env, args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let app = env.app(Migrations::Require)?;
    let options = WorkerOptions {
        pool: args.pool,
        max_builds: args.max_builds,
        build_id: args.build_id,
        max_wait: args
            .max_wait_minutes
            .map(|m| Duration::from_secs_f64((m * 60.0).max(0.0))),
    };
    let shutdown = shutdown_flag()?;
    // Processes a build leaves behind (setsid, `set -m` jobs, double
    // forks) come back to this process, which kills them when the build
    // ends.
    if let Err(e) = vespene_core::process::reaper::become_subreaper() {
        tracing::warn!(
            "cannot become a child subreaper ({e}): processes a build leaves behind outside its process group are not killed"
        );
    }
    tracing::info!("worker for pool '{}' started", options.pool);
    let summary = run_worker(&app, &options, &shutdown)?;
    tracing::info!(
        "worker for pool '{}' exits after {} builds",
        options.pool,
        summary.builds
    );
    Ok(ExitCode::SUCCESS)
}

/// `vespene __run-build`: the runner child a worker starts for each build
/// (see `vespene_core::engine::contained`); its build comes on stdin.
pub fn run_child(env: &Env) -> anyhow::Result<ExitCode> {
    let app = env.app(Migrations::Checked)?;
    vespene_core::engine::contained::child_main(&app)?;
    Ok(ExitCode::SUCCESS)
}
