//! `vespene webhook show|set|test`: a project's webhook secret and
//! build-the-pushed-commit opt-in, and the original's test_webhook (a
//! sample push sent to the server).

use super::project::project_id;
use super::{Env, actor};
use anyhow::{Context, bail};
use clap::Subcommand;
use std::io::Read;
use std::process::ExitCode;
use vespene_core::app::Migrations;
use vespene_core::ops::webhooks::sample::sample_push;
use vespene_core::ops::webhooks::settings::{SettingsChange, WebhookSettings, set, show};

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// A project's webhook settings (never the secret itself).
    Show {
        project: String,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set a project's webhook secret (read from stdin, one line; empty
    /// removes it) and whether pushes build the pushed branch and commit.
    Set {
        project: String,
        /// Read the secret forges sign deliveries with from stdin.
        #[arg(long)]
        secret_stdin: bool,
        /// Build the pushed branch and commit (yes) or the project's
        /// branch tip (no, the original's behaviour).
        #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
        build_pushed: Option<bool>,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
    /// Send a sample push for the project to the server's /webhooks (with
    /// its ?token= and signed with its secret) and print the answer.
    Test {
        project: String,
        /// The server (default: --server, else the [server] bind setting).
        #[arg(long = "url", value_name = "URL")]
        url: Option<String>,
        #[arg(long = "as", value_name = "USER")]
        as_user: Option<String>,
    },
}

fn print(s: &WebhookSettings, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(s)?);
        return Ok(());
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("project:      {}", s.project);
    println!("enabled:      {}", yes(s.enabled));
    println!("repo_url:     {}", s.repo_url);
    println!(
        "branch:       {}",
        if s.branch.is_empty() {
            "(any)"
        } else {
            &s.branch
        }
    );
    println!("token:        {}", if s.has_token { "set" } else { "none" });
    println!(
        "secret:       {}",
        if s.has_secret { "set" } else { "none" }
    );
    println!("build_pushed: {}", yes(s.build_pushed));
    Ok(())
}

pub fn run(env: &Env, cmd: WebhookCommand) -> anyhow::Result<ExitCode> {
    let app = env.app(Migrations::Require)?;
    match cmd {
        WebhookCommand::Show {
            project,
            as_user,
            json,
        } => {
            let actor = actor(&app, as_user.as_deref())?;
            let id = project_id(&app, &actor, &project)?;
            print(&show(&app, &actor, id)?, json)?;
        }
        WebhookCommand::Set {
            project,
            secret_stdin,
            build_pushed,
            as_user,
        } => {
            if !secret_stdin && build_pushed.is_none() {
                bail!("nothing to set: give --secret-stdin and/or --build-pushed yes|no");
            }
            let actor = actor(&app, as_user.as_deref())?;
            let id = project_id(&app, &actor, &project)?;
            let secret = if secret_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the secret from stdin")?;
                let line = text.lines().next().unwrap_or_default().to_string();
                Some(line)
            } else {
                None
            };
            let change = SettingsChange {
                secret,
                build_pushed,
            };
            print(&set(&app, &actor, id, &change)?, false)?;
        }
        WebhookCommand::Test {
            project,
            url,
            as_user,
        } => {
            let actor = actor(&app, as_user.as_deref())?;
            let id = project_id(&app, &actor, &project)?;
            let delivery = sample_push(&app, &actor, id)?;
            let base = match url.or_else(|| env.server.clone()) {
                Some(u) => u.trim_end_matches('/').to_string(),
                None => format!("http://{}", app.settings.server.bind),
            };
            let target = format!("{base}{}", delivery.path_and_query);
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(std::time::Duration::from_secs(30)))
                .build()
                .into();
            let mut request = agent.post(&target);
            for (k, v) in &delivery.headers {
                request = request.header(k, v);
            }
            let mut response = request
                .send(&delivery.body[..])
                .with_context(|| format!("cannot send the sample push to {base}/webhooks"))?;
            let status = response.status().as_u16();
            let text = response.body_mut().read_to_string().unwrap_or_default();
            println!("{status} {}", text.trim_end());
            return Ok(if status == 200 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
