//! The registry: the named, ordered plugin instances the settings ask for,
//! built from the catalog. Every problem is collected and reported at once,
//! each naming the settings file, the section and the entry.

use super::catalog::Catalog;
use super::host::HostServices;
use super::loader::{Instance, Library};
use super::scanner::Scanner;
use crate::engine::call_guard::{self, CallGuard, Deadline};
use crate::settings::{PluginEntry, Section, Settings};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use vespene_plugin_api::{ErrorCode, PluginError};

/// A problem with one configured entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// "FILE, section [plugins.S], entry 'E'".
    pub location: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// One configured entry with its loaded plugin.
pub struct Configured {
    pub section: Section,
    pub entry: PluginEntry,
    pub library: Arc<Library>,
    instance: Instance,
    services: Arc<dyn HostServices>,
    /// How long `create` may take (`[worker] create_call_seconds`).
    create_limit: Duration,
}

impl fmt::Debug for Configured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Configured")
            .field("section", &self.section)
            .field("name", &self.entry.name)
            .field("plugin", &self.entry.plugin)
            .finish()
    }
}

impl Configured {
    /// The entry's name (`publish`).
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// The instance made when the registry was built (parameters already
    /// accepted). Shared by every caller.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// A fresh instance with the same parameters (output filters keep
    /// per-build state, so the engine makes one per build).
    pub fn new_instance(&self) -> Result<Instance, PluginError> {
        let _call = CallGuard::enter(
            call_guard::label(&self.section.kind().to_string(), self.name(), "create"),
            Some(Deadline::after(
                self.create_limit,
                create_reason(self.create_limit, ""),
            )),
        );
        self.library
            .create(&self.entry.name, &self.entry.params, self.services.clone())
    }
}

/// How long one `create` may take.
pub fn create_limit(settings: &Settings) -> Duration {
    Duration::from_secs(settings.worker.create_call_seconds.max(1))
}

/// "did not return within 10 s ([worker] create_call_seconds)…".
fn create_reason(limit: Duration, tail: &str) -> &'static str {
    call_guard::intern(format!(
        "did not return within {} s ([worker] create_call_seconds){tail}",
        limit.as_secs()
    ))
}

/// The configured plugins of every section, in the order written.
#[derive(Debug, Default)]
pub struct Registry {
    sections: BTreeMap<Section, Vec<Configured>>,
}

impl Registry {
    /// Loads and instantiates every entry of `settings`. Entries with a
    /// problem are left out and reported.
    pub fn build(
        settings: &Settings,
        catalog: &Catalog,
        scanner: &Scanner,
        services: Arc<dyn HostServices>,
    ) -> (Registry, Vec<Problem>) {
        let mut registry = Registry::default();
        let mut problems = Vec::new();
        let limit = create_limit(settings);
        for (section, entry) in settings.plugins.iter() {
            match Self::configure(section, entry, catalog, scanner, services.clone(), limit) {
                Ok(c) => registry.sections.entry(section).or_default().push(c),
                Err(message) => problems.push(Problem {
                    location: entry.location(section),
                    message,
                }),
            }
        }
        (registry, problems)
    }

    fn configure(
        section: Section,
        entry: &PluginEntry,
        catalog: &Catalog,
        scanner: &Scanner,
        services: Arc<dyn HostServices>,
        create_limit: Duration,
    ) -> Result<Configured, String> {
        if catalog.find(&entry.plugin).is_none() {
            let searched: Vec<String> = catalog
                .dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            return Err(format!(
                "no plugin named {} on the plugin path ({})",
                entry.plugin,
                if searched.is_empty() {
                    "no directories".to_string()
                } else {
                    searched.join(":")
                }
            ));
        }
        let library = catalog.open(&entry.plugin, scanner)?;
        let kind = library.manifest.kind;
        if kind != section.kind() {
            return Err(format!(
                "{} is a {kind} plugin, but [plugins.{section}] takes {} plugins",
                entry.plugin,
                section.kind()
            ));
        }
        let _call = CallGuard::enter(
            call_guard::intern(format!(
                "plugin {} (entry '{}' of [plugins.{section}], file {}) in create",
                entry.plugin,
                entry.name,
                library.path.display()
            )),
            Some(Deadline::after(
                create_limit,
                create_reason(create_limit, " and the command was ended"),
            )),
        );
        let instance = library
            .create(&entry.name, &entry.params, services.clone())
            .map_err(|e| match e.code {
                ErrorCode::InvalidParams => {
                    format!("{} refused its parameters: {}", entry.plugin, e.message)
                }
                _ => format!("{} could not be started: {e}", entry.plugin),
            })?;
        Ok(Configured {
            section,
            entry: entry.clone(),
            library,
            instance,
            services,
            create_limit,
        })
    }

    /// Loads and instantiates the one entry `name` of `section` (what
    /// `vespene plugins check` runs in a child per entry).
    pub fn check_entry(
        settings: &Settings,
        section: Section,
        name: &str,
        catalog: &Catalog,
        scanner: &Scanner,
        services: Arc<dyn HostServices>,
    ) -> Result<(), String> {
        let entry = settings
            .plugins
            .iter()
            .find(|(s, e)| *s == section && e.name == name)
            .map(|(_, e)| e)
            .ok_or_else(|| format!("no entry '{name}' in [plugins.{section}]"))?;
        Self::configure(
            section,
            entry,
            catalog,
            scanner,
            services,
            create_limit(settings),
        )
        .map(drop)
    }

    /// The entries of a section, in the order written.
    /// Every configured entry, section by section.
    pub fn entries(&self) -> impl Iterator<Item = &Configured> {
        self.sections.values().flatten()
    }

    pub fn section(&self, section: Section) -> &[Configured] {
        self.sections.get(&section).map_or(&[], Vec::as_slice)
    }

    /// The entry called `name` of a section selected by name (`scm`,
    /// `isolation` ...).
    pub fn named(&self, section: Section, name: &str) -> Option<&Configured> {
        self.section(section).iter().find(|c| c.entry.name == name)
    }

    /// Every configured entry.
    pub fn iter(&self) -> impl Iterator<Item = &Configured> {
        self.sections.values().flatten()
    }
}
