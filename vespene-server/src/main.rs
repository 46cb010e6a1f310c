//! `vespene`: the server, the worker and the command line, as one binary.
//! Every subcommand is a thin layer over `vespene-core`.

mod cli;
mod commands;
mod console;
mod http;
mod memory;
mod remote;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The scanner child must do nothing but scan: no settings, no logging
    // set-up, nothing a broken plugin could be blamed on.
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(vespene_core::plugins::scanner::SCAN_SUBCOMMAND) {
        let nonce = args.get(2).map(String::as_str).unwrap_or("");
        return match vespene_core::plugins::scanner::child_main(nonce) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(2),
        };
    }

    // A plugin whose `create` crashes, exits or hangs is named on stderr.
    vespene_core::engine::call_guard::install_for_commands();
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vespene: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line: "what failed: why: deeper why".
fn one_line(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}
