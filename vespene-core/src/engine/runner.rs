//! Running one claimed build: build root, pre triggers, SSH keys, checkout,
//! `vespene_launch.sh` and `vespene.json`, the isolation plugin running the
//! script with every line through the output filters into the database,
//! the final state, success or failure triggers, and the pipeline.
//!
//! Stop and timeout kill the build's whole process tree: every command
//! runs through [`BuildScope`] with the build's cancel token and deadline.

use super::call_guard::{self, CallGuard, Deadline};
use super::claim::Claimer;
use super::context::{self, BuildNames};
use super::log::{BuildLog, FilterChain, LogStore, append_filtered};
use super::queue::release_active;
use super::ssh::{BuildKeys, Key};
use super::store::DbLogStore;
use super::triggers::{CallLimits, run_checked_out, run_section};
use super::wake::Listener;
use super::{EngineError, persist, pipeline};
use crate::app::App;
use crate::db::builds::{self, Build, BuildChanges, BuildStatus};
use crate::db::output::OutputStream;
use crate::db::projects::{BuildRefs, ProjectDetail, set_build_refs};
use crate::db::{DbConn, now, write_tx};
use crate::plugins::{CallScope, with_scope};
use crate::process::{self, CancelToken, CommandSpec, OutputHandler};
use crate::settings::Section;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vespene_plugin_api::kinds::isolation::{IsolationRequest, ops as iso_ops};
use vespene_plugin_api::kinds::scm::{CheckoutRequest, CheckoutResult, ops as scm_ops};
use vespene_plugin_api::kinds::trigger::{Event, HookRequest};
use vespene_plugin_api::{BuildInfo, Credentials, PluginError, RunOutcome, RunRequest, Stream};

type Log = BuildLog<Box<dyn LogStore>>;

/// What plugin calls made during one build can do to it.
struct BuildScope {
    log: Rc<RefCell<Log>>,
    cancel: CancelToken,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    /// The build's own deadline (the project's timeout), applied to every
    /// command run during the script phase.
    deadline: Rc<RefCell<Option<Instant>>>,
    /// The exit code of the last command run, so a failing trigger's build
    /// records the trigger's exit code.
    last_exit: Rc<std::cell::Cell<Option<i32>>>,
}

struct LogHandler<'a> {
    log: &'a RefCell<Log>,
    stream: Stream,
}

impl OutputHandler for LogHandler<'_> {
    fn line(&mut self, line: &str) {
        self.log.borrow_mut().line(self.stream, line);
    }
    fn idle(&mut self) {
        self.log.borrow_mut().tick();
    }
}

impl CallScope for BuildScope {
    fn run(&self, request: &RunRequest) -> Result<RunOutcome, PluginError> {
        let mut spec = CommandSpec::from_request(request, Some(&self.cwd))
            .map_err(|e| PluginError::invalid_request(e.to_string()))?;
        for (k, v) in &self.env {
            spec.env.entry(k.clone()).or_insert_with(|| v.clone());
        }
        spec.cancel = Some(self.cancel.clone());
        if let Some(deadline) = *self.deadline.borrow() {
            let left = deadline.saturating_duration_since(Instant::now());
            spec.timeout = Some(spec.timeout.map_or(left, |t| t.min(left)));
        }
        if request.log_command {
            let shown = request.display.clone().unwrap_or_else(|| spec.display());
            self.log.borrow_mut().message(&shown);
        }
        let outcome = process::run_with(
            &spec,
            LogHandler {
                log: &self.log,
                stream: request.stream,
            },
        )
        .map_err(|e| PluginError::failed(e.to_string()))?;
        self.last_exit.set(outcome.exit_code);
        if outcome.output_abandoned {
            self.log.borrow_mut().message(
                "[vespene] stopped reading output: processes that left the build's process group kept it open",
            );
        }
        Ok(outcome.into())
    }

    /// Appended text is stored like a command's lines: batched, and stored
    /// once it has waited 200 ms, checked here and at every `status` call,
    /// so a plugin streaming output itself (the container isolation) is
    /// live while it polls for a stop.
    fn append(&self, stream: Stream, text: &str) -> Result<(), PluginError> {
        let mut log = self.log.borrow_mut();
        log.text(stream, text);
        log.tick();
        Ok(())
    }

    fn stopped(&self) -> bool {
        // Not while the log is busy (an output filter asking, say).
        if let Ok(mut log) = self.log.try_borrow_mut() {
            log.tick();
        }
        self.cancel.is_cancelled()
    }
}

/// Writes heartbeats for a running build and watches for a stop request,
/// on its own thread, woken at once by stop notifications.
struct Watch {
    done: Arc<AtomicBool>,
    wake: super::wake::Interrupter,
    thread: Option<std::thread::JoinHandle<Box<dyn Listener>>>,
}

