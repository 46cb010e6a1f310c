//! Tests of the whole trigger: runs through a host that really executes
//! the command.

mod host;
mod trigger;
