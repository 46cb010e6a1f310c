//! `vespene login URL`: logs in to a server with a user name and password,
//! makes an API token for this machine with that session, ends the
//! session, and stores the server and token (mode 0600) for the command
//! line's remote mode.

use super::Env;
use crate::remote::{Remote, StoredLogin, normalize_url};
use anyhow::{Context, anyhow};
use clap::Args;
use serde_json::{Value, json};
use std::io::BufRead as _;
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server, `http://HOST:PORT`.
    pub url: String,
    /// The user name.
    #[arg(long, short)]
    pub user: String,
    /// Read the password as one line from standard input (else it is
    /// asked for).
    #[arg(long)]
    pub password_stdin: bool,
}

fn password(from_stdin: bool) -> anyhow::Result<String> {
    if !from_stdin {
        eprint!("password: ");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub fn run(_env: &Env, args: LoginArgs) -> anyhow::Result<ExitCode> {
    let base = normalize_url(&args.url)?;
    let password = password(args.password_stdin)?;
    let anon = Remote::new(&base, None)?;
    let login = json!({"username": args.user, "password": password}).to_string();
    let (_, text, cookies) = anon.request_with(
        "POST",
        "/api/v1/login",
        Some((login, "application/json")),
        &[],
    )?;
    let session: Value = serde_json::from_str(&text).context("the login answer is not JSON")?;
    let csrf = session["csrf_token"]
        .as_str()
        .ok_or_else(|| anyhow!("the login answer has no CSRF token"))?
        .to_string();
    let cookie = cookies
        .iter()
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("vespene_session="))
        })
        .ok_or_else(|| anyhow!("the login answer has no session cookie"))?
        .to_string();
    let headers = [("Cookie", cookie.as_str()), ("X-CSRF-Token", csrf.as_str())];
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "this machine".into());
    let name = json!({"name": format!("vespene login on {host}")}).to_string();
    let (_, text, _) = anon.request_with(
        "POST",
        "/api/v1/tokens",
        Some((name, "application/json")),
        &headers,
    )?;
    let made: Value = serde_json::from_str(&text).context("the token answer is not JSON")?;
    let token = made["token"]
        .as_str()
        .ok_or_else(|| anyhow!("the server made no token"))?
        .to_string();
    // The session is not needed any more.
    let _ = anon.request_with("POST", "/api/v1/logout", None, &headers);
    let path = StoredLogin {
        server: base.clone(),
        token,
    }
    .save()?;
    println!(
        "logged in to {base} as {}; token stored in {}",
        args.user,
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}