impl Watch {
    fn start(
        app: &App,
        build_id: i64,
        mut listener: Box<dyn Listener>,
        cancel: CancelToken,
        on_stop: Arc<dyn Fn() + Send + Sync>,
    ) -> Watch {
        let done = Arc::new(AtomicBool::new(false));
        let wake = listener.interrupter();
        let every = Duration::from_secs(app.settings.worker.heartbeat_seconds.max(1));
        let db = app.db.clone();
        let d = done.clone();
        let thread = std::thread::Builder::new()
            .name(format!("watch-{build_id}"))
            .spawn(move || {
                let mut last_beat = Instant::now();
                let mut stopping = false;
                while !d.load(Ordering::SeqCst) {
                    listener.wait(every.min(Duration::from_secs(1)));
                    if d.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = db.conn() else { continue };
                    if last_beat.elapsed() >= every {
                        let _ = heartbeat(&mut conn, build_id);
                        last_beat = Instant::now();
                    }
                    if !stopping
                        && builds::status_of(&mut conn, build_id)
                            .is_ok_and(|s| s == BuildStatus::Aborting)
                    {
                        stopping = true;
                        cancel.cancel();
                        on_stop();
                    }
                }
                listener
            })
            .expect("spawn the build watcher");
        Watch {
            done,
            wake,
            thread: Some(thread),
        }
    }

    /// Stops watching (at once: the watcher's wait is interrupted); hands
    /// the listener back to the worker.
    fn finish(mut self) -> Option<Box<dyn Listener>> {
        self.done.store(true, Ordering::SeqCst);
        self.wake.interrupt();
        self.thread.take().and_then(|t| t.join().ok())
    }
}

fn heartbeat(conn: &mut DbConn, build_id: i64) -> Result<(), crate::db::DbError> {
    use crate::db::schema::builds as b;
    use diesel::prelude::*;
    diesel::update(b::table.find(build_id))
        .set(b::heartbeat_at.eq(Some(now())))
        .execute(conn)?;
    // The worker running it checks in with the build's heartbeat.
    if let Some(worker) = b::table
        .find(build_id)
        .select(b::worker_id)
        .first::<Option<i64>>(conn)?
    {
        crate::db::workers::check_in(conn, worker)?;
    }
    Ok(())
}

/// How the build ended, before bookkeeping.
pub(super) struct Ending {
    status: BuildStatus,
    return_code: Option<i32>,
    reason: Option<String>,
}

impl Ending {
    fn success() -> Ending {
        Ending {
            status: BuildStatus::Success,
            return_code: None,
            reason: None,
        }
    }
    pub(super) fn failure(reason: impl Into<String>, code: i32) -> Ending {
        Ending {
            status: BuildStatus::Failure,
            return_code: Some(code),
            reason: Some(reason.into()),
        }
    }
    pub(super) fn aborted(reason: impl Into<String>) -> Ending {
        Ending {
            status: BuildStatus::Aborted,
            return_code: None,
            reason: Some(reason.into()),
        }
    }
}

/// Everything a phase of the build needs.
struct Run<'a> {
    app: &'a App,
    build: Build,
    info: BuildInfo,
    project: ProjectDetail,
    project_info: vespene_plugin_api::ProjectInfo,
    root: PathBuf,
    scope: Box<dyn CallScope>,
    log: Rc<RefCell<Log>>,
    cancel: CancelToken,
    deadline: Rc<RefCell<Option<Instant>>>,
    isolation_request: Arc<Mutex<Option<String>>>,
    last_exit: Rc<std::cell::Cell<Option<i32>>>,
    /// The project's timeout from the build's start: bounds every plugin
    /// call before the build ends (a hung pre trigger included).
    build_deadline: Deadline,
    progress: Box<dyn Fn(usize)>,
    timer: Box<dyn Fn(Option<u64>)>,
}

