//! `vespene cleanup`: removes the oldest builds and old build roots (see
//! `vespene_core::engine::cleanup`).

use super::Env;
use clap::Args;
use std::process::ExitCode;
use vespene_core::app::Migrations;
use vespene_core::engine::cleanup::{CleanupOptions, cleanup};

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Delete builds queued more than --days days ago, with their output
    /// (never builds that are queued, running or stopping).
    #[arg(long)]
    pub remove_builds: bool,
    /// Delete the directories under this host's build_root last modified
    /// more than --days days ago (never those of active builds).
    #[arg(long)]
    pub remove_build_roots: bool,
    /// The age, in days (at least 1).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub days: i64,
}

pub fn run(env: &Env, args: CleanupArgs) -> anyhow::Result<ExitCode> {
    let options = CleanupOptions {
        remove_builds: args.remove_builds,
        remove_build_roots: args.remove_build_roots,
        days: args.days,
    };
    // Refuse a bad request before touching the database.
    options.check()?;
    let app = env.app(Migrations::Require)?;
    let mut conn = app.db.conn()?;
    let report = cleanup(
        &mut conn,
        &app.settings.build_root,
        &options,
        vespene_core::db::now(),
    )?;
    if let Some(n) = report.builds {
        println!("Deleted {n} builds");
    }
    if let Some(n) = report.build_roots {
        println!("Deleted {n} build roots");
    }
    for problem in &report.problems {
        eprintln!("vespene: {problem}");
    }
    Ok(if report.problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
