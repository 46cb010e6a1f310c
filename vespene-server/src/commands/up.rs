//! `vespene up`: the embedded default in one command. SQLite in a data
//! directory, the stock plugins, an `admin` login and a `default` worker
//! pool on first start, and worker processes supervised as children (a
//! crashing plugin fails a build, never this process).

use super::Env;
use super::worker::shutdown_flag;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use vespene_core::app::{App, Migrations};
use vespene_core::plugins::Scanner;

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Where the database, build roots, keys and caches live (default
    /// `$XDG_DATA_HOME/vespene`, else `~/.local/share/vespene`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// ADDRESS:PORT of the HTTP server (overrides `[server] bind`).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Worker processes to run for the pool.
    #[arg(long, default_value_t = 1)]
    pub workers: u32,
    /// The worker pool the embedded workers serve.
    #[arg(long, default_value = "default")]
    pub pool: String,
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("vespene"));
    }
    let home = std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .context("neither --data-dir, XDG_DATA_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".local/share/vespene"))
}

/// The user builds run as: the current user (sudo is then not needed);
/// `nobody` when running as root, since builds never run as root.
pub(crate) fn build_user() -> String {
    if nix::unistd::geteuid().is_root() {
        return "nobody".into();
    }
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "nobody".into())
}

/// One supervised worker process.
struct Supervised {
    child: Option<Child>,
    started: Instant,
    restarts: u32,
    next_start: Instant,
}

pub fn run(env: &Env, args: UpArgs) -> anyhow::Result<ExitCode> {
    let data_dir = match args.data_dir {
        Some(d) => d,
        None => default_data_dir()?,
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let data_dir = std::fs::canonicalize(&data_dir)?;
    // The embedded default keeps everything in the data directory; these
    // reach the workers through their environment too.
    let mut overrides: Vec<(String, String)> =
        vec![("VESPENE_DATA_DIR".into(), data_dir.display().to_string())];
    for (key, value) in [
        ("VESPENE_BUILD_ROOT", data_dir.join("buildroot")),
        ("VESPENE_SECRETS_KEY_FILE", data_dir.join("secrets.key")),
    ] {
        if std::env::var_os(key).is_none() {
            overrides.push((key.into(), value.display().to_string()));
        }
    }
    let settings = env.settings_with(
        &[
            overrides.clone(),
            super::server::bind_override(args.bind.as_deref()),
        ]
        .concat(),
    )?;
    if !settings.secrets_key_file.exists() {
        vespene_core::secrets::generate_key_file(&settings.secrets_key_file)
            .with_context(|| format!("cannot write {}", settings.secrets_key_file.display()))?;
    }
    let scanner = Scanner::current_exe().context("cannot find the vespene executable")?;
    let app = App::start(settings, scanner, Migrations::Apply)?;
    let first = app
        .ensure_embedded_defaults(&args.pool, &build_user())
        .map_err(|e| anyhow::anyhow!("first start: {e}"))?;

    let password_file = data_dir.join("admin-password");
    if let Some(pw) = &first.admin_password {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&password_file)?;
        writeln!(f, "{pw}")?;
    }
    // Before the banner: whoever reads it may stop us at once.
    let shutdown = shutdown_flag()?;
    let web = crate::http::start(app.clone())?;
    let plugins = app.plugins.registry.iter().count();
    println!("Vespene {} is up.", env!("CARGO_PKG_VERSION"));
    println!("  data directory  {}", data_dir.display());
    println!(
        "  database        {}",
        vespene_core::db::masked_url(&app.settings.database_url())
    );
    println!("  plugins         {plugins} configured, all loaded");
    match &first.admin_password {
        Some(pw) => println!(
            "  admin login     admin / {pw}   (also in {})",
            password_file.display()
        ),
        None => println!(
            "  admin login     admin (password in {})",
            password_file.display()
        ),
    }
    println!(
        "  workers         {} for pool '{}'{}",
        args.workers,
        args.pool,
        if first.created_pool.is_some() {
            " (created)"
        } else {
            ""
        }
    );
    println!("  server          {}  (REST API under /api/v1)", web.url);
    // The same settings for the command line in another terminal.
    let exports: Vec<String> = overrides.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("  command line    export {}", exports.join(" "));
    println!("                  vespene project start NAME");
    println!("Press Ctrl-C to stop.");

    let exe = std::env::current_exe()?;
    let spawn = |_: u32| -> std::io::Result<Child> {
        let mut cmd = Command::new(&exe);
        cmd.arg("--settings-dir")
            .arg(&env.settings_dir)
            .arg("worker")
            .arg(&args.pool);
        for (k, v) in &overrides {
            cmd.env(k, v);
        }
        cmd.spawn()
    };
    let mut workers: Vec<Supervised> = (0..args.workers.max(1))
        .map(|_| Supervised {
            child: None,
            started: Instant::now(),
            restarts: 0,
            next_start: Instant::now(),
        })
        .collect();
    while !shutdown.load(Ordering::SeqCst) && !web.is_finished() {
        for (i, w) in workers.iter_mut().enumerate() {
            if let Some(child) = &mut w.child
                && let Ok(Some(status)) = child.try_wait()
            {
                tracing::warn!("worker {i} exited ({status}); restarting");
                // Back off when it keeps dying quickly (a crash loop).
                let quick = w.started.elapsed() < Duration::from_secs(30);
                w.restarts = if quick { w.restarts + 1 } else { 0 };
                w.next_start = Instant::now() + Duration::from_secs(1 << w.restarts.min(5));
                w.child = None;
            }
            if w.child.is_none() && Instant::now() >= w.next_start {
                match spawn(i as u32) {
                    Ok(c) => {
                        w.child = Some(c);
                        w.started = Instant::now();
                    }
                    Err(e) => {
                        tracing::error!("cannot start worker {i}: {e}");
                        w.next_start = Instant::now() + Duration::from_secs(5);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    println!("Stopping.");
    let web_result = web.stop();
    for w in &mut workers {
        if let Some(c) = &w.child {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for w in &mut workers {
        if let Some(c) = &mut w.child {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    web_result?;
    Ok(ExitCode::SUCCESS)
}
