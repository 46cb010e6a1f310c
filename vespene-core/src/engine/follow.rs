//! Following builds as they run, for a process that serves many followers
//! (the HTTP server's live output streams): one listener thread on the
//! output wake-up channel ([`super::wake::OUTPUT_CHANNEL`]) hands each
//! "build N changed" notification to the followers of build N.
//!
//! A follower is a callback held by a [`Following`]; dropping it (a client
//! that went away) removes the callback, so nothing is left to run for it.
//! The thread starts with the first follower and then waits on the channel
//! (a wake-up costs one `poll(2)` return, nothing runs between them).

use super::wake::{Listener, Waker};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

/// Called when the followed build has new output or a new status.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

type Followers = HashMap<i64, HashMap<u64, Wake>>;

/// The followers of a process, and the thread that wakes them.
#[derive(Clone)]
pub struct OutputHub {
    waker: Waker,
    followers: Arc<Mutex<Followers>>,
    next_id: Arc<AtomicU64>,
    started: Arc<Once>,
}

impl std::fmt::Debug for OutputHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputHub")
            .field("following", &self.following())
            .finish()
    }
}

/// A registered follower; dropping it unregisters it.
pub struct Following {
    followers: Arc<Mutex<Followers>>,
    build_id: i64,
    id: u64,
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut all = self.followers.lock().unwrap();
        if let Some(of_build) = all.get_mut(&self.build_id) {
            of_build.remove(&self.id);
            if of_build.is_empty() {
                all.remove(&self.build_id);
            }
        }
    }
}

/// How long the listener thread waits between looks at its channel when
/// nothing arrives (it is woken at once by a notification).
const IDLE_WAIT: Duration = Duration::from_secs(60);

impl OutputHub {
    /// A hub listening on `waker`'s output channel.
    pub fn new(waker: &Waker) -> OutputHub {
        OutputHub {
            waker: waker.output(),
            followers: Arc::default(),
            next_id: Arc::default(),
            started: Arc::new(Once::new()),
        }
    }

    /// Calls `wake` whenever build `build_id` has new output or a new
    /// status, until the returned [`Following`] is dropped.
    pub fn follow(&self, build_id: i64, wake: Wake) -> Following {
        self.started.call_once(|| self.start());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.followers
            .lock()
            .unwrap()
            .entry(build_id)
            .or_default()
            .insert(id, wake);
        Following {
            followers: self.followers.clone(),
            build_id,
            id,
        }
    }

    /// How many followers are registered (for `/metrics` and tests).
    pub fn following(&self) -> usize {
        self.followers
            .lock()
            .unwrap()
            .values()
            .map(|f| f.len())
            .sum()
    }

    fn start(&self) {
        let mut listener: Box<dyn Listener> = self.waker.listen("*");
        let followers = self.followers.clone();
        let spawned = std::thread::Builder::new()
            .name("output-hub".into())
            .spawn(move || {
                let mut payloads = Vec::new();
                loop {
                    payloads.clear();
                    listener.wait_payloads(IDLE_WAIT, &mut payloads);
                    let mut builds: Vec<i64> =
                        payloads.iter().filter_map(|p| p.parse().ok()).collect();
                    builds.sort_unstable();
                    builds.dedup();
                    let wakes: Vec<Wake> = {
                        let all = followers.lock().unwrap();
                        builds
                            .iter()
                            .filter_map(|b| all.get(b))
                            .flat_map(|f| f.values().cloned())
                            .collect()
                    };
                    for wake in wakes {
                        wake();
                    }
                }
            });
        if let Err(e) = spawned {
            // Followers still see changes through their periodic re-check.
            tracing::warn!("cannot start the output wake-up thread: {e}");
        }
    }
}
