//! One checkout with libgit2: list the remote's branches and fetch the one
//! wanted over the same connection (shallow and alone when a branch is
//! named, everything otherwise; a local branch is copied shallow by
//! [`crate::local`]), check it out (or the exact commit asked for), then
//! the submodules. Progress goes to the build's messages every few seconds.
//!
//! Credentials reach libgit2 through its credential callback, from memory:
//! no key file, askpass helper or credential store is ever written. Every
//! progress callback checks the clone's deadline and, at most every 100 ms,
//! whether the build was stopped; returning `false` makes libgit2 abandon
//! the transfer.

use crate::known_hosts::{self, Verdict};
use crate::params::HostKeys;
use crate::url::{RepoUrl, Transport};
use git2::build::CheckoutBuilder;
use git2::{
    AutotagOption, CertificateCheckStatus, Cred, CredentialType, Direction, FetchOptions,
    RemoteCallbacks, Repository, SubmoduleUpdateOptions,
};
use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant};
use vespene_plugin_api::Credentials;
use vespene_plugin_api::kinds::scm::SshKey;

/// What to check out, and with what.
pub struct Job<'a> {
    pub url: RepoUrl,
    pub root: &'a Path,
    /// `None`: the remote's default branch, full clone.
    pub branch: Option<String>,
    /// An exact commit to check out (from a webhook).
    pub commit: Option<String>,
    pub recursive: bool,
    pub login: Option<&'a Credentials>,
    pub keys: &'a [SshKey],
    pub host_keys: &'a HostKeys,
    pub timeout: Duration,
    pub started: Instant,
    /// Asks the host whether the build was stopped.
    pub stopped: &'a dyn Fn() -> bool,
    /// Appends a line to the build's messages.
    pub message: &'a dyn Fn(&str),
}

/// What was checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloned {
    /// The full commit id.
    pub commit: String,
    /// The short commit id (the original's `git rev-parse --short`).
    pub revision: String,
    pub author_email: String,
    pub branch: String,
    pub summary: String,
}

/// Why a clone failed, as observed by the callbacks (libgit2's own error
/// text says less: "callback returned an error").
#[derive(Default)]
struct Trouble {
    reason: Option<String>,
    /// When the host was last asked whether the build was stopped.
    last_check: Option<Instant>,
    /// When progress was last written to the build's messages.
    last_report: Option<Instant>,
}

/// How often a long clone reports its progress to the build's messages.
const REPORT_EVERY: Duration = Duration::from_secs(3);

struct Ctx<'j, 'a> {
    job: &'j Job<'a>,
    trouble: RefCell<Trouble>,
}

impl Ctx<'_, '_> {
    fn fail(&self, reason: String) -> git2::Error {
        let e = git2::Error::from_str(&reason);
        self.trouble.borrow_mut().reason.get_or_insert(reason);
        e
    }

    /// `false` (abandon) once the build was stopped or the clone ran out
    /// of time; asks the host at most every 100 ms.
    fn keep_going(&self) -> bool {
        let job = self.job;
        if self.trouble.borrow().reason.is_some() {
            return false;
        }
        if job.started.elapsed() > job.timeout {
            self.fail(format!(
                "the clone of {} timed out after {} s",
                job.url.display(),
                job.timeout.as_secs()
            ));
            return false;
        }
        let due = {
            let t = self.trouble.borrow();
            t.last_check
                .is_none_or(|at| at.elapsed() >= Duration::from_millis(100))
        };
        if due {
            self.trouble.borrow_mut().last_check = Some(Instant::now());
            if (job.stopped)() {
                self.fail("checkout stopped by request".into());
                return false;
            }
        }
        true
    }

    /// Writes `line()` to the build's messages if the last progress line
    /// is [`REPORT_EVERY`] old (the first one too: a clone that ends sooner
    /// reports nothing).
    fn report(&self, line: impl FnOnce() -> String) {
        let due = {
            let mut t = self.trouble.borrow_mut();
            let last = *t.last_report.get_or_insert(self.job.started);
            let due = last.elapsed() >= REPORT_EVERY;
            if due {
                t.last_report = Some(Instant::now());
            }
            due
        };
        if due {
            (self.job.message)(&line());
        }
    }

