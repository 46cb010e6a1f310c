//! Vespene's domain and engine: settings, the plugin host, and (in later
//! modules) the database, builds and workers. The `vespene` binary is a thin
//! layer over this crate.

pub mod plugins;
pub mod process;
pub mod settings;
