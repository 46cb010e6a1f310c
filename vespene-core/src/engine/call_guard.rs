//! What a build's runner child (see [`super::contained`]) knows about the
//! plugin call in progress, so that a call that crashes, exits or hangs is
//! reported by name to the worker before the child dies.
//!
//! Every plugin call of a build is made inside a [`CallGuard`], which
//! records the call's label ("trigger plugin 'x' (execute_hook)") and
//! deadline in plain atomics. In the runner child:
//! - a handler for SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE and SIGTRAP
//!   writes the log lines the child still holds (see [`super::held`]) and
//!   `K<label>` to the worker's pipe (nothing that allocates or locks) and
//!   lets the signal kill the process;
//! - an `atexit` handler does the same when a plugin calls `exit`;
//! - a watchdog thread writes `K<label>\t<reason>` and kills the child's
//!   process group when a call outlives its deadline, or is still running
//!   [`STOP_GRACE`] after the build was stopped.
//!
//! Outside a runner child (containment turned off) guards only cost a few
//! atomic stores.

#![allow(unsafe_code)]

use std::collections::HashMap;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a plugin call may go on after its build was stopped: longer
/// than the process runner's TERM → KILL grace and output drain (5 s), so
/// an isolation call running a stopped script has time to answer.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

static FD: AtomicI32 = AtomicI32::new(-1);
static LABEL: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static LABEL_LEN: AtomicUsize = AtomicUsize::new(0);
/// Nanoseconds after [`epoch`] (0: none).
static DEADLINE: AtomicU64 = AtomicU64::new(0);
static REASON: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static REASON_LEN: AtomicUsize = AtomicUsize::new(0);
/// Nanoseconds after [`epoch`] at which the build was stopped (0: not).
static STOPPED_AT: AtomicU64 = AtomicU64::new(0);
static KILLING: AtomicBool = AtomicBool::new(false);
/// Reports go to standard error as one line for a person (any command),
/// not to a worker's pipe (a runner child).
static TO_STDERR: AtomicBool = AtomicBool::new(false);

fn epoch() -> Instant {
    epochs().0
}

/// The epoch as an [`Instant`] and as raw `CLOCK_MONOTONIC` nanoseconds
/// (the clock `Instant` reads on Linux), taken together.
fn epochs() -> (Instant, u64) {
    static EPOCH: OnceLock<(Instant, u64)> = OnceLock::new();
    *EPOCH.get_or_init(|| (Instant::now(), raw_nanos(libc::CLOCK_MONOTONIC)))
}

