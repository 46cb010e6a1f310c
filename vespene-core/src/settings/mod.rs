//! Settings: TOML, layered (reference "Decisions" §1).
//!
//! Built-in defaults, then `<settings dir>/settings.toml`, then
//! `<settings dir>/settings.d/*.toml` in name order, then `VESPENE_*`
//! environment variables (`__` separates nested keys:
//! `VESPENE_DATABASE__URL`); later wins. Each layer is decoded on its own
//! with unknown keys refused, so an error names the file (or variable) and
//! the key. This is the only module that reads the environment.

mod layer;
mod plugins;

pub use layer::Source;
pub use plugins::{PluginEntry, PluginSections, Section};

use layer::SettingsLayer;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Environment variable naming the settings directory.
pub const SETTINGS_DIR_ENV: &str = "VESPENE_SETTINGS_DIR";
/// Environment variable adding directories to the plugin path.
pub const PLUGIN_PATH_ENV: &str = "VESPENE_PLUGIN_PATH";
/// Where packaged settings live.
pub const DEFAULT_SETTINGS_DIR: &str = "/etc/vespene";
/// Where the package installs the stock plugins.
pub const SYSTEM_PLUGIN_DIR: &str = "/usr/lib/vespene/plugins";
/// Directories of installed programs: an executable there (the package's
/// `/usr/bin/vespene`) does not put its directory on the plugin path, which
/// would make every `.so` there a candidate (Debian's `/usr/bin/ld.so`).
const SYSTEM_BIN_DIRS: [&str; 6] = [
    "/usr/bin",
    "/usr/sbin",
    "/bin",
    "/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];
/// Where admins put their own plugins (the package creates it empty):
/// searched before [`SYSTEM_PLUGIN_DIR`], so a plugin here replaces a stock
/// one of the same name.
pub const LOCAL_PLUGIN_DIR: &str = "/usr/local/lib/vespene/plugins";

/// A problem with the settings, naming where it came from.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
    #[error("cannot read {}: {err}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        err: std::io::Error,
    },
}

/// Database connection settings.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseSettings {
    /// `sqlite:///path/to/file.db` or `postgres://user:pass@host/db`.
    /// Empty means SQLite in the data directory.
    pub url: String,
    /// Connections kept open per process.
    pub pool_size: u32,
}

/// The HTTP server (`vespene server`, `vespene up`): web UI, REST API,
/// webhooks and fileserving, on one address.
#[derive(Debug, Clone, Serialize)]
pub struct ServerSettings {
    /// `ADDRESS:PORT` to listen on.
    pub bind: String,
    /// Mark the session cookie `Secure` on every response (it is always
    /// marked when the request came through a TLS proxy sending
    /// `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// A session ends after this many hours without a request.
    pub session_hours: u64,
    /// Failed logins allowed per user name, and per client address, within
    /// `login_window_seconds`; more are refused (429) until the window ends.
    pub login_attempts: u32,
    pub login_window_seconds: u64,
    /// Serve `/metrics` (Prometheus text, no login needed).
    pub metrics: bool,
}

/// Fileserving of build roots (reference §8.4).
#[derive(Debug, Clone, Serialize)]
pub struct FileservingSettings {
    pub enabled: bool,
    pub port: u16,
    /// Blank: the host name of the worker.
    pub hostname: String,
    pub url: String,
}

