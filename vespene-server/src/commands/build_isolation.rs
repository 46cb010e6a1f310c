//! Which isolation the embedded default (`vespene up`, `vespene tutorial`)
//! gives the pools it creates, decided once per start from what this host
//! allows:
//!
//! 1. the `namespace` entry when its plugin's `probe` starts a sandbox here
//!    (its launcher found, namespaces allowed by the kernel): no root, no
//!    sudo;
//! 2. else, when running as root with `sudo` installed, the `sudo` entry
//!    with a dedicated build user;
//! 3. else the `sudo` entry as the current user, which runs the script
//!    directly: builds can then read everything this user can, and the
//!    banner says so.
//!
//! The dedicated build user is `vespene_build` when it exists (the package
//! creates it), else `nobody`; never the server's own user.

use vespene_core::app::App;
use vespene_core::settings::Section;
use vespene_plugin_api::kinds::isolation::ops as iso_ops;

/// The build user of a root server: the package's, else `nobody`.
pub const PACKAGED_BUILD_USER: &str = "vespene_build";
pub const FALLBACK_BUILD_USER: &str = "nobody";

/// The isolation a new pool gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The isolation entry named in the pool's `isolation_method`.
    pub method: String,
    /// The pool's `sudo_user`.
    pub user: String,
    /// One line for the banner, saying plainly what builds can reach.
    pub summary: String,
}

/// The user this process runs as.
fn current_user() -> String {
    let uid = nix::unistd::geteuid();
    nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| format!("#{uid}"), |u| u.name)
}

/// The dedicated build user of a root server.
pub fn dedicated_build_user() -> String {
    match nix::unistd::User::from_name(PACKAGED_BUILD_USER) {
        Ok(Some(_)) => PACKAGED_BUILD_USER.into(),
        _ => FALLBACK_BUILD_USER.into(),
    }
}

/// Whether `program` is on the PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Decides (see the module's documentation).
pub fn choose(app: &App) -> Choice {
    let root = nix::unistd::geteuid().is_root();
    let why_not = match app.plugins.registry.named(Section::Isolation, "namespace") {
        Some(entry) => match entry.instance().call(iso_ops::PROBE, "{}") {
            Ok(_) => {
                let user = if root {
                    dedicated_build_user()
                } else {
                    current_user()
                };
                return Choice {
                    method: "namespace".into(),
                    summary: format!(
                        "namespaces (read-only system, private root and /tmp, no Vespene \
                         data), as user {user}"
                    ),
                    user,
                };
            }
            Err(e) => e.to_string(),
        },
        None => "no isolation entry 'namespace' is configured".into(),
    };
    if root && on_path("sudo") {
        let user = dedicated_build_user();
        return Choice {
            method: "sudo".into(),
            summary: format!("sudo as user {user} (namespaces unavailable: {why_not})"),
            user,
        };
    }
    let user = current_user();
    let summary = if root {
        format!(
            "NOT ISOLATED: builds would run as root, which the sudo isolation refuses unless \
             its allow_root is set; install sudo or allow namespaces (unavailable here: \
             {why_not})"
        )
    } else {
        format!(
            "NOT ISOLATED: builds run as the current user {user} and can read everything it \
             can (namespaces unavailable: {why_not})"
        )
    };
    Choice {
        method: "sudo".into(),
        summary,
        user,
    }
}
