//! `vespene.plugins.isolation.namespace`: runs the build script in its own
//! user, mount, PID, IPC and UTS namespaces (optionally network too),
//! through its own launcher, `vespene-namespace-launcher`
//! (`src/launcher/main.rs`, installed beside the `vespene` binary or in
//! `/usr/lib/vespene`). It needs neither root, nor sudo, nor bubblewrap: an
//! ordinary worker user runs builds in an unprivileged user namespace.
//!
//! What the build sees (`docs/security.md` has the whole table):
//!
//! * the host's file system read-only (every mount, one recursive
//!   `mount_setattr`), and a `/proc` of its own PID namespace;
//! * its own build root, read-write, at the same path as outside; the
//!   directory holding the other builds' roots is an empty tmpfs, so no
//!   other root can be seen;
//! * a private, empty `/tmp` and `/dev/shm` (mode 1777);
//! * neither the Vespene data directory, nor the settings directory, nor the
//!   secrets key, nor the worker's home directory: each is covered by an
//!   empty tmpfs (directories) or `/dev/null` (files). Parameter `hide` adds
//!   more paths; `hide_home = false` shows the home directory again;
//! * with `network = false`, a network namespace of its own with only `lo`.
//!   The network is chosen per worker pool by naming the instance in the
//!   pool's `isolation_method`: the built-in defaults configure `namespace`
//!   (network on) and `namespace_offline` (network off).
//!
//! **No process outlives the build.** The script runs in a PID namespace
//! whose first process is the launcher's init; when the script ends, or
//! when the host kills the launcher on a stop or timeout (the init dies
//! with it, `PR_SET_PDEATHSIG`), that init dies and the kernel kills every
//! process left in the namespace: `setsid`, double-forked daemons, `set -m`
//! jobs and processes ignoring SIGTERM included.
//!
//! **Which user.** A worker that is not root runs the build as its own uid
//! inside the user namespace (the pool's `sudo_user` is not used: changing
//! user needs root). A root worker never runs builds as root: the launcher
//! sets the namespaces up as root, then drops the script to the build user
//! (the pool's `sudo_user`, else parameter `default_user`, `nobody` unless
//! set; uid 0 is refused) with no supplementary groups, no capabilities and
//! `no_new_privs` (setuid programs such as `sudo` cannot raise it again).
//! The build root is handed to that user for the build (`lchown`, never
//! following links) and given back to the worker's user in `end`, so a kept
//! root is readable by the server only.
//!
//! `probe` (outside any build) starts a sandbox the way a build would and
//! reports why it cannot when the kernel or the machine refuses (no
//! launcher, user namespaces disabled); `vespene up` uses it to choose this
//! isolation for its default pool.

use serde::Deserialize;
use std::os::unix::fs::lchown;
use std::path::{Path, PathBuf};
use vespene_plugin_api::host::HostInfo;
use vespene_plugin_api::kinds::isolation::IsolationRequest;
use vespene_plugin_api::{
    CreateContext, Host, IsolationPlugin, Plugin, PluginError, RunOutcome, RunRequest, Stream,
    export_plugin,
};

/// The build user of a root worker when the pool names none.
pub const DEFAULT_USER: &str = "nobody";

/// The instance's parameters, all optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    /// The launcher program (`vespene-namespace-launcher`); blank: found
    /// beside the `vespene` binary (see [`find_launcher`]).
    launcher: String,
    /// Give the build the host's network; `false`: only a loopback of its own.
    network: bool,
    /// Cover the worker's home directory.
    hide_home: bool,
    /// More paths to cover (directories get an empty tmpfs, files
    /// `/dev/null`).
    hide: Vec<String>,
    /// The build user of a root worker when the pool's `sudo_user` is blank.
    default_user: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            launcher: String::new(),
            network: true,
            hide_home: true,
            hide: Vec::new(),
            default_user: DEFAULT_USER.into(),
        }
    }
}