    fn check_host_key(
        &self,
        cert: &git2::cert::Cert<'_>,
        host: &str,
    ) -> Result<CertificateCheckStatus, git2::Error> {
        let Some(hostkey) = cert.as_hostkey() else {
            // TLS: libgit2 (OpenSSL) verifies certificates itself.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let files = match self.job.host_keys {
            HostKeys::AcceptAny => return Ok(CertificateCheckStatus::CertificateOk),
            HostKeys::KnownHosts(files) => files,
        };
        let port = match &self.job.url.transport {
            Transport::Ssh { host: h, port } if h == host => *port,
            _ => 22,
        };
        let name = known_hosts::lookup_name(host, port);
        let Some(raw) = hostkey.hostkey() else {
            return Err(self.fail(format!("the SSH server {name} sent no host key")));
        };
        let texts: Vec<String> = files
            .iter()
            .filter_map(|f| std::fs::read_to_string(f).ok())
            .collect();
        match known_hosts::check(&texts, host, port, raw) {
            Verdict::Known => Ok(CertificateCheckStatus::CertificateOk),
            Verdict::Mismatch => Err(self.fail(format!(
                "the SSH host key of {name} does not match the one listed in {}: refusing to connect (the host was replaced, or someone is in between)",
                files.join(", ")
            ))),
            Verdict::Unknown => Err(self.fail(format!(
                "the SSH host key of {name} is not listed in {}: add it there (ssh-keyscan{} {host}) or configure the git plugin with host_keys = \"accept_any\"",
                if files.is_empty() { "any known_hosts file".to_string() } else { files.join(", ") },
                if port == 22 { String::new() } else { format!(" -p {port}") },
            ))),
        }
    }

    /// Callbacks for one connection: credentials in turn (each SSH key once,
    /// the login once), host keys, progress.
    fn callbacks<'c>(&'c self) -> RemoteCallbacks<'c> {
        let mut cb = RemoteCallbacks::new();
        let mut next_key = 0usize;
        let mut login_given = false;
        cb.credentials(move |url, user_from_url, allowed| {
            let job = self.job;
            let user = user_from_url
                .map(str::to_string)
                .or_else(|| job.url.user.clone())
                .or_else(|| job.login.map(|l| l.username.clone()).filter(|u| !u.is_empty()))
                .unwrap_or_else(|| "git".into());
            if allowed.contains(CredentialType::USERNAME) {
                return Cred::username(&user);
            }
            if allowed.contains(CredentialType::SSH_KEY) {
                if let Some(key) = job.keys.get(next_key) {
                    next_key += 1;
                    let pass = (!key.unlock_password.is_empty()).then_some(key.unlock_password.as_str());
                    return Cred::ssh_key_from_memory(&user, None, &key.private_key, pass).map_err(|e| {
                        self.fail(format!("SSH key '{}' cannot be used: {}", key.name, e.message()))
                    });
                }
                let names: Vec<&str> = job.keys.iter().map(|k| k.name.as_str()).collect();
                return Err(self.fail(format!(
                    "SSH authentication as '{user}' to {} failed: the server refused the project's key{} {}",
                    crate::url::display(url),
                    if names.len() == 1 { "" } else { "s" },
                    names.iter().map(|n| format!("'{n}'")).collect::<Vec<_>>().join(", ")
                )));
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                return match job.login {
                    Some(login) if !login_given => {
                        login_given = true;
                        Cred::userpass_plaintext(&login.username, &login.password)
                    }
                    Some(login) => Err(self.fail(format!(
                        "authentication to {} failed: the server refused service login '{}' (user '{}'): wrong username or password",
                        crate::url::display(url),
                        login.name,
                        login.username
                    ))),
                    None => Err(self.fail(format!(
                        "{} asks for a username and password: attach a service login to the project",
                        crate::url::display(url)
                    ))),
                };
            }
            Err(self.fail(format!(
                "{} asks for credentials of a kind this plugin cannot give ({allowed:?})",
                crate::url::display(url)
            )))
        });
        cb.certificate_check(move |cert, host| self.check_host_key(cert, host));
        cb.transfer_progress(move |p| {
            if p.total_objects() > 0 {
                self.report(|| {
                    if p.received_objects() < p.total_objects() {
                        format!(
                            "received {}/{} objects ({} KiB)",
                            p.received_objects(),
                            p.total_objects(),
                            p.received_bytes() / 1024
                        )
                    } else {
                        format!(
                            "resolved {}/{} deltas",
                            p.indexed_deltas(),
                            p.total_deltas()
                        )
                    }
                });
            }
            self.keep_going()
        });
        cb.sideband_progress(move |_| self.keep_going());
        cb
    }

    fn fetch_options<'c>(&'c self, depth: i32, tags: AutotagOption) -> FetchOptions<'c> {
        let mut fo = FetchOptions::new();
        fo.remote_callbacks(self.callbacks());
        fo.depth(depth);
        fo.download_tags(tags);
        fo
    }

    /// Turns libgit2's error into one line naming the cause.
    fn explain(&self, e: &git2::Error) -> String {
        if let Some(reason) = &self.trouble.borrow().reason {
            return reason.clone();
        }
        let url = self.job.url.display();
        let msg = e.message();
        let lower = msg.to_ascii_lowercase();
        let any = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        if e.code() == git2::ErrorCode::Auth || any(&["authentication", "401", "403"]) {
            format!("authentication to {url} failed: {msg}")
        } else if any(&[
            "failed to connect",
            "connection refused",
            "failed to resolve address",
            "could not resolve",
            "no route to host",
            "network is unreachable",
            "timed out",
        ]) {
            format!("cannot reach the repository host of {url}: {msg}")
        } else if any(&[
            "404",
            "not found",
            "does not appear to be a git repository",
            "could not find repository",
            "failed to resolve path",
            "not a git repository",
            "does not exist",
        ]) {
            format!("the repository {url} does not exist: {msg}")
        } else {
            format!("git clone of {url} failed: {msg}")
        }
    }
}

