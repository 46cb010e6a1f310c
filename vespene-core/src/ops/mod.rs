//! Core operations: the one place the CLI (and, later, the web UI and the
//! REST API) create, read, update, delete and list stored objects. Every operation
//! is checked through [`crate::authz`] (lists are narrowed in SQL, single
//! objects checked with their owners' facts) and returns a typed
//! [`OpError`]: never a panic, never raw database text for a user's
//! mistake.
//!
//! ```no_run
//! use vespene_core::{authz::Authz, db::Db, ops::*, secrets::Secrets};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let db = Db::connect("sqlite:///var/lib/vespene/vespene.db")?;
//! let ops = Ops::new(db, Authz::none(), Secrets::none()).with_page_size(50);
//! let actor = ops.actor_for_user(1)?;
//! let pool = ops.worker_pools().id_by_name(&actor, "default")?;
//! let input = ProjectInput { name: "web".into(), worker_pool_id: pool, ..Default::default() };
//! let project = ops.projects().create(&actor, &input)?;
//! let filter = BuildFilter { project_id: Some(project.project.id), ..Default::default() };
//! let page = ops.builds().list(&actor, &filter, PageRequest::default())?;
//! println!("{} builds, more: {}", page.items.len(), page.has_more);
//! # Ok(())
//! # }
//! ```
//!
//! Builds are not created here: the engine queues them
//! ([`crate::db::builds::insert_queued`]) after
//! [`Resource::<Projects>::authorize_start`].

mod builds;
mod error;
pub mod fileserving;
pub mod health;
pub mod import;
pub mod launch;
pub mod metrics;
mod remote;
mod resource;
pub mod webhooks;

pub use builds::{BuildOps, FollowStep};
pub use error::{ECHO_LIMIT, OpError, shorten, shorten_quoted, shorten_to};
pub use remote::{apply_text, stop_project};
pub use resource::{HasId, Resource};

pub use crate::authz::{Actor, Authz, Denied};
pub use crate::db::aggregate::NameFilter;
pub use crate::db::builds::{Build, BuildFilter, BuildStatus, BuildSummary};
pub use crate::db::groups::{Group, GroupDetail, GroupInput, Groups};
pub use crate::db::organizations::{
    Organization, OrganizationDetail, OrganizationInput, Organizations,
};
pub use crate::db::output::{OutputRead, OutputStream, OutputTail};
pub use crate::db::pipelines::{Pipeline, PipelineDetail, PipelineInput, Pipelines};
pub use crate::db::projects::{Project, ProjectDetail, ProjectFilter, ProjectInput, Projects};
pub use crate::db::service_logins::{
    ServiceLogin, ServiceLoginDetail, ServiceLoginInput, ServiceLogins,
};
pub use crate::db::snippets::{Snippet, SnippetDetail, SnippetInput, Snippets};
pub use crate::db::ssh_keys::{SshKey, SshKeyDetail, SshKeyInput, SshKeySecrets, SshKeys};
pub use crate::db::stages::{Stage, StageDetail, StageInput, Stages};
pub use crate::db::users::{User, UserDetail, UserInput, Users};
pub use crate::db::variable_sets::{
    VariableSet, VariableSetDetail, VariableSetInput, VariableSets,
};
pub use crate::db::worker_pools::{WorkerPool, WorkerPoolDetail, WorkerPoolInput, WorkerPools};
pub use crate::db::workers::Worker;
pub use crate::db::{Page, Paged};

use crate::db::Db;
use crate::secrets::Secrets;

/// Which page of a list to return; `size: None` uses the configured
/// `default_page_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// 1-based.
    pub page: u32,
    pub size: Option<u32>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            page: 1,
            size: None,
        }
    }
}

impl PageRequest {
    /// Page `page` of the default size.
    pub fn page(page: u32) -> PageRequest {
        PageRequest { page, size: None }
    }
}

