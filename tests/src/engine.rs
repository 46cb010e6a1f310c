//! A sandbox for the build engine: a database of its own (a SQLite file, or
//! a fresh schema in the test PostgreSQL server), the core library to set
//! up projects, and the real `vespene` binary for workers and commands.

use crate::harness::{Run, Sandbox, vespene_bin};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vespene_core::app::{App, Migrations};
use vespene_core::authz::Actor;
use vespene_core::db::builds::{Build, BuildStatus};
use vespene_core::db::output::OutputStream;
use vespene_core::ops::{ProjectInput, WorkerPoolInput};
use vespene_core::plugins::Scanner;
use vespene_core::settings::Settings;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The test PostgreSQL server's URL, or `None` (loudly) outside CI; in CI a
/// missing server fails the test.
pub fn postgres_url() -> Option<String> {
    match std::env::var("VESPENE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("VESPENE_TEST_POSTGRES_URL is not set (run tests/services/postgres.sh)")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL not configured (run tests/services/postgres.sh)");
            None
        }
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A database plus a settings directory for the engine.
pub struct EngineSandbox {
    pub sb: Sandbox,
    pub backend: Backend,
    url: String,
    schema: Option<(String, String)>,
    /// Workers started here; killed when the sandbox goes, so a failing
    /// test leaves no process behind.
    workers: std::sync::Mutex<Vec<u32>>,
}

