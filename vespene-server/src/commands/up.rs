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
    /// Where the database, keys and caches live (default: the settings'
    /// `data_dir`, which is `$XDG_DATA_HOME/vespene`, else
    /// `~/.local/share/vespene`, for users other than root, and
    /// `/var/lib/vespene` for root). Build roots go beside it.
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

/// One supervised worker process.
struct Supervised {
    child: Option<Child>,
    started: Instant,
    restarts: u32,
    next_start: Instant,
}

pub fn run(env: &Env, args: UpArgs) -> anyhow::Result<ExitCode> {
    // Only an explicit --data-dir overrides the settings; it reaches the
    // workers through their environment too.
    let mut overrides: Vec<(String, String)> = Vec::new();
    if let Some(dir) = &args.data_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir)?;
        overrides.push(("VESPENE_DATA_DIR".into(), dir.display().to_string()));
    }
    let settings = env.settings_with(
        &[
            overrides.clone(),
            super::server::bind_override(args.bind.as_deref()),
        ]
        .concat(),
    )?;
    let data_dir = settings.data_dir.clone();
    vespene_core::private_data::create_private_dir(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    if !settings.secrets_key_file.exists() {
        vespene_core::secrets::generate_key_file(&settings.secrets_key_file)
            .with_context(|| format!("cannot write {}", settings.secrets_key_file.display()))?;
    }
    let scanner = Scanner::current_exe().context("cannot find the vespene executable")?;
    let app = App::start(settings, scanner, Migrations::Apply)?;
    let isolation = super::build_isolation::choose(&app);
    let first = app
        .ensure_embedded_defaults(&args.pool, &isolation.method, &isolation.user)
        .map_err(|e| anyhow::anyhow!("first start: {e}"))?;

    let password_file = data_dir.join(vespene_core::private_data::ADMIN_PASSWORD_FILE);
    if let Some(pw) = &first.admin_password {
        vespene_core::private_data::write_admin_password(&data_dir, pw)?;
    }
    // Before the banner: whoever reads it may stop us at once.
    let shutdown = shutdown_flag()?;
    let web = crate::http::start(app.clone())?;
    let plugins = app.plugins.registry.iter().count();
    println!("Vespene {} is up.", env!("CARGO_PKG_VERSION"));
    println!("  data directory  {}", data_dir.display());
    println!(
        "  build roots     {} ({})",
        app.settings.build_root.display(),
        if app.settings.keep_build_roots {
            "kept after each build"
        } else {
            "each removed when its build ends"
        }
    );
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
    if first.created_pool.is_some() {
        println!("  isolation       {}", isolation.summary);
    }
    println!("  server          {}  (REST API under /api/v1)", web.url);
    // Another terminal reaches the same data with the same settings; only
    // a --data-dir other than the default needs saying.
    let default_dir = env.settings()?.data_dir;
    if default_dir == data_dir {
        println!("  command line    vespene project start NAME");
    } else {
        println!(
            "  command line    VESPENE_DATA_DIR={} vespene project start NAME",
            data_dir.display()
        );
    }
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
    let mut quiet = crate::memory::QuietMoments::default();
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
        if quiet.tick(web.followers()) {
            crate::memory::trim();
        }
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
