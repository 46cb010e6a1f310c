//! Giving the heap's free memory back to the system at the server's quiet
//! moments.
//!
//! glibc's malloc keeps what is freed for later allocations: the main
//! heap and each thread's arena (every actix worker and blocking thread
//! allocates in its own) shrink only from their top, when at least
//! 128 KiB there are free, never around live blocks. Starting the server
//! frees much of what it built (settings layers, the plugin scan, the
//! migrations check, the route table and its OpenAPI schemas), and a
//! burst of live-output streams frees its buffers when they end; that
//! memory stayed resident, unused: about 0.8 MiB after start, and 2 MiB
//! after the `live` benchmark's churn (`/proc/PID/smaps`, BENCHMARKS.md
//! "Server memory"). `malloc_trim(0)` hands every free page back
//! (`MADV_DONTNEED` on them); live data is untouched, and a later
//! allocation takes fresh pages from the kernel as it would anyway.
//!
//! It is called only at the moments below, never per request: it walks
//! every arena under that arena's lock.
#![allow(unsafe_code)]

/// Returns the allocator's free pages to the system.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes the allocator's own locks and only
    // releases pages of free chunks; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// When to trim, from the server's main loop: once when it has started
/// serving, and whenever the last follower of live output has gone.
#[derive(Debug, Default)]
pub struct QuietMoments {
    started: bool,
    followers: usize,
}

impl QuietMoments {
    /// Called on every tick of the main loop with the number of live
    /// output streams; says whether this is a moment to trim.
    pub fn tick(&mut self, followers: usize) -> bool {
        let ended = self.followers > 0 && followers == 0;
        self.followers = followers;
        let first = !std::mem::replace(&mut self.started, true);
        first || ended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_start_and_when_the_last_follower_leaves() {
        let mut q = QuietMoments::default();
        assert!(q.tick(0), "the first tick is the end of the start");
        assert!(!q.tick(0));
        assert!(!q.tick(3));
        assert!(!q.tick(1));
        assert!(q.tick(0), "the last follower left");
        assert!(!q.tick(0));
    }
}
