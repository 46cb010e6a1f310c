//! The plugin host: discovery on the plugin path (through the scanner child
//! and its cache), loading through both doors, and the registry of named,
//! ordered instances the settings ask for.

mod cache;
mod catalog;
pub mod check;
pub mod host;
mod loader;
mod registry;
pub mod scanner;

pub use cache::{FileKey, ScanCache};
pub use catalog::{Catalog, CatalogEntry};
pub use host::{CallScope, HostServices, StandardHost, with_scope};
pub use loader::{Instance, Library};
pub use registry::{Configured, Problem, Registry, create_limit};
pub use scanner::{ScanAnswer, Scanner};

/// The reusable buffer output filters write replacement lines into.
pub use abi_stable::std_types::RString as LineBuf;

use crate::settings::Settings;
use std::sync::Arc;
use vespene_plugin_api::host::HostInfo;

/// The name of the scan cache in the data directory.
pub const CACHE_FILE: &str = "plugin-cache.json";

/// Everything about plugins a process needs, built once at start-up.
#[derive(Debug)]
pub struct PluginHost {
    pub catalog: Catalog,
    /// Shared by the services that call plugins (secrets, authorization,
    /// the engine).
    pub registry: Arc<Registry>,
    pub scanner: Scanner,
    /// Problems with configured entries; a server refuses to start with any.
    pub problems: Vec<Problem>,
}

/// The host facts plugins may ask for.
pub fn host_info(settings: &Settings) -> HostInfo {
    HostInfo {
        vespene_version: env!("CARGO_PKG_VERSION").to_string(),
        settings_dir: settings.settings_dir.display().to_string(),
        data_dir: settings.data_dir.display().to_string(),
        build_root: settings.build_root.display().to_string(),
        secrets_key_file: settings.secrets_key_file.display().to_string(),
    }
}

impl PluginHost {
    /// Discovers the plugin path of `settings` and builds the registry,
    /// collecting every problem.
    pub fn start(settings: &Settings, scanner: Scanner) -> PluginHost {
        let mut cache = ScanCache::load(&settings.data_dir.join(CACHE_FILE));
        let catalog = Catalog::discover(&settings.plugin_dirs(), &mut cache, &scanner);
        let services: Arc<dyn HostServices> = Arc::new(StandardHost {
            info: host_info(settings),
        });
        let (registry, problems) = Registry::build(settings, &catalog, &scanner, services);
        PluginHost {
            catalog,
            registry: Arc::new(registry),
            scanner,
            problems,
        }
    }
}