impl EngineSandbox {
    /// A sandbox on `backend`; `None` when PostgreSQL is not configured
    /// outside CI. `extra_settings` is written as one more settings file.
    pub fn new(backend: Backend, extra_settings: &str) -> Option<EngineSandbox> {
        let base = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_url()?),
        };
        Some(Self::on(base, extra_settings))
    }

    /// A sandbox on the PostgreSQL server at `base` (a fresh schema), or on
    /// SQLite when `None`.
    pub fn on(base: Option<String>, extra_settings: &str) -> EngineSandbox {
        let sb = Sandbox::new();
        let backend = if base.is_some() {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let (url, schema) = match base {
            None => (
                format!("sqlite://{}", sb.data_dir().join("vespene.db").display()),
                None,
            ),
            Some(base) => {
                let schema = format!("e2e_{}", random_suffix());
                let mut conn = vespene_core::db::DbConn::open(&base).expect("connect PostgreSQL");
                use diesel::connection::SimpleConnection;
                conn.batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let sep = if base.contains('?') { '&' } else { '?' };
                (
                    format!("{base}{sep}options=-csearch_path%3D{schema}"),
                    Some((base, schema)),
                )
            }
        };
        sb.write_settings(
            "10-engine.toml",
            &format!(
                "[database]\nurl = \"{url}\"\n\n[worker]\nheartbeat_seconds = 1\norphan_after_seconds = 4\npoll_seconds = 5.0\n"
            ),
        );
        // Tests run as root in CI: builds may then run as root, directly.
        sb.write_settings(
            "20-isolation.toml",
            "[plugins.isolation]\nsudo = [\"vespene.plugins.isolation.sudo\", { allow_root = true }]\n",
        );
        if !extra_settings.is_empty() {
            sb.write_settings("30-test.toml", extra_settings);
        }
        let es = EngineSandbox {
            sb,
            backend,
            url,
            schema,
            workers: std::sync::Mutex::new(Vec::new()),
        };
        let status = es.vespene(&["migrate"]);
        if status.code != Some(0) {
            // `vespene migrate` may not exist in every build of the CLI;
            // migrate through the library instead.
            vespene_core::db::migrate(&es.url).expect("migrate");
        }
        es
    }

    pub fn database_url(&self) -> &str {
        &self.url
    }

    /// The settings the sandbox's processes use.
    pub fn settings(&self) -> Settings {
        let env: Vec<(String, String)> = Vec::new();
        Settings::load_with_env(&self.sb.settings_dir(), env).expect("sandbox settings")
    }

    /// The core library on the sandbox's database, with the real plugins.
    pub fn app(&self) -> App {
        let scanner = Scanner::new(
            vespene_bin(),
            vec![vespene_core::plugins::scanner::SCAN_SUBCOMMAND.to_string()],
        );
        App::start(self.settings(), scanner, Migrations::Apply).expect("start the app")
    }

    /// `vespene ARGS` against this sandbox.
    pub fn vespene(&self, args: &[&str]) -> Run {
        self.sb.run(args)
    }

    /// A worker pool running builds directly as the current user.
    pub fn pool(&self, app: &App, name: &str) -> i64 {
        let user = nix::unistd::User::from_uid(nix::unistd::geteuid())
            .ok()
            .flatten()
            .map(|u| u.name)
            .unwrap_or_else(|| "root".into());
        self.pool_as(app, name, &user)
    }

    /// A worker pool whose builds run as `user` through sudo isolation.
    pub fn pool_as(&self, app: &App, name: &str, user: &str) -> i64 {
        self.pool_with(app, name, "sudo", user)
    }

    /// A worker pool with isolation entry `isolation` and `sudo_user`.
    pub fn pool_with(&self, app: &App, name: &str, isolation: &str, user: &str) -> i64 {
        app.ops
            .worker_pools()
            .create(
                &Actor::System,
                &WorkerPoolInput {
                    name: name.into(),
                    isolation_method: isolation.into(),
                    sudo_user: Some(user.into()),
                    ..WorkerPoolInput::default()
                },
            )
            .expect("create pool")
            .worker_pool
            .id
    }

    /// A project running `script` in pool `pool`.
    pub fn project(&self, app: &App, name: &str, pool: i64, script: &str) -> i64 {
        self.project_with(
            app,
            ProjectInput {
                name: name.into(),
                worker_pool_id: pool,
                script: script.into(),
                ..ProjectInput::default()
            },
        )
    }

    pub fn project_with(&self, app: &App, input: ProjectInput) -> i64 {
        app.ops
            .projects()
            .create(&Actor::System, &input)
            .expect("create project")
            .project
            .id
    }

    /// Starts `vespene worker POOL ARGS` in the background.
    pub fn worker(&self, pool: &str, args: &[&str]) -> Child {
        let mut cmd: Command = self.sb.command();
        cmd.arg("worker").arg(pool).args(args);
        cmd.stdout(Stdio::null());
        if std::env::var_os("VESPENE_TEST_WORKER_LOGS").is_none() {
            cmd.stderr(Stdio::null());
        }
        let child = cmd.spawn().expect("start a worker");
        self.workers.lock().unwrap().push(child.id());
        child
    }

    /// Waits until build `id` is complete (neither queued nor running nor
    /// stopping), or panics after `timeout`.
    pub fn wait_build(&self, app: &App, id: i64, timeout: Duration) -> Build {
        let deadline = Instant::now() + timeout;
        loop {
            let b = app
                .ops
                .builds()
                .get(&Actor::System, id)
                .expect("read build");
            if b.status().is_complete() && b.status() != BuildStatus::Aborting {
                return b;
            }
            assert!(
                Instant::now() < deadline,
                "build {id} still {} after {timeout:?}",
                b.status()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The whole stored output (or messages) of a build.
    pub fn output(&self, app: &App, id: i64, stream: OutputStream) -> String {
        app.ops
            .builds()
            .output(&Actor::System, id, stream, 0)
            .expect("read output")
            .text
    }

    /// The build root of build `id`.
    pub fn build_root(&self, id: i64) -> PathBuf {
        self.settings().build_root.join(id.to_string())
    }
}

impl Drop for EngineSandbox {
    fn drop(&mut self) {
        for pid in self.workers.lock().unwrap().drain(..) {
            // Only our own workers: the command line names this sandbox.
            let ours = std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c).contains(&self.sb.settings_dir().display().to_string())
            });
            if ours {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if let Some((base, schema)) = &self.schema
            && let Ok(mut conn) = vespene_core::db::DbConn::open(base)
        {
            use diesel::connection::SimpleConnection;
            let _ = conn.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
        }
    }
}

/// Waits for a worker started with `--max-builds` to finish on its own
/// (storing everything of its last build), killing it after 60 s.
pub fn finish(mut child: Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(child);
}

/// Kills `child` and reaps it.
pub fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Both backends that are available (PostgreSQL only when configured).
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        v.push(Backend::Postgres);
    }
    v
}
