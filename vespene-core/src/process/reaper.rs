//! Killing what a build leaves behind. A worker process makes itself a
//! *child subreaper* (`PR_SET_CHILD_SUBREAPER`): a process that leaves the
//! build's process group (`setsid`, `set -m` jobs) and outlives its parent
//! (a double fork) is re-parented to the worker instead of to init. When a
//! build ends — normally, stopped or timed out — every child the worker
//! still has is a leftover of the build: it is killed and reaped, and so
//! are the children each one leaves in turn, until none is left.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, waitpid};
use nix::unistd::Pid;
use std::sync::atomic::{AtomicBool, Ordering};

static SUBREAPER: AtomicBool = AtomicBool::new(false);

/// Makes this process the subreaper of everything it starts. Only a
/// process that runs builds one after another (the worker) should: it
/// then owns every process its builds leave behind.
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)?;
    SUBREAPER.store(true, Ordering::SeqCst);
    Ok(())
}

/// Whether [`become_subreaper`] succeeded in this process.
pub fn is_subreaper() -> bool {
    SUBREAPER.load(Ordering::SeqCst)
}

/// The live children of this process (every thread's).
fn children() -> Vec<i32> {
    let mut pids = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return pids;
    };
    for task in tasks.flatten() {
        if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<i32>().ok()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// What [`kill_leftovers`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    /// Processes killed.
    pub killed: usize,
    /// Processes that could not be killed (another user's), by pid.
    pub refused: Vec<i32>,
}

/// Kills and reaps every child of this process, then the children they
/// leave, until none is left (or only ones this process may not kill).
/// Does nothing unless this process is a subreaper: elsewhere (the server,
/// a test) children are not leftovers.
pub fn kill_leftovers() -> Leftovers {
    let mut done = Leftovers::default();
    if !is_subreaper() {
        return done;
    }
    // Each round kills one generation; a build cannot nest deeper than
    // this without also forking faster than it is killed.
    for _ in 0..64 {
        let pids: Vec<i32> = children()
            .into_iter()
            .filter(|p| !done.refused.contains(p))
            .collect();
        if pids.is_empty() {
            break;
        }
        for &pid in &pids {
            let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.rsplit_once(')').is_some_and(|(_, r)| r.starts_with(" Z")));
            match kill(Pid::from_raw(pid), Signal::SIGKILL) {
                Ok(()) | Err(Errno::ESRCH) => {}
                Err(_) => {
                    done.refused.push(pid);
                    continue;
                }
            }
            // Its own children are re-parented to us before it can be
            // reaped, so the next round sees them.
            if waitpid(Pid::from_raw(pid), Some(WaitPidFlag::__WALL)).is_ok() && !zombie {
                done.killed += 1;
            }
        }
    }
    done
}
