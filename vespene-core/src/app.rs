//! Everything a `vespene` process needs, started in the right order: the
//! settings, the plugin host (every configured plugin loaded and
//! instantiated), the database, the core operations and the wake-up
//! mechanism. A process refuses to start on any plugin problem or pending
//! migration, naming each.

use crate::authz::Authz;
use crate::db::{Db, DbError};
use crate::engine::wake::Waker;
use crate::ops::Ops;
use crate::plugins::{PluginHost, Scanner};
use crate::secrets::Secrets;
use crate::settings::Settings;
use std::sync::Arc;

/// Why a process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the plugin configuration has problems:\n  {}", .0.join("\n  "))]
    Plugins(Vec<String>),
    #[error("{0}")]
    Database(#[from] DbError),
    #[error("the database needs migrating: run `vespene migrate` (database {0})")]
    PendingMigrations(String),
    #[error("cannot make the server's files private: {0}")]
    PrivateData(std::io::Error),
}

/// A started process's services.
#[derive(Debug, Clone)]
pub struct App {
    pub settings: Arc<Settings>,
    pub plugins: Arc<PluginHost>,
    pub db: Db,
    pub ops: Arc<Ops>,
    pub waker: Waker,
}

/// How strict [`App::start`] is about the database schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply pending migrations (the embedded default, `vespene up`).
    Apply,
    /// Refuse to start while migrations are pending (servers and workers
    /// of a multi-host install, where one `vespene migrate` runs first).
    Require,
    /// Neither: a worker's runner child, whose worker already required
    /// them (and the check costs every build a query).
    Checked,
}

impl App {
    /// Starts the plugin host and connects to the database.
    pub fn start(
        settings: Settings,
        scanner: Scanner,
        migrations: Migrations,
    ) -> Result<App, StartError> {
        let plugins = PluginHost::start(&settings, scanner);
        if !plugins.problems.is_empty() {
            return Err(StartError::Plugins(
                plugins.problems.iter().map(|p| p.to_string()).collect(),
            ));
        }
        for warning in plugins.catalog.warnings() {
            tracing::warn!("plugin path: {warning}");
        }
        if let Err(e) = crate::private_data::secure(&settings) {
            // Only SQLite keeps its data there; a PostgreSQL client may run
            // where the data directory cannot be made.
            if settings.database_url().starts_with("sqlite:") {
                return Err(StartError::PrivateData(e));
            }
            tracing::warn!("cannot make the server's files private: {e}");
        }
        let db = Db::open(&settings)?;
        match migrations {
            Migrations::Apply => {
                let applied = db.migrate()?;
                if !applied.is_empty() {
                    tracing::info!("applied database migrations: {}", applied.join(", "));
                }
            }
            Migrations::Checked => {}
            Migrations::Require => {
                if db.has_pending_migrations()? {
                    return Err(StartError::PendingMigrations(crate::db::masked_url(
                        &settings.database_url(),
                    )));
                }
            }
        }
        let ops = Ops::new(
            db.clone(),
            Authz::from_registry(&plugins.registry),
            Secrets::from_registry(&plugins.registry),
        )
        .with_page_size(settings.default_page_size);
        let waker = Waker::for_database(&settings.database_url(), &settings.data_dir).with_db(&db);
        Ok(App {
            settings: Arc::new(settings),
            plugins: Arc::new(plugins),
            db,
            ops: Arc::new(ops),
            waker,
        })
    }
}

/// What [`App::ensure_embedded_defaults`] created on a first start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirstRun {
    /// The new administrator's password, shown once.
    pub admin_password: Option<String>,
    /// The worker pool created for the embedded worker.
    pub created_pool: Option<String>,
}

/// A random password of `len` letters and digits.
pub fn random_password(len: usize) -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect())
}

impl App {
    /// The embedded default's first start (`vespene up`): an `admin`
    /// superuser when there are no users, and a worker pool `pool` (the
    /// isolation entry `isolation`, builds as `sudo_user`) when there are
    /// no pools.
    pub fn ensure_embedded_defaults(
        &self,
        pool: &str,
        isolation: &str,
        sudo_user: &str,
    ) -> Result<FirstRun, Box<dyn std::error::Error + Send + Sync>> {
        use crate::authz::Actor;
        use crate::ops::{PageRequest, WorkerPoolInput};
        let mut first = FirstRun {
            admin_password: crate::accounts::create_first_admin(&self.db)?,
            ..FirstRun::default()
        };
        let pools = self.ops.worker_pools().list(
            &Actor::System,
            &Default::default(),
            PageRequest {
                page: 1,
                size: Some(1),
            },
        )?;
        if pools.items.is_empty() {
            self.ops.worker_pools().create(
                &Actor::System,
                &WorkerPoolInput {
                    name: pool.to_string(),
                    isolation_method: isolation.into(),
                    sudo_user: Some(sudo_user.to_string()),
                    ..WorkerPoolInput::default()
                },
            )?;
            first.created_pool = Some(pool.to_string());
        }
        Ok(first)
    }
}
