//! Wake-ups across machines through PostgreSQL's LISTEN/NOTIFY.
//!
//! diesel can read pending notifications but cannot wait for one, so the
//! listener keeps its own libpq connection (libpq is already linked for
//! diesel, and gives the same URLs, TLS and password files) and waits on
//! its socket with `poll(2)`. This is the only `unsafe` outside the plugin
//! loader; each block says why it holds.

#![allow(unsafe_code)]

use super::interrupt::{Interrupt, Interrupter, Woke};
use super::{CHANNEL, Listener, Notify, concerns};
use std::ffi::{CStr, CString};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct PgWaker {
    url: String,
    /// The process's connection pool: NOTIFY goes through it instead of a
    /// new (TLS, password) connection per wake-up.
    db: Option<crate::db::Db>,
    /// [`CHANNEL`], or another (the output channel).
    channel: &'static str,
}

impl std::fmt::Debug for PgWaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgWaker")
    }
}

/// One libpq connection, closed on drop.
struct Conn(*mut pq_sys::PGconn);

// SAFETY: a PGconn may move between threads as long as one thread uses it
// at a time, which `&mut self` guarantees.
unsafe impl Send for Conn {}

impl Drop for Conn {
    fn drop(&mut self) {
        // SAFETY: the pointer came from PQconnectdb and is finished once.
        unsafe { pq_sys::PQfinish(self.0) }
    }
}

impl Conn {
    fn open(url: &str) -> Result<Conn, String> {
        let c_url = CString::new(url).map_err(|_| "database URL contains a NUL byte")?;
        // SAFETY: a valid C string; the result is checked below.
        let raw = unsafe { pq_sys::PQconnectdb(c_url.as_ptr()) };
        if raw.is_null() {
            return Err("libpq could not allocate a connection".into());
        }
        let conn = Conn(raw);
        // SAFETY: raw is a live connection.
        if unsafe { pq_sys::PQstatus(raw) } != pq_sys::ConnStatusType::CONNECTION_OK {
            return Err(conn.error());
        }
        Ok(conn)
    }

    fn error(&self) -> String {
        // SAFETY: PQerrorMessage returns a string owned by the connection.
        let msg = unsafe { CStr::from_ptr(pq_sys::PQerrorMessage(self.0)) };
        msg.to_string_lossy().trim().to_string()
    }

    fn exec(&self, sql: &str) -> Result<(), String> {
        let c_sql = CString::new(sql).map_err(|_| "SQL contains a NUL byte")?;
        // SAFETY: live connection, valid C string; the result is cleared.
        unsafe {
            let res = pq_sys::PQexec(self.0, c_sql.as_ptr());
            let status = pq_sys::PQresultStatus(res);
            pq_sys::PQclear(res);
            match status {
                pq_sys::ExecStatusType::PGRES_COMMAND_OK
                | pq_sys::ExecStatusType::PGRES_TUPLES_OK => Ok(()),
                _ => Err(self.error()),
            }
        }
    }

    /// Reads what arrived and returns the payloads of pending notifications.
    fn drain(&self) -> Result<Vec<String>, String> {
        // SAFETY: live connection; every PGnotify is freed after copying.
        unsafe {
            if pq_sys::PQconsumeInput(self.0) == 0 {
                return Err(self.error());
            }
            let mut out = Vec::new();
            loop {
                let n = pq_sys::PQnotifies(self.0);
                if n.is_null() {
                    break;
                }
                let payload = CStr::from_ptr((*n).extra).to_string_lossy().into_owned();
                pq_sys::PQfreemem(n as *mut std::ffi::c_void);
                out.push(payload);
            }
            Ok(out)
        }
    }

    fn socket(&self) -> i32 {
        // SAFETY: live connection.
        unsafe { pq_sys::PQsocket(self.0) }
    }
}

impl PgWaker {
    pub fn new(url: &str) -> PgWaker {
        PgWaker {
            url: url.to_string(),
            db: None,
            channel: CHANNEL,
        }
    }