impl Run<'_> {
    fn trigger_limits(&self, build: Option<Deadline>) -> CallLimits<'_> {
        CallLimits {
            per_call: Duration::from_secs(self.app.settings.worker.trigger_call_seconds.max(1)),
            build,
            progress: &*self.progress,
            acting_for: Some(super::trigger_logins::ActingFor {
                app: self.app,
                project: &self.project,
            }),
        }
    }

    /// Commands from now on run in the build root under the current cancel
    /// token, with `env` added to their environment.
    fn rescope(&mut self, env: Vec<(String, String)>) {
        self.scope = Box::new(BuildScope {
            log: self.log.clone(),
            cancel: self.cancel.clone(),
            cwd: self.root.clone(),
            env,
            deadline: self.deadline.clone(),
            last_exit: self.last_exit.clone(),
        });
    }

    fn message(&self, text: &str) {
        self.log.borrow_mut().message(text);
    }

    fn stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    fn pre_triggers(&self) -> Result<(), Ending> {
        if self
            .app
            .plugins
            .registry
            .section(Section::PreTriggers)
            .is_empty()
        {
            return Ok(());
        }
        self.message("----------\nPre hooks...");
        self.last_exit.set(None);
        let req = HookRequest::new(Event::Pre, self.info.clone(), self.project_info.clone());
        for r in run_section(
            &self.app.plugins.registry,
            Section::PreTriggers,
            &req,
            &self.scope,
            &self.trigger_limits(Some(self.build_deadline)),
            0,
        ) {
            if let Err(e) = r.result {
                return Err(if self.stopped() {
                    Ending::aborted("build stopped by request during the pre triggers")
                } else {
                    Ending::failure(
                        format!("pre trigger '{}' failed: {e}", r.name),
                        self.last_exit.take().filter(|c| *c != 0).unwrap_or(-1),
                    )
                });
            }
        }
        Ok(())
    }

    /// The pre triggers that report on the commit (commit statuses) hear
    /// of it once the checkout has recorded it; their errors are reported
    /// and never fail the build.
    fn checked_out(&self, checkout: &CheckoutResult) {
        let registry = &self.app.plugins.registry;
        if registry.section(Section::PreTriggers).is_empty() || checkout.revision.is_empty() {
            return;
        }
        let mut info = self.info.clone();
        info.revision = checkout.revision.clone();
        info.revision_username = checkout.revision_username.clone();
        let req = HookRequest::new(Event::Pre, info, self.project_info.clone())
            .with_commit(checkout.commit.clone());
        for r in run_checked_out(registry, &req, &self.scope, &self.trigger_limits(None)) {
            if let Err(e) = r.result {
                self.message(&format!(
                    "pre trigger '{}' failed after checkout: {e}",
                    r.name
                ));
            }
        }
    }

    fn ssh_keys(&self, conn: &mut DbConn) -> Result<Option<BuildKeys>, Ending> {
        if self.project.ssh_keys.is_empty() {
            return Ok(None);
        }
        use crate::db::aggregate::Aggregate;
        use crate::db::ssh_keys::{SshKeys, secrets_of};
        let mut keys = Vec::new();
        for id in &self.project.ssh_keys {
            let key = SshKeys::get(conn, *id)
                .map_err(|e| Ending::failure(format!("SSH key #{id}: {e}"), -1))?
                .ssh_key;
            let s = secrets_of(self.app.ops.secrets(), &key)
                .map_err(|e| Ending::failure(format!("SSH key '{}': {e}", key.name), -1))?;
            keys.push(Key {
                name: key.name,
                private_key: s.private_key,
                unlock_password: s.unlock_password,
            });
        }
        let dir = self
            .app
            .settings
            .data_dir
            .join("run")
            .join("ssh")
            .join(self.build.id.to_string());
        BuildKeys::start(&dir, &keys)
            .map(Some)
            .map_err(|e| Ending::failure(e, -1))
    }

    fn checkout(
        &self,
        conn: &mut DbConn,
        keys: Option<&BuildKeys>,
    ) -> Result<CheckoutResult, Ending> {
        let p = &self.project.project;
        if p.repo_url.trim().is_empty() {
            return Ok(CheckoutResult::default());
        }
        let registry = &self.app.plugins.registry;
        let scm = registry
            .named(Section::Scm, &p.scm_type)
            .or_else(|| registry.named(Section::Scm, "none"))
            .ok_or_else(|| {
                Ending::failure(
                    format!(
                        "no scm plugin configured for scm_type '{}' (and no 'none' entry to fall back to)",
                        p.scm_type
                    ),
                    -1,
                )
            })?;
        let credentials = match p.scm_login_id {
            Some(id) => {
                use crate::db::aggregate::Aggregate;
                use crate::db::service_logins::{ServiceLogins, password_of};
                let login = ServiceLogins::get(conn, id)
                    .map_err(|e| Ending::failure(format!("service login: {e}"), -1))?
                    .service_login;
                let password = password_of(self.app.ops.secrets(), &login)
                    .map_err(|e| Ending::failure(format!("service login: {e}"), -1))?;
                Some(Credentials {
                    name: login.name,
                    username: login.username,
                    password,
                })
            }
            None => None,
        };
        // A webhook's pushed branch and commit, when the project builds them.
        let requested = crate::db::webhooks::request(conn, self.build.id)
            .map_err(|e| Ending::failure(format!("the build's requested commit: {e}"), -1))?;
        let (branch, commit) = match requested {
            Some((branch, commit)) => (Some(branch), Some(commit)),
            None => (None, None),
        };
        let req = CheckoutRequest {
            build: self.info.clone(),
            project: self.project_info.clone(),
            build_root: self.root.display().to_string(),
            credentials,
            ssh: keys.map(|k| k.access.clone()).unwrap_or_default(),
            timeout_secs: Some(600),
            branch,
            commit,
        };
        let args = serde_json::to_string(&req).map_err(|e| Ending::failure(e.to_string(), -1))?;
        let answer = with_scope(&self.scope, || {
            let _call = CallGuard::enter(
                call_guard::label("scm", scm.name(), scm_ops::CHECKOUT),
                Some(self.build_deadline),
            );
            scm.instance().call(scm_ops::CHECKOUT, &args)
        });
        match answer {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                Ending::failure(
                    format!("scm plugin '{}' answered badly: {e}", scm.name()),
                    -1,
                )
            }),
            Err(_) if self.stopped() => {
                Err(Ending::aborted("build stopped by request during checkout"))
            }
            Err(e) => Err(Ending::failure(format!("checkout failed: {e}"), -1)),
        }
    }

    fn write_files(&self) -> Result<(PathBuf, PathBuf), Ending> {
        let script = self.root.join("vespene_launch.sh");
        let vars = self.root.join("vespene.json");
        let variables: Value =
            serde_json::from_str(&self.build.variables).unwrap_or(Value::Object(Map::new()));
        // The original required an interpreter line; without one, exec
        // fails with a cryptic "Exec format error". Run such scripts with
        // /bin/sh, as most CI servers do, and say so.
        let text = if self.build.script.starts_with("#!") {
            self.build.script.clone()
        } else {
            self.message(
                "the build script has no interpreter line (#!...): running it with /bin/sh",
            );
            format!("#!/bin/sh\n{}", self.build.script)
        };
        let write = || -> std::io::Result<()> {
            std::fs::write(&script, &text)?;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
            std::fs::write(
                &vars,
                serde_json::to_string_pretty(&variables).unwrap_or_default() + "\n",
            )
        };
        write().map_err(|e| Ending::failure(format!("cannot write the build files: {e}"), -1))?;
        Ok((script, vars))
    }

    fn isolate(
        &self,
        pool: &vespene_plugin_api::WorkerPoolInfo,
        script: PathBuf,
        vars: PathBuf,
    ) -> Ending {
        let registry = &self.app.plugins.registry;
        let Some(iso) = registry.named(Section::Isolation, &pool.isolation_method) else {
            return Ending::failure(
                format!(
                    "no isolation plugin configured for worker pool isolation type: {}",
                    pool.isolation_method
                ),
                -1,
            );
        };
        let timeout_secs = (self.project.project.timeout.max(1) as u64) * 60;
        let req = IsolationRequest {
            build: self.info.clone(),
            project: self.project_info.clone(),
            worker_pool: pool.clone(),
            build_root: self.root.display().to_string(),
            script_path: script.display().to_string(),
            variables_path: vars.display().to_string(),
            timeout_secs: Some(timeout_secs),
        };
        let args = match serde_json::to_string(&req) {
            Ok(a) => a,
            Err(e) => return Ending::failure(e.to_string(), -1),
        };
        *self.isolation_request.lock().unwrap() = Some(args.clone());
        // The project's timeout kills the script; the call itself gets a
        // little longer to answer.
        let deadline = Deadline {
            at: Instant::now() + Duration::from_secs(timeout_secs + 30),
            reason: self.build_deadline.reason,
        };
        let call = |op: &str| {
            with_scope(&self.scope, || {
                let _call = CallGuard::enter(
                    call_guard::label("isolation", iso.name(), op),
                    Some(deadline),
                );
                iso.instance().call(op, &args)
            })
        };
        if let Err(e) = call(iso_ops::BEGIN) {
            return if self.stopped() {
                Ending::aborted("build stopped by request")
            } else {
                Ending::failure(
                    format!("isolation '{}' could not begin: {e}", iso.name()),
                    -1,
                )
            };
        }
        // The project's timeout bounds everything the script phase runs.
        let started = Instant::now();
        self.set_deadline(Some(started + Duration::from_secs(timeout_secs)));
        (self.timer)(Some(timeout_secs));
        let executed = call(iso_ops::EXECUTE);
        self.set_deadline(None);
        (self.timer)(None);
        let end = call(iso_ops::END);
        let ending = match executed.and_then(|text| {
            serde_json::from_str::<RunOutcome>(&text)
                .map_err(|e| PluginError::failed(format!("unexpected answer: {e}")))
        }) {
            Ok(o) if o.aborted || self.stopped() => Ending::aborted("build stopped by request"),
            Ok(o) if o.timed_out => timed_out(self.project.project.timeout),
            Ok(o) if o.exit_code == Some(0) => Ending::success(),
            Ok(o) => match o.exit_code {
                Some(code) => Ending::failure(format!("build failed with exit code {code}"), code),
                None => Ending::failure(
                    format!(
                        "build was killed by {}",
                        o.signal
                            .map(crate::plugins::scanner::signal_name)
                            .unwrap_or_else(|| "a signal".into())
                    ),
                    -1,
                ),
            },
            Err(_) if self.stopped() => Ending::aborted("build stopped by request"),
            Err(e) => Ending::failure(format!("isolation '{}' failed: {e}", iso.name()), -1),
        };
        if let Err(e) = end {
            self.message(&format!(
                "isolation '{}' could not clean up: {e}",
                iso.name()
            ));
        }
        ending
    }

    /// Kills every process the build left behind outside its process
    /// group (see [`process::reaper`]) and says so in its messages.
    fn kill_leftovers(&self) {
        let left = process::reaper::kill_leftovers();
        if left.killed > 0 {
            self.message(&format!(
                "[vespene] killed {} process{} the build left behind",
                left.killed,
                if left.killed == 1 { "" } else { "es" }
            ));
        }
        if !left.refused.is_empty() {
            self.message(&format!(
                "[vespene] could not kill processes the build left behind (another user's): {:?}",
                left.refused
            ));
        }
    }

    fn set_deadline(&self, deadline: Option<Instant>) {
        *self.deadline.borrow_mut() = deadline;
    }
}

