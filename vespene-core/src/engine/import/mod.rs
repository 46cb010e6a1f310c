//! Organization import (reference §6): list an organization's repositories
//! through its organizations plugin, clone each through the git scm plugin,
//! read its `.vespene` and create or update its project, pipeline and
//! stages as the organization's policy flags allow.
//!
//! Every import is recorded as a build of the organization (no project):
//! RUNNING while it goes, its messages the log of every repository, then
//! SUCCESS, or FAILURE with `return_code` = the number of repositories
//! that failed. Each repository is applied in its own transaction, so a
//! malformed `.vespene` or a refused name fails that repository alone.
//!
//! Imports run on an importer thread of every worker of the
//! organization's `worker_pool` ([`serve`]) when due (never imported,
//! `force_rescan`, or `refresh_minutes` since the last one ended), and on
//! `vespene import ORG` and the REST API ([`run_now`], behind
//! [`crate::ops::import::import_organization`]). Claiming the organization's
//! `active_build_id` with a compare-and-set keeps two processes from
//! importing one organization at once.

pub mod apply;
pub mod dotfile;

use super::EngineError;
use super::context::BuildNames;
use super::log::{BuildLog, FilterChain};
use super::store::DbLogStore;
use crate::app::App;
use crate::db::aggregate::{Aggregate, WriteCtx};
use crate::db::builds::{self, Build, BuildChanges, BuildStatus, NewBuild};
use crate::db::organizations::{ImportState, OrganizationDetail, Organizations};
use crate::db::schema::{builds as b, organizations as o};
use crate::db::{DbConn, now, write_tx};
use crate::plugins::{CallScope, with_scope};
use crate::process::{self, CancelToken, CommandSpec, OutputHandler};
use crate::settings::Section;
use diesel::prelude::*;
use dotfile::Dotfile;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use vespene_plugin_api::kinds::organizations::{
    CloneRepoRequest, CloneRepoResponse, FindReposRequest, FindReposResponse, OrganizationInfo,
    ops as org_ops,
};
use vespene_plugin_api::kinds::scm::{CheckoutRequest, SshAccess, SshKey, ops as scm_ops};
use vespene_plugin_api::{
    BuildInfo, Credentials, ErrorCode, PluginError, ProjectInfo, RunOutcome, RunRequest, Stream,
};

/// The scm entry imports clone through, and the `scm_type` of the projects
/// they create.
pub const SCM: &str = "git";
/// How often an importer thread looks for organizations that are due.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// The clone timeout of one repository (the original's git timeout).
const CLONE_TIMEOUT_SECS: u64 = 600;

/// How one repository went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoOutcome {
    /// Created or updated this project.
    Imported { project: String, created: bool },
    /// No `.vespene` and `import_without_dotfile` off.
    Skipped,
    /// Why it failed.
    Failed(String),
}

/// What one import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub build_id: i64,
    pub status: BuildStatus,
    /// Repositories that failed (the build's `return_code`).
    pub failures: i32,
    pub repos: Vec<(String, RepoOutcome)>,
    /// Why the import as a whole failed (listing the repositories, …).
    pub error: Option<String>,
}

/// Whether `org` is due: never imported, `force_rescan`, or more than
/// `refresh_minutes` since its last import ended.
pub fn is_due(conn: &mut DbConn, org: &crate::db::organizations::Organization) -> bool {
    if org.force_rescan {
        return true;
    }
    let Some(last) = org.last_build_id else {
        return true;
    };
    let ended: Option<Option<chrono::NaiveDateTime>> = b::table
        .find(last)
        .select(b::end_time)
        .first(conn)
        .optional()
        .unwrap_or(None);
    match ended.flatten() {
        Some(t) => now() - t > chrono::Duration::minutes(i64::from(org.refresh_minutes)),
        None => true,
    }
}

/// Organizations of pool `pool_id` with imports on.
fn of_pool(conn: &mut DbConn, pool_id: i64) -> Result<Vec<i64>, EngineError> {
    Ok(o::table
        .filter(o::worker_pool_id.eq(pool_id))
        .filter(o::import_enabled.eq(true))
        .select(o::id)
        .order(o::id.asc())
        .load(conn)?)
}

