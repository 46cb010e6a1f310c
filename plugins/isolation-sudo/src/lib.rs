//! `vespene.plugins.isolation.sudo`: runs the build script as another,
//! unprivileged user through `sudo` (reference §3.2 "Isolation", §9.3).
//!
//! The host has already written `vespene_launch.sh` and `vespene.json` into
//! the build root, a fresh directory of mode 0700 owned by the worker's user
//! (see `vespene-core/src/engine/buildroot.rs`). This plugin
//!
//! * `begin`: resolves the build user (the pool's `sudo_user`, or the
//!   `default_user` parameter, `nobody` unless set, when that is blank),
//!   refuses `root` (by name or uid 0) unless `allow_root = true`, checks the
//!   pool's `permissions_hex`, and says "running build as user: USER" in the
//!   build's messages;
//! * `execute`: says "----------\nBuilding...", hands the build root to the
//!   build user with `chown -R UID:GID ROOT` run through the host (logged
//!   into the messages), then runs `sudo -n -u USER -- SCRIPT` in the build
//!   root with the project's timeout, its lines going to the build's output;
//! * `end`: gives the build root back to the worker's user (`chown -R`), so
//!   a root kept after the build (setting `keep_build_roots`) is readable by
//!   the server only, never by a later build running as the same user.
//!
//! Each build root stays mode 0700: the build user reaches its own root and
//! no other (the base directory is 0711, so roots cannot be listed). Builds
//! of pools sharing one `sudo_user` share a uid, so while two run at once
//! each could open the other's root by its path; give pools their own
//! `sudo_user` or use the namespace isolation when that matters.
//!
//! The original made the build root `chmod -R 777` (the pool's
//! `permissions_hex`) so that the sudo user could write it, which let every
//! build read and change every other build's root. This version hands the
//! root over by ownership instead; `permissions_hex` is still checked (so
//! pools exported from the original import unchanged) but no longer applied.
//!
//! Handing over needs `chown`, so a worker that is not root can only run
//! builds as its own user (then directly, without sudo) and refuses other
//! build users with a message saying so; the namespace isolation needs no
//! root and is the one to use there.
//!
//! **Stopping a build when the worker is not root.** The host stops a
//! command by signalling its process group, but a process may only signal
//! processes of its own user. With `use_sudo_when_same_user`, a non-root
//! worker starts the script as `sudo -n -u USER -- timeout -k 5 SECS SCRIPT`:
//! coreutils' `timeout` passes the relayed SIGTERM on to the script's whole
//! process group and sends SIGKILL 5 seconds later. `SECS` is the project's
//! timeout plus 30 s (a backstop should the worker die; the host's own
//! timeout fires first) or 0 (no timer) without one. A root worker can
//! signal everything, so the script is started bare and stays in the host's
//! process group. Parameter `timeout_program = ""` turns the wrapper off.
//!
//! Ownership is changed with the `chown` command run by the host, not with
//! `std::fs`, on purpose: the commands show up in the build's messages as
//! the original's `chmod` did, they run under the host's rules (a stopped
//! build stops them), and coreutils' `chown -R` never follows a symbolic
//! link met while recursing. A checked-out repository may contain a link
//! such as `key -> /etc/vespene/secrets.key`; a home-made walk calling
//! `chown(2)` (which follows links) would give its target away.
//!
//! A script that ran and exited non-zero is an `Ok` outcome carrying its exit
//! status; an error means the script could not be run at all (bad pool
//! settings, a refused user, a failed `chown`, a missing `sudo`).

use serde::Deserialize;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use vespene_plugin_api::host::HostInfo;
use vespene_plugin_api::kinds::isolation::IsolationRequest;
use vespene_plugin_api::{
    CreateContext, Host, IsolationPlugin, LogLevel, Plugin, PluginError, RunOutcome, RunRequest,
    Stream, export_plugin,
};

/// The build user when the pool names none and `default_user` is not set.
pub const DEFAULT_USER: &str = "nobody";
/// The mode a blank `permissions_hex` stands for (the original's default,
/// `0x777`; checked, no longer applied).
pub const DEFAULT_MODE: u32 = 0o777;
/// Seconds between the SIGTERM the kill wrapper passes on and its SIGKILL.
pub const KILL_AFTER_SECS: u64 = 5;
/// Added to the project's timeout for the kill wrapper's own timer, so that
/// the host's timeout (which reports "timed out") fires first.
pub const BACKSTOP_GRACE_SECS: u64 = 30;