    /// The same connection settings on another channel.
    pub fn on_channel(&self, channel: &'static str) -> PgWaker {
        PgWaker {
            channel,
            ..self.clone()
        }
    }

    /// Sends notifications through `db`'s pooled connections.
    pub fn with_db(mut self, db: crate::db::Db) -> PgWaker {
        self.db = Some(db);
        self
    }

    pub fn listen(&self, pool: &str) -> Result<PgListener, String> {
        let conn = Conn::open(&self.url)?;
        conn.exec(&format!("LISTEN {}", self.channel))?;
        Ok(PgListener {
            conn: Some(conn),
            url: self.url.clone(),
            channel: self.channel,
            pool: pool.to_string(),
            interrupt: Interrupt::new().map_err(|e| e.to_string())?,
        })
    }
}

impl Notify for PgWaker {
    fn notify(&self, pool: &str) {
        if let Some(db) = &self.db {
            use diesel::RunQueryDsl;
            use diesel::sql_types::Text;
            let sent = db
                .conn()
                .map_err(|e| e.to_string())
                .and_then(|mut c| match &mut *c {
                    crate::db::DbConn::Postgres(pg) => {
                        diesel::sql_query("SELECT pg_notify($1, $2)")
                            .bind::<Text, _>(self.channel)
                            .bind::<Text, _>(pool)
                            .execute(pg)
                            .map(|_| ())
                            .map_err(|e| e.to_string())
                    }
                    crate::db::DbConn::Sqlite(_) => Err("not a PostgreSQL pool".into()),
                });
            match sent {
                Ok(()) => return,
                Err(e) => tracing::debug!("NOTIFY through the pool failed: {e}"),
            }
        }
        // Without a pool (or when it failed): a connection of its own.
        match Conn::open(&self.url) {
            Ok(conn) => {
                let payload = pool.replace('\'', "''");
                if let Err(e) = conn.exec(&format!("NOTIFY {}, '{payload}'", self.channel)) {
                    tracing::debug!("NOTIFY failed: {e}");
                }
            }
            Err(e) => tracing::debug!("NOTIFY connection failed: {e}"),
        }
    }
}

pub struct PgListener {
    conn: Option<Conn>,
    url: String,
    channel: &'static str,
    pool: String,
    interrupt: Interrupt,
}

impl PgListener {
    /// Waits until a notification that `wanted` accepts arrives (keeping
    /// every payload read in `out`), an interruption, or the timeout.
    fn wait_for(
        &mut self,
        timeout: Duration,
        out: &mut Vec<String>,
        wanted: impl Fn(&str) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.conn.is_none() {
                // Reconnect after a lost connection; until then, poll.
                match Conn::open(&self.url).and_then(|c| {
                    c.exec(&format!("LISTEN {}", self.channel))?;
                    Ok(c)
                }) {
                    Ok(c) => self.conn = Some(c),
                    Err(_) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        return self.interrupt.wait(None, left) == Woke::Interrupted;
                    }
                }
            }
            let conn = self.conn.as_ref().expect("connected above");
            match conn.drain() {
                Ok(payloads) => {
                    let woken = payloads.iter().any(|p| wanted(p));
                    out.extend(payloads);
                    if woken {
                        return true;
                    }
                }
                Err(_) => {
                    self.conn = None;
                    continue;
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let fd = conn.socket();
            if fd < 0 {
                self.conn = None;
                continue;
            }
            // SAFETY: the socket belongs to the live connection, which
            // outlives this poll.
            let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
            match self.interrupt.wait(Some(borrowed), left) {
                Woke::Ready => continue,
                Woke::Interrupted => return true,
                Woke::TimedOut => return false,
            }
        }
    }
}

impl Listener for PgListener {
    fn wait(&mut self, timeout: Duration) -> bool {
        let pool = self.pool.clone();
        self.wait_for(timeout, &mut Vec::new(), |p| concerns(p, &pool))
    }

    fn wait_payloads(&mut self, timeout: Duration, out: &mut Vec<String>) -> bool {
        self.wait_for(timeout, out, |_| true)
    }

    fn interrupter(&self) -> Interrupter {
        self.interrupt.interrupter()
    }
}
