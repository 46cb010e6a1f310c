//! `vespene cleanup` (reference §9.1, "Decisions" 12): removes old builds
//! from the database and old build roots from this host's `build_root`.
//!
//! * Builds: every build *queued* before now − N days is deleted with its
//!   output (references to it are cleared), except builds that are still
//!   queued, running or stopping. The original deleted the builds queued
//!   *after* the cutoff, i.e. the newest ones (a bug).
//! * Build roots: every directory directly under `build_root` whose
//!   modification time is older than N days is deleted, except the roots
//!   of active builds (a long build's directory may not change for days).
//!   Symbolic links and plain files are left alone, and nothing below a
//!   root is followed out of it. Build roots are per host: run the command
//!   on every worker host.
//!
//! N must be at least 1: `--days 0` would remove the build that finished a
//! second ago.

use super::EngineError;
use crate::db::builds::{BuildStatus, delete_builds_where};
use crate::db::schema::builds as b;
use crate::db::{DbConn, write_tx};
use chrono::{Duration as ChronoDuration, NaiveDateTime};
use diesel::prelude::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What to clean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupOptions {
    pub remove_builds: bool,
    pub remove_build_roots: bool,
    /// Older than this many days (at least 1).
    pub days: i64,
}

impl CleanupOptions {
    /// Refuses a request that would do nothing or remove recent work.
    pub fn check(&self) -> Result<(), EngineError> {
        if !self.remove_builds && !self.remove_build_roots {
            return Err(EngineError::Worker(
                "nothing to clean: give --remove-builds, --remove-build-roots or both".into(),
            ));
        }
        if self.days < 1 {
            return Err(EngineError::Worker(format!(
                "--days must be at least 1 (got {}): cleanup never removes today's builds",
                self.days
            )));
        }
        Ok(())
    }
}

/// What a cleanup removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Builds deleted (`None` when not asked).
    pub builds: Option<usize>,
    /// Build roots deleted (`None` when not asked).
    pub build_roots: Option<usize>,
    /// Build roots that could not be deleted, with the reason.
    pub problems: Vec<String>,
}

/// The statuses of builds that are never removed.
const ACTIVE: [&str; 3] = ["QUEUED", "RUNNING", "ABORTING"];

/// Deletes the builds queued before `cutoff` that are not active; returns
/// how many.
pub fn remove_builds(conn: &mut DbConn, cutoff: NaiveDateTime) -> Result<usize, EngineError> {
    debug_assert_eq!(ACTIVE[0], BuildStatus::Queued.as_str());
    let n = write_tx(conn, |conn| -> Result<usize, EngineError> {
        Ok(delete_builds_where!(
            conn,
            b::queued_time.lt(cutoff).and(b::status.ne_all(ACTIVE))
        ))
    })?;
    Ok(n)
}

/// The ids of the builds that are still active (their roots are kept).
fn active_ids(conn: &mut DbConn) -> Result<Vec<i64>, EngineError> {
    Ok(b::table
        .filter(b::status.eq_any(ACTIVE))
        .select(b::id)
        .load(conn)
        .map_err(crate::db::DbError::from)?)
}

/// Deletes the directories directly under `build_root` last modified
/// before `cutoff`, except those named after a build in `keep`. Returns
/// how many were deleted and the problems met.
pub fn remove_build_roots(
    build_root: &Path,
    cutoff: SystemTime,
    keep: &[i64],
) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let entries = match std::fs::read_dir(build_root) {
        Ok(e) => e,
        // No build root yet: nothing was ever built on this host.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (0, problems),
        Err(e) => {
            problems.push(format!("cannot read {}: {e}", build_root.display()));
            return (0, problems);
        }
    };
    let mut removed = 0;
    let mut old: Vec<PathBuf> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        // symlink_metadata: a link is never followed, nor removed.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        let active = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|id| keep.contains(&id));
        if active {
            continue;
        }
        match meta.modified() {
            Ok(t) if t < cutoff => old.push(path),
            Ok(_) => {}
            Err(e) => problems.push(format!("{}: {e}", path.display())),
        }
    }
    old.sort();
    for path in old {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed += 1,
            Err(e) => problems.push(format!("cannot delete {}: {e}", path.display())),
        }
    }
    (removed, problems)
}

/// Runs a cleanup on `conn` and `build_root`, relative to `now`.
pub fn cleanup(
    conn: &mut DbConn,
    build_root: &Path,
    options: &CleanupOptions,
    now: NaiveDateTime,
) -> Result<CleanupReport, EngineError> {
    options.check()?;
    let mut report = CleanupReport::default();
    let age = ChronoDuration::try_days(options.days)
        .ok_or_else(|| EngineError::Worker(format!("--days {} is too large", options.days)))?;
    let cutoff = now.checked_sub_signed(age).unwrap_or(NaiveDateTime::MIN);
    if options.remove_builds {
        report.builds = Some(remove_builds(conn, cutoff)?);
    }
    if options.remove_build_roots {
        let keep = active_ids(conn)?;
        let secs = u64::try_from(options.days)
            .unwrap_or(u64::MAX)
            .saturating_mul(86_400);
        let cutoff = SystemTime::from(now.and_utc())
            .checked_sub(Duration::from_secs(secs))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let (n, problems) = remove_build_roots(build_root, cutoff, &keep);
        report.build_roots = Some(n);
        report.problems = problems;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    //! Unit tests: the options and the build-root walk (the database part
    //! is covered end to end).

    use super::*;

    fn age(path: &Path, days: u64) {
        let t = SystemTime::now() - Duration::from_secs(days * 86_400);
        std::fs::File::open(path).unwrap().set_modified(t).unwrap();
    }

    #[test]
    fn options_need_a_flag_and_a_day() {
        let mut o = CleanupOptions {
            remove_builds: false,
            remove_build_roots: false,
            days: 3,
        };
        assert!(
            o.check()
                .unwrap_err()
                .to_string()
                .contains("nothing to clean")
        );
        o.remove_builds = true;
        assert!(o.check().is_ok());
        o.days = 0;
        assert!(o.check().unwrap_err().to_string().contains("at least 1"));
        o.days = -2;
        assert!(o.check().is_err());
    }

    #[test]
    fn only_old_inactive_directories_go() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["1", "2", "3", "4", "new"] {
            std::fs::create_dir(root.join(name)).unwrap();
            std::fs::write(root.join(name).join("f"), "x").unwrap();
        }
        std::fs::write(root.join("old-file"), "x").unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("precious"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("5")).unwrap();
        for name in ["1", "2", "3", "old-file"] {
            age(&root.join(name), 10);
        }
        age(&root.join("4"), 2);
        let cutoff = SystemTime::now() - Duration::from_secs(5 * 86_400);
        // Build 3 is still running: its root stays.
        let (n, problems) = remove_build_roots(root, cutoff, &[3]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(n, 2);
        assert!(!root.join("1").exists() && !root.join("2").exists());
        for kept in ["3", "4", "new", "old-file", "5"] {
            assert!(std::fs::symlink_metadata(root.join(kept)).is_ok(), "{kept}");
        }
        assert!(outside.path().join("precious").exists());
    }

    #[test]
    fn a_missing_build_root_is_nothing_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let (n, problems) = remove_build_roots(&dir.path().join("nope"), SystemTime::now(), &[]);
        assert_eq!((n, problems.len()), (0, 0));
    }
}
