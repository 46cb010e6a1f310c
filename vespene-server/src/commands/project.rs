//! `vespene project start|stop`: the original's `project_control`, by name
//! or id.

use super::{Env, actor};
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Map, Value};
use std::process::ExitCode;
use vespene_core::app::{App, Migrations};
use vespene_core::authz::Actor;
use vespene_core::engine::queue::{StartRequest, start_project, stop_build};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Queue a build of a project.
    Start {
        /// Project name or id.
        project: String,
        /// An answer to a launch question (repeatable).
        #[arg(long = "answer", value_name = "NAME=VALUE")]
        answers: Vec<String>,
        /// Act as this user (their permissions apply).
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop the project's active build.
    Stop {
        /// Project name or id.
        project: String,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
}

/// A project's id from its name, or from a number.
pub fn project_id(app: &App, actor: &Actor, name_or_id: &str) -> anyhow::Result<i64> {
    if let Ok(id) = name_or_id.parse::<i64>() {
        return Ok(id);
    }
    app.ops
        .projects()
        .id_by_name(actor, name_or_id)
        .with_context(|| format!("no project named '{name_or_id}'"))
}

pub(crate) fn answers(pairs: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for pair in pairs {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("--answer '{pair}' is not NAME=VALUE");
        };
        // A repeated name makes a list, as a multiple-choice answer is.
        match map.get_mut(k) {
            Some(Value::Array(list)) => list.push(Value::String(v.into())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v.into())]);
            }
            None => {
                map.insert(k.to_string(), Value::String(v.into()));
            }
        }
    }
    Ok(map)
}

pub fn run(env: &Env, cmd: ProjectCommand) -> anyhow::Result<ExitCode> {
    if let Some(remote) = env.remote()? {
        return super::remote_cmds::project(&remote, cmd);
    }
    let app = env.app(Migrations::Require)?;
    match cmd {
        ProjectCommand::Start {
            project,
            answers: pairs,
            as_user,
            json,
        } => {
            let actor = actor(&app, as_user.as_deref())?;
            let id = project_id(&app, &actor, &project)?;
            let request = StartRequest {
                launch_answers: answers(&pairs)?,
                ..StartRequest::default()
            };
            let started = start_project(&app, &actor, id, &request)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "build": started.build.id,
                        "status": started.build.status(),
                        "error": started.failed,
                    })
                );
            } else if let Some(reason) = &started.failed {
                eprintln!(
                    "build {} of project '{project}' failed: {reason}",
                    started.build.id
                );
            } else {
                println!("build {} queued for project '{project}'", started.build.id);
            }
            Ok(if started.failed.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        ProjectCommand::Stop { project, as_user } => {
            let actor = actor(&app, as_user.as_deref())?;
            let id = project_id(&app, &actor, &project)?;
            let detail = app.ops.projects().get(&actor, id)?;
            let Some(build) = detail.project.active_build_id else {
                bail!("project '{project}' has no active build");
            };
            let b = stop_build(&app, &actor, build)?;
            println!("build {} of project '{project}': {}", b.id, b.status());
            Ok(ExitCode::SUCCESS)
        }
    }
}
