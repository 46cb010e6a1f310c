//! `project`, `build`, `apply` and `export` against a server (`--server`
//! or `VESPENE_SERVER`): the same arguments and the same output as on the
//! database, through the REST API. `build log --follow` follows the build's
//! server-sent events (`/api/v1/builds/{id}/events`); without `--follow`
//! the log is read once (`/api/v1/builds/{id}/log`).

use super::apply::{ApplyArgs, ExportArgs};
use super::build::{BuildCommand, build_view, list_row, print_build, print_build_list};
use super::project::{ProjectCommand, answers};
use crate::remote::{Remote, query_escape};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

fn no_as(as_user: &Option<String>) -> anyhow::Result<()> {
    if as_user.is_some() {
        bail!("--as works on the database only; against a server, the token's user acts");
    }
    Ok(())
}

pub fn project(remote: &Remote, cmd: ProjectCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ProjectCommand::Start {
            project,
            answers: pairs,
            as_user,
            json,
        } => {
            no_as(&as_user)?;
            let id = remote.project_id(&project)?;
            let started = remote.post_json(
                &format!("/api/v1/projects/{id}/start"),
                &json!({"answers": answers(&pairs)?}),
            )?;
            let build = &started["build"];
            let error = started["error"].as_str();
            if json {
                println!(
                    "{}",
                    json!({"build": build["id"], "status": build["status"], "error": error})
                );
            } else if let Some(reason) = error {
                eprintln!(
                    "build {} of project '{project}' failed: {reason}",
                    build["id"]
                );
            } else {
                println!("build {} queued for project '{project}'", build["id"]);
            }
            Ok(if error.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        ProjectCommand::Stop { project, as_user } => {
            no_as(&as_user)?;
            let id = remote.project_id(&project)?;
            let b = remote.post_json(&format!("/api/v1/projects/{id}/stop"), &json!({}))?;
            println!(
                "build {} of project '{project}': {}",
                b["id"],
                b["status"].as_str().unwrap_or_default()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub fn build(remote: &Remote, cmd: BuildCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BuildCommand::List {
            project,
            status,
            limit,
            as_user,
            json,
        } => {
            no_as(&as_user)?;
            let mut path = format!("/api/v1/builds?page_size={}", limit.clamp(1, 1000));
            if let Some(p) = project {
                path.push_str(&format!("&project_id={}", remote.project_id(&p)?));
            }
            for s in status {
                path.push_str(&format!("&status={}", query_escape(&s)));
            }
            let page = remote.get_json(&path)?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            let rows: Vec<Value> = items.iter().map(list_row).collect();
            let ids: Vec<Option<i64>> = items.iter().map(|b| b["project_id"].as_i64()).collect();
            print_build_list(&rows, &ids, json)?;
        }
        BuildCommand::Show { id, as_user, json } => {
            no_as(&as_user)?;
            let b = remote.get_json(&format!("/api/v1/builds/{id}"))?;
            print_build(&build_view(&b), json)?;
        }
        BuildCommand::Log {
            id,
            follow,
            messages,
            as_user,
        } => {
            no_as(&as_user)?;
            let stream = if messages { "messages" } else { "output" };
            let mut out = std::io::stdout().lock();
            if !follow {
                let text = remote.get_text(&format!("/api/v1/builds/{id}/log?stream={stream}"))?;
                out.write_all(text.as_bytes())?;
                return Ok(ExitCode::SUCCESS);
            }
            let mut messages_seq = 0i64;
            remote.follow_events(
                &format!("/api/v1/builds/{id}/events"),
                |event, event_id, data| {
                    if let Some((_, m)) = event_id.split_once(':') {
                        messages_seq = m.parse().unwrap_or(messages_seq);
                    }
                    if event == "error" {
                        let v: Value = serde_json::from_str(data).unwrap_or_default();
                        bail!("{}", v["message"].as_str().unwrap_or(data));
                    }
                    if event == stream {
                        let v: Value = serde_json::from_str(data)
                            .with_context(|| format!("a {event} event that is not JSON: {data}"))?;
                        out.write_all(v["text"].as_str().unwrap_or_default().as_bytes())?;
                        out.flush()?;
                    }
                    Ok(event != "end")
                },
            )?;
            // Post triggers and the pipeline may still be adding messages
            // just after the build ended: one last look after the cursor.
            if messages {
                std::thread::sleep(Duration::from_millis(1000));
                let rest = remote.get_json(&format!(
                    "/api/v1/builds/{id}/output?stream=messages&after={messages_seq}"
                ))?;
                out.write_all(rest["text"].as_str().unwrap_or_default().as_bytes())?;
            }
        }
        BuildCommand::Stop { id, as_user } => {
            no_as(&as_user)?;
            let b = remote.post_json(&format!("/api/v1/builds/{id}/stop"), &json!({}))?;
            println!(
                "build {}: {}",
                b["id"],
                b["status"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn apply(remote: &Remote, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    no_as(&args.as_user)?;
    // Every file is read before anything is sent.
    let texts = args
        .files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .with_context(|| format!("{}: cannot read; nothing was applied", f.display()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (file, text) in args.files.iter().zip(texts) {
        let report = remote.post_text(
            &format!(
                "/api/v1/apply?file={}",
                query_escape(&file.display().to_string())
            ),
            text,
            "application/yaml",
        )?;
        for change in report["changes"].as_array().into_iter().flatten() {
            if change["outcome"] != "unchanged" {
                println!(
                    "{} {}",
                    change["outcome"].as_str().unwrap_or_default(),
                    change["object"].as_str().unwrap_or_default()
                );
            }
        }
        println!("{}", report["summary"].as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export(remote: &Remote, args: ExportArgs) -> anyhow::Result<ExitCode> {
    no_as(&args.as_user)?;
    let mut path = "/api/v1/export".to_string();
    for (i, k) in args.kinds.iter().enumerate() {
        path.push(if i == 0 { '?' } else { '&' });
        path.push_str(&format!("kind={}", query_escape(k)));
    }
    let text = remote.get_text(&path)?;
    match &args.output {
        Some(file) => {
            std::fs::write(file, &text)
                .with_context(|| format!("cannot write {}", file.display()))?;
            eprintln!("wrote {}", file.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .context("cannot write to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