fn raw_nanos(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Now in [`nanos`]' terms from the coarse monotonic clock: up to a few
/// milliseconds behind, at a fifth of the precise clock's cost. For the
/// deadline of every output filter call, made once per line.
fn coarse_nanos() -> u64 {
    raw_nanos(libc::CLOCK_MONOTONIC_COARSE)
        .saturating_sub(epochs().1)
        .max(1)
}

fn nanos(t: Instant) -> u64 {
    u64::try_from(t.saturating_duration_since(epoch()).as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A string kept for the life of the process (labels and reasons form a
/// small set: sections × entries × operations).
pub fn intern(text: String) -> &'static str {
    static TABLE: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let mut table = TABLE.get_or_init(Mutex::default).lock().unwrap();
    if let Some(s) = table.get(&text) {
        return s;
    }
    let leaked: &'static str = Box::leak(text.clone().into_boxed_str());
    table.insert(text, leaked);
    leaked
}

/// The label of a call: "`kind` plugin 'name' (op)".
pub fn label(kind: &str, name: &str, op: &str) -> &'static str {
    intern(format!("{kind} plugin '{name}' ({op})"))
}

/// A deadline and the words that explain it, e.g. "did not return within
/// 10 s ([plugin_deadlines] output_seconds)".
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    pub at: Instant,
    pub reason: &'static str,
}

impl Deadline {
    pub fn after(limit: Duration, reason: &'static str) -> Deadline {
        Deadline {
            at: Instant::now() + limit,
            reason,
        }
    }

    /// The earlier of two deadlines.
    pub fn min(self, other: Option<Deadline>) -> Deadline {
        match other {
            Some(o) if o.at < self.at => o,
            _ => self,
        }
    }
}

/// A plugin call in progress; restores the enclosing call when dropped
/// (an output filter runs inside the isolation call that runs the script).
pub struct CallGuard {
    label: (*mut u8, usize),
    deadline: u64,
    reason: (*mut u8, usize),
}

impl CallGuard {
    /// A call that may take `limit` (explained by the reason) from now,
    /// measured on the coarse clock: for calls made once per line, whose
    /// limits are seconds.
    pub fn enter_within(label: &'static str, limit: Option<(Duration, &'static str)>) -> CallGuard {
        let deadline = limit.map(|(l, reason)| {
            let at = coarse_nanos().saturating_add(u64::try_from(l.as_nanos()).unwrap_or(u64::MAX));
            (at, reason)
        });
        Self::enter_at(label, deadline)
    }

    pub fn enter(label: &'static str, deadline: Option<Deadline>) -> CallGuard {
        Self::enter_at(label, deadline.map(|d| (nanos(d.at), d.reason)))
    }

    /// Enters a call whose deadline is given in [`nanos`]' terms.
    fn enter_at(label: &'static str, deadline: Option<(u64, &'static str)>) -> CallGuard {
        let saved = CallGuard {
            label: (
                LABEL.load(Ordering::Relaxed),
                LABEL_LEN.load(Ordering::Relaxed),
            ),
            deadline: DEADLINE.load(Ordering::Relaxed),
            reason: (
                REASON.load(Ordering::Relaxed),
                REASON_LEN.load(Ordering::Relaxed),
            ),
        };
        LABEL_LEN.store(label.len(), Ordering::Relaxed);
        LABEL.store(label.as_ptr().cast_mut(), Ordering::Release);
        match deadline {
            Some((at, reason)) => {
                REASON_LEN.store(reason.len(), Ordering::Relaxed);
                REASON.store(reason.as_ptr().cast_mut(), Ordering::Relaxed);
                DEADLINE.store(at, Ordering::Release);
            }
            None => DEADLINE.store(0, Ordering::Release),
        }
        saved
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        LABEL_LEN.store(self.label.1, Ordering::Relaxed);
        LABEL.store(self.label.0, Ordering::Release);
        REASON_LEN.store(self.reason.1, Ordering::Relaxed);
        REASON.store(self.reason.0, Ordering::Relaxed);
        DEADLINE.store(self.deadline, Ordering::Release);
    }
}

/// Records that the build was stopped: a call still running
/// [`STOP_GRACE`] later is killed.
pub fn note_stop() {
    let _ =
        STOPPED_AT.compare_exchange(0, nanos(Instant::now()), Ordering::SeqCst, Ordering::SeqCst);
}

/// Writes `K<label>[\t<reason>]\n` (to a worker) or `vespene: <label>
/// <reason>\n` (to standard error) in one `write` (async-signal-safe: no
/// allocation, no lock).
fn report(reason: &[u8]) {
    let stderr = TO_STDERR.load(Ordering::Acquire);
    let fd = FD.load(Ordering::Acquire);
    let ptr = LABEL.load(Ordering::Acquire);
    if fd < 0 || ptr.is_null() {
        return;
    }
    let len = LABEL_LEN.load(Ordering::Relaxed);
    // SAFETY: LABEL always points at an interned (leaked) string of
    // LABEL_LEN bytes.
    let label = unsafe { std::slice::from_raw_parts(ptr, len) };
    let mut buf = [0u8; 1024];
    let mut n = 0;
    let (head, sep): (&[u8], &[u8]) = if stderr {
        (b"vespene: ", b" ")
    } else {
        (b"K", b"\t")
    };
    for part in [
        head,
        label,
        if reason.is_empty() { b"" } else { sep },
        reason,
    ] {
        let take = part.len().min(buf.len() - 1 - n);
        buf[n..n + take].copy_from_slice(&part[..take]);
        n += take;
    }
    buf[n] = b'\n';
    if !stderr {
        // The lines the build printed before this call went wrong first.
        super::held::write_to(fd);
    }
    // SAFETY: writing our own buffer to a descriptor we own.
    unsafe { libc::write(fd, buf.as_ptr().cast(), n + 1) };
}

