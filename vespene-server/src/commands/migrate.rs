//! `vespene migrate`: applies the embedded migrations to the configured
//! database; and the database, checked to be migrated, for the commands
//! that need no plugins.

use super::Env;
use anyhow::{Context, bail};
use clap::Args;
use std::process::ExitCode;
use vespene_core::db::{self, Db};

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Then, when the database has no user yet, create the superuser
    /// `admin` with a random password, print it and write it to
    /// `<data_dir>/admin-password` (mode 0600), as a first `vespene up`
    /// does. The package's install script uses this.
    #[arg(long)]
    pub create_admin: bool,
}

pub fn run(env: &Env, args: MigrateArgs) -> anyhow::Result<ExitCode> {
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
    if args.create_admin {
        create_admin(&settings)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--create-admin`: the first administrator, when there is no user.
fn create_admin(settings: &vespene_core::settings::Settings) -> anyhow::Result<()> {
    use vespene_core::accounts::{FIRST_ADMIN, create_first_admin};
    let db = Db::open(settings)?;
    let data_dir = &settings.data_dir;
    match create_first_admin(&db).map_err(|e| anyhow::anyhow!("creating the administrator: {e}"))? {
        Some(password) => {
            vespene_core::private_data::create_private_dir(data_dir)
                .with_context(|| format!("cannot create {}", data_dir.display()))?;
            let file = vespene_core::private_data::write_admin_password(data_dir, &password)?;
            println!(
                "admin login: {FIRST_ADMIN} / {password}   (also in {})",
                file.display()
            );
        }
        None => println!("admin login: unchanged (the database has users already)"),
    }
    Ok(())
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
