//! `vespene build list|show|log|stop`.

use super::project::project_id;
use super::{Env, actor};
use anyhow::bail;
use clap::Subcommand;
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;
use vespene_core::app::Migrations;
use vespene_core::db::builds::{Build, BuildFilter, BuildStatus};
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::stop_build;
use vespene_core::ops::PageRequest;

#[derive(Debug, Subcommand)]
pub enum BuildCommand {
    /// The newest builds, optionally of one project or status.
    List {
        /// Project name or id.
        #[arg(long)]
        project: Option<String>,
        /// Only builds in this status (repeatable).
        #[arg(long)]
        status: Vec<String>,
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every field of a build.
    Show {
        id: i64,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A build's output (or messages); with --follow, live until it ends.
    Log {
        id: i64,
        /// Follow a running build's output as it is written.
        #[arg(long, short)]
        follow: bool,
        /// The housekeeping messages instead of the output.
        #[arg(long)]
        messages: bool,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
    /// Stop a queued or running build.
    Stop {
        id: i64,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
}

fn time(t: Option<chrono::NaiveDateTime>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn build_json(b: &Build) -> serde_json::Value {
    let obj = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(json!({}));
    json!({
        "id": b.id,
        "project_id": b.project_id,
        "organization_id": b.organization_id,
        "pipeline_id": b.pipeline_id,
        "status": b.status(),
        "revision": b.revision,
        "revision_username": b.revision_username,
        "queued_time": b.queued_time.and_utc().to_rfc3339(),
        "start_time": b.start_time.map(|t| t.and_utc().to_rfc3339()),
        "end_time": b.end_time.map(|t| t.and_utc().to_rfc3339()),
        "return_code": b.return_code,
        "worker_pool_id": b.worker_pool_id,
        "working_dir": b.working_dir,
        "variables": obj(&b.variables),
        "launch_answers": obj(&b.launch_answers),
        "output_variables": obj(&b.output_variables),
        "script": b.script,
        "created_by": b.created_by,
        "pipeline_origin_build_id": b.pipeline_origin_build_id,
        "pipeline_parent_build_id": b.pipeline_parent_build_id,
        "worker_id": b.worker_id,
        "claimed_by": b.claimed_by,
        "heartbeat_at": b.heartbeat_at.map(|t| t.and_utc().to_rfc3339()),
    })
}

pub fn run(env: &Env, cmd: BuildCommand) -> anyhow::Result<ExitCode> {
    let app = env.app(Migrations::Require)?;
    match cmd {
        BuildCommand::List {
            project,
            status,
            limit,
            as_user,
            json,
        } => {
            let actor = actor(&app, as_user.as_deref())?;
            let mut filter = BuildFilter::default();
            if let Some(p) = project {
                filter.project_id = Some(project_id(&app, &actor, &p)?);
            }
            for s in status {
                match BuildStatus::parse(&s) {
                    Some(st) => filter.statuses.push(st),
                    None => bail!("unknown build status '{s}'"),
                }
            }
            let page = app.ops.builds().list(
                &actor,
                &filter,
                PageRequest {
                    page: 1,
                    size: Some(limit.max(1)),
                },
            )?;
            let ids: Vec<i64> = page.items.iter().filter_map(|b| b.project_id).collect();
            let mut conn = app.db.conn()?;
            let names: std::collections::HashMap<i64, String> =
                vespene_core::db::projects::names(&mut conn, &ids)?
                    .into_iter()
                    .collect();
            if json {
                let rows: Vec<_> = page
                    .items
                    .iter()
                    .map(|b| {
                        json!({
                            "id": b.id,
                            "status": b.status(),
                            "project": b.project_id.and_then(|p| names.get(&p)),
                            "revision": b.revision,
                            "queued_time": b.queued_time.and_utc().to_rfc3339(),
                            "start_time": b.start_time.map(|t| t.and_utc().to_rfc3339()),
                            "end_time": b.end_time.map(|t| t.and_utc().to_rfc3339()),
                            "return_code": b.return_code,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!(
                    "{:>7}  {:9}  {:24}  {:19}  {:19}  {:>4}",
                    "BUILD", "STATUS", "PROJECT", "STARTED", "ENDED", "RC"
                );
                for b in &page.items {
                    let project = match b.project_id {
                        Some(p) => names.get(&p).cloned().unwrap_or_else(|| p.to_string()),
                        None => "import".into(),
                    };
                    println!(
                        "{:>7}  {:9}  {:24}  {:19}  {:19}  {:>4}",
                        b.id,
                        b.status().as_str(),
                        project,
                        time(b.start_time),
                        time(b.end_time),
                        b.return_code.map(|c| c.to_string()).unwrap_or_default()
                    );
                }
            }
        }
        BuildCommand::Show { id, as_user, json } => {
            let actor = actor(&app, as_user.as_deref())?;
            let b = app.ops.builds().get(&actor, id)?;
            let value = build_json(&b);
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else if let Some(obj) = value.as_object() {
                for (k, v) in obj {
                    match v {
                        serde_json::Value::String(s) if k == "script" => {
                            println!("{k}:\n{}", s.trim_end());
                        }
                        other => println!("{k}: {other}"),
                    }
                }
            }
        }
        BuildCommand::Log {
            id,
            follow,
            messages,
            as_user,
        } => {
            let actor = actor(&app, as_user.as_deref())?;
            let stream = if messages {
                OutputStream::Messages
            } else {
                OutputStream::Output
            };
            let mut after = 0;
            let mut out = std::io::stdout().lock();
            loop {
                // Read the status first: once a build is complete, one more
                // read gets everything it wrote.
                let done = app.ops.builds().get(&actor, id)?.status().is_complete();
                let read = app.ops.builds().output(&actor, id, stream, after)?;
                out.write_all(read.text.as_bytes())?;
                out.flush()?;
                after = read.last_seq.max(after);
                if !follow {
                    break;
                }
                if done && read.chunks == 0 {
                    // Post triggers and the pipeline may still be adding
                    // messages just after the build ended: one last look.
                    std::thread::sleep(Duration::from_millis(1000));
                    let rest = app.ops.builds().output(&actor, id, stream, after)?;
                    out.write_all(rest.text.as_bytes())?;
                    break;
                }
                if read.chunks == 0 {
                    std::thread::sleep(Duration::from_millis(150));
                }
            }
        }
        BuildCommand::Stop { id, as_user } => {
            let actor = actor(&app, as_user.as_deref())?;
            let b = stop_build(&app, &actor, id)?;
            println!("build {}: {}", b.id, b.status());
        }
    }
    Ok(ExitCode::SUCCESS)
}
