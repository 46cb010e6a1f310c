//! `vespene import ORG`: imports an organization's repositories now (see
//! `vespene_core::engine::import`), printing how each went.

use super::Env;
use clap::Args;
use std::process::ExitCode;
use vespene_core::app::Migrations;
use vespene_core::engine::import::{RepoOutcome, import_now};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The organization: its name, or its id.
    pub organization: String,
    /// Act as this user (who must be allowed to edit the organization)
    /// instead of the administrator.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
}

pub fn run(env: &Env, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let app = env.app(Migrations::Require)?;
    let actor = super::actor(&app, args.as_user.as_deref())?;
    let report = import_now(&app, &actor, &args.organization)?;
    for (url, outcome) in &report.repos {
        match outcome {
            RepoOutcome::Imported { project, created } => println!(
                "{url}: project '{project}' {}",
                if *created { "created" } else { "updated" }
            ),
            RepoOutcome::Skipped => println!("{url}: skipped (no .vespene file)"),
            RepoOutcome::Failed(why) => println!("{url}: FAILED: {why}"),
        }
    }
    if let Some(e) = &report.error {
        eprintln!("vespene: {e}");
    }
    println!(
        "import build {}: {} ({} repositories, {} failed)",
        report.build_id,
        report.status,
        report.repos.len(),
        report
            .repos
            .iter()
            .filter(|(_, r)| matches!(r, RepoOutcome::Failed(_)))
            .count()
    );
    Ok(
        if report.status == vespene_core::db::builds::BuildStatus::Success {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}