/// The instance's parameters, all optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The build user when the pool's `sudo_user` is blank.
    default_user: String,
    /// The sudo program (a path, or a name looked up in PATH).
    sudo: String,
    /// When the build user is the user the worker runs as, still go through
    /// sudo (default: run the script directly, as sudo would add nothing).
    use_sudo_when_same_user: bool,
    /// Allow builds to run as root. A root build can read `/etc/vespene` and
    /// the secrets key, so this is refused unless set.
    allow_root: bool,
    /// coreutils `timeout`, which lets a non-root worker stop the build user's
    /// processes; empty to start the script without it.
    timeout_program: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            default_user: DEFAULT_USER.to_string(),
            sudo: "sudo".to_string(),
            use_sudo_when_same_user: false,
            allow_root: false,
            timeout_program: "timeout".to_string(),
        }
    }
}

/// The sudo isolation plugin.
#[derive(Debug)]
pub struct SudoIsolation {
    params: Params,
    host: Host,
}

/// What `execute` will do for one build, worked out from the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The user the script runs as.
    pub user: String,
    /// The command that runs the script.
    pub argv: Vec<String>,
    /// The script runs as the worker's own user, without sudo.
    pub direct: bool,
    /// `uid:gid` the build root is handed to for the build and the worker's
    /// `uid:gid` it is given back to after; `None` when the build runs as
    /// the worker's user.
    pub hand_over: Option<(String, String)>,
}

/// Parses a pool's `permissions_hex` into a file mode (checked so that a
/// pool's settings stay meaningful; see the module's documentation).
///
/// The original parsed the value as hexadecimal and printed it back as hex
/// digits for `chmod`, which reads them as octal: in effect the digits after
/// `0x` are octal digits (`0x777` is mode `0o777`). So `0x777`, `777`,
/// `0777` and `0o770` are accepted, each digit 0–7; a blank value means
/// `0x777`. Digits 8, 9 or a–f, anything that is not a number, more than
/// four digits, and the setuid/setgid bits (which would let a build run
/// programs of the build root as the worker's user) are refused.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(DEFAULT_MODE);
    }
    let digits = ["0x", "0X", "0o", "0O"]
        .iter()
        .find_map(|p| t.strip_prefix(p))
        .unwrap_or(t);
    if digits.is_empty() {
        return Err("no digits after the prefix".into());
    }
    if let Some(bad) = digits.chars().find(|c| !('0'..='7').contains(c)) {
        return Err(format!(
            "'{bad}' is not an octal digit (the digits of a chmod mode are 0-7)"
        ));
    }
    let digits = digits.trim_start_matches('0');
    if digits.len() > 4 {
        return Err("a mode has at most four digits".into());
    }
    let mode = if digits.is_empty() {
        0
    } else {
        u32::from_str_radix(digits, 8).map_err(|e| e.to_string())?
    };
    if mode & 0o6000 != 0 {
        return Err(
            "setuid and setgid bits are not allowed: they would let the build run \
             build-root programs as the worker's user"
                .into(),
        );
    }
    Ok(mode)
}

/// The build user for a pool's `sudo_user`: blank or missing means
/// `default_user`.
pub fn choose_user(sudo_user: Option<&str>, default_user: &str) -> String {
    match sudo_user.map(str::trim) {
        Some(u) if !u.is_empty() => u.to_string(),
        _ => default_user.trim().to_string(),
    }
}

/// Checks that `user` is something sudo can be given as `-u USER`: a user
/// name or sudo's `#UID` form.
fn check_user_spelling(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("the user name is empty".into());
    }
    if user.starts_with('-') {
        return Err(format!("user '{user}' starts with '-'"));
    }
    if user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "user '{user}' contains blanks or control characters"
        ));
    }
    if let Some(uid) = user.strip_prefix('#')
        && uid.parse::<u32>().is_err()
    {
        return Err(format!(
            "user '{user}': '#' must be followed by a numeric uid"
        ));
    }
    Ok(())
}

/// The uid and primary gid of `user` on this machine (`#UID` is sudo's
/// spelling of a uid; a uid without a passwd entry gets the gid of the same
/// number), or `None` when no such user exists.
pub fn lookup_user(user: &str) -> Result<Option<(u32, u32)>, String> {
    if let Some(uid) = user.strip_prefix('#') {
        let uid = uid
            .parse::<u32>()
            .map_err(|_| format!("'{user}' is not a numeric uid"))?;
        let gid = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map_or(uid, |u| u.gid.as_raw());
        return Ok(Some((uid, gid)));
    }
    nix::unistd::User::from_name(user)
        .map(|u| u.map(|u| (u.uid.as_raw(), u.gid.as_raw())))
        .map_err(|e| format!("looking up user '{user}': {e}"))
}

