//! `vespene.plugins.scm.git`: checks a project's git repository out into
//! the build root with libgit2, in-process.
//!
//! A named branch is cloned alone and shallow (depth 1); a blank branch is
//! a full clone of the remote's default branch, as the original's
//! `git clone [--depth 1 -b BRANCH --single-branch]` did. A commit in the
//! request (a webhook's push) is checked out exactly. Submodules follow
//! when the project's `recursive` is on.
//!
//! SSH keys and the service login are handed to libgit2 from memory; host
//! keys are checked against known_hosts files unless the site chose
//! `host_keys = "accept_any"` (the original's behaviour). The revision
//! recorded is the short commit id, the user the commit author's e-mail
//! (the original's `git log -n 1 --format=%aE`).

pub mod clone;
pub mod codec;
pub mod keys;
pub mod known_hosts;
pub mod local;
pub mod params;
pub mod url;

use params::Params;
use std::path::Path;
use std::time::{Duration, Instant};
use url::{RepoUrl, Transport};
use vespene_plugin_api::kinds::scm::{CheckoutRequest, CheckoutResult};
use vespene_plugin_api::{CreateContext, Host, Plugin, PluginError, ScmPlugin, export_plugin};

/// The clone timeout when neither the settings nor the host give one (the
/// original's).
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// The original's message for an SSH URL on a project without keys.
pub const NO_KEYS: &str =
    "add one or more SSH keys to the project or use a http:// or https:// URL";

/// The plugin: its parameters and the host that lent it services.
pub struct GitScm {
    params: Params,
    host: Host,
}

impl Plugin for GitScm {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        Ok(GitScm {
            params: Params::parse(ctx.name, &ctx.params)?,
            host: ctx.host,
        })
    }
}

/// Replaces every secret of the request found in `text`.
fn redact(text: &str, request: &CheckoutRequest) -> String {
    let mut out = text.to_string();
    let secrets = request
        .credentials
        .iter()
        .map(|c| c.password.as_str())
        .chain(request.ssh.keys.iter().map(|k| k.unlock_password.as_str()));
    for s in secrets {
        if s.len() >= 3 {
            out = out.replace(s, "********");
        }
    }
    out
}

impl GitScm {
    fn checkout_inner(&self, request: &CheckoutRequest) -> Result<CheckoutResult, String> {
        let url = RepoUrl::parse(&request.project.repo_url)?;
        if matches!(url.transport, Transport::Ssh { .. }) {
            if request.ssh.keys.is_empty() {
                return Err(NO_KEYS.into());
            }
            if let Some(k) = request
                .ssh
                .keys
                .iter()
                .find(|k| k.unlock_password.is_empty() && keys::has_passphrase(&k.private_key))
            {
                return Err(format!(
                    "SSH key '{}' is protected by a passphrase, but has no unlock password",
                    k.name
                ));
            }
        }
        let branch = request
            .branch
            .as_deref()
            .unwrap_or(&request.project.repo_branch)
            .trim();
        let commit = request
            .commit
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty());
        let timeout = self
            .params
            .timeout_seconds
            .or(request.timeout_secs)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        let host = self.host;
        let message = move |line: &str| {
            let _ = host.message(line);
        };
        message("----------\nCloning repository...");
        let stopped = move || host.stopped();
        let job = clone::Job {
            url,
            root: Path::new(&request.build_root),
            branch: (!branch.is_empty()).then(|| branch.to_string()),
            commit: commit.map(str::to_string),
            recursive: request.project.recursive,
            login: request.credentials.as_ref(),
            keys: &request.ssh.keys,
            host_keys: &self.params.host_keys,
            timeout: Duration::from_secs(timeout),
            started: Instant::now(),
            stopped: &stopped,
            message: &message,
        };
        let done = clone::clone(&job)?;
        Ok(CheckoutResult {
            revision: done.revision,
            revision_username: done.author_email,
            commit: Some(done.commit),
        })
    }
}

impl ScmPlugin for GitScm {
    fn checkout(&self, request: &CheckoutRequest) -> Result<CheckoutResult, PluginError> {
        self.checkout_inner(request)
            .map_err(|e| PluginError::failed(redact(&e, request)))
    }
}

export_plugin! {
    name: "vespene.plugins.scm.git",
    kind: scm,
    plugin: GitScm,
    description: "git checkouts with libgit2: file, git, http(s) and SSH; shallow single-branch clones; keys and logins from memory.",
}