/// Imports every due organization of `pool_id`; called by [`serve`].
pub fn import_due(app: &App, pool_id: i64, who: &str) -> Result<Vec<ImportReport>, EngineError> {
    let mut conn = app.db.conn()?;
    let mut reports = Vec::new();
    for id in of_pool(&mut conn, pool_id)? {
        let org = Organizations::get(&mut conn, id)?;
        if !is_due(&mut conn, &org.organization) {
            continue;
        }
        if let Some(report) = run_import(app, org, who)? {
            reports.push(report);
        }
    }
    Ok(reports)
}

/// The importer thread of a worker of `pool`: imports what is due every
/// [`CHECK_EVERY`] until `stop`.
pub fn serve(app: &App, pool: &str, who: &str, stop: &AtomicBool) {
    use crate::db::worker_pools::WorkerPools;
    while !stop.load(Ordering::SeqCst) {
        let pool_id = app
            .db
            .conn()
            .ok()
            .and_then(|mut c| WorkerPools::find_by_name(&mut c, pool).ok().flatten())
            .map(|p| p.id);
        if let Some(pool_id) = pool_id {
            match import_due(app, pool_id, who) {
                Ok(reports) => {
                    for r in reports {
                        tracing::info!(
                            "organization import build {} ended {} ({} repositories failed)",
                            r.build_id,
                            r.status,
                            r.failures
                        );
                    }
                }
                Err(e) => tracing::error!("organization import: {e}"),
            }
        }
        let until = Instant::now() + CHECK_EVERY;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Imports `org` now, in this process, and waits for the end (the rule of
/// who may ask is [`crate::ops::import::import_organization`]'s).
/// [`EngineError::Busy`] when another process is importing it.
pub fn run_now(app: &App, org: OrganizationDetail) -> Result<ImportReport, EngineError> {
    let who = format!(
        "{}:{}",
        super::worker::worker_uid(&super::worker::worker_id_file(app))?,
        std::process::id()
    );
    let name = org.organization.name.clone();
    run_import(app, org, &who)?.ok_or_else(|| {
        EngineError::Busy(format!(
            "organization '{name}' is being imported right now (see its active build)"
        ))
    })
}

/// Records a RUNNING import build and claims the organization for it;
/// `None` when another import holds it.
fn begin(
    conn: &mut DbConn,
    org: &OrganizationDetail,
    who: &str,
    build_root: &Path,
) -> Result<Option<Build>, EngineError> {
    let org_id = org.organization.id;
    write_tx(conn, |conn| -> Result<Option<Build>, EngineError> {
        let holder: Option<i64> = o::table
            .find(org_id)
            .select(o::active_build_id)
            .first(conn)?;
        if let Some(active) = holder
            && builds::status_of(conn, active)
                .is_ok_and(|s| s.is_stoppable() || s == BuildStatus::Aborting)
        {
            return Ok(None);
        }
        let mut new = NewBuild::queued(0, org.organization.default_worker_pool_id);
        new.project_id = None;
        new.organization_id = Some(org_id);
        new.status = BuildStatus::Running;
        new.is_internal = true;
        let id = builds::insert_queued(conn, &new)?;
        let started = now();
        builds::update(
            conn,
            id,
            &BuildChanges {
                start_time: Some(Some(started)),
                working_dir: Some(build_root.join(id.to_string()).display().to_string()),
                claimed_by: Some(Some(who.to_string())),
                heartbeat_at: Some(Some(started)),
                ..BuildChanges::default()
            },
        )?;
        let target = o::table.filter(o::id.eq(org_id));
        let claimed = match holder {
            Some(h) => diesel::update(target.filter(o::active_build_id.eq(h)))
                .set(o::active_build_id.eq(Some(id)))
                .execute(conn)?,
            None => diesel::update(target.filter(o::active_build_id.is_null()))
                .set(o::active_build_id.eq(Some(id)))
                .execute(conn)?,
        };
        if claimed != 1 {
            // Another process claimed it meanwhile: undo the build row.
            return Err(EngineError::Busy(String::new()));
        }
        Ok(Some(builds::get(conn, id)?))
    })
    .or_else(|e| match e {
        EngineError::Busy(ref s) if s.is_empty() => Ok(None),
        other => Err(other),
    })
}

type Log = BuildLog<DbLogStore>;

/// What plugin calls made during an import can do: append to its log,
/// run commands in its scratch space, see whether it was stopped.
struct ImportScope {
    log: Rc<RefCell<Log>>,
    cancel: CancelToken,
    cwd: PathBuf,
}

struct LogLines<'a>(&'a RefCell<Log>, Stream);

impl OutputHandler for LogLines<'_> {
    fn line(&mut self, line: &str) {
        self.0.borrow_mut().line(self.1, line);
    }
    fn idle(&mut self) {
        self.0.borrow_mut().tick();
    }
}

impl CallScope for ImportScope {
    fn run(&self, request: &RunRequest) -> Result<RunOutcome, PluginError> {
        let mut spec = CommandSpec::from_request(request, Some(&self.cwd))
            .map_err(|e| PluginError::invalid_request(e.to_string()))?;
        spec.cancel = Some(self.cancel.clone());
        if request.log_command {
            self.log.borrow_mut().message(&spec.display());
        }
        let outcome = process::run_with(&spec, LogLines(&self.log, request.stream))
            .map_err(|e| PluginError::failed(e.to_string()))?;
        Ok(outcome.into())
    }

    fn append(&self, stream: Stream, text: &str) -> Result<(), PluginError> {
        self.log.borrow_mut().text(stream, text);
        Ok(())
    }

    fn stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }
}

