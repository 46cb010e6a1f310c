//! End-to-end tests: the real `vespene` binary and real `.so` plugins.

mod bad_plugins;
mod builds;
mod plugins;