/// Where a build's log goes and who hears about its progress: the
/// database (in the worker), or the worker (in a runner child).
pub struct RunnerIo {
    pub store: Box<dyn LogStore>,
    /// Hand every line to the store at once.
    pub unbatched: bool,
    /// Told the index of each post trigger before it runs.
    pub progress: Box<dyn Fn(usize)>,
    /// Told the project's timeout, in seconds, when the script phase
    /// starts it, and `None` when the script phase is over (the worker's
    /// backstop, see `contained`).
    pub timer: Box<dyn Fn(Option<u64>)>,
}

impl RunnerIo {
    /// The log straight to the database (no runner child).
    pub fn database(app: &App, build_id: i64) -> RunnerIo {
        let patience = Duration::from_secs(app.settings.worker.orphan_after_seconds.max(1));
        RunnerIo {
            store: Box::new(DbLogStore::spawn(&app.db, &app.waker, build_id, patience)),
            unbatched: false,
            progress: Box::new(|_| {}),
            timer: Box::new(|_| {}),
        }
    }
}

/// How a build that ran out of its project's timeout ends, whoever
/// notices: the script's runner, or the worker's backstop.
pub(super) fn timed_out(minutes: i32) -> Ending {
    Ending::failure(timeout_text(minutes), 124)
}