/// The namespace isolation plugin.
#[derive(Debug)]
pub struct NamespaceIsolation {
    params: Params,
    host: Host,
}

/// What the sandbox of one build looks like.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    /// The build's root, shown read-write.
    pub root: PathBuf,
    /// The program run inside (the build script).
    pub program: String,
    /// Directories covered with an empty tmpfs.
    pub hidden_dirs: Vec<PathBuf>,
    /// Files covered with `/dev/null`.
    pub hidden_files: Vec<PathBuf>,
    /// Share the host's network.
    pub network: bool,
    /// uid and gid the script drops to (root workers); `None`: the worker's
    /// own uid in a user namespace.
    pub drop_to: Option<(u32, u32)>,
}

/// The launcher's file name (`src/launcher/main.rs`).
pub const LAUNCHER: &str = "vespene-namespace-launcher";

/// Where the launcher is looked for when the `launcher` parameter is
/// blank: beside the running program (`target/*/`), one directory up (a
/// test binary in `target/*/deps/`), and `../lib/vespene` from it (the
/// packages: `/usr/bin/vespene`, `/usr/lib/vespene/`).
pub fn find_launcher() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("the running program: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("/"));
    let candidates = [
        dir.join(LAUNCHER),
        dir.join("..").join(LAUNCHER),
        dir.join("../lib/vespene").join(LAUNCHER),
    ];
    candidates
        .iter()
        .find(|c| c.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "{LAUNCHER} was not found beside {} nor in ../lib/vespene: install it, or set \
                 the plugin's launcher parameter",
                exe.display()
            )
        })
}

/// The launcher's command line for `layout`.
pub fn sandbox_argv(launcher: &str, layout: &Layout) -> Vec<String> {
    let mut a: Vec<String> = vec![launcher.to_string()];
    match layout.drop_to {
        Some((uid, gid)) => a.extend(["--drop".to_string(), format!("{uid}:{gid}")]),
        None => a.push("--user-ns".into()),
    }
    if !layout.network {
        a.push("--no-network".into());
    }
    // `/tmp` is covered anyway: what lies under it needs no cover.
    let hidden_dirs = outermost(&layout.hidden_dirs, &[PathBuf::from("/tmp")]);
    for d in &hidden_dirs {
        a.extend(["--hide-dir".to_string(), path_arg(d)]);
    }
    for f in &layout.hidden_files {
        if !hidden_dirs.iter().any(|d| f.starts_with(d)) {
            a.extend(["--hide-file".to_string(), path_arg(f)]);
        }
    }
    a.extend([
        "--root".to_string(),
        path_arg(&layout.root),
        "--".into(),
        layout.program.clone(),
    ]);
    a
}

fn path_arg(p: &Path) -> String {
    p.display().to_string()
}

/// `dirs` without those inside another of them or inside `covered`, in
/// path order.
fn outermost(dirs: &[PathBuf], covered: &[PathBuf]) -> Vec<PathBuf> {
    let mut sorted: Vec<PathBuf> = dirs.to_vec();
    sorted.sort();
    sorted.dedup();
    let mut kept: Vec<PathBuf> = Vec::new();
    for d in sorted {
        if !kept.iter().chain(covered).any(|k| d.starts_with(k)) {
            kept.push(d);
        }
    }
    kept
}

/// The paths to cover, resolved (symbolic links followed, so the mount
/// lands on the real place) and split into directories and files. Missing
/// paths, `/` and the kernel's file systems are left out.
pub fn hidden_paths(candidates: &[PathBuf]) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    for c in candidates {
        if c.as_os_str().is_empty() || !c.is_absolute() {
            continue;
        }
        let Ok(real) = std::fs::canonicalize(c) else {
            continue;
        };
        if ["/", "/proc", "/dev", "/sys"]
            .iter()
            .any(|k| real == Path::new(k))
        {
            continue;
        }
        match std::fs::metadata(&real) {
            Ok(m) if m.is_dir() => dirs.push(real),
            Ok(_) => files.push(real),
            Err(_) => {}
        }
    }
    (dirs, files)
}

