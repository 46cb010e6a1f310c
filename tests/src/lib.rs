//! Support for the end-to-end tests: the real `vespene` binary in a sandbox
//! of its own (settings, data and plugin directories), and real plugin
//! files.

pub mod browser;
pub mod docker;
pub mod engine;
pub mod fixtures;
pub mod harness;
pub mod http;
pub mod memory;
pub mod pgcluster;
pub mod stub_http;