/// What [`timed_out`] says.
pub(super) fn timeout_text(minutes: i32) -> String {
    format!(
        "build timed out after {minutes} minute{} (the project's timeout) and was killed",
        if minutes == 1 { "" } else { "s" }
    )
}

/// What stops a build: the isolation plugin's `abort` for what the host
/// cannot kill itself (a container, say).
pub fn isolation_abort(
    app: &App,
    pool_id: i64,
    isolation_request: Arc<Mutex<Option<String>>>,
) -> Arc<dyn Fn() + Send + Sync> {
    let app = app.clone();
    Arc::new(move || {
        let Some(args) = isolation_request.lock().unwrap().clone() else {
            return;
        };
        let Ok(mut conn) = app.db.conn() else { return };
        let Ok(pool) = context::pool_info(&mut conn, pool_id) else {
            return;
        };
        if let Some(iso) = app
            .plugins
            .registry
            .named(Section::Isolation, &pool.isolation_method)
            && let Err(e) = iso.instance().call(iso_ops::ABORT, &args)
        {
            tracing::warn!("isolation abort: {e}");
        }
    })
}

/// Runs claimed build `build` to its end and records it, in the worker
/// itself (`[worker] contain_plugin_calls = false`). The worker's wake-up
/// listener serves the build's watcher (heartbeats, stop requests)
/// meanwhile and is handed back.
pub fn run_build(
    app: &App,
    who: &Claimer,
    build: Build,
    listener: Box<dyn Listener>,
) -> (Result<BuildStatus, EngineError>, Box<dyn Listener>) {
    let cancel = CancelToken::new();
    let isolation_request: Arc<Mutex<Option<String>>> = Arc::default();
    let on_stop = isolation_abort(app, build.worker_pool_id, isolation_request.clone());
    let watch = Watch::start(app, build.id, listener, cancel.clone(), on_stop);
    let io = RunnerIo::database(app, build.id);
    let result = run_claimed(app, who, build, cancel, isolation_request, io);
    let listener = watch
        .finish()
        .unwrap_or_else(|| app.waker.listen("(lost listener)"));
    (result, listener)
}

