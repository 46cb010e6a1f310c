//! `vespene migrate`: applies the embedded migrations to the configured
//! database; and the database, checked to be migrated, for the commands
//! that need no plugins.

use super::Env;
use anyhow::{Context, bail};
use std::process::ExitCode;
use vespene_core::db::{self, Db};

pub fn run(env: &Env) -> anyhow::Result<ExitCode> {
    let settings = env.settings()?;
    let url = settings.database_url();
    let shown = db::masked_url(&url);
    if url.starts_with("sqlite:") {
        vespene_core::private_data::secure(&settings)
            .context("cannot make the server's files private")?;
    }
    let applied =
        db::migrate(&url).with_context(|| format!("cannot migrate the database {shown}"))?;
    if applied.is_empty() {
        println!("database {shown}: already up to date");
    } else {
        for version in &applied {
            println!("applied migration {version}");
        }
        println!(
            "database {shown}: up to date ({} migration{} applied)",
            applied.len(),
            if applied.len() == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The configured database; refuses one that needs migrating.
pub fn database(env: &Env) -> anyhow::Result<Db> {
    let settings = env.settings()?;
    let shown = db::masked_url(&settings.database_url());
    let db = Db::open(&settings).with_context(|| format!("database {shown}"))?;
    if db
        .has_pending_migrations()
        .with_context(|| format!("database {shown}"))?
    {
        bail!("the database needs migrating: run `vespene migrate` (database {shown})");
    }
    Ok(db)
}
