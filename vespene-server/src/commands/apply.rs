//! `vespene apply FILE...` and `vespene export`: configuration as code
//! over `vespene_core::config_as_code`, as the system or as `--as USER`.

use super::Env;
use anyhow::{Context, anyhow};
use clap::Args;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use vespene_core::app::{App, Migrations};
use vespene_core::authz::Actor;
use vespene_core::config_as_code::{Document, Kind, Outcome, apply_document, export};

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// YAML files, applied in order, each all or nothing.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Act as this user (checked like the web UI) instead of the system.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Only these kinds (groups, users, variable_sets, snippets,
    /// worker_pools, stages, pipelines, ssh_keys, service_logins,
    /// organizations, projects); repeatable. Default: all.
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Export what this user may see instead of everything.
    #[arg(long = "as", value_name = "USER")]
    pub as_user: Option<String>,
}

fn actor(app: &App, as_user: Option<&str>) -> anyhow::Result<Actor> {
    let Some(name) = as_user else {
        return Ok(app.ops.administrator()?);
    };
    let user = vespene_core::accounts::user_by_name(&app.db, name)?;
    Ok(app.ops.actor_for_user(user.id)?)
}

pub fn apply(env: &Env, args: ApplyArgs) -> anyhow::Result<ExitCode> {
    if let Some(remote) = env.remote()? {
        return super::remote_cmds::apply(&remote, args);
    }
    // Every file is read and checked before anything is written.
    let docs = args
        .files
        .iter()
        .map(|f| Document::load(f).map_err(|e| anyhow!("{e}; nothing was applied")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let app = env.app(Migrations::Require)?;
    let actor = actor(&app, args.as_user.as_deref())?;
    for doc in &docs {
        let report = apply_document(&app.ops, &actor, doc)
            .map_err(|e| anyhow!("{e}; nothing of this file was stored"))?;
        for change in report
            .changes
            .iter()
            .filter(|c| c.outcome != Outcome::Unchanged)
        {
            println!("{} {}", change.outcome.as_str(), change.object);
        }
        println!("{}", report.summary());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn export_cmd(env: &Env, args: ExportArgs) -> anyhow::Result<ExitCode> {
    if let Some(remote) = env.remote()? {
        return super::remote_cmds::export(&remote, args);
    }
    let kinds = args
        .kinds
        .iter()
        .map(|k| {
            Kind::parse(k).ok_or_else(|| {
                let known: Vec<&str> = Kind::ALL.iter().map(|k| k.key()).collect();
                anyhow!("unknown kind '{k}' (use one of {})", known.join(", "))
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let app = env.app(Migrations::Require)?;
    let actor = actor(&app, args.as_user.as_deref())?;
    let text = export(&app.ops, &actor, &kinds)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
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
