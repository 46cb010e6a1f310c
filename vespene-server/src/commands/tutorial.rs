//! `vespene tutorial`: the original's `tutorial_setup`, idempotent: the
//! demo objects of `vespene_core::engine::tutorial`'s YAML file, applied as
//! the administrator.

use super::Env;
use std::process::ExitCode;
use vespene_core::app::Migrations;
use vespene_core::engine::tutorial::{self, POOL, PROJECTS};

pub fn run(env: &Env) -> anyhow::Result<ExitCode> {
    let app = env.app(Migrations::Require)?;
    let choice = super::build_isolation::choose(&app);
    let actor = app.ops.administrator()?;
    let report = tutorial::setup(&app, &actor, &choice.method, &choice.user)?;
    for line in &report.lines {
        println!("{line}");
    }
    if report.changes == 0 {
        println!("Nothing changed: every tutorial object already exists.");
    } else {
        println!("Tutorial ready ({} changes).", report.changes);
        println!(
            "Run a worker with `vespene worker {POOL}` and start the pipeline with \
             `vespene project start {}`.",
            PROJECTS[0]
        );
    }
    Ok(ExitCode::SUCCESS)
}