/// Heartbeats of the import build, and its stop request, on a thread.
struct Beat {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Beat {
    fn start(app: &App, build_id: i64, cancel: CancelToken) -> Beat {
        let done = Arc::new(AtomicBool::new(false));
        let every = Duration::from_secs(app.settings.worker.heartbeat_seconds.max(1));
        let (db, d) = (app.db.clone(), done.clone());
        let thread = std::thread::Builder::new()
            .name(format!("import-{build_id}"))
            .spawn(move || {
                let mut last = Instant::now();
                while !d.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(200));
                    if last.elapsed() < every {
                        continue;
                    }
                    last = Instant::now();
                    let Ok(mut conn) = db.conn() else { continue };
                    let _ = diesel::update(b::table.find(build_id))
                        .set(b::heartbeat_at.eq(Some(now())))
                        .execute(&mut *conn);
                    if builds::status_of(&mut conn, build_id)
                        .is_ok_and(|s| s == BuildStatus::Aborting)
                    {
                        cancel.cancel();
                    }
                }
            })
            .ok();
        Beat { done, thread }
    }

    fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The organization as its plugin sees it, with its login decrypted.
fn org_info(
    app: &App,
    conn: &mut DbConn,
    org: &OrganizationDetail,
) -> Result<OrganizationInfo, String> {
    let o = &org.organization;
    Ok(OrganizationInfo {
        id: o.id,
        name: o.name.clone(),
        organization_type: o.organization_type.clone(),
        organization_identifier: o.organization_identifier.clone(),
        api_endpoint: o.api_endpoint.clone(),
        credentials: credentials(app, conn, o.scm_login_id)?,
    })
}

fn credentials(
    app: &App,
    conn: &mut DbConn,
    login: Option<i64>,
) -> Result<Option<Credentials>, String> {
    use crate::db::service_logins::{ServiceLogins, password_of};
    let Some(id) = login else { return Ok(None) };
    let login = ServiceLogins::get(conn, id)
        .map_err(|e| format!("service login: {e}"))?
        .service_login;
    let password = password_of(app.ops.secrets(), &login)
        .map_err(|e| format!("service login '{}': {e}", login.name))?;
    Ok(Some(Credentials {
        name: login.name,
        username: login.username,
        password,
    }))
}

/// The organization's SSH keys, decrypted, for SSH clone URLs.
fn org_keys(app: &App, conn: &mut DbConn, org: &OrganizationDetail) -> Result<Vec<SshKey>, String> {
    use crate::db::ssh_keys::{SshKeys, secrets_of};
    let mut keys = Vec::new();
    for id in &org.auto_attach_ssh_keys {
        let key = SshKeys::get(conn, *id)
            .map_err(|e| format!("SSH key #{id}: {e}"))?
            .ssh_key;
        let s = secrets_of(app.ops.secrets(), &key)
            .map_err(|e| format!("SSH key '{}': {e}", key.name))?;
        keys.push(SshKey {
            name: key.name,
            private_key: s.private_key,
            unlock_password: s.unlock_password,
        });
    }
    Ok(keys)
}