/// The most rows one page may hold.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// The operations over one database, one authorization manager and one
/// secrets manager. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Ops {
    db: Db,
    authz: Authz,
    secrets: Secrets,
    page_size: u32,
}

impl Ops {
    pub fn new(db: Db, authz: Authz, secrets: Secrets) -> Ops {
        Ops {
            db,
            authz,
            secrets,
            page_size: 50,
        }
    }

    /// The page size when a request names none (`default_page_size`).
    pub fn with_page_size(mut self, size: u32) -> Ops {
        self.page_size = size.clamp(1, MAX_PAGE_SIZE);
        self
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn authz(&self) -> &Authz {
        &self.authz
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub(crate) fn page(&self, req: PageRequest) -> Page {
        Page::new(
            req.page.max(1),
            req.size.unwrap_or(self.page_size).clamp(1, MAX_PAGE_SIZE),
        )
    }

    /// The actor of user `user_id` (with their groups), as the web layer
    /// builds it once per request. Inactive users are refused.
    pub fn actor_for_user(&self, user_id: i64) -> Result<Actor, OpError> {
        let mut conn = self.db.conn()?;
        match crate::accounts::active_user_info(&mut conn, user_id)? {
            Some(user) => Ok(Actor::User(user)),
            None => Err(OpError::Denied {
                reason: "this account is disabled".into(),
            }),
        }
    }

    /// Who a command run on the server host acts as when it names no user:
    /// the administrator (see [`crate::db::users::administrator_id`]), so
    /// `created_by` and stop messages name a person; the system itself
    /// only while no active superuser exists yet.
    pub fn administrator(&self) -> Result<Actor, OpError> {
        let mut conn = self.db.conn()?;
        match crate::db::users::administrator_id(&mut conn)? {
            Some(id) => match crate::accounts::active_user_info(&mut conn, id)? {
                Some(user) => Ok(Actor::User(user)),
                None => Ok(Actor::System),
            },
            None => Ok(Actor::System),
        }
    }

    /// The operations on objects of kind `A`, for code generic over kinds
    /// (configuration as code); `ops.projects()` and the like are the same.
    pub fn resource<A: crate::db::aggregate::Aggregate>(&self) -> Resource<'_, A> {
        Resource::new(self)
    }

    pub fn projects(&self) -> Resource<'_, Projects> {
        Resource::new(self)
    }
    pub fn pipelines(&self) -> Resource<'_, Pipelines> {
        Resource::new(self)
    }
    pub fn stages(&self) -> Resource<'_, Stages> {
        Resource::new(self)
    }
    pub fn snippets(&self) -> Resource<'_, Snippets> {
        Resource::new(self)
    }
    pub fn variable_sets(&self) -> Resource<'_, VariableSets> {
        Resource::new(self)
    }
    pub fn ssh_keys(&self) -> Resource<'_, SshKeys> {
        Resource::new(self)
    }
    pub fn service_logins(&self) -> Resource<'_, ServiceLogins> {
        Resource::new(self)
    }
    pub fn worker_pools(&self) -> Resource<'_, WorkerPools> {
        Resource::new(self)
    }
    pub fn organizations(&self) -> Resource<'_, Organizations> {
        Resource::new(self)
    }
    pub fn users(&self) -> Resource<'_, Users> {
        Resource::new(self)
    }
    pub fn groups(&self) -> Resource<'_, Groups> {
        Resource::new(self)
    }
    pub fn builds(&self) -> BuildOps<'_> {
        BuildOps::new(self)
    }

    /// Every registered worker (superusers and the system only).
    pub fn workers(&self, actor: &Actor) -> Result<Vec<Worker>, OpError> {
        if !actor.is_superuser() {
            return Err(OpError::Denied {
                reason: "only superusers may list workers".into(),
            });
        }
        let mut conn = self.db.conn()?;
        Ok(crate::db::workers::list(&mut conn)?)
    }
}
