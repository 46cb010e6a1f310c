//! Storing a running build's log in the database without slowing the build
//! down: batches go through a bounded channel to a writer thread that owns
//! its own connection, so reading and filtering the output overlaps with
//! writing it. A write that fails for a passing reason (the server
//! restarting, a broken connection) is retried on a fresh connection with
//! backoff until the orphan deadline; one that still fails is the build's
//! failure (the runner records it), never a silently shorter log.

use super::log::LogStore;
use super::persist::{pause, transient};
use super::wake::{Notify, Waker};
use crate::db::Db;
use crate::db::output::{OutputStream, append_body};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use vespene_plugin_api::Stream;

/// Batches in flight before the reader waits for the writer.
const QUEUE: usize = 16;
/// Bytes written between passive WAL checkpoints (SQLite).
const CHECKPOINT_BYTES: usize = 8 << 20;

fn checkpoint(conn: &mut crate::db::DbConn) {
    use diesel::connection::SimpleConnection;
    if let crate::db::DbConn::Sqlite(c) = conn {
        let _ = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)");
    }
}

/// What the writer thread is asked to do.
enum Msg {
    Append(OutputStream, i32, String),
    /// Answer once everything before this message is stored.
    Sync(SyncSender<()>),
}

/// A [`LogStore`] writing to the `build_output` table of one build.
pub struct DbLogStore {
    tx: Option<SyncSender<Msg>>,
    writer: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<String>>>,
}

impl DbLogStore {
    /// Starts the writer thread for build `build_id`; a failing write is
    /// retried for up to `patience`. Every stored chunk is announced on
    /// `waker`'s output channel (live followers wake on it).
    pub fn spawn(db: &Db, waker: &Waker, build_id: i64, patience: Duration) -> DbLogStore {
        let (tx, rx) = sync_channel::<Msg>(QUEUE);
        let error = Arc::new(Mutex::new(None));
        let db = db.clone();
        let err = error.clone();
        let waker = waker.output();
        let writer = std::thread::Builder::new()
            .name(format!("log-{build_id}"))
            .spawn(move || {
                let mut conn: Option<crate::db::PooledConn> = None;
                let mut since_checkpoint = 0usize;
                for msg in rx {
                    let (stream, lines, body) = match msg {
                        Msg::Append(s, l, b) => (s, l, b),
                        Msg::Sync(done) => {
                            let _ = done.send(());
                            continue;
                        }
                    };
                    let mut attempt = 0;
                    let mut until: Option<Instant> = None;
                    loop {
                        attempt += 1;
                        let result = match &mut conn {
                            Some(c) => append_body(&mut *c, build_id, stream, lines, &body),
                            None => match db.conn() {
                                Ok(c) => {
                                    conn = Some(c);
                                    continue;
                                }
                                Err(e) => Err(e),
                            },
                        };
                        match result {
                            Ok(_) => {
                                waker.notify(&build_id.to_string());
                                // A long log grows SQLite's WAL; checkpoint
                                // as it goes rather than in the build's
                                // final transaction.
                                since_checkpoint += body.len();
                                if since_checkpoint >= CHECKPOINT_BYTES {
                                    since_checkpoint = 0;
                                    if let Some(c) = &mut conn {
                                        checkpoint(c);
                                    }
                                }
                                break;
                            }
                            Err(e)
                                if transient(&e)
                                    && *until.get_or_insert_with(|| Instant::now() + patience)
                                        > Instant::now() =>
                            {
                                tracing::warn!("storing output of build {build_id}: {e}; retrying");
                                conn = None;
                                std::thread::sleep(pause(
                                    attempt,
                                    until.unwrap_or_else(Instant::now),
                                ));
                            }
                            Err(e) => {
                                err.lock().unwrap().get_or_insert(e.to_string());
                                break;
                            }
                        }
                    }
                }
            })
            .expect("spawn the log writer");
        DbLogStore {
            tx: Some(tx),
            writer: Some(writer),
            error,
        }
    }

    /// Waits until everything sent is stored; returns the first error.
    pub fn finish(&mut self) -> Result<(), String> {
        self.tx.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        match self.error.lock().unwrap().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for DbLogStore {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

impl LogStore for DbLogStore {
    fn append(&mut self, stream: Stream, text: &mut String) -> Result<(), String> {
        let stream = match stream {
            Stream::Output => OutputStream::Output,
            Stream::Messages => OutputStream::Messages,
            Stream::None => return Ok(()),
        };
        if let Some(e) = self.error.lock().unwrap().clone() {
            return Err(e);
        }
        let lines =
            i32::try_from(memchr::memchr_iter(b'\n', text.as_bytes()).count()).unwrap_or(i32::MAX);
        match &self.tx {
            // The batch moves to the writer; the log starts a fresh one.
            Some(tx) => tx
                .send(Msg::Append(stream, lines, std::mem::take(text)))
                .map_err(|_| "the log writer stopped".to_string()),
            None => Err("the log is closed".into()),
        }
    }

    fn close(&mut self) -> Result<(), String> {
        self.finish()
    }

    fn sync(&mut self) -> Result<(), String> {
        let Some(tx) = &self.tx else {
            return Err("the log is closed".into());
        };
        let (done_tx, done_rx) = sync_channel(1);
        tx.send(Msg::Sync(done_tx))
            .map_err(|_| "the log writer stopped".to_string())?;
        done_rx
            .recv()
            .map_err(|_| "the log writer stopped".to_string())?;
        match self.error.lock().unwrap().clone() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