/// One running import: what every repository needs.
struct Import<'a> {
    app: &'a App,
    org: OrganizationDetail,
    info: OrganizationInfo,
    build: BuildInfo,
    keys: Vec<SshKey>,
    root: PathBuf,
    scope: Box<dyn CallScope>,
    log: Rc<RefCell<Log>>,
    cancel: CancelToken,
}

impl Import<'_> {
    fn message(&self, text: &str) {
        self.log.borrow_mut().message(text);
    }

    fn call(
        &self,
        section: Section,
        name: &str,
        op: &str,
        args: &str,
    ) -> Result<String, PluginError> {
        let plugin = self
            .app
            .plugins
            .registry
            .named(section, name)
            .ok_or_else(|| {
                PluginError::failed(format!(
                    "no {} plugin is configured under the name '{name}'",
                    section.as_str()
                ))
            })?;
        with_scope(&self.scope, || plugin.instance().call(op, args))
    }

    fn find_repos(&self) -> Result<Vec<String>, String> {
        let args = serde_json::to_string(&FindReposRequest {
            organization: self.info.clone(),
            build: self.build.clone(),
        })
        .map_err(|e| e.to_string())?;
        let kind = &self.org.organization.organization_type;
        let answer = self
            .call(Section::Organizations, kind, org_ops::FIND_ALL_REPOS, &args)
            .map_err(|e| format!("listing the repositories failed: {}", e.message))?;
        serde_json::from_str::<FindReposResponse>(&answer)
            .map(|r| r.repos)
            .map_err(|e| format!("organizations plugin '{kind}' answered badly: {e}"))
    }

    /// Clones `url` into `<root>/<n>`: the organizations plugin's own
    /// `clone_repo` when it has one, else the git scm plugin.
    fn clone(&self, url: &str, n: i64) -> Result<PathBuf, String> {
        let dest = self.root.join(n.to_string());
        std::fs::create_dir_all(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let kind = &self.org.organization.organization_type;
        let args = serde_json::to_string(&CloneRepoRequest {
            organization: self.info.clone(),
            build: self.build.clone(),
            repo: url.to_string(),
            count: n,
            dest: dest.display().to_string(),
        })
        .map_err(|e| e.to_string())?;
        match self.call(Section::Organizations, kind, org_ops::CLONE_REPO, &args) {
            Ok(answer) => {
                let r: CloneRepoResponse = serde_json::from_str(&answer)
                    .map_err(|e| format!("organizations plugin '{kind}' answered badly: {e}"))?;
                return Ok(PathBuf::from(r.path));
            }
            Err(e) if e.code != ErrorCode::Unsupported => {
                return Err(format!("clone failed: {}", e.message));
            }
            Err(_) => {}
        }
        let request = CheckoutRequest {
            build: self.build.clone(),
            project: ProjectInfo {
                name: dotfile::default_name(url),
                repo_url: url.to_string(),
                recursive: false,
                scm_type: SCM.into(),
                ..ProjectInfo::default()
            },
            build_root: dest.display().to_string(),
            credentials: self.info.credentials.clone(),
            ssh: SshAccess {
                keys: self.keys.clone(),
                ..SshAccess::default()
            },
            timeout_secs: Some(CLONE_TIMEOUT_SECS),
            branch: None,
            commit: None,
        };
        let args = serde_json::to_string(&request).map_err(|e| e.to_string())?;
        self.call(Section::Scm, SCM, scm_ops::CHECKOUT, &args)
            .map_err(|e| format!("clone failed: {}", e.message))?;
        Ok(dest)
    }

    /// Reads the clone's `.vespene`: `Ok(None)` when there is none.
    fn read_dotfile(clone: &Path) -> Result<Option<Dotfile>, String> {
        let path = clone.join(dotfile::FILE_NAME);
        match std::fs::symlink_metadata(&path) {
            Err(_) => Ok(None),
            Ok(m) if !m.is_file() => Err(".vespene is not a regular file".into()),
            Ok(m) if m.len() > 1 << 20 => Err(".vespene is larger than 1 MiB".into()),
            Ok(_) => {
                let text = std::fs::read_to_string(&path).map_err(|e| format!(".vespene: {e}"))?;
                Dotfile::parse(&text)
                    .map(Some)
                    .map_err(|e| format!(".vespene is malformed: {e}"))
            }
        }
    }

    /// Imports one repository (reference §6.2 step 3).
    fn repo(&self, conn: &mut DbConn, url: &str, n: i64) -> RepoOutcome {
        self.message(&format!("begin repo import: {url}"));
        let clone = match self.clone(url, n) {
            Ok(path) => path,
            Err(e) => return RepoOutcome::Failed(e),
        };
        let outcome = self.apply(conn, url, &clone);
        if let Err(e) = super::buildroot::remove(&clone) {
            self.message(&format!("cannot remove {}: {e}", clone.display()));
        }
        if !matches!(outcome, RepoOutcome::Failed(_)) {
            self.message("complete");
        }
        outcome
    }

    fn apply(&self, conn: &mut DbConn, url: &str, clone: &Path) -> RepoOutcome {
        let existing = apply::project_of_repo(conn, url).unwrap_or(None);
        self.message(&format!(
            "project id: {}",
            existing.map_or("None".to_string(), |id| id.to_string())
        ));
        let config = match Self::read_dotfile(clone) {
            Ok(Some(d)) => d,
            Ok(None) if self.org.organization.import_without_dotfile => Dotfile::default(),
            Ok(None) => {
                self.message(".vespene file is missing, skipping");
                return RepoOutcome::Skipped;
            }
            Err(e) => return RepoOutcome::Failed(e),
        };
        if !config.ignored.is_empty() {
            self.message(&format!(
                ".vespene: ignoring unknown keys: {}",
                config.ignored.join(", ")
            ));
        }
        let config = config.with_defaults(url);
        self.message(&format!("applying config: {}", config.to_json()));
        let ctx = WriteCtx {
            secrets: self.app.ops.secrets(),
            user_id: self.org.organization.created_by,
        };
        let applied = write_tx(conn, |conn| -> Result<apply::Applied, ApplyError> {
            apply::apply(conn, &ctx, &self.org, url, clone, &config).map_err(ApplyError::Refused)
        });
        match applied {
            Ok(a) => {
                for note in &a.notes {
                    self.message(note);
                }
                for problem in &a.problems {
                    self.message(problem);
                }
                self.message(&format!(
                    "project '{}' (#{}) {}",
                    a.name,
                    a.project_id,
                    if a.created { "created" } else { "updated" }
                ));
                if a.problems.is_empty() {
                    RepoOutcome::Imported {
                        project: a.name,
                        created: a.created,
                    }
                } else {
                    RepoOutcome::Failed(a.problems.join("; "))
                }
            }
            Err(ApplyError::Refused(e)) => RepoOutcome::Failed(e),
            Err(ApplyError::Database(e)) => RepoOutcome::Failed(format!("database error: {e}")),
        }
    }
}

