//! Who the build runs as inside the container, and the build root's
//! ownership before and after, so that the worker can read and delete
//! whatever the build left.

use std::os::unix::fs::lchown;
use std::path::{Path, PathBuf};

/// The build user of a root worker when the `user` parameter is empty.
pub const DEFAULT_ROOT_WORKER_USER: &str = "nobody";

/// uid and gid.
pub type Ids = (u32, u32);

/// The user a build runs as and whether the build root changes hands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub uid: u32,
    pub gid: u32,
    /// For messages: the name given, or the uid.
    pub shown: String,
    /// The worker's uid and gid, given the root back after the build, when
    /// the build runs as someone else (root workers only).
    pub give_back: Option<Ids>,
}

impl RunAs {
    /// The engine's `User` value: numeric, so the image needs no
    /// `/etc/passwd` entry.
    pub fn engine_user(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

fn lookup_name(name: &str) -> Result<Ids, String> {
    nix::unistd::User::from_name(name)
        .map_err(|e| format!("looking up user '{name}': {e}"))?
        .map(|u| (u.uid.as_raw(), u.gid.as_raw()))
        .ok_or_else(|| format!("there is no user '{name}' on this worker"))
}

fn lookup_group(group: &str) -> Result<u32, String> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    nix::unistd::Group::from_name(group)
        .map_err(|e| format!("looking up group '{group}': {e}"))?
        .map(|g| g.gid.as_raw())
        .ok_or_else(|| format!("there is no group '{group}' on this worker"))
}

/// Resolves the `user` parameter (`NAME`, `UID`, either with `:GROUP`) for
/// a worker running as `worker`.
pub fn resolve(spec: &str, worker: Ids, allow_root: bool) -> Result<RunAs, String> {
    let worker_is_root = worker.0 == 0;
    let spec = spec.trim();
    let spec = if spec.is_empty() && worker_is_root {
        DEFAULT_ROOT_WORKER_USER
    } else {
        spec
    };
    let (uid, gid, shown) = if spec.is_empty() {
        let name = nix::unistd::User::from_uid(worker.0.into())
            .ok()
            .flatten()
            .map_or_else(|| worker.0.to_string(), |u| u.name);
        (worker.0, worker.1, name)
    } else {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let (uid, primary_gid) = match user.parse::<u32>() {
            Ok(uid) => {
                let gid = nix::unistd::User::from_uid(uid.into())
                    .ok()
                    .flatten()
                    .map_or(uid, |u| u.gid.as_raw());
                (uid, gid)
            }
            Err(_) => lookup_name(user)?,
        };
        let gid = match group {
            Some(g) => lookup_group(g)?,
            None => primary_gid,
        };
        (uid, gid, spec.to_string())
    };
    if uid == 0 && !allow_root {
        return Err(format!(
            "refusing to run builds as root (user '{shown}'): set user to an unprivileged \
             user, or allow_root = true"
        ));
    }
    let give_back = ((uid, gid) != worker).then_some(worker);
    if give_back.is_some() && !worker_is_root && uid != worker.0 {
        return Err(format!(
            "cannot run builds as '{shown}' (uid {uid}): handing the build root to another \
             user needs a worker running as root, and this one runs as uid {}; leave user \
             empty to run builds as the worker's own user",
            worker.0
        ));
    }
    // A non-root worker can only give files a group it belongs to: it keeps
    // owning them, which is what matters.
    let give_back = give_back.filter(|_| worker_is_root);
    Ok(RunAs {
        uid,
        gid,
        shown,
        give_back,
    })
}

/// The worker's own effective uid and gid.
pub fn worker_ids() -> Ids {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

/// Gives `root` and everything under it to `ids`, changing symbolic links
/// themselves and never following them (a checked-out link to
/// `/etc/vespene` must not give that away).
pub fn give_tree(root: &Path, ids: Ids) -> std::io::Result<()> {
    let mut todo: Vec<PathBuf> = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        lchown(&path, Some(ids.0), Some(ids.1))?;
        if std::fs::symlink_metadata(&path)?.is_dir() {
            for entry in std::fs::read_dir(&path)? {
                todo.push(entry?.path());
            }
        }
    }
    Ok(())
}
