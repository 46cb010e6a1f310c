//! The build engine: what happens to a build from queue to end.

pub mod triggers;
