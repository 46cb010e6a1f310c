//! Writes that record a build's result (its final state, its log, the
//! reason it failed) survive a database that goes away for a while: each is
//! retried on a fresh connection, with backoff, until the orphan deadline
//! (`[worker] orphan_after_seconds`), after which a sweeper would have
//! recorded the build as orphaned anyway.

use super::EngineError;
use crate::db::{Db, DbConn, DbError};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use std::time::{Duration, Instant};

/// The first pause between two tries; doubled each time up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Whether `e` may go away by itself: the server is unreachable or
/// restarting, the connection broke, or the database is busy. A refused
/// write (a constraint, a missing row) is not retried.
pub fn transient(e: &DbError) -> bool {
    match e {
        DbError::Connect(_) => true,
        DbError::Query(q) => transient_query(q),
        _ => false,
    }
}

fn transient_query(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(kind, info) => match kind {
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::SerializationFailure => true,
            DatabaseErrorKind::Unknown => {
                let m = info.message().to_ascii_lowercase();
                [
                    "locked",
                    "busy",
                    "connection",
                    "terminating",
                    "shutting down",
                    "starting up",
                    "recovery",
                ]
                .iter()
                .any(|w| m.contains(w))
            }
            _ => false,
        },
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

fn transient_engine(e: &EngineError) -> bool {
    matches!(e, EngineError::Database(d) if transient(d))
}

/// The pause before try `attempt` (1-based), never past `until`.
pub fn pause(attempt: u32, until: Instant) -> Duration {
    let pause = FIRST_PAUSE
        .saturating_mul(1 << attempt.saturating_sub(1).min(8))
        .min(MAX_PAUSE);
    pause.min(until.saturating_duration_since(Instant::now()))
}

/// Runs `write` on a fresh connection of `db` until it succeeds, fails for
/// a reason that will not go away, or `until` passes; `what` names the
/// write in the warnings.
pub fn retrying<T>(
    db: &Db,
    until: Instant,
    what: &str,
    mut write: impl FnMut(&mut DbConn) -> Result<T, EngineError>,
) -> Result<T, EngineError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = db
            .conn()
            .map_err(EngineError::from)
            .and_then(|mut conn| write(&mut conn));
        match result {
            Err(e) if transient_engine(&e) && Instant::now() < until => {
                tracing::warn!("{what}: {e}; retrying");
                std::thread::sleep(pause(attempt, until));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_and_never_pass_the_deadline() {
        let far = Instant::now() + Duration::from_secs(3600);
        assert_eq!(pause(1, far), FIRST_PAUSE);
        assert_eq!(pause(2, far), FIRST_PAUSE * 2);
        assert_eq!(pause(30, far), MAX_PAUSE);
        assert_eq!(pause(3, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn only_errors_that_can_pass_are_transient() {
        assert!(transient(&DbError::Connect("refused".into())));
        assert!(!transient(&DbError::not_found("build", 1)));
        assert!(!transient(&DbError::Query(DieselError::NotFound)));
        assert!(transient(&DbError::Query(DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_string()),
        ))));
    }
}