/// Runs `job`, turning every failure into one line naming its cause.
pub fn clone(job: &Job<'_>) -> Result<Cloned, String> {
    let ctx = Ctx {
        job,
        trouble: RefCell::default(),
    };
    run(&ctx).map_err(|e| match e {
        Failure::Git(e) => ctx.explain(&e),
        Failure::Plain(s) => s,
    })
}

enum Failure {
    Git(git2::Error),
    Plain(String),
}

impl From<git2::Error> for Failure {
    fn from(e: git2::Error) -> Failure {
        Failure::Git(e)
    }
}

/// The branch to check out: the one named (it must exist among `heads`)
/// or the remote's default.
fn pick_branch(job: &Job<'_>, heads: &[String], default: Option<&str>) -> Result<String, Failure> {
    let url = job.url.display();
    if heads.is_empty() {
        return Err(Failure::Plain(format!(
            "the repository {url} is empty: it has no branches"
        )));
    }
    match &job.branch {
        Some(b) => {
            if !heads
                .iter()
                .any(|h| h.strip_prefix("refs/heads/") == Some(b))
            {
                let mut names: Vec<&str> = heads
                    .iter()
                    .filter_map(|h| h.strip_prefix("refs/heads/"))
                    .collect();
                names.truncate(10);
                return Err(Failure::Plain(format!(
                    "branch '{b}' does not exist in {url} (branches: {})",
                    names.join(", ")
                )));
            }
            Ok(b.clone())
        }
        None => default
            .and_then(|d| d.strip_prefix("refs/heads/"))
            .map(str::to_string)
            .ok_or_else(|| {
                Failure::Plain(format!(
                    "{url} names no default branch: set the project's branch"
                ))
            }),
    }
}

/// The first message of a clone: what is fetched, and how.
fn announce(job: &Job<'_>, branch: &str, shallow: bool) {
    (job.message)(&format!(
        "git clone {}: branch {branch}{}{}",
        job.url.display(),
        if shallow {
            ", shallow (depth 1), single branch"
        } else if job.branch.is_some() {
            ", single branch, full history"
        } else {
            ", full clone of the default branch"
        },
        job.commit
            .as_deref()
            .map(|c| format!(", commit {c}"))
            .unwrap_or_default()
    ));
}

/// A named branch of a local repository, shallow: copied from the source
/// repository directly (see [`crate::local`]). Returns the branch and what
/// was transferred.
fn fetch_local_shallow(ctx: &Ctx<'_, '_>, repo: &Repository) -> Result<(String, String), Failure> {
    let job = ctx.job;
    let src = Repository::open_ext(
        crate::local::source_path(&job.url.raw),
        git2::RepositoryOpenFlags::NO_SEARCH,
        std::iter::empty::<&std::ffi::OsStr>(),
    )?;
    let (heads, default) = crate::local::heads(&src)?;
    let branch = pick_branch(job, &heads, default.as_deref())?;
    announce(job, &branch, true);
    let tip = src.refname_to_id(&format!("refs/heads/{branch}"))?;
    let copied = crate::local::copy_tip(&src, repo, tip, &|n| {
        ctx.report(|| format!("copied {n} objects"));
        ctx.keep_going()
    })?;
    repo.reference(
        &format!("refs/remotes/origin/{branch}"),
        tip,
        true,
        "clone: shallow copy of a local branch",
    )?;
    Ok((branch, format!("{copied} objects copied")))
}

