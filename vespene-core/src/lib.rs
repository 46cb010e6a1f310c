//! Vespene's domain and engine: settings, the plugin host, and (in later
//! modules) the database, builds and workers. The `vespene` binary is a thin
//! layer over this crate.

pub mod accounts;
pub mod app;
pub mod authz;
pub mod config_as_code;
pub mod db;
pub mod engine;
pub mod ops;
pub mod plugins;
pub mod private_data;
pub mod process;
pub mod secrets;
pub mod settings;