/// Gives `root` and everything under it to `uid:gid`, changing symbolic
/// links themselves and never following them.
pub fn chown_tree(root: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    lchown(root, Some(uid), Some(gid))?;
    if std::fs::symlink_metadata(root)?.is_dir() {
        for entry in std::fs::read_dir(root)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// The user a root worker's build runs as: the pool's `sudo_user`, else
/// `default_user`; looked up, and never root.
fn build_user(sudo_user: Option<&str>, default_user: &str) -> Result<(String, u32, u32), String> {
    let name = match sudo_user.map(str::trim) {
        Some(u) if !u.is_empty() => u,
        _ => default_user.trim(),
    };
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| format!("looking up user '{name}': {e}"))?
        .ok_or_else(|| {
            format!(
                "the build user '{name}' does not exist on this worker; create it or set the \
                 pool's sudo_user to an existing user"
            )
        })?;
    if user.uid.is_root() {
        return Err(format!(
            "refusing to run the build as root (user '{name}'): set the pool's sudo_user to an \
             unprivileged user"
        ));
    }
    Ok((name.to_string(), user.uid.as_raw(), user.gid.as_raw()))
}

fn worker_is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

impl NamespaceIsolation {
    /// The sandbox of one build, or why it cannot run.
    pub fn layout(&self, request: &IsolationRequest) -> Result<Layout, PluginError> {
        let root = PathBuf::from(&request.build_root);
        if !root.is_absolute() || root.parent().is_none() {
            return Err(PluginError::invalid_request(format!(
                "the build root '{}' is not an absolute path",
                request.build_root
            )));
        }
        if !Path::new(&request.script_path).is_absolute() {
            return Err(PluginError::invalid_request(format!(
                "the script path '{}' is not an absolute path",
                request.script_path
            )));
        }
        let drop_to = if worker_is_root() {
            let (_, uid, gid) = build_user(
                request.worker_pool.sudo_user.as_deref(),
                &self.params.default_user,
            )
            .map_err(|why| {
                PluginError::failed(format!("worker pool '{}': {why}", request.worker_pool.name))
            })?;
            Some((uid, gid))
        } else {
            None
        };
        let (hidden_dirs, hidden_files) = hidden_paths(&self.candidates());
        Ok(Layout {
            root,
            program: request.script_path.clone(),
            hidden_dirs,
            hidden_files,
            network: self.params.network,
            drop_to,
        })
    }

    /// What the build must not see: Vespene's directories and key (from
    /// the host), the worker's home, the `hide` parameter.
    fn candidates(&self) -> Vec<PathBuf> {
        let mut c: Vec<PathBuf> = Vec::new();
        if let Ok(HostInfo {
            settings_dir,
            data_dir,
            secrets_key_file,
            ..
        }) = self.host.info()
        {
            c.extend([settings_dir, data_dir, secrets_key_file].map(PathBuf::from));
        }
        if self.params.hide_home
            && let Some(home) = std::env::var_os("HOME")
        {
            c.push(PathBuf::from(home));
        }
        c.extend(self.params.hide.iter().map(PathBuf::from));
        c
    }

    /// The user shown in the build's messages.
    fn who(&self, layout: &Layout) -> String {
        let uid = layout
            .drop_to
            .map_or_else(nix::unistd::geteuid, |(u, _)| u.into());
        nix::unistd::User::from_uid(uid)
            .ok()
            .flatten()
            .map_or_else(|| format!("#{uid}"), |u| u.name)
    }
}

impl Plugin for NamespaceIsolation {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        if !params.launcher.is_empty() && !Path::new(&params.launcher).is_absolute() {
            return Err(PluginError::invalid_params(format!(
                "launcher of '{}': '{}' is not an absolute path",
                ctx.name, params.launcher
            )));
        }
        if let Some(bad) = params.hide.iter().find(|p| !Path::new(p).is_absolute()) {
            return Err(PluginError::invalid_params(format!(
                "hide of '{}': '{bad}' is not an absolute path",
                ctx.name
            )));
        }
        Ok(NamespaceIsolation {
            params,
            host: ctx.host,
        })
    }
}