/// Lists the remote's heads and fetches the branch over one connection
/// (shallow when `shallow`). Returns the branch and what was received.
fn fetch_remote(
    ctx: &Ctx<'_, '_>,
    remote: &mut git2::Remote<'_>,
    shallow: bool,
) -> Result<(String, String), Failure> {
    let job = ctx.job;
    let mut conn = remote.connect_auth(Direction::Fetch, Some(ctx.callbacks()), None)?;
    let heads: Vec<String> = conn.list()?.iter().map(|h| h.name().to_string()).collect();
    let default = conn
        .default_branch()
        .ok()
        .and_then(|b| b.as_str().map(str::to_string));
    let branch = pick_branch(job, &heads, default.as_deref())?;
    announce(job, &branch, shallow);
    let mut fo = ctx.fetch_options(if shallow { 1 } else { 0 }, AutotagOption::Auto);
    let refspecs: [&str; 0] = [];
    let remote = conn.remote();
    remote.download(&refspecs, Some(&mut fo))?;
    remote.update_tips(
        None,
        git2::RemoteUpdateFlags::UPDATE_FETCHHEAD,
        AutotagOption::Auto,
        None,
    )?;
    let stats = remote.stats();
    let received = format!(
        "{} objects, {} KiB received",
        stats.received_objects(),
        stats.received_bytes() / 1024
    );
    Ok((branch, received))
}

fn run(ctx: &Ctx<'_, '_>) -> Result<Cloned, Failure> {
    let job = ctx.job;
    let url = job.url.display();
    let repo = Repository::init(job.root)?;
    // A named branch is fetched alone and shallow, unless an exact commit
    // is wanted (it may be behind the tip); a blank branch is a full clone.
    let shallow = job.branch.is_some() && job.commit.is_none();
    let mut remote = match &job.branch {
        Some(b) => repo.remote_with_fetch(
            "origin",
            &job.url.raw,
            &format!("+refs/heads/{b}:refs/remotes/origin/{b}"),
        )?,
        None => repo.remote("origin", &job.url.raw)?,
    };
    let (branch, transferred) = if shallow && job.url.transport == Transport::Local {
        fetch_local_shallow(ctx, &repo)?
    } else {
        fetch_remote(ctx, &mut remote, shallow)?
    };
    let tip = repo.refname_to_id(&format!("refs/remotes/origin/{branch}"))?;
    let target = match &job.commit {
        None => repo.find_commit(tip)?,
        Some(c) => {
            let not_on =
                || Failure::Plain(format!("commit {c} is not on branch '{branch}' of {url}"));
            let found = repo
                .revparse_single(c)
                .and_then(|o| o.peel_to_commit())
                .map_err(|_| not_on())?;
            // Present is not enough (a local fetch copies every object):
            // it must be the tip or behind it.
            if found.id() != tip && !repo.graph_descendant_of(tip, found.id()).unwrap_or(false) {
                return Err(not_on());
            }
            found
        }
    };
    if job.commit.is_some() {
        repo.set_head_detached(target.id())?;
    } else {
        let mut local = repo.branch(&branch, &target, true)?;
        local.set_upstream(Some(&format!("origin/{branch}")))?;
        repo.set_head(&format!("refs/heads/{branch}"))?;
    }
    let mut co = CheckoutBuilder::new();
    co.force().progress(|_, done, total| {
        if total > 0 {
            ctx.report(|| format!("checking out files: {done}/{total}"));
        }
    });
    repo.checkout_head(Some(&mut co))?;
    if job.recursive {
        submodules(ctx, &repo)?;
    }
    let revision = target
        .as_object()
        .short_id()?
        .as_str()
        .unwrap_or_default()
        .to_string();
    (job.message)(&format!(
        "checked out {revision} in {:.1} s ({transferred})",
        job.started.elapsed().as_secs_f64(),
    ));
    Ok(Cloned {
        commit: target.id().to_string(),
        revision,
        author_email: target.author().email().unwrap_or_default().to_string(),
        branch,
        summary: target.summary().unwrap_or_default().to_string(),
    })
}

/// Initialises and checks out every submodule, recursively.
fn submodules(ctx: &Ctx<'_, '_>, repo: &Repository) -> Result<(), Failure> {
    for mut sm in repo.submodules()? {
        (ctx.job.message)(&format!(
            "submodule {} from {}",
            sm.path().display(),
            crate::url::display(sm.url().unwrap_or("?"))
        ));
        let mut opts = SubmoduleUpdateOptions::new();
        opts.fetch(ctx.fetch_options(0, AutotagOption::Auto));
        sm.update(true, Some(&mut opts))?;
        let sub = sm.open()?;
        submodules(ctx, &sub)?;
    }
    Ok(())
}