/// Whether `user` (with uid `uid`) is the superuser.
pub fn is_root(user: &str, uid: u32) -> bool {
    user == "root" || uid == 0
}

impl SudoIsolation {
    /// Works out the user, the mode and the command for a build, refusing
    /// what must not run.
    pub fn plan(&self, request: &IsolationRequest) -> Result<Plan, PluginError> {
        let pool = &request.worker_pool.name;
        let user = choose_user(
            request.worker_pool.sudo_user.as_deref(),
            &self.params.default_user,
        );
        check_user_spelling(&user).map_err(|why| {
            PluginError::failed(format!(
                "worker pool '{pool}' has an unusable sudo_user: {why}"
            ))
        })?;
        let (uid, gid) = lookup_user(&user)
            .map_err(PluginError::failed)?
            .ok_or_else(|| {
                PluginError::failed(format!(
                    "the build user '{user}' of worker pool '{pool}' does not exist on this \
                     worker; create it or set the pool's sudo_user to an existing user"
                ))
            })?;
        if is_root(&user, uid) && !self.params.allow_root {
            return Err(PluginError::failed(format!(
                "refusing to run the build as root (user '{user}' of worker pool '{pool}'): a \
                 root build can read /etc/vespene and the secrets key. Set the pool's sudo_user \
                 to an unprivileged user, or set allow_root = true in this isolation plugin's \
                 parameters"
            )));
        }
        parse_mode(&request.worker_pool.permissions_hex).map_err(|why| {
            PluginError::failed(format!(
                "permissions_hex '{}' of worker pool '{pool}' is not a file mode: {why} (write \
                 it like 0x777, 777 or 0o770)",
                request.worker_pool.permissions_hex
            ))
        })?;
        let worker_uid = nix::unistd::geteuid().as_raw();
        let worker_gid = nix::unistd::getegid().as_raw();
        let worker_is_root = worker_uid == 0;
        if uid != worker_uid && !worker_is_root {
            let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map_or_else(|| format!("#{worker_uid}"), |u| u.name);
            return Err(PluginError::failed(format!(
                "sudo isolation cannot hand the build root to user '{user}' of worker pool \
                 '{pool}': that needs a worker running as root, and this one runs as '{me}'. \
                 Use the namespace isolation (it needs no root), run the worker as root, or \
                 set the pool's sudo_user to '{me}'"
            )));
        }
        let direct = uid == worker_uid && !self.params.use_sudo_when_same_user;
        let argv = if direct {
            vec![request.script_path.clone()]
        } else {
            self.sudo_argv(
                &user,
                &request.script_path,
                request.timeout_secs,
                worker_is_root,
            )
        };
        let hand_over = (uid != worker_uid)
            .then(|| (format!("{uid}:{gid}"), format!("{worker_uid}:{worker_gid}")));
        Ok(Plan {
            user,
            argv,
            direct,
            hand_over,
        })
    }

    /// The command that runs `script` as `user` through sudo, wrapped in
    /// `timeout` when the worker is not root (see the module's
    /// documentation).
    pub fn sudo_argv(
        &self,
        user: &str,
        script: &str,
        timeout_secs: Option<u64>,
        worker_is_root: bool,
    ) -> Vec<String> {
        let mut argv = vec![
            self.params.sudo.clone(),
            "-n".into(),
            "-u".into(),
            user.to_string(),
            "--".into(),
        ];
        let wrapper = self.params.timeout_program.trim();
        if !worker_is_root && !wrapper.is_empty() {
            let secs = timeout_secs.map_or(0, |t| t.saturating_add(BACKSTOP_GRACE_SECS));
            argv.extend([
                wrapper.to_string(),
                "-k".into(),
                KILL_AFTER_SECS.to_string(),
                secs.to_string(),
            ]);
        }
        argv.push(script.to_string());
        argv
    }

