//! The build engine: what happens to a build from queue to end.
//!
//! * [`queue`]: starting a project (variables, template, queueing) and
//!   stopping a build;
//! * [`claim`]: a worker claiming a build atomically, on both backends;
//! * [`buildroot`]: each build's private working directory, made and removed;
//! * [`runner`]: running one claimed build (build root, triggers, checkout,
//!   isolation, output, final state);
//! * [`worker`]: the worker loop (registration, claims, orphan sweeps,
//!   wake-ups); the running build's heartbeats come from [`runner`];
//! * [`pipeline`]: advancing a pipeline after a successful build;
//! * [`import`]: organization imports (`.vespene` files), on workers'
//!   importer threads and `vespene import`;
//! * [`cleanup`], [`tutorial`], [`autoscaler`]: the maintenance commands
//!   (`vespene cleanup`, `vespene tutorial`, `vespene autoscaler`);
//! * [`scheduler`] and [`schedule`]: schedules, run by one worker at a
//!   time;
//! * [`log`], [`store`], [`persist`], [`context`], [`ssh`], [`triggers`], [`wake`]: the
//!   parts they share.

pub mod autoscaler;
pub mod buildroot;
pub mod call_guard;
pub mod claim;
pub mod cleanup;
pub mod contained;
pub mod context;
pub mod follow;
pub mod held;
pub mod import;
pub mod log;
pub mod persist;
pub mod pipeline;
pub mod queue;
pub mod runner;
pub mod schedule;
pub mod scheduler;
pub mod ssh;
pub mod store;
pub mod trigger_logins;
pub mod triggers;
pub mod tutorial;
pub mod wake;
pub mod worker;

use crate::db::DbError;
use crate::ops::OpError;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Database(#[from] DbError),
    /// The project has a build running.
    #[error("{0}")]
    Busy(String),
    /// The build has already ended.
    #[error("{0}")]
    NotStoppable(String),
    /// Something a worker needs is missing or broken.
    #[error("{0}")]
    Worker(String),
}

impl From<diesel::result::Error> for EngineError {
    fn from(e: diesel::result::Error) -> Self {
        EngineError::Database(e.into())
    }
}
