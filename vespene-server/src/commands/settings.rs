//! `vespene settings show`.

use super::Env;
use crate::cli::SettingsCommand;
use std::process::ExitCode;

pub fn run(env: &Env, cmd: SettingsCommand) -> anyhow::Result<ExitCode> {
    let SettingsCommand::Show { json } = cmd;
    let settings = env.settings()?;
    if json {
        let mut value = settings.to_masked_json();
        value["files_read"] = settings
            .sources
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .into();
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("# settings directory: {}", settings.settings_dir.display());
        if settings.sources.is_empty() {
            println!("# files read: none (built-in defaults only)");
        }
        for s in &settings.sources {
            println!("# read: {s}");
        }
        println!(
            "# database: {}",
            vespene_core::db::masked_url(&settings.database_url())
        );
        println!();
        print!("{}", settings.to_masked_toml());
    }
    Ok(ExitCode::SUCCESS)
}
