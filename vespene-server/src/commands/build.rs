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
use vespene_core::db::builds::{BuildFilter, BuildStatus};
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

/// A stored time (`2026-01-02T03:04:05.123`, UTC) as RFC 3339.
fn rfc3339(v: &serde_json::Value) -> serde_json::Value {
    v.as_str()
        .and_then(|t| t.parse::<chrono::NaiveDateTime>().ok())
        .map(|t| json!(t.and_utc().to_rfc3339()))
        .unwrap_or(serde_json::Value::Null)
}

/// A JSON text field as JSON (`{}` when it is not).
fn json_text(v: &serde_json::Value) -> serde_json::Value {
    v.as_str()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(json!({}))
}

/// Every field of a build as `build show` prints it, from the build's
/// JSON (a stored build serialized here, or the REST API's answer).
pub(crate) fn build_view(b: &serde_json::Value) -> serde_json::Value {
    json!({
        "id": b["id"],
        "project_id": b["project_id"],
        "organization_id": b["organization_id"],
        "pipeline_id": b["pipeline_id"],
        "status": b["status"],
        "revision": b["revision"],
        "revision_username": b["revision_username"],
        "queued_time": rfc3339(&b["queued_time"]),
        "start_time": rfc3339(&b["start_time"]),
        "end_time": rfc3339(&b["end_time"]),
        "return_code": b["return_code"],
        "worker_pool_id": b["worker_pool_id"],
        "working_dir": b["working_dir"],
        "variables": json_text(&b["variables"]),
        "launch_answers": json_text(&b["launch_answers"]),
        "output_variables": json_text(&b["output_variables"]),
        "script": b["script"],
        "created_by": b["created_by"],
        "pipeline_origin_build_id": b["pipeline_origin_build_id"],
        "pipeline_parent_build_id": b["pipeline_parent_build_id"],
        "worker_id": b["worker_id"],
        "claimed_by": b["claimed_by"],
        "heartbeat_at": rfc3339(&b["heartbeat_at"]),
    })
}

/// Prints `build show`.
pub(crate) fn print_build(value: &serde_json::Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(value)?);
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
    Ok(())
}

/// A `build list` row from a build list item's JSON (with
/// `project_name`).
pub(crate) fn list_row(b: &serde_json::Value) -> serde_json::Value {
    json!({
        "id": b["id"],
        "status": b["status"],
        "project": b["project_name"],
        "revision": b["revision"],
        "queued_time": rfc3339(&b["queued_time"]),
        "start_time": rfc3339(&b["start_time"]),
        "end_time": rfc3339(&b["end_time"]),
        "return_code": b["return_code"],
    })
}

fn shown_time(v: &serde_json::Value) -> String {
    v.as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.naive_utc())
        .map(|t| time(Some(t)))
        .unwrap_or_else(|| time(None))
}

/// Prints `build list` (rows from [`list_row`]; `project_ids` for
/// builds whose project has no name, such as imports).
pub(crate) fn print_build_list(
    rows: &[serde_json::Value],
    project_ids: &[Option<i64>],
    json: bool,
) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:>7}  {:9}  {:24}  {:19}  {:19}  {:>4}",
        "BUILD", "STATUS", "PROJECT", "STARTED", "ENDED", "RC"
    );
    for (b, project_id) in rows.iter().zip(project_ids) {
        let project = match (b["project"].as_str(), project_id) {
            (Some(name), _) => name.to_string(),
            (None, Some(p)) => p.to_string(),
            (None, None) => "import".into(),
        };
        println!(
            "{:>7}  {:9}  {:24}  {:19}  {:19}  {:>4}",
            // A number, not `b["id"]`: a JSON value's Display ignores widths.
            b["id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
            b["status"].as_str().unwrap_or_default(),
            project,
            shown_time(&b["start_time"]),
            shown_time(&b["end_time"]),
            b["return_code"]
                .as_i64()
                .map(|c| c.to_string())
                .unwrap_or_default()
        );
    }
    Ok(())
}

pub fn run(env: &Env, cmd: BuildCommand) -> anyhow::Result<ExitCode> {
    if let Some(remote) = env.remote()? {
        return super::remote_cmds::build(&remote, cmd);
    }
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
            let rows: Vec<serde_json::Value> = page
                .items
                .iter()
                .map(|b| {
                    let mut item = serde_json::to_value(b).unwrap_or_default();
                    item["project_name"] = json!(b.project_id.and_then(|p| names.get(&p)));
                    list_row(&item)
                })
                .collect();
            let ids: Vec<Option<i64>> = page.items.iter().map(|b| b.project_id).collect();
            print_build_list(&rows, &ids, json)?;
        }
        BuildCommand::Show { id, as_user, json } => {
            let actor = actor(&app, as_user.as_deref())?;
            let b = app.ops.builds().get(&actor, id)?;
            print_build(&build_view(&serde_json::to_value(&b)?), json)?;
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