/// Starts watching build `build_id` for heartbeats and stop requests (the
/// runner child's worker does this for it).
pub(super) fn watch(
    app: &App,
    build_id: i64,
    listener: Box<dyn Listener>,
    cancel: CancelToken,
    on_stop: Arc<dyn Fn() + Send + Sync>,
) -> impl FnOnce() -> Box<dyn Listener> {
    let watch = Watch::start(app, build_id, listener, cancel, on_stop);
    let app = app.clone();
    move || {
        watch
            .finish()
            .unwrap_or_else(|| app.waker.listen("(lost listener)"))
    }
}

/// The context every phase of a build needs, read from the database.
fn prepare<'a>(
    app: &'a App,
    conn: &mut DbConn,
    who: &Claimer,
    build: Build,
    cancel: CancelToken,
    isolation_request: Arc<Mutex<Option<String>>>,
    io: RunnerIo,
) -> Result<(Run<'a>, vespene_plugin_api::WorkerPoolInfo, BuildNames), EngineError> {
    let project_id = build.project_id.unwrap_or_default();
    let project = context::project(conn, project_id)?;
    let root = who.working_dir(build.id);
    let pool = context::pool_info(conn, build.worker_pool_id)?;
    let names = BuildNames::of(conn, &build, Some(&pool))?;
    let info = names.info(&build);
    let project_info = context::project_info(conn, &project, Some(&pool))?;
    let output_limit = Duration::from_secs(app.settings.worker.output_call_seconds.max(1));
    let chain = FilterChain::for_build(&app.plugins.registry, &info, Some(output_limit));
    let mut build_log = BuildLog::new(chain, io.store);
    if io.unbatched {
        build_log.unbatched();
    }
    build_log.limit_variables(super::log::VariableLimits {
        count: app.settings.worker.max_output_variables,
        bytes: app.settings.worker.max_output_variable_bytes,
    });
    let log = Rc::new(RefCell::new(build_log));
    let deadline = Rc::new(RefCell::new(None));
    let last_exit = Rc::new(std::cell::Cell::new(None));
    let scope: Box<dyn CallScope> = Box::new(BuildScope {
        log: log.clone(),
        cancel: cancel.clone(),
        cwd: root.clone(),
        env: Vec::new(),
        deadline: deadline.clone(),
        last_exit: last_exit.clone(),
    });
    let minutes = project.project.timeout.max(1);
    let build_deadline = Deadline::after(
        Duration::from_secs(minutes as u64 * 60),
        call_guard::intern(format!(
            "did not return before the project's timeout ({minutes} minute{})",
            if minutes == 1 { "" } else { "s" }
        )),
    );
    let run = Run {
        app,
        build,
        info,
        project,
        project_info,
        root,
        scope,
        log,
        cancel,
        deadline,
        isolation_request,
        last_exit,
        build_deadline,
        progress: io.progress,
        timer: io.timer,
    };
    Ok((run, pool, names))
}

/// Runs build `build` (claimed by `who`) to its end: every phase, with its
/// log going to `io`.
pub fn run_claimed(
    app: &App,
    who: &Claimer,
    build: Build,
    cancel: CancelToken,
    isolation_request: Arc<Mutex<Option<String>>>,
    io: RunnerIo,
) -> Result<BuildStatus, EngineError> {
    let mut conn = app.db.conn()?;
    let id = build.id;
    let Some(project_id) = build.project_id else {
        let ending = Ending::failure(
            "organization import builds are run by the importer (engine::import), never queued for a worker",
            -1,
        );
        finish_without_log(app, &mut conn, &build, &ending)?;
        return Ok(ending.status);
    };
    // Recorded as the build's working_dir by the claim.
    let created = super::buildroot::create(&who.build_root, id);
    let (mut run, pool, names) =
        prepare(app, &mut conn, who, build, cancel, isolation_request, io)?;
    let root = run.root.clone();
    run.message(&format!(
        "build {id} running on {} ({}) in {}",
        pool.name,
        who.claimed_by,
        root.display()
    ));

    let mut revision = CheckoutResult::default();
    let mut keys = None;
    let ending = (|| -> Result<Ending, Ending> {
        created.map_err(|e| {
            Ending::failure(
                format!("cannot create the build root {}: {e}", root.display()),
                -1,
            )
        })?;
        run.pre_triggers()?;
        keys = run.ssh_keys(&mut conn)?;
        if let Some(k) = &keys
            && let Some(sock) = &k.access.auth_sock
        {
            run.rescope(vec![("SSH_AUTH_SOCK".into(), sock.clone())]);
        }
        revision = run.checkout(&mut conn, keys.as_ref())?;
        if run.stopped() {
            return Err(Ending::aborted("build stopped by request"));
        }
        run.checked_out(&revision);
        let (script, vars) = run.write_files()?;
        Ok(run.isolate(&pool, script, vars))
    })()
    .unwrap_or_else(|e| e);
    drop(keys);
    run.kill_leftovers();

    if let Some(reason) = &ending.reason {
        // A failure, timeout or stop says why in the output and messages.
        run.log.borrow_mut().text(Stream::Output, reason);
        run.message(reason);
    }
    let output_variables = Value::Object(run.log.borrow().output_variables().clone()).to_string();
    // The output so far (the script's, all of it) is stored before the
    // build is recorded as ended, so whoever sees it ended sees all the
    // script wrote; post-trigger and pipeline messages follow. Output that
    // could not be stored is the build's failure, never a silent SUCCESS.
    let lost = run.log.borrow_mut().sync().err().map(|e| {
        tracing::error!("build {id}: part of its output could not be stored: {e}");
        format!("part of the build's output could not be stored: {e}")
    });
    // The connection held since the claim may have died with the server.
    drop(conn);
    let status = record_ending(
        app,
        id,
        project_id,
        ending,
        lost,
        &output_variables,
        &revision,
    )?;
    let final_build = persist::retrying(
        &app.db,
        ending_patience(app),
        "reading the ended build",
        |conn| Ok(builds::get(conn, id)?),
    )?;
    run.post_phase(&names, &final_build, 0, revision.commit.clone())?;
    run.close()?;
    Ok(status)
}

