//! The build engine: what happens to a build from queue to end.

pub mod log;
pub mod schedule;
pub mod triggers;
pub mod wake;
