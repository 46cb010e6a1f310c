//! `vespene import ORG`: imports an organization's repositories now (see
//! `vespene_core::ops::import`), printing how each went. With `--server`
//! it asks the server (`POST /api/v1/organizations/{id}/import`), which
//! runs the same operation as the token's user.

use super::Env;
use crate::remote::{Remote, query_escape};
use anyhow::anyhow;
use clap::Args;
use std::process::ExitCode;
use vespene_core::app::Migrations;
use vespene_core::ops::import::{ImportResult, import_organization};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The organization: its name, or its id.
    pub organization: String,
    /// Act as this user (who must be allowed to edit the organization)
    /// instead of the administrator (on the database only).
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
}

pub fn run(env: &Env, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let result = match env.remote()? {
        Some(remote) => remote_import(&remote, &args)?,
        None => {
            let app = env.app(Migrations::Require)?;
            let actor = super::actor(&app, args.as_user.as_deref())?;
            import_organization(&app, &actor, &args.organization)?
        }
    };
    for r in &result.repositories {
        match (r.outcome.as_str(), &r.project, &r.error) {
            ("failed", _, why) => println!("{}: FAILED: {}", r.url, why.as_deref().unwrap_or("")),
            ("skipped", _, _) => println!("{}: skipped (no .vespene file)", r.url),
            (word, project, _) => println!(
                "{}: project '{}' {word}",
                r.url,
                project.as_deref().unwrap_or("")
            ),
        }
    }
    if let Some(e) = &result.error {
        eprintln!("vespene: {e}");
    }
    println!(
        "import build {}: {} ({} repositories, {} failed)",
        result.build_id,
        result.status,
        result.repositories.len(),
        result
            .repositories
            .iter()
            .filter(|r| r.outcome == "failed")
            .count()
    );
    Ok(if result.succeeded() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The import through the server: the organization's id by name, then
/// the import route, whose answer is the same [`ImportResult`].
fn remote_import(remote: &Remote, args: &ImportArgs) -> anyhow::Result<ImportResult> {
    if args.as_user.is_some() {
        anyhow::bail!("--as works on the database only; against a server, the token's user acts");
    }
    let key = args.organization.trim();
    let id = match key.trim_start_matches('#').parse::<i64>() {
        Ok(id) => id,
        Err(_) => {
            let page = remote.get_json(&format!(
                "/api/v1/organizations?page_size=1000&name={}",
                query_escape(key)
            ))?;
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|o| o["name"].as_str() == Some(key))
                .and_then(|o| o["id"].as_i64())
                .ok_or_else(|| anyhow!("no organization named '{key}'"))?
        }
    };
    let answer = remote.post_json(
        &format!("/api/v1/organizations/{id}/import"),
        &serde_json::json!({}),
    )?;
    serde_json::from_value(answer)
        .map_err(|e| anyhow!("the server's import answer is not an import result: {e}"))
}