    /// Warns the operator (in the host's log) when the secrets key can be
    /// read by every user, which defeats this isolation.
    fn warn_about_readable_secrets(&self) {
        let Ok(HostInfo {
            secrets_key_file, ..
        }) = self.host.info()
        else {
            return;
        };
        if secrets_key_file.is_empty() {
            return;
        }
        if let Ok(meta) = std::fs::metadata(&secrets_key_file)
            && meta.permissions().mode() & 0o004 != 0
        {
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "the secrets key {secrets_key_file} is readable by every user, so builds \
                     run through sudo can read it: make it readable by the vespene user only \
                     (chmod 600)"
                ),
            );
        }
    }

    /// Runs `chown -R OWNER ROOT`. `Ok(None)` when it succeeded,
    /// `Ok(Some(outcome))` when it was stopped or timed out (the build ends
    /// as that outcome says), an error when it failed.
    fn chown(&self, owner: &str, root: &str) -> Result<Option<RunOutcome>, PluginError> {
        let argv = vec![
            "chown".to_string(),
            "-R".into(),
            owner.to_string(),
            root.to_string(),
        ];
        let shown = argv.join(" ");
        let outcome = self
            .host
            .run(&RunRequest {
                argv,
                cwd: Some(root.to_string()),
                stream: Stream::Messages,
                log_command: true,
                ..RunRequest::default()
            })
            .map_err(|e| PluginError::failed(format!("could not run '{shown}': {e}")))?;
        if outcome.aborted || outcome.timed_out {
            return Ok(Some(outcome));
        }
        if !outcome.success() {
            let mut message = outcome.describe_failure(&format!("'{shown}'"));
            if !outcome.last_line.is_empty() {
                message.push_str(": ");
                message.push_str(&outcome.last_line);
            }
            return Err(PluginError::failed(format!(
                "handing over the build root: {message}"
            )));
        }
        Ok(None)
    }
}

fn check_paths(request: &IsolationRequest) -> Result<(), PluginError> {
    if request.build_root.is_empty() || !Path::new(&request.build_root).is_absolute() {
        return Err(PluginError::invalid_request(format!(
            "the build root '{}' is not an absolute path",
            request.build_root
        )));
    }
    if request.script_path.is_empty() || !Path::new(&request.script_path).is_absolute() {
        return Err(PluginError::invalid_request(format!(
            "the script path '{}' is not an absolute path",
            request.script_path
        )));
    }
    Ok(())
}

impl Plugin for SudoIsolation {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        check_user_spelling(params.default_user.trim()).map_err(|why| {
            PluginError::invalid_params(format!("default_user of '{}': {why}", ctx.name))
        })?;
        if params.sudo.trim().is_empty() {
            return Err(PluginError::invalid_params(format!(
                "sudo of '{}' is empty: name the sudo program",
                ctx.name
            )));
        }
        Ok(SudoIsolation {
            params,
            host: ctx.host,
        })
    }
}

impl IsolationPlugin for SudoIsolation {
    fn begin(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        check_paths(request)?;
        let plan = self.plan(request)?;
        if plan.direct {
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "build {} runs as the worker's own user '{}' without sudo: it can read \
                     everything the worker can",
                    request.build.id, plan.user
                ),
            );
        } else {
            self.warn_about_readable_secrets();
        }
        self.host
            .message(&format!("running build as user: {}", plan.user))
    }

    fn execute(&self, request: &IsolationRequest) -> Result<RunOutcome, PluginError> {
        check_paths(request)?;
        let plan = self.plan(request)?;
        self.host.message("----------\nBuilding...")?;
        let root = &request.build_root;
        if let Some((build_owner, _)) = &plan.hand_over
            && let Some(stopped) = self.chown(build_owner, root)?
        {
            return Ok(stopped);
        }
        let program = plan.argv[0].clone();
        self.host
            .run(&RunRequest {
                argv: plan.argv,
                cwd: Some(root.clone()),
                timeout_secs: request.timeout_secs,
                stream: Stream::Output,
                log_command: false,
                ..RunRequest::default()
            })
            .map_err(|e| {
                PluginError::failed(format!(
                    "could not run the build script as user '{}' with '{program}': {e}",
                    plan.user
                ))
            })
    }

    fn end(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        check_paths(request)?;
        let Ok(plan) = self.plan(request) else {
            return Ok(());
        };
        if let Some((_, worker_owner)) = &plan.hand_over
            && std::fs::symlink_metadata(&request.build_root).is_ok()
        {
            self.chown(worker_owner, &request.build_root)?;
        }
        Ok(())
    }
}

export_plugin! {
    name: "vespene.plugins.isolation.sudo",
    kind: isolation,
    plugin: SudoIsolation,
    description: "Runs the build script as an unprivileged user through sudo, in a build root handed to that user.",
}

#[cfg(test)]
mod tests;