impl IsolationPlugin for NamespaceIsolation {
    fn begin(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        let layout = self.layout(request)?;
        self.host.message(&format!(
            "running build in namespaces as user: {} (network {})",
            self.who(&layout),
            if layout.network { "on" } else { "off" }
        ))
    }

    fn execute(&self, request: &IsolationRequest) -> Result<RunOutcome, PluginError> {
        let layout = self.layout(request)?;
        self.host.message("----------\nBuilding...")?;
        if let Some((uid, gid)) = layout.drop_to {
            chown_tree(&layout.root, uid, gid).map_err(|e| {
                PluginError::failed(format!(
                    "handing the build root {} to uid {uid}: {e}",
                    layout.root.display()
                ))
            })?;
        }
        let launcher = self.launcher()?;
        let argv = sandbox_argv(&launcher, &layout);
        self.host
            .run(&RunRequest {
                argv,
                cwd: Some(request.build_root.clone()),
                timeout_secs: request.timeout_secs,
                stream: Stream::Output,
                log_command: false,
                ..RunRequest::default()
            })
            .map_err(|e| {
                PluginError::failed(format!(
                    "could not start the build's sandbox with '{launcher}': {e}"
                ))
            })
    }

    fn end(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        let root = Path::new(&request.build_root);
        if worker_is_root() && std::fs::symlink_metadata(root).is_ok() {
            chown_tree(root, 0, 0).map_err(|e| {
                PluginError::failed(format!(
                    "giving the build root {} back to root: {e}",
                    root.display()
                ))
            })?;
        }
        Ok(())
    }

    fn probe(&self) -> Result<(), PluginError> {
        // One directory per call: probes may run at once (threads).
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vespene-probe-{}-{call}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(&root)
            .map_err(|e| PluginError::failed(format!("probe: {}: {e}", root.display())))?;
        let result = self.probe_in(&root);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }
}

impl NamespaceIsolation {
    /// The launcher's path: the parameter, else [`find_launcher`].
    fn launcher(&self) -> Result<String, PluginError> {
        if !self.params.launcher.is_empty() {
            return Ok(self.params.launcher.clone());
        }
        find_launcher()
            .map(|p| path_arg(&p))
            .map_err(PluginError::failed)
    }

    fn probe_in(&self, root: &Path) -> Result<(), PluginError> {
        let drop_to = if worker_is_root() {
            let (_, uid, gid) =
                build_user(None, &self.params.default_user).map_err(PluginError::failed)?;
            chown_tree(root, uid, gid)
                .map_err(|e| PluginError::failed(format!("probe: {}: {e}", root.display())))?;
            Some((uid, gid))
        } else {
            None
        };
        let layout = Layout {
            root: root.to_path_buf(),
            program: "/bin/true".into(),
            network: self.params.network,
            drop_to,
            ..Layout::default()
        };
        let launcher = self.launcher()?;
        let argv = sandbox_argv(&launcher, &layout);
        let out = std::process::Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| PluginError::failed(format!("cannot run '{launcher}': {e}")))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        Err(PluginError::failed(format!(
            "'{launcher}' cannot start a sandbox here ({}): {}",
            out.status,
            err.lines().last().unwrap_or("").trim()
        )))
    }
}

export_plugin! {
    name: "vespene.plugins.isolation.namespace",
    kind: isolation,
    plugin: NamespaceIsolation,
    description: "Runs the build script in its own user, mount, PID, IPC and UTS namespaces (its own launcher), needing neither root, sudo nor bubblewrap.",
}

#[cfg(test)]
mod tests;