/// Worker behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct WorkerSettings {
    /// Seconds between heartbeats of a running build.
    pub heartbeat_seconds: u64,
    /// A build whose heartbeat is older than this is orphaned.
    pub orphan_after_seconds: u64,
    /// Seconds between polls when no wake-up arrives (the fallback). An
    /// idle worker also looks every 5 s, when it sweeps for orphans and
    /// runs the scheduler, so values above 5 poll every 5 s.
    pub poll_seconds: f64,
    /// Where the worker id file lives; blank: `<data_dir>/worker_id`.
    pub worker_id_file: String,
    /// Most output variables (`vespene/set`) one build may set; later new
    /// names are ignored with one message.
    pub max_output_variables: usize,
    /// Most bytes (names and values) of one build's output variables.
    pub max_output_variable_bytes: usize,
    /// Run each build in a runner child process, so that a plugin call
    /// that crashes, exits or hangs fails that build only (the default).
    /// Off: plugin calls run in the worker itself, a little faster, and a
    /// crashing plugin takes the worker down.
    pub contain_plugin_calls: bool,
    /// Deadline of one trigger call (pre, success, failure), seconds; a pre
    /// trigger is also bounded by the project's timeout.
    pub trigger_call_seconds: u64,
    /// Deadline of one output filter call (`begin`, each line), seconds.
    pub output_call_seconds: u64,
    /// Deadline of one variables plugin call, seconds.
    pub variables_call_seconds: u64,
    /// Deadline of one plugin's `create`, seconds: in every command that
    /// loads the plugins, and per plugin in `vespene plugins check`.
    pub create_call_seconds: u64,
}

/// Which path settings a layer named, so that the others follow the data
/// directory.
#[derive(Debug, Clone, Default)]
struct Named {
    secrets_key_file: bool,
    build_root: bool,
}

/// The effective, merged settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    /// Directory the settings were read from.
    pub settings_dir: PathBuf,
    /// Databases, caches and the worker id live here (private to the
    /// server's user: mode 0700). Default: [`default_data_dir`].
    pub data_dir: PathBuf,
    /// Directories searched for plugins before `VESPENE_PLUGIN_PATH` and the
    /// built-in default.
    pub plugin_path: Vec<PathBuf>,
    /// Key file that encrypts secrets at rest (outside the database).
    /// Default: `<data_dir>/secrets.key`.
    pub secrets_key_file: PathBuf,
    /// Per-build working directories go under here (must be absolute, and
    /// outside the data directory, which builds must not reach). Default:
    /// `<data_dir>-builds`, beside the data directory.
    pub build_root: PathBuf,
    /// Keep each build's root after the build ends (fileserving and
    /// `BUILDROOT_WEB_LINK` need them; `vespene cleanup --remove-build-roots`
    /// removes old ones). Default false: a build root is removed when its
    /// build ends.
    pub keep_build_roots: bool,
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub fileserving: FileservingSettings,
    pub worker: WorkerSettings,
    /// Jinja2 URL template for build roots published elsewhere.
    pub buildroot_web_link: String,
    pub time_display_format: String,
    pub default_page_size: u32,
    pub allow_ui_user_creation: bool,
    pub allow_ui_group_creation: bool,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    pub log_level: String,
    /// The twelve plugin sections.
    pub plugins: PluginSections,
    /// The files read, in order.
    #[serde(skip)]
    pub sources: Vec<Source>,
    /// Directories from `VESPENE_PLUGIN_PATH`.
    #[serde(skip)]
    pub env_plugin_path: Vec<PathBuf>,
    #[serde(skip)]
    named: Named,
}

/// Environment variables that choose the per-user data directory.
const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
const HOME: &str = "HOME";
/// The data directory of root and of packaged installs.
pub const SYSTEM_DATA_DIR: &str = "/var/lib/vespene";

/// The data directory when no settings layer names one, the same for every
/// command of a user: root keeps the system's `/var/lib/vespene`; any other
/// user `$XDG_DATA_HOME/vespene`, else `$HOME/.local/share/vespene` (and
/// `/var/lib/vespene` only when neither is set).
pub fn default_data_dir(is_root: bool, env: &[(String, String)]) -> PathBuf {
    let var = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| PathBuf::from(v))
            .filter(|p| p.is_absolute())
    };
    if is_root {
        return PathBuf::from(SYSTEM_DATA_DIR);
    }
    if let Some(xdg) = var(XDG_DATA_HOME) {
        return xdg.join("vespene");
    }
    if let Some(home) = var(HOME) {
        return home.join(".local/share/vespene");
    }
    PathBuf::from(SYSTEM_DATA_DIR)
}

