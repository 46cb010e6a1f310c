//! Test support: a fresh database per test on each backend, and in-memory
//! stand-ins for the secrets and authorization plugins.
//!
//! PostgreSQL: `VESPENE_TEST_POSTGRES_URL` names a database (run
//! `eval "$(bash tests/services/postgres.sh)"`). Each test creates a schema
//! `t_<random>`, connects with `options=-csearch_path=t_<random>`, migrates
//! it, and drops it at the end. Without the variable the PostgreSQL tests
//! fail when `CI=true` and are skipped loudly otherwise.

use diesel::connection::SimpleConnection;
use std::path::PathBuf;
use std::sync::Arc;
use vespene_core::authz::{Actor, AuthorizationBackend, Authz};
use vespene_core::db::{BackendKind, Db, DbConn};
use vespene_core::ops::Ops;
use vespene_core::secrets::{Secrets, SecretsBackend};
use vespene_plugin_api::kinds::authorization::{CheckRequest, Decision, Filter, FilterRequest};
use vespene_plugin_api::{GroupRef, PluginError, UserInfo};

pub const POSTGRES_URL_ENV: &str = "VESPENE_TEST_POSTGRES_URL";

/// One test's database.
pub struct TestDb {
    pub db: Db,
    pub kind: BackendKind,
    /// The SQLite file (to read its bytes).
    pub sqlite_path: Option<PathBuf>,
    _dir: Option<tempfile::TempDir>,
    /// (admin URL, schema) to drop at the end.
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// Operations with the given managers.
    pub fn ops(&self, authz: Authz, secrets: Secrets) -> Ops {
        Ops::new(self.db.clone(), authz, secrets).with_page_size(50)
    }

    /// Operations as the system would use them: no authorization plugin,
    /// the in-memory cipher.
    pub fn system_ops(&self) -> Ops {
        self.ops(Authz::none(), test_secrets())
    }

    pub fn conn(&self) -> vespene_core::db::PooledConn {
        self.db.conn().expect("connection")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.pg_schema
            && let Ok(mut c) = DbConn::open(url)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
        }
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A migrated SQLite database in a fresh temporary directory.
pub fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("vespene.db");
    let url = format!("sqlite://{}", path.display());
    let applied = vespene_core::db::migrate(&url).expect("migrate sqlite");
    assert!(!applied.is_empty());
    let db = Db::connect(&url).expect("connect sqlite");
    TestDb {
        db,
        kind: BackendKind::Sqlite,
        sqlite_path: Some(path),
        _dir: Some(dir),
        pg_schema: None,
    }
}

/// A migrated fresh PostgreSQL schema, or `None` (skipped) when no server
/// is configured outside CI.
pub fn postgres() -> Option<TestDb> {
    let Some(url) = std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|u| !u.is_empty())
    else {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "{POSTGRES_URL_ENV} is not set and CI=true: the PostgreSQL tests must run in CI \
                 (run tests/services/postgres.sh first)"
            );
        }
        eprintln!(
            "SKIPPED: PostgreSQL not configured (run tests/services/postgres.sh and export \
             {POSTGRES_URL_ENV})"
        );
        return None;
    };
    let schema = format!("t_{}", random_suffix());
    let mut admin = DbConn::open(&url).expect("connect to VESPENE_TEST_POSTGRES_URL");
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("create schema");
    let sep = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{sep}options=-csearch_path%3D{schema}");
    let guard = TestDb {
        db: Db::connect_with(
            &scoped,
            &vespene_core::db::DbOptions {
                pool_size: 4,
                ..Default::default()
            },
        )
        .expect("connect to the test schema"),
        kind: BackendKind::Postgres,
        sqlite_path: None,
        _dir: None,
        pg_schema: Some((url, schema)),
    };
    guard.db.migrate().expect("migrate postgres");
    Some(guard)
}

/// Runs each named `fn(&TestDb)` as two tests, `sqlite::NAME` and
/// `postgres::NAME`.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    let t = $crate::support::sqlite();
                    super::$name(&t);
                }
            )+
        }
        mod postgres {
            $(
                #[test]
                fn $name() {
                    if let Some(t) = $crate::support::postgres() {
                        super::$name(&t);
                    }
                }
            )+
        }
    };
}
pub(crate) use both_backends;

/// An in-memory "cipher" for tests: reversible, never leaves the plaintext
/// readable (hex of the bytes XOR 0x5a), with the cloak header.
pub struct TestCipher {
    pub name: String,
    pub header: String,
}

impl TestCipher {
    pub fn new(tag: &str) -> TestCipher {
        TestCipher {
            name: tag.to_lowercase(),
            header: format!("[VESPENE-CLOAK][{tag}]"),
        }
    }
}

impl SecretsBackend for TestCipher {
    fn name(&self) -> &str {
        &self.name
    }
    fn cloak(&self, plaintext: &str) -> Result<String, PluginError> {
        let hex: String = plaintext
            .bytes()
            .map(|b| format!("{:02x}", b ^ 0x5a))
            .collect();
        Ok(format!("{}{hex}", self.header))
    }
    fn decloak(&self, value: &str) -> Result<String, PluginError> {
        let hex = value
            .strip_prefix(&self.header)
            .ok_or_else(|| PluginError::failed("not mine"))?;
        let bytes: Result<Vec<u8>, _> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map(|b| b ^ 0x5a))
            .collect();
        String::from_utf8(bytes.map_err(|e| PluginError::failed(e.to_string()))?)
            .map_err(|e| PluginError::failed(e.to_string()))
    }
    fn recognizes(&self, value: &str) -> Result<bool, PluginError> {
        Ok(value.starts_with(&self.header))
    }
}

/// The secrets manager of most tests: one in-memory cipher.
pub fn test_secrets() -> Secrets {
    Secrets::new(vec![Arc::new(TestCipher::new("TEST"))])
}

type CheckFn = dyn Fn(&CheckRequest) -> Result<Decision, PluginError> + Send + Sync;
type FilterFn = dyn Fn(&FilterRequest) -> Result<Filter, PluginError> + Send + Sync;

/// An authorization plugin made of two closures.
pub struct FakeAuthz {
    pub name: String,
    pub check: Box<CheckFn>,
    pub filter: Box<FilterFn>,
}

impl AuthorizationBackend for FakeAuthz {
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError> {
        (self.check)(request)
    }
    fn filter(&self, request: &FilterRequest) -> Result<Filter, PluginError> {
        (self.filter)(request)
    }
}

/// An authorization manager over fake plugins.
pub fn authz_of(plugins: Vec<FakeAuthz>) -> Authz {
    Authz::new(
        plugins
            .into_iter()
            .map(|p| Arc::new(p) as Arc<dyn AuthorizationBackend>)
            .collect(),
    )
}

/// A plugin that allows everything and filters nothing.
pub fn allow_all() -> FakeAuthz {
    FakeAuthz {
        name: "allow_all".into(),
        check: Box::new(|_| Ok(Decision::allow())),
        filter: Box::new(|_| Ok(Filter::All)),
    }
}

/// A user actor (not stored: for authorization-only tests).
pub fn user_actor(id: i64, name: &str, superuser: bool, groups: &[i64]) -> Actor {
    Actor::User(UserInfo {
        id,
        username: name.into(),
        is_superuser: superuser,
        groups: groups
            .iter()
            .map(|g| GroupRef {
                id: *g,
                name: format!("g{g}"),
            })
            .collect(),
    })
}
