//! The command line, as clap types. Handlers live in `commands`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "vespene",
    version,
    about = "Vespene: a self-hosted build and deploy server",
    propagate_version = true
)]
pub struct Cli {
    /// Settings directory (settings.toml and settings.d/*.toml).
    #[arg(long, global = true, value_name = "DIR", env = "VESPENE_SETTINGS_DIR")]
    pub settings_dir: Option<PathBuf>,

    /// Work through this server's REST API instead of the database
    /// (`project`, `build`, `apply`, `export`), with `VESPENE_TOKEN` or
    /// the token `vespene login` stored.
    #[arg(long, global = true, value_name = "URL", env = "VESPENE_SERVER")]
    pub server: Option<String>,

    /// The API token for --server (from VESPENE_TOKEN; never a flag, so
    /// it stays out of process lists).
    #[arg(long, hide = true, env = "VESPENE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and check plugins.
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// Inspect the effective settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// The embedded default: SQLite, the HTTP server, supervised workers,
    /// stock plugins.
    Up(crate::commands::up::UpArgs),
    /// The HTTP server: REST API, sessions, webhooks, fileserving.
    Server(crate::commands::server::ServerArgs),
    /// Log in to a server and store an API token for --server.
    Login(crate::commands::login::LoginArgs),
    /// Run builds of a worker pool.
    Worker(crate::commands::worker::WorkerArgs),
    /// Start or stop a project's build.
    #[command(subcommand)]
    Project(crate::commands::project::ProjectCommand),
    /// List builds, show one, follow its log, stop it.
    #[command(subcommand)]
    Build(crate::commands::build::BuildCommand),
    /// Apply the embedded database migrations to the configured database.
    Migrate(crate::commands::migrate::MigrateArgs),
    /// Users, their passwords and personal API tokens.
    #[command(subcommand)]
    User(crate::commands::users::UserCommand),
    /// The key file that encrypts secrets at rest.
    #[command(subcommand)]
    Secrets(crate::commands::secrets::SecretsCommand),
    /// Create or update objects by name from YAML files (configuration as
    /// code); each file is all or nothing.
    Apply(crate::commands::apply::ApplyArgs),
    /// Write stored objects as YAML in the format `vespene apply` reads
    /// (secrets left out).
    Export(crate::commands::apply::ExportArgs),
    /// Delete the oldest builds and old build roots.
    Cleanup(crate::commands::cleanup::CleanupArgs),
    /// Create the tutorial's demo objects (a four-stage pipeline that runs
    /// as shipped); running it again changes nothing.
    Tutorial,
    /// The runner child of a worker: runs one claimed build (internal).
    #[command(name = "__run-build", hide = true)]
    RunBuild,
    /// Write the manual pages (vespene.1 and one per subcommand) into DIR
    /// (used by packaging/build.sh).
    #[command(name = "__man-pages", hide = true)]
    ManPages { dir: PathBuf },
    /// The child of `plugins check` that makes one configured plugin
    /// instance (internal).
    #[command(name = "__check-plugin", hide = true)]
    CheckPlugin { section: String, name: String },
    /// Resize worker pools through their autoscaling planner and executor.
    Autoscaler(crate::commands::autoscaler::AutoscalerArgs),
    /// A project's webhook secret and opt-ins; send it a sample push.
    #[command(subcommand)]
    Webhook(crate::commands::webhook::WebhookCommand),
    /// Import an organization's repositories now: clone each, read its
    /// .vespene file, create or update its project (workers also import
    /// on the organization's refresh_minutes and force_rescan).
    Import(crate::commands::import::ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// Every candidate on the plugin path: name, kind, version, file, and why
    /// a file was refused; then the configured entries of every section.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Scan files (in a child process) and say whether they are usable
    /// plugins. Without files, checks the whole plugin path and runs each
    /// configured plugin's `create` with its parameters, each in a child
    /// process under `[worker] create_call_seconds`. Exits non-zero if any
    /// file is refused or any configured plugin is bad.
    Check {
        files: Vec<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Call one operation of a plugin, for plugin authors: loads the file (or
    /// the named plugin from the path), makes an instance, prints the JSON
    /// result. Commands it runs print their lines here.
    Call(CallArgs),
    /// Pass standard input, line by line, through an output plugin.
    Filter(TargetArgs),
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    /// A plugin file (`./libx.so`) or a plugin name on the plugin path.
    pub plugin: String,
    /// Parameters for the instance, as JSON.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// The instance's name, as a settings entry would give it.
    #[arg(long, default_value = "cli")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The operation (`execute_hook`, `checkout`, `filter` ...).
    pub op: String,
    /// Its arguments, as JSON (default `{}`).
    pub args: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// The effective, merged settings (secrets masked) and the files read.
    Show {
        #[arg(long)]
        json: bool,
    },
}