/// The build root when no settings layer names one: beside the data
/// directory (`/var/lib/vespene` → `/var/lib/vespene-builds`), so builds
/// never need to pass through the private data directory.
pub fn default_build_root(data_dir: &Path) -> PathBuf {
    let mut name = data_dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "vespene".into());
    name.push("-builds");
    data_dir.with_file_name(name)
}

impl Settings {
    /// The settings directory: `VESPENE_SETTINGS_DIR`, else `/etc/vespene`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os(SETTINGS_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SETTINGS_DIR))
    }

    /// Loads the settings of `dir` (which may not exist: then only the
    /// defaults and the environment apply) with the process environment.
    pub fn load(dir: &Path) -> Result<Settings, SettingsError> {
        Self::load_with_env(dir, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, SettingsError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let is_root = nix::unistd::geteuid().is_root();
        let mut settings = Settings::builtin(dir, default_data_dir(is_root, &env));
        let defaults = SettingsLayer::parse(layer::BUILTIN_DEFAULTS, Source::BuiltIn)?;
        settings.apply(defaults);

        for path in layer::settings_files(dir)? {
            let text = std::fs::read_to_string(&path).map_err(|err| SettingsError::Io {
                path: path.clone(),
                err,
            })?;
            let source = Source::File(path);
            settings.sources.push(source.clone());
            let layer = SettingsLayer::parse(&text, source)?;
            settings.apply(layer);
        }

        let mut env_plugin_path = Vec::new();
        for (key, value) in env {
            if key == PLUGIN_PATH_ENV {
                env_plugin_path = std::env::split_paths(&value)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect();
                continue;
            }
            if let Some(layer) = SettingsLayer::from_env(&key, &value)? {
                settings.apply(layer);
            }
        }
        settings.env_plugin_path = env_plugin_path;
        if !settings.named.secrets_key_file {
            settings.secrets_key_file = settings.data_dir.join("secrets.key");
        }
        if !settings.named.build_root {
            settings.build_root = default_build_root(&settings.data_dir);
        }
        settings.validate()?;
        Ok(settings)
    }

    fn builtin(dir: &Path, data_dir: PathBuf) -> Settings {
        Settings {
            settings_dir: dir.to_path_buf(),
            secrets_key_file: data_dir.join("secrets.key"),
            build_root: default_build_root(&data_dir),
            keep_build_roots: false,
            data_dir,
            plugin_path: Vec::new(),
            database: DatabaseSettings {
                url: String::new(),
                pool_size: 8,
            },
            server: ServerSettings {
                bind: "127.0.0.1:8000".into(),
                secure_cookies: false,
                session_hours: 12,
                login_attempts: 5,
                login_window_seconds: 900,
                metrics: true,
            },
            fileserving: FileservingSettings {
                enabled: true,
                port: 8000,
                hostname: String::new(),
                url: "/srv".into(),
            },
            worker: WorkerSettings {
                heartbeat_seconds: 5,
                orphan_after_seconds: 60,
                poll_seconds: 10.0,
                worker_id_file: String::new(),
                max_output_variables: 1000,
                max_output_variable_bytes: 1 << 20,
                contain_plugin_calls: true,
                trigger_call_seconds: 300,
                output_call_seconds: 10,
                variables_call_seconds: 60,
                create_call_seconds: 10,
            },
            buildroot_web_link: String::new(),
            time_display_format: "%b %d %Y, %I:%M:%S %p".into(),
            default_page_size: 50,
            allow_ui_user_creation: true,
            allow_ui_group_creation: true,
            log_level: "info".into(),
            plugins: PluginSections::default(),
            sources: Vec::new(),
            env_plugin_path: Vec::new(),
            named: Named::default(),
        }
    }

    fn apply(&mut self, layer: SettingsLayer) {
        layer.apply_to(self);
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let bad = |key: &str, message: String| SettingsError::Invalid {
            source_name: format!("setting '{key}'"),
            message,
        };
        if !self.build_root.is_absolute() {
            return Err(bad(
                "build_root",
                format!(
                    "must be an absolute path, got '{}'",
                    self.build_root.display()
                ),
            ));
        }
        if self.build_root.starts_with(&self.data_dir) {
            return Err(bad(
                "build_root",
                format!(
                    "'{}' must be outside the data directory {}: builds must not reach the \
                     server's files",
                    self.build_root.display(),
                    self.data_dir.display()
                ),
            ));
        }
        if !matches!(
            self.log_level.as_str(),
            "error" | "warn" | "info" | "debug" | "trace"
        ) {
            return Err(bad(
                "log_level",
                format!(
                    "must be one of error, warn, info, debug, trace; got '{}'",
                    self.log_level
                ),
            ));
        }
        if self.server.bind.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(
                "server.bind",
                format!(
                    "must be ADDRESS:PORT (like 127.0.0.1:8000 or [::]:8000), got '{}'",
                    self.server.bind
                ),
            ));
        }
        if self.default_page_size == 0 {
            return Err(bad("default_page_size", "must be at least 1".into()));
        }
        Ok(())
    }

    /// The database URL, with the embedded default filled in.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("vespene.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// The plugin path: the `plugin_path` setting, then
    /// `VESPENE_PLUGIN_PATH`, then the directory of the running executable
    /// (a source checkout's `target/<profile>`; not a system directory such
    /// as `/usr/bin`), the admins' local directory and the packaged one.
    pub fn plugin_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut push = |p: PathBuf| {
            if !dirs.contains(&p) {
                dirs.push(p);
            }
        };
        self.plugin_path.iter().cloned().for_each(&mut push);
        self.env_plugin_path.iter().cloned().for_each(&mut push);
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .filter(|dir| !SYSTEM_BIN_DIRS.iter().any(|bin| dir == Path::new(bin)))
        {
            push(dir);
        }
        push(PathBuf::from(LOCAL_PLUGIN_DIR));
        push(PathBuf::from(SYSTEM_PLUGIN_DIR));
        dirs
    }

    /// The effective settings as TOML with secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let value = self.to_masked_json();
        let toml_value: toml::Value =
            serde_json::from_value(value).expect("settings convert to TOML");
        toml::to_string_pretty(&toml_value).expect("settings encode as TOML")
    }

    /// The effective settings as JSON with secrets masked.
    pub fn to_masked_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("settings encode as JSON");
        mask_secrets(&mut value);
        value
    }
}

/// Keys whose values are never shown.
fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    // Paths to secrets (`secrets_key_file`) are not secrets themselves.
    if k.ends_with("_file") || k.ends_with("_dir") || k.ends_with("_path") {
        return false;
    }
    ["password", "token", "secret", "api_key", "private_key"]
        .iter()
        .any(|s| k.contains(s))
}

/// Replaces secret values with `********` and the password of URLs.
pub fn mask_secrets(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) && (v.is_string() || v.is_number()) {
                    *v = serde_json::Value::String("********".into());
                } else {
                    mask_secrets(v);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask_secrets),
        serde_json::Value::String(s) => {
            if let Some(masked) = mask_url_password(s) {
                *s = masked;
            }
        }
        _ => {}
    }
}

/// `scheme://user:pass@host` → `scheme://user:********@host`.
fn mask_url_password(s: &str) -> Option<String> {
    let (scheme, rest) = s.split_once("://")?;
    let (userinfo, host) = rest.split_once('@')?;
    let (user, _) = userinfo.split_once(':')?;
    if userinfo.contains('/') {
        return None;
    }
    Some(format!("{scheme}://{user}:********@{host}"))
}

#[cfg(test)]
mod tests;