fn signal_words(sig: libc::c_int) -> &'static [u8] {
    match sig {
        libc::SIGSEGV => b"crashed with SIGSEGV",
        libc::SIGBUS => b"crashed with SIGBUS",
        libc::SIGABRT => b"crashed with SIGABRT",
        libc::SIGILL => b"crashed with SIGILL",
        libc::SIGFPE => b"crashed with SIGFPE",
        _ => b"crashed with SIGTRAP",
    }
}

extern "C" fn on_fatal_signal(sig: libc::c_int) {
    if !KILLING.load(Ordering::SeqCst) {
        // The worker names the signal from the child's status itself.
        if TO_STDERR.load(Ordering::Acquire) {
            report(signal_words(sig));
        } else {
            report(b"");
        }
    }
    // SA_RESETHAND restored the default action: die of the same signal.
    // SAFETY: raise is async-signal-safe.
    unsafe { libc::raise(sig) };
}

extern "C" fn on_exit() {
    if !KILLING.load(Ordering::SeqCst) {
        if TO_STDERR.load(Ordering::Acquire) {
            report(b"called exit and ended the process");
        } else {
            report(b"");
        }
    }
}

/// Turns on reporting to the worker through `fd` (the runner child only):
/// signal and exit handlers, and the deadline watchdog.
pub fn install(fd: i32) {
    TO_STDERR.store(false, Ordering::Release);
    FD.store(fd, Ordering::Release);
    install_handlers();
}

/// Turns on one-line reports on standard error for any command, so that a
/// plugin's `create` that crashes, exits or hangs is named (see
/// [`crate::plugins::Registry`]); a hung call ends the process with status
/// 70.
pub fn install_for_commands() {
    if FD.load(Ordering::Acquire) >= 0 {
        return;
    }
    TO_STDERR.store(true, Ordering::Release);
    FD.store(2, Ordering::Release);
    install_handlers();
}

fn install_handlers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(install_once);
}

fn install_once() {
    epoch();
    // SAFETY: installing handlers that only use async-signal-safe calls.
    unsafe {
        for sig in [
            libc::SIGSEGV,
            libc::SIGBUS,
            libc::SIGABRT,
            libc::SIGILL,
            libc::SIGFPE,
            libc::SIGTRAP,
        ] {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_fatal_signal as *const () as usize;
            action.sa_flags = libc::SA_ONSTACK | libc::SA_RESETHAND;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(sig, &action, ptr::null_mut());
        }
        libc::atexit(on_exit);
    }
    std::thread::Builder::new()
        .name("call-watchdog".into())
        .spawn(watchdog)
        .expect("spawn the plugin call watchdog");
}

/// Starts a build afresh in a runner child that served others: no stop
/// and no kill carried over from the last one (no call is in progress
/// between builds: every guard restored the empty label).
pub fn begin_build() {
    STOPPED_AT.store(0, Ordering::SeqCst);
    KILLING.store(false, Ordering::SeqCst);
}

/// Leaves the child without reporting a call (a normal end).
pub fn quiet() {
    KILLING.store(true, Ordering::SeqCst);
}

fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_millis(25));
        if LABEL.load(Ordering::Acquire).is_null() {
            continue;
        }
        let now = nanos(Instant::now());
        let deadline = DEADLINE.load(Ordering::Acquire);
        let stopped = STOPPED_AT.load(Ordering::Acquire);
        let reason: Option<&[u8]> = if deadline != 0 && now > deadline {
            let ptr = REASON.load(Ordering::Acquire);
            let len = REASON_LEN.load(Ordering::Relaxed);
            // SAFETY: REASON points at an interned string of REASON_LEN bytes.
            Some(unsafe { std::slice::from_raw_parts(ptr, len) })
        } else if stopped != 0 && now > stopped + STOP_GRACE.as_nanos() as u64 {
            Some(b"was still running 10 s after the build was stopped")
        } else {
            None
        };
        if let Some(reason) = reason {
            report(reason);
            KILLING.store(true, Ordering::SeqCst);
            if TO_STDERR.load(Ordering::Acquire) {
                // A command: only this process (its group may be a shell's).
                std::process::exit(70);
            }
            // The child leads its own process group: the call, and
            // whatever it started in the group, die together.
            // SAFETY: plain kill(2).
            unsafe {
                libc::kill(0, libc::SIGKILL);
            }
        }
    }
}
