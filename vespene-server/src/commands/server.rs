//! `vespene server`: the HTTP server (REST API, sessions, and what other
//! parts mount in `http::extra`) on `[server] bind`, until SIGINT or
//! SIGTERM.

use super::Env;
use super::worker::shutdown_flag;
use anyhow::Context;
use clap::Args;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use vespene_core::app::{App, Migrations};
use vespene_core::plugins::Scanner;

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// ADDRESS:PORT to listen on (overrides `[server] bind`).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
}

/// The settings override of `--bind`.
pub fn bind_override(bind: Option<&str>) -> Vec<(String, String)> {
    bind.map(|b| vec![("VESPENE_SERVER__BIND".to_string(), b.to_string())])
        .unwrap_or_default()
}

pub fn run(env: &Env, args: ServerArgs) -> anyhow::Result<ExitCode> {
    let settings = env.settings_with(&bind_override(args.bind.as_deref()))?;
    let scanner = Scanner::current_exe().context("cannot find the vespene executable")?;
    let app = App::start(settings, scanner, Migrations::Require)?;
    let shutdown = shutdown_flag()?;
    let running = crate::http::start(app)?;
    println!(
        "Vespene {} serving on {}",
        env!("CARGO_PKG_VERSION"),
        running.url
    );
    let mut quiet = crate::memory::QuietMoments::default();
    while !shutdown.load(Ordering::SeqCst) && !running.is_finished() {
        std::thread::sleep(Duration::from_millis(100));
        if quiet.tick(running.followers()) {
            crate::memory::trim();
        }
    }
    running.stop()?;
    Ok(ExitCode::SUCCESS)
}