/// Why a repository's transaction was rolled back.
enum ApplyError {
    Refused(String),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for ApplyError {
    fn from(e: diesel::result::Error) -> Self {
        ApplyError::Database(e)
    }
}

/// Runs one import of `org` as `who`; `None` when another holds it.
fn run_import(
    app: &App,
    org: OrganizationDetail,
    who: &str,
) -> Result<Option<ImportReport>, EngineError> {
    let mut conn = app.db.conn()?;
    let Some(build) = begin(&mut conn, &org, who, &app.settings.build_root)? else {
        return Ok(None);
    };
    let id = build.id;
    let names = BuildNames::of(&mut conn, &build, None)?;
    let info = names.info(&build);
    let chain = FilterChain::for_build(
        &app.plugins.registry,
        &info,
        Some(Duration::from_secs(
            app.settings.worker.output_call_seconds.max(1),
        )),
    );
    let patience = Duration::from_secs(app.settings.worker.orphan_after_seconds.max(1));
    let log = Rc::new(RefCell::new(BuildLog::new(
        chain,
        DbLogStore::spawn(&app.db, &app.waker, id, patience),
    )));
    let cancel = CancelToken::new();
    let beat = Beat::start(app, id, cancel.clone());
    let root = PathBuf::from(&build.working_dir);
    let report = (|| {
        let created = super::buildroot::create(&app.settings.build_root, id);
        log.borrow_mut().message(&format!(
            "begin organizational import, scratch space: {}",
            root.display()
        ));
        created.map_err(|e| format!("cannot make the scratch space {}: {e}", root.display()))?;
        let info_org = org_info(app, &mut conn, &org)?;
        let keys = org_keys(app, &mut conn, &org)?;
        let import = Import {
            app,
            info: info_org,
            build: info.clone(),
            keys,
            root: root.clone(),
            scope: Box::new(ImportScope {
                log: log.clone(),
                cancel: cancel.clone(),
                cwd: root.clone(),
            }),
            log: log.clone(),
            cancel: cancel.clone(),
            org,
        };
        let repos = import.find_repos()?;
        import.message(&format!("{} repositories to import", repos.len()));
        let mut outcomes = Vec::new();
        for (n, url) in repos.iter().enumerate() {
            if import.cancel.is_cancelled() {
                outcomes.push((
                    url.clone(),
                    RepoOutcome::Failed("import stopped by request".into()),
                ));
                continue;
            }
            let outcome = import.repo(&mut conn, url, n as i64);
            if let RepoOutcome::Failed(why) = &outcome {
                import.message(&format!("repo import failed: {why}"));
                log.borrow_mut()
                    .text(Stream::Output, &format!("repo import failed: {url}: {why}"));
            }
            outcomes.push((url.clone(), outcome));
        }
        Ok::<_, String>(outcomes)
    })();
    let (repos, error) = match report {
        Ok(repos) => (repos, None),
        Err(e) => {
            log.borrow_mut().message(&e);
            log.borrow_mut().text(Stream::Output, &e);
            (Vec::new(), Some(e))
        }
    };
    let failures = repos
        .iter()
        .filter(|(_, r)| matches!(r, RepoOutcome::Failed(_)))
        .count() as i32;
    let stopped = cancel.is_cancelled();
    let status = if stopped {
        BuildStatus::Aborted
    } else if failures == 0 && error.is_none() {
        BuildStatus::Success
    } else {
        BuildStatus::Failure
    };
    let imported = repos
        .iter()
        .filter(|(_, r)| matches!(r, RepoOutcome::Imported { .. }))
        .count();
    let skipped = repos
        .iter()
        .filter(|(_, r)| *r == RepoOutcome::Skipped)
        .count();
    log.borrow_mut().message(&format!(
        "organizational import {status}: {} repositories, {imported} imported, {skipped} skipped, {failures} failed",
        repos.len()
    ));
    let sync = log.borrow_mut().sync();
    if let Err(e) = sync {
        tracing::error!("import build {id}: its log could not be stored: {e}");
    }
    drop(log);
    beat.finish();
    let return_code = if error.is_some() { -1 } else { failures };
    write_tx(&mut conn, |conn| -> Result<(), EngineError> {
        builds::update(
            conn,
            id,
            &BuildChanges {
                end_time: Some(Some(now())),
                return_code: Some(Some(return_code)),
                ..BuildChanges::default()
            }
            .status(status),
        )?;
        crate::db::organizations::set_import_state(
            conn,
            build.organization_id.unwrap_or_default(),
            &ImportState {
                force_rescan: Some(false),
                last_build_id: Some(Some(id)),
                active_build_id: Some(None),
                last_successful_build_id: (status == BuildStatus::Success).then_some(Some(id)),
            },
        )?;
        Ok(())
    })?;
    if !app.settings.keep_build_roots
        && let Err(e) = super::buildroot::remove(&root)
    {
        tracing::warn!("import build {id}: cannot remove {}: {e}", root.display());
    }
    Ok(Some(ImportReport {
        build_id: id,
        status,
        failures: return_code,
        repos,
        error,
    }))
}
