//! `vespene secrets generate`: the key file that encrypts secrets at rest.

use super::Env;
use clap::Subcommand;
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Write a new key to the `secrets_key_file` setting's path (mode 0600).
    /// Refuses to overwrite a key file: secrets stored with it would become
    /// unreadable.
    Generate,
}

pub fn run(env: &Env, cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    let SecretsCommand::Generate = cmd;
    let settings = env.settings()?;
    let path = &settings.secrets_key_file;
    // The default key lives in the data directory, which may not exist yet.
    if path.parent() == Some(settings.data_dir.as_path()) {
        vespene_core::private_data::create_private_dir(&settings.data_dir)?;
    }
    vespene_core::secrets::generate_key_file(path)?;
    println!("wrote a new secrets key to {} (mode 0600)", path.display());
    eprintln!(
        "Keep it private and back it up: without it the stored secrets cannot be read. \
         Every server and worker needs the same file."
    );
    Ok(ExitCode::SUCCESS)
}
