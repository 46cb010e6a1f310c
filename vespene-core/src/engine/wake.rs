//! Waking idle workers the moment there is work, instead of polling.
//!
//! Whoever queues a build (or asks a running one to stop) calls
//! [`Waker::notify`] with the pool's name; idle workers block in
//! [`Listener::wait`] and return within milliseconds. Polling remains only
//! as a slow fallback (`worker.poll_seconds`, at most 5 s) in case a wake-up
//! is lost.
//!
//! * SQLite (one machine): every listener owns a Unix datagram socket in
//!   `<data_dir>/run/wake/`; a notification is one datagram to each.
//! * PostgreSQL (many machines): `NOTIFY vespene_wake, '<pool>'` and a
//!   `LISTEN`ing libpq connection per worker, waited on with `poll(2)`.

mod interrupt;
mod local;
mod pg;

pub use interrupt::Interrupter;

use std::path::Path;
use std::time::Duration;

/// The channel every notification travels on.
pub const CHANNEL: &str = "vespene_wake";
/// A notification for every pool (a stop request, say).
pub const ALL_POOLS: &str = "*";
/// The channel of "build N has new output or a new status" (payload: the
/// build's id), kept apart from [`CHANNEL`] so idle workers are not woken
/// by every stored chunk.
pub const OUTPUT_CHANNEL: &str = "vespene_output";

/// Sends wake-ups.
pub trait Notify: Send + Sync {
    /// Wakes the listeners of `pool` (or of every pool, with [`ALL_POOLS`]).
    fn notify(&self, pool: &str);
}

/// Waits for wake-ups of one pool.
pub trait Listener: Send {
    /// Blocks until a notification for this pool (or every pool) arrives,
    /// the listener is interrupted, or `timeout` passes. True when woken
    /// (by a notification or an interruption).
    fn wait(&mut self, timeout: Duration) -> bool;
    /// A handle that interrupts this listener's current or next wait, from
    /// any thread.
    fn interrupter(&self) -> Interrupter;
    /// Blocks until notifications arrive (on any payload), the listener is
    /// interrupted, or `timeout` passes; adds the payloads received to
    /// `out`. True when woken.
    fn wait_payloads(&mut self, timeout: Duration, out: &mut Vec<String>) -> bool;
}

/// The wake-up mechanism of a database: local sockets for SQLite, LISTEN /
/// NOTIFY for PostgreSQL.
#[derive(Debug, Clone)]
pub enum Waker {
    Local(local::LocalWaker),
    Postgres(pg::PgWaker),
}

impl Waker {
    /// The mechanism that fits `database_url`, with local sockets under
    /// `data_dir` (used for SQLite).
    pub fn for_database(database_url: &str, data_dir: &Path) -> Waker {
        if matches!(
            crate::db::Target::parse(database_url),
            Ok(crate::db::Target::Postgres(_))
        ) {
            Waker::Postgres(pg::PgWaker::new(database_url))
        } else {
            Waker::Local(local::LocalWaker::new(&data_dir.join("run").join("wake")))
        }
    }

    /// A listener for `pool`. When the mechanism cannot be set up (a full
    /// disk, a database that refuses), the listener degrades to sleeping
    /// for the timeout, which is the polling fallback; the reason is
    /// logged once.
    pub fn listen(&self, pool: &str) -> Box<dyn Listener> {
        let result = match self {
            Waker::Local(w) => w
                .listen(pool)
                .map(|l| Box::new(l) as Box<dyn Listener>)
                .map_err(|e| e.to_string()),
            Waker::Postgres(w) => w.listen(pool).map(|l| Box::new(l) as Box<dyn Listener>),
        };
        result.unwrap_or_else(|e| {
            tracing::warn!("wake-ups unavailable, polling instead: {e}");
            Box::new(Sleeper(interrupt::Interrupt::new().expect("a pipe")))
        })
    }
}

impl Waker {
    /// Lets the PostgreSQL mechanism send notifications through `db`'s
    /// pool (no new connection per wake-up).
    pub fn with_db(self, db: &crate::db::Db) -> Waker {
        match self {
            Waker::Postgres(w) => Waker::Postgres(w.with_db(db.clone())),
            other => other,
        }
    }
}

impl Waker {
    /// The same mechanism on the output channel ([`OUTPUT_CHANNEL`]; for
    /// SQLite the sockets of `<data_dir>/run/output/`).
    pub fn output(&self) -> Waker {
        match self {
            Waker::Local(w) => Waker::Local(w.sibling("output")),
            Waker::Postgres(w) => Waker::Postgres(w.on_channel(OUTPUT_CHANNEL)),
        }
    }

    /// Tells followers of build `build_id` (the server's live output
    /// streams) that it has new output or a new status.
    pub fn notify_output(&self, build_id: i64) {
        self.output().notify(&build_id.to_string());
    }
}

impl Notify for Waker {
    fn notify(&self, pool: &str) {
        match self {
            Waker::Local(w) => w.notify(pool),
            Waker::Postgres(w) => w.notify(pool),
        }
    }
}

/// The fallback: sleeps (interruptibly).
struct Sleeper(interrupt::Interrupt);

impl Listener for Sleeper {
    fn wait(&mut self, timeout: Duration) -> bool {
        self.0.wait(None, timeout) == interrupt::Woke::Interrupted
    }

    fn interrupter(&self) -> Interrupter {
        self.0.interrupter()
    }

    fn wait_payloads(&mut self, timeout: Duration, _out: &mut Vec<String>) -> bool {
        self.wait(timeout)
    }
}

/// Whether a notification's payload concerns `pool`.
fn concerns(payload: &str, pool: &str) -> bool {
    payload == pool || payload == ALL_POOLS
}

#[cfg(test)]
mod tests;
