//! One layer of settings (the built-in defaults, a file, or an environment
//! variable), decoded on its own so errors name where they came from.

use super::plugins::{PluginEntry, Section, parse_entry};
use super::{Settings, SettingsError};
use indexmap::IndexMap;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// The built-in defaults, compiled in.
pub(super) const BUILTIN_DEFAULTS: &str = include_str!("defaults.toml");

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Source {
    #[default]
    BuiltIn,
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::BuiltIn => f.write_str("built-in defaults"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(k) => write!(f, "environment variable {k}"),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseLayer {
    url: Option<String>,
    pool_size: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerLayer {
    bind: Option<String>,
    secure_cookies: Option<bool>,
    session_hours: Option<u64>,
    login_attempts: Option<u32>,
    login_window_seconds: Option<u64>,
    metrics: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileservingLayer {
    enabled: Option<bool>,
    port: Option<u16>,
    hostname: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkerLayer {
    heartbeat_seconds: Option<u64>,
    orphan_after_seconds: Option<u64>,
    poll_seconds: Option<f64>,
    worker_id_file: Option<String>,
    max_output_variables: Option<usize>,
    max_output_variable_bytes: Option<usize>,
    contain_plugin_calls: Option<bool>,
    trigger_call_seconds: Option<u64>,
    output_call_seconds: Option<u64>,
    variables_call_seconds: Option<u64>,
    create_call_seconds: Option<u64>,
}

/// Every setting, all optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    data_dir: Option<PathBuf>,
    plugin_path: Option<Vec<PathBuf>>,
    secrets_key_file: Option<PathBuf>,
    build_root: Option<PathBuf>,
    keep_build_roots: Option<bool>,
    database: Option<DatabaseLayer>,
    server: Option<ServerLayer>,
    fileserving: Option<FileservingLayer>,
    worker: Option<WorkerLayer>,
    buildroot_web_link: Option<String>,
    time_display_format: Option<String>,
    default_page_size: Option<u32>,
    allow_ui_user_creation: Option<bool>,
    allow_ui_group_creation: Option<bool>,
    log_level: Option<String>,
    plugins: Option<IndexMap<String, IndexMap<String, toml::Value>>>,
}

/// A decoded layer, ready to apply.
pub(super) struct SettingsLayer {
    raw: Raw,
    plugin_changes: Vec<(Section, String, Option<PluginEntry>)>,
    /// Relative paths are taken relative to this directory.
    base: Option<PathBuf>,
}

impl SettingsLayer {
    pub(super) fn parse(text: &str, source: Source) -> Result<SettingsLayer, SettingsError> {
        let raw: Raw = toml::from_str(text).map_err(|e| SettingsError::Invalid {
            source_name: source.to_string(),
            message: one_paragraph(&e.to_string()),
        })?;
        let base = match &source {
            Source::File(p) => settings_dir_of(p),
            _ => None,
        };
        Self::finish(raw, source, base)
    }

    /// The layer of one `VESPENE_*` variable, or `None` for variables that
    /// are not settings.
    pub(super) fn from_env(key: &str, value: &str) -> Result<Option<SettingsLayer>, SettingsError> {
        let Some(rest) = key.strip_prefix("VESPENE_") else {
            return Ok(None);
        };
        if key == super::SETTINGS_DIR_ENV
            || rest.starts_with("INTERNAL_")
            || rest.starts_with("TEST_")
            || rest.is_empty()
        {
            return Ok(None);
        }
        let source = Source::Env(key.to_string());
        let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
        // A value is TOML when it parses as one (numbers, booleans, arrays),
        // else a plain string.
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut node = parsed;
        for segment in path.iter().rev() {
            let mut table = toml::Table::new();
            table.insert(segment.clone(), node);
            node = toml::Value::Table(table);
        }
        let raw = Raw::deserialize(node).map_err(|e| SettingsError::Invalid {
            source_name: source.to_string(),
            message: one_paragraph(&e.to_string()),
        })?;
        Self::finish(raw, source, None).map(Some)
    }

    fn finish(
        mut raw: Raw,
        source: Source,
        base: Option<PathBuf>,
    ) -> Result<SettingsLayer, SettingsError> {
        let mut plugin_changes = Vec::new();
        if let Some(sections) = raw.plugins.take() {
            for (section_name, entries) in sections {
                let section =
                    Section::parse(&section_name).ok_or_else(|| SettingsError::Invalid {
                        source_name: source.to_string(),
                        message: format!(
                            "unknown plugin section [plugins.{section_name}] (the sections are {})",
                            Section::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    })?;
                for (name, value) in entries {
                    let entry = parse_entry(&source, section, &name, &value)?;
                    plugin_changes.push((section, name, entry));
                }
            }
        }
        Ok(SettingsLayer {
            raw,
            plugin_changes,
            base,
        })
    }

    pub(super) fn apply_to(self, s: &mut Settings) {
        let resolve = |p: PathBuf| match &self.base {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        };
        let r = self.raw;
        if let Some(v) = r.data_dir {
            s.data_dir = resolve(v);
        }
        if let Some(v) = r.plugin_path {
            s.plugin_path = v.into_iter().map(resolve).collect();
        }
        if let Some(v) = r.secrets_key_file {
            s.secrets_key_file = resolve(v);
            s.named.secrets_key_file = true;
        }
        if let Some(v) = r.build_root {
            s.build_root = v;
            s.named.build_root = true;
        }
        set(&mut s.keep_build_roots, r.keep_build_roots);
        if let Some(d) = r.database {
            set(&mut s.database.url, d.url);
            set(&mut s.database.pool_size, d.pool_size);
        }
        if let Some(v) = r.server {
            set(&mut s.server.bind, v.bind);
            set(&mut s.server.secure_cookies, v.secure_cookies);
            set(&mut s.server.session_hours, v.session_hours);
            set(&mut s.server.login_attempts, v.login_attempts);
            set(&mut s.server.login_window_seconds, v.login_window_seconds);
            set(&mut s.server.metrics, v.metrics);
        }
        if let Some(f) = r.fileserving {
            set(&mut s.fileserving.enabled, f.enabled);
            set(&mut s.fileserving.port, f.port);
            set(&mut s.fileserving.hostname, f.hostname);
            set(&mut s.fileserving.url, f.url);
        }
        if let Some(w) = r.worker {
            set(&mut s.worker.heartbeat_seconds, w.heartbeat_seconds);
            set(&mut s.worker.orphan_after_seconds, w.orphan_after_seconds);
            set(&mut s.worker.poll_seconds, w.poll_seconds);
            set(&mut s.worker.worker_id_file, w.worker_id_file);
            set(&mut s.worker.max_output_variables, w.max_output_variables);
            set(
                &mut s.worker.max_output_variable_bytes,
                w.max_output_variable_bytes,
            );
            set(&mut s.worker.contain_plugin_calls, w.contain_plugin_calls);
            set(&mut s.worker.trigger_call_seconds, w.trigger_call_seconds);
            set(&mut s.worker.output_call_seconds, w.output_call_seconds);
            set(
                &mut s.worker.variables_call_seconds,
                w.variables_call_seconds,
            );
            set(&mut s.worker.create_call_seconds, w.create_call_seconds);
        }
        set(&mut s.buildroot_web_link, r.buildroot_web_link);
        set(&mut s.time_display_format, r.time_display_format);
        set(&mut s.default_page_size, r.default_page_size);
        set(&mut s.allow_ui_user_creation, r.allow_ui_user_creation);
        set(&mut s.allow_ui_group_creation, r.allow_ui_group_creation);
        set(&mut s.log_level, r.log_level);
        for (section, name, entry) in self.plugin_changes {
            s.plugins.apply(section, &name, entry);
        }
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// The settings directory a file belongs to (`settings.d/x.toml` → its
/// parent's parent).
fn settings_dir_of(file: &Path) -> Option<PathBuf> {
    let parent = file.parent()?;
    if parent.file_name().is_some_and(|n| n == "settings.d") {
        parent.parent().map(Path::to_path_buf)
    } else {
        Some(parent.to_path_buf())
    }
}

/// toml's errors span several lines with a source excerpt; keep them but
/// fold them into one readable paragraph.
fn one_paragraph(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// `settings.toml` then `settings.d/*.toml` in name order; missing ones are
/// skipped.
pub(super) fn settings_files(dir: &Path) -> Result<Vec<PathBuf>, SettingsError> {
    let mut files = Vec::new();
    let main = dir.join("settings.toml");
    if main.is_file() {
        files.push(main);
    }
    let d = dir.join("settings.d");
    match std::fs::read_dir(&d) {
        Ok(entries) => {
            let mut more: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
                .collect();
            more.sort();
            files.extend(more);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(SettingsError::Io { path: d, err }),
    }
    Ok(files)
}
