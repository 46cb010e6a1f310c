//! `vespene autoscaler`: resizes worker pools through their planner and
//! executor plugins (see `vespene_core::engine::autoscaler`). Commands the
//! executor runs print their lines here.

use super::Env;
use super::worker::shutdown_flag;
use crate::console::ConsoleScope;
use clap::Args;
use std::process::ExitCode;
use std::time::Duration;
use vespene_core::app::Migrations;
use vespene_core::engine::EngineError;
use vespene_core::engine::autoscaler::{
    AutoscaleOptions, Pass, PoolOutcome, autoscale_once, run_loop,
};
use vespene_core::plugins::CallScope;

#[derive(Debug, Args)]
pub struct AutoscalerArgs {
    /// A worker pool to autoscale (repeatable); default: every pool with
    /// autoscaling enabled.
    #[arg(long = "queue", value_name = "POOL")]
    pub queues: Vec<String>,
    /// Scale now, without asking the planner whether it is time, once,
    /// then exit.
    #[arg(long)]
    pub force: bool,
    /// Seconds between passes.
    #[arg(long, value_name = "S", default_value_t = 20.0)]
    pub sleep: f64,
}

/// Prints one pool's outcome; true when it failed.
fn print_outcome(pool: &str, outcome: &PoolOutcome) -> bool {
    match outcome {
        PoolOutcome::Disabled => println!("{pool}: autoscaling is disabled"),
        PoolOutcome::NotYet => println!("{pool}: not time to adjust yet"),
        PoolOutcome::Scaled { parameters, status } => {
            let shown = serde_json::Value::Object(parameters.clone());
            if *status == 0 {
                println!("{pool}: scaled with {shown}");
            } else {
                eprintln!("vespene: {pool}: the executor failed with status {status} ({shown})");
            }
        }
        PoolOutcome::Failed(reason) => eprintln!("vespene: {pool}: {reason}"),
    }
    outcome.is_failure()
}

pub fn run(env: &Env, args: AutoscalerArgs) -> anyhow::Result<ExitCode> {
    if !args.sleep.is_finite() || args.sleep < 0.0 {
        anyhow::bail!("--sleep must be a number of seconds, 0 or more");
    }
    let app = env.app(Migrations::Require)?;
    let options = AutoscaleOptions {
        pools: args.queues,
        force: args.force,
    };
    let scope: Box<dyn CallScope> = Box::new(ConsoleScope);
    if args.force {
        let outcomes = autoscale_once(&app, &options, &scope)?;
        let mut failed = false;
        for (pool, outcome) in &outcomes {
            failed |= print_outcome(pool, outcome);
        }
        if outcomes.is_empty() {
            println!("no worker pool has autoscaling enabled");
        }
        return Ok(if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let stop = shutdown_flag()?;
    run_loop(
        &app,
        &options,
        Duration::from_secs_f64(args.sleep),
        &scope,
        &stop,
        &mut |pass: &Result<Pass, EngineError>| match pass {
            Ok(outcomes) => {
                for (pool, outcome) in outcomes {
                    print_outcome(pool, outcome);
                }
            }
            Err(e) => eprintln!("vespene: autoscaler pass failed: {e}"),
        },
    );
    Ok(ExitCode::SUCCESS)
}
