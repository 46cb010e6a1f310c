//! Labels on everything the plugin makes, and the sweep that removes what
//! a dead worker left.
//!
//! Every container carries the build's id and its owner: the host name,
//! pid and start time of the process that runs the build. A container
//! whose owner is on this host and no longer alive (no such pid, or a pid
//! reused by a younger process) belongs to a worker that was killed
//! mid-build; the sweep removes it. Containers of other hosts (a shared
//! engine) are left alone: their liveness cannot be seen from here.

use bollard::Docker;
use bollard::query_parameters::ListContainersOptions;
use std::collections::HashMap;

/// The build a container runs (its id).
pub const LABEL_BUILD: &str = "io.vespene.build";
/// Who made it: `HOST/PID/START`.
pub const LABEL_OWNER: &str = "io.vespene.owner";
/// The build's root on the worker (tells installations sharing one
/// engine apart: build ids repeat across them).
pub const LABEL_ROOT: &str = "io.vespene.build_root";
/// The plugin that made it.
pub const LABEL_PLUGIN: &str = "io.vespene.plugin";
/// The value of [`LABEL_PLUGIN`].
pub const PLUGIN_NAME: &str = "vespene.plugins.isolation.basic_container";

/// A process, told apart from a later one with the same pid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub host: String,
    pub pid: i32,
    /// Clock ticks after boot (`/proc/PID/stat` field 22).
    pub start: u64,
}

/// Start time of process `pid`, or `None` when there is none.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields
    // are counted from its closing parenthesis, which is field 3's start.
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Field 3 (the state) is fields[0]; a zombie is not alive.
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(22 - 3)?.parse().ok()
}

pub fn hostname() -> String {
    nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Owner {
    /// The process calling.
    pub fn current() -> Owner {
        let pid = std::process::id() as i32;
        Owner {
            host: hostname(),
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    pub fn label(&self) -> String {
        format!("{}/{}/{}", self.host, self.pid, self.start)
    }

    pub fn parse(label: &str) -> Option<Owner> {
        let mut parts = label.rsplitn(3, '/');
        let start = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?.to_string();
        Some(Owner { host, pid, start })
    }

    /// Whether this owner is known to be gone: it ran on `host` and its
    /// process is no longer there.
    pub fn is_dead_on(&self, host: &str) -> bool {
        self.host == host && start_time(self.pid) != Some(self.start)
    }
}

/// The labels of the container of build `build_id` in `root`.
pub fn labels(build_id: i64, root: &str, owner: &Owner) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_BUILD.to_string(), build_id.to_string()),
        (LABEL_ROOT.to_string(), root.to_string()),
        (LABEL_OWNER.to_string(), owner.label()),
        (LABEL_PLUGIN.to_string(), PLUGIN_NAME.to_string()),
    ])
}

/// The name of the container of build `build_id` in `root`: the id for
/// people, a hash of the root so that installations sharing an engine
/// never collide (FNV-1a, stable across processes and versions).
pub fn container_name(build_id: i64, root: &str) -> String {
    let hash = root.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("vespene-build-{build_id}-{:012x}", hash >> 16)
}

/// What one sweep did.
#[derive(Debug, Default)]
pub struct Swept {
    /// Names of the containers removed.
    pub removed: Vec<String>,
    /// Containers that could not be removed, with the reason.
    pub failed: Vec<String>,
}

/// Removes every container of this plugin whose owner died on this host.
pub async fn sweep(docker: &Docker) -> Result<Swept, bollard::errors::Error> {
    let host = hostname();
    let options = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_PLUGIN}={PLUGIN_NAME}")],
        )])),
        ..Default::default()
    };
    let mut swept = Swept::default();
    for c in docker.list_containers(Some(options)).await? {
        let owner = c
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_OWNER))
            .and_then(|l| Owner::parse(l));
        let Some(owner) = owner else { continue };
        if !owner.is_dead_on(&host) {
            continue;
        }
        let id = c.id.unwrap_or_default();
        let name = c
            .names
            .and_then(|n| n.into_iter().next())
            .map_or_else(|| id.clone(), |n| n.trim_start_matches('/').to_string());
        match crate::engine::remove(docker, &id).await {
            Ok(()) => swept.removed.push(name),
            Err(e) => swept.failed.push(format!("{name}: {e}")),
        }
    }
    Ok(swept)
}
