//! `vespene user create|password|token`: accounts and personal API tokens,
//! straight on the database (an administrator's tool on the server host).

use super::Env;
use super::migrate::database;
use anyhow::{Context, bail};
use clap::Subcommand;
use std::io::BufRead as _;
use std::process::ExitCode;
use vespene_core::accounts::{self, NewUser};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin the account cannot log in
    /// until a password is set (`vespene user password`).
    Create {
        name: String,
        /// May do everything (except edit builds).
        #[arg(long)]
        superuser: bool,
        /// Read the password as one line from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[arg(long, value_name = "EMAIL")]
        email: Option<String>,
    },
    /// Set a user's password, read as one line from standard input.
    Password { name: String },
    /// Personal API tokens (for the REST API).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token called NAME for a user; prints it once, it cannot be
    /// shown again.
    Create {
        name: String,
        #[arg(long, value_name = "USER")]
        user: String,
    },
    /// A user's tokens (their names and first characters, never the tokens).
    List {
        #[arg(long, value_name = "USER")]
        user: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's token by its id (see `token list`).
    Revoke {
        id: i64,
        #[arg(long, value_name = "USER")]
        user: String,
    },
}

pub fn run(env: &Env, cmd: UserCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UserCommand::Create {
            name,
            superuser,
            password_stdin,
            email,
        } => {
            let password = if password_stdin {
                Some(read_password()?)
            } else {
                None
            };
            let db = database(env)?;
            let user = accounts::create_user_with(
                &db,
                &NewUser {
                    name: &name,
                    password: password.as_deref(),
                    superuser,
                    email: email.as_deref().unwrap_or(""),
                },
            )
            .with_context(|| format!("cannot create user '{}'", name.trim()))?;
            println!(
                "created user '{}' (id {}{})",
                user.username,
                user.id,
                if user.is_superuser { ", superuser" } else { "" }
            );
            if password.is_none() {
                println!(
                    "it has no password: it cannot log in until one is set with \
                     `vespene user password {}`",
                    user.username
                );
            }
        }
        UserCommand::Password { name } => {
            let password = read_password()?;
            let db = database(env)?;
            let user = accounts::user_by_name(&db, &name)?;
            accounts::set_password(&db, user.id, Some(&password))?;
            println!("set the password of user '{}'", user.username);
        }
        UserCommand::Token(cmd) => return token(env, cmd),
    }
    Ok(ExitCode::SUCCESS)
}

fn token(env: &Env, cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let db = database(env)?;
    match cmd {
        TokenCommand::Create { name, user } => {
            let user = accounts::user_by_name(&db, &user)?;
            let token = accounts::create_token(&db, user.id, &name)?;
            println!("{}", token.token);
            eprintln!(
                "token {} '{}' of user '{}': store it now, it cannot be shown again",
                token.id,
                name.trim(),
                user.username
            );
        }
        TokenCommand::List { user, json } => {
            let user = accounts::user_by_name(&db, &user)?;
            let tokens = accounts::list_tokens(&db, user.id)?;
            if json {
                let list: Vec<serde_json::Value> = tokens
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "id": t.id,
                            "name": t.name,
                            "prefix": t.token_prefix,
                            "created_at": t.created_at.and_utc().to_rfc3339(),
                            "last_used_at": t.last_used_at.map(|d| d.and_utc().to_rfc3339()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else if tokens.is_empty() {
                println!("user '{}' has no tokens", user.username);
            } else {
                println!(
                    "{:<6} {:<24} {:<16} {:<20} LAST USED",
                    "ID", "NAME", "TOKEN", "CREATED (UTC)"
                );
                for t in &tokens {
                    println!(
                        "{:<6} {:<24} {:<16} {:<20} {}",
                        t.id,
                        t.name,
                        format!("{}…", t.token_prefix),
                        t.created_at.format("%Y-%m-%d %H:%M:%S"),
                        t.last_used_at
                            .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_else(|| "never".into())
                    );
                }
            }
        }
        TokenCommand::Revoke { id, user } => {
            let user = accounts::user_by_name(&db, &user)?;
            if !accounts::revoke_token(&db, user.id, id)? {
                bail!("user '{}' has no token {id}", user.username);
            }
            println!("revoked token {id} of user '{}'", user.username);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line of standard input, without its line end; empty is refused.
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line
        .strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .unwrap_or(&line);
    if password.is_empty() {
        bail!("no password on standard input (an empty line)");
    }
    Ok(password.to_string())
}
