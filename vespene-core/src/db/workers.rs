//! Workers (reference §1.11): one registration record per worker host,
//! updated at the start of every build.

use super::schema::workers::{self, dsl as t};
use super::{DbConn, DbError, now, write_tx};
use chrono::NaiveDateTime;
use diesel::prelude::*;

const NOUN: &str = "worker";

/// A stored worker registration.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = workers)]
pub struct Worker {
    pub id: i64,
    /// From the worker id file.
    pub worker_uid: String,
    pub hostname: String,
    pub port: i32,
    pub build_root: String,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub first_checkin: NaiveDateTime,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub last_checkin: NaiveDateTime,
    pub fileserving_enabled: bool,
}

/// What a worker reports when it checks in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub worker_uid: String,
    pub hostname: String,
    pub port: i32,
    pub build_root: String,
    pub fileserving_enabled: bool,
}

/// Creates or refreshes the record of `reg.worker_uid`; returns it.
pub fn register(conn: &mut DbConn, reg: &Registration) -> Result<Worker, DbError> {
    if reg.worker_uid.trim().is_empty() {
        return Err(DbError::invalid(NOUN, "worker_uid", "is required"));
    }
    // Two workers of one host starting together on PostgreSQL both find no
    // row and both insert: the second insert breaks the unique key. The
    // row exists then, so the second try updates it.
    match register_once(conn, reg) {
        Err(DbError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => register_once(conn, reg),
        other => other,
    }
}

fn register_once(conn: &mut DbConn, reg: &Registration) -> Result<Worker, DbError> {
    write_tx(conn, |conn| {
        let time = now();
        let existing: Option<i64> = t::workers
            .filter(t::worker_uid.eq(&reg.worker_uid))
            .select(t::id)
            .first(conn)
            .optional()?;
        let fields = (
            t::hostname.eq(&reg.hostname),
            t::port.eq(reg.port),
            t::build_root.eq(&reg.build_root),
            t::fileserving_enabled.eq(reg.fileserving_enabled),
            t::last_checkin.eq(time),
        );
        let id = match existing {
            Some(id) => {
                diesel::update(t::workers.find(id))
                    .set(fields)
                    .execute(conn)?;
                id
            }
            None => diesel::insert_into(t::workers)
                .values((
                    t::worker_uid.eq(&reg.worker_uid),
                    t::first_checkin.eq(time),
                    fields,
                ))
                .returning(t::id)
                .get_result(conn)?,
        };
        get(conn, id)
    })
}

/// Records that worker `id` is alive now (its `last_checkin`): every
/// sweep of an idle worker and every heartbeat of a running build.
pub fn check_in(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    diesel::update(t::workers.find(id))
        .set(t::last_checkin.eq(now()))
        .execute(conn)?;
    Ok(())
}

/// Worker `id`.
pub fn get(conn: &mut DbConn, id: i64) -> Result<Worker, DbError> {
    t::workers
        .find(id)
        .select(Worker::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found(NOUN, id))
}

/// Every worker, by host name.
pub fn list(conn: &mut DbConn) -> Result<Vec<Worker>, DbError> {
    Ok(t::workers
        .select(Worker::as_select())
        .order((t::hostname.asc(), t::id.asc()))
        .load(conn)?)
}

/// Deletes worker `id`; its builds forget it.
pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    use super::schema::builds as b;
    write_tx(conn, |conn| {
        diesel::update(b::table.filter(b::worker_id.eq(id)))
            .set(b::worker_id.eq(None::<i64>))
            .execute(conn)?;
        if diesel::delete(t::workers.find(id)).execute(conn)? == 0 {
            return Err(DbError::not_found(NOUN, id));
        }
        Ok(())
    })
}