fn ending_patience(app: &App) -> Instant {
    Instant::now() + Duration::from_secs(app.settings.worker.orphan_after_seconds.max(1))
}

/// Records how build `id` ended (retrying across reconnects until the
/// orphan deadline): status, return code, output variables, revision, and
/// `lost` (output that could not be stored, which makes it a FAILURE).
pub(super) fn record_ending(
    app: &App,
    id: i64,
    project_id: i64,
    ending: Ending,
    lost: Option<String>,
    output_variables: &str,
    revision: &CheckoutResult,
) -> Result<BuildStatus, EngineError> {
    let mut ending = ending;
    if let Some(reason) = &lost {
        ending = Ending::failure(reason.clone(), ending.return_code.unwrap_or(-1));
    }
    let status = ending.status;
    let recorded = persist::retrying(
        &app.db,
        ending_patience(app),
        &format!("recording the end of build {id}"),
        |conn| {
            write_tx(conn, |conn| -> Result<BuildStatus, EngineError> {
                // A build that has ended never changes again: one the sweep
                // orphaned while its runner was cut off keeps that ending.
                if let Some(ended) = ended_status(conn, id)? {
                    return Ok(ended);
                }
                builds::update(
                    conn,
                    id,
                    &BuildChanges {
                        end_time: Some(Some(now())),
                        return_code: Some(ending.return_code),
                        output_variables: Some(output_variables.to_string()),
                        revision: Some(revision.revision.clone()),
                        revision_username: Some(revision.revision_username.clone()),
                        ..BuildChanges::default()
                    }
                    .status(status),
                )?;
                record_end(conn, project_id, id, status == BuildStatus::Success)?;
                if let Some(reason) = &lost {
                    let registry = &app.plugins.registry;
                    append_filtered(
                        conn,
                        registry,
                        id,
                        OutputStream::Messages,
                        &[reason.as_str()],
                    )?;
                    append_filtered(conn, registry, id, OutputStream::Output, &[reason.as_str()])?;
                }
                Ok(status)
            })
        },
    )?;
    app.waker.notify_output(id);
    Ok(recorded)
}

/// Runs what follows the end of `build` (as it ended) from post trigger `from`
/// on (a fresh runner child, after one that died): the remaining success
/// or failure triggers, the pipeline, the leftovers, the build root.
pub fn run_post(
    app: &App,
    who: &Claimer,
    build: Build,
    from: usize,
    io: RunnerIo,
) -> Result<(), EngineError> {
    let mut conn = app.db.conn()?;
    let (mut run, _, names) = prepare(
        app,
        &mut conn,
        who,
        build.clone(),
        CancelToken::new(),
        Arc::default(),
        io,
    )?;
    drop(conn);
    run.post_phase(&names, &build, from, None)?;
    run.close()
}

