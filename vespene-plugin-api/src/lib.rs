//! The plugin ABI of Vespene.
//!
//! A plugin is a `cdylib` that the server loads from its plugin path. This
//! crate is everything a plugin author needs:
//!
//! * [`abi`]: the frozen binary layouts of the two doors: the abi_stable
//!   root module ([`abi::PluginModule`], interface 1.0.0) for Rust plugins,
//!   and the plain C table ([`abi::VpPluginV1`], `include/vespene_plugin.h`)
//!   for plugins in any language;
//! * [`kinds`]: one module per plugin kind with its typed trait, its
//!   operation names and its JSON request/response types;
//! * [`export_plugin!`]: the macro that exports a typed plugin and catches
//!   every panic at the boundary, so plugin authors write no `unsafe`;
//! * [`Host`]: services the host lends to plugins (running a command with
//!   streamed output, appending to the build's messages, logging);
//! * `jinja` (cargo feature `jinja`, off by default): Jinja2 templates
//!   rendered as Python's Jinja2 3.1 renders them, for plugins (and the
//!   core) that take templates written for the original Vespene.
//!
//! See `docs/plugin-guide.md` in the repository for a walk-through.

pub mod abi;
pub mod context;
mod error;
pub mod export;
pub mod host;
#[cfg(feature = "jinja")]
pub mod jinja;
pub mod kinds;
mod manifest;
pub mod testing;

pub use context::*;
pub use error::{ErrorCode, PluginError};
pub use export::{CreateContext, LineAction, LineOut, Plugin};
pub use host::{Host, LogLevel, RunOutcome, RunRequest, Stream};
pub use kinds::authorization::AuthorizationPlugin;
pub use kinds::autoscale_executor::AutoscaleExecutor;
pub use kinds::autoscale_planner::AutoscalePlanner;
pub use kinds::isolation::IsolationPlugin;
pub use kinds::organizations::OrganizationImporter;
pub use kinds::output::OutputFilter;
pub use kinds::scm::ScmPlugin;
pub use kinds::secrets::SecretsPlugin;
pub use kinds::trigger::TriggerPlugin;
pub use kinds::variables::VariablesPlugin;
pub use manifest::{ABI_MAJOR, ApiVersion, Kind, Manifest, is_dotted_name};
pub use serde_json;

/// What the export macro's expansion refers to. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable::library::{
        __call_root_module_loader as call_root_module_loader, CheckTypeLayout, LibHeader,
        RootModuleResult,
    };
    pub use abi_stable::std_types::RStr;
}
