//! Subcommand handlers. Each loads what it needs and calls `vespene-core`.

pub mod apply;
pub mod autoscaler;
pub mod build;
pub mod build_isolation;
pub mod cleanup;
pub mod import;
pub mod login;
pub mod migrate;
mod plugins;
pub mod project;
mod remote_cmds;
pub mod secrets;
pub mod server;
mod settings;
pub mod tutorial;
pub mod up;
pub mod users;
pub mod webhook;
pub mod worker;

use crate::cli::{Cli, Command};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use vespene_core::settings::Settings;

/// What every handler starts from.
pub struct Env {
    pub settings_dir: PathBuf,
    /// `--server` / `VESPENE_SERVER`: work through this server's REST API.
    pub server: Option<String>,
    /// `VESPENE_TOKEN`: the API token for `server`.
    pub token: Option<String>,
}

impl Env {
    /// The server to go through instead of the database, if one is named.
    pub fn remote(&self) -> anyhow::Result<Option<crate::remote::Remote>> {
        match self.server.as_deref().filter(|s| !s.is_empty()) {
            Some(url) => Ok(Some(crate::remote::Remote::from_args(
                url,
                self.token.as_deref(),
            )?)),
            None => Ok(None),
        }
    }
}

impl Env {
    /// Loads the settings; a bad setting is an error naming the file and key.
    pub fn settings(&self) -> anyhow::Result<Settings> {
        let settings = Settings::load(&self.settings_dir)
            .with_context(|| format!("invalid settings in {}", self.settings_dir.display()))?;
        init_logging(&settings.log_level);
        Ok(settings)
    }
}

impl Env {
    /// The settings with extra environment variables on top (as if they
    /// were set), for `vespene up`'s embedded defaults.
    pub fn settings_with(&self, extra: &[(String, String)]) -> anyhow::Result<Settings> {
        let mut vars: Vec<(String, String)> = std::env::vars().collect();
        vars.extend(extra.iter().cloned());
        let settings = Settings::load_with_env(&self.settings_dir, vars)
            .with_context(|| format!("invalid settings in {}", self.settings_dir.display()))?;
        init_logging(&settings.log_level);
        Ok(settings)
    }

    /// The settings, the plugin host, the database and the core operations,
    /// for commands that work on stored objects. Fails, naming each
    /// problem, when a configured plugin cannot be loaded or the database
    /// needs migrating.
    pub fn app(
        &self,
        migrations: vespene_core::app::Migrations,
    ) -> anyhow::Result<vespene_core::app::App> {
        let settings = self.settings()?;
        let scanner = vespene_core::plugins::Scanner::current_exe()
            .context("cannot find the vespene executable to run the plugin scanner")?;
        Ok(vespene_core::app::App::start(
            settings, scanner, migrations,
        )?)
    }
}

/// Who a command acts as: the administrator (see
/// `Ops::administrator`) unless `--as USER` names a user, whose
/// permissions then apply.
pub fn actor(
    app: &vespene_core::app::App,
    as_user: Option<&str>,
) -> anyhow::Result<vespene_core::authz::Actor> {
    let ops = &app.ops;
    let Some(name) = as_user else {
        return Ok(ops.administrator()?);
    };
    let id = ops
        .users()
        .id_by_name(&vespene_core::authz::Actor::System, name)
        .with_context(|| format!("no user named '{name}'"))?;
    Ok(ops.actor_for_user(id)?)
}

/// The manual pages, generated from the same clap definitions as `--help`
/// (hidden commands, such as this one, are left out).
fn man_pages(dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing manual pages into {}", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("VESPENE_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env = Env {
        settings_dir: cli.settings_dir.unwrap_or_else(Settings::default_dir),
        server: cli.server,
        token: cli.token,
    };
    match cli.command {
        Command::Plugins(c) => plugins::run(&env, c),
        Command::Settings(c) => settings::run(&env, c),
        Command::Up(a) => up::run(&env, a),
        Command::Server(a) => server::run(&env, a),
        Command::Login(a) => login::run(&env, a),
        Command::Worker(a) => worker::run(&env, a),
        Command::Project(c) => project::run(&env, c),
        Command::Build(c) => build::run(&env, c),
        Command::Migrate(args) => migrate::run(&env, args),
        Command::User(c) => users::run(&env, c),
        Command::Secrets(c) => secrets::run(&env, c),
        Command::Apply(a) => apply::apply(&env, a),
        Command::Export(a) => apply::export_cmd(&env, a),
        Command::Cleanup(a) => cleanup::run(&env, a),
        Command::Tutorial => tutorial::run(&env),
        Command::RunBuild => worker::run_child(&env),
        Command::ManPages { dir } => man_pages(&dir),
        Command::CheckPlugin { section, name } => plugins::check_child(&env, &section, &name),
        Command::Autoscaler(a) => autoscaler::run(&env, a),
        Command::Webhook(c) => webhook::run(&env, c),
        Command::Import(a) => import::run(&env, a),
    }
}
