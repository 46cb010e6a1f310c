//! End-to-end tests: the real `vespene` binary and real `.so` plugins.

mod accounts;
mod apply;
mod authorization;
mod bad_plugins;
mod bookkeeping;
mod builds;
mod isolation;
mod maintenance;
mod pipelines;
mod plugins;
mod schedules;
mod stress;
mod up;
mod variables;