impl Run<'_> {
    /// Post triggers (from index `from`) see the final state; a failing one
    /// is reported and changes nothing ("Decisions" 8). Then the pipeline,
    /// the leftovers and the build root.
    fn post_phase(
        &mut self,
        names: &BuildNames,
        final_build: &Build,
        from: usize,
        commit: Option<String>,
    ) -> Result<(), EngineError> {
        let app = self.app;
        let status = final_build.status();
        let final_info = names.info(final_build);
        let (section, event) = if status == BuildStatus::Success {
            (Section::SuccessTriggers, Event::Success)
        } else {
            (Section::FailureTriggers, Event::Failure)
        };
        if app.plugins.registry.section(section).len() > from {
            // A stopped build's cancel token would kill the triggers at once:
            // they get a scope of their own (failure triggers run for stopped
            // builds, "Decisions" 4).
            self.cancel = CancelToken::new();
            self.rescope(Vec::new());
            if from == 0 {
                self.message("----------\nPost hooks...");
            }
            let req =
                HookRequest::new(event, final_info, self.project_info.clone()).with_commit(commit);
            let limits = self.trigger_limits(None);
            for r in run_section(
                &app.plugins.registry,
                section,
                &req,
                &self.scope,
                &limits,
                from,
            ) {
                if let Err(e) = r.result {
                    self.message(&format!(
                        "{} trigger '{}' failed: {e}",
                        event_name(event),
                        r.name
                    ));
                }
            }
        }
        (self.progress)(usize::MAX);
        if status == BuildStatus::Success {
            let mut conn = app.db.conn()?;
            let mut log = self.log.borrow_mut();
            let _call = CallGuard::enter(
                call_guard::label("variables", "(pipeline evaluation)", "variables"),
                Some(Deadline::after(
                    Duration::from_secs(app.settings.worker.variables_call_seconds.max(1)),
                    call_guard::intern(format!(
                        "did not return within {} s ([worker] variables_call_seconds)",
                        app.settings.worker.variables_call_seconds
                    )),
                )),
            );
            pipeline::after_success(app, &mut conn, final_build, &mut |line: &str| {
                log.message(line)
            });
        }
        self.kill_leftovers();
        if !app.settings.keep_build_roots
            && let Err(e) = super::buildroot::remove(&self.root)
        {
            self.message(&format!(
                "cannot remove the build root {}: {e}",
                self.root.display()
            ));
        }
        Ok(())
    }

    /// Stores the rest of the log and closes it.
    fn close(self) -> Result<(), EngineError> {
        let id = self.build.id;
        let Run { log, scope, .. } = self;
        drop(scope);
        let log = match Rc::try_unwrap(log) {
            Ok(cell) => cell.into_inner(),
            Err(_) => return Err(EngineError::Worker("the build log is still in use".into())),
        };
        let (mut store, _) = log.finish();
        if let Err(e) = store.close() {
            tracing::error!("build {id}: part of its output could not be stored: {e}");
        }
        Ok(())
    }
}

/// The status of build `id` if it has already ended (locked on PostgreSQL
/// until the transaction ends, so a sweep cannot end it meanwhile).
fn ended_status(conn: &mut DbConn, id: i64) -> Result<Option<BuildStatus>, EngineError> {
    use crate::db::schema::builds as b;
    use diesel::prelude::*;
    let query = b::table.find(id).select(b::status);
    let status: String = match conn {
        DbConn::Postgres(c) => query
            .for_update()
            .first(c)
            .map_err(crate::db::DbError::from)?,
        DbConn::Sqlite(c) => query.first(c).map_err(crate::db::DbError::from)?,
    };
    let status = BuildStatus::parse(&status).unwrap_or(BuildStatus::Running);
    Ok((status.is_complete() && status != BuildStatus::Aborting).then_some(status))
}

/// The project's build references once build `id` has ended: it is the
/// last build (and the last successful one when it succeeded), and no
/// longer the active one unless a newer build has taken that place.
fn record_end(
    conn: &mut DbConn,
    project_id: i64,
    id: i64,
    success: bool,
) -> Result<(), EngineError> {
    set_build_refs(
        conn,
        project_id,
        &BuildRefs {
            last_build_id: Some(Some(id)),
            last_successful_build_id: success.then_some(Some(id)),
            ..BuildRefs::default()
        },
    )?;
    release_active(conn, project_id, id)
}

fn event_name(e: Event) -> &'static str {
    match e {
        Event::Pre => "pre",
        Event::Success => "success",
        Event::Failure => "failure",
    }
}

/// Records an ending for a build that never got a log (no project).
fn finish_without_log(
    app: &App,
    conn: &mut DbConn,
    build: &Build,
    ending: &Ending,
) -> Result<(), EngineError> {
    builds::update(
        conn,
        build.id,
        &BuildChanges {
            end_time: Some(Some(now())),
            return_code: Some(ending.return_code),
            ..BuildChanges::default()
        }
        .status(ending.status),
    )?;
    if let Some(reason) = &ending.reason {
        let registry = &app.plugins.registry;
        append_filtered(
            conn,
            registry,
            build.id,
            OutputStream::Messages,
            &[reason.as_str()],
        )?;
    }
    app.waker.notify_output(build.id);
    Ok(())
}
