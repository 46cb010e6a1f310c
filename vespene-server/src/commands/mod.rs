//! Subcommand handlers. Each loads what it needs and calls `vespene-core`.

mod plugins;
mod settings;

use crate::cli::{Cli, Command};
use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;
use vespene_core::settings::Settings;

/// What every handler starts from.
pub struct Env {
    pub settings_dir: PathBuf,
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
    };
    match cli.command {
        Command::Plugins(c) => plugins::run(&env, c),
        Command::Settings(c) => settings::run(&env, c),
    }
}
