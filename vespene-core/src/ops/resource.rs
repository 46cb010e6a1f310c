//! The operations every object kind shares, checked once for all of them:
//! `create` (Create), `get` (View filter, then View check), `update` (Edit),
//! `delete` (Delete), `list` (List check, List filter in SQL).

use super::{OpError, Ops, PageRequest};
use crate::authz::Actor;
use crate::db::aggregate::{Aggregate, WriteCtx};
use crate::db::authz_sql::is_all;
use crate::db::projects::Projects;
use crate::db::ssh_keys::{SshKeySecrets, SshKeys};
use crate::db::users::{UserInput, Users};
use crate::db::{DbConn, Paged};
use std::collections::HashMap;
use std::marker::PhantomData;
use vespene_plugin_api::kinds::authorization::{Action, Filter, ObjectFacts};

/// The operations on objects of kind `A` (`ops.projects()` …).
pub struct Resource<'a, A: Aggregate> {
    ops: &'a Ops,
    kind: PhantomData<A>,
}

impl<A: Aggregate> std::fmt::Debug for Resource<'_, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource").field("kind", &A::KIND).finish()
    }
}

impl<'a, A: Aggregate> Resource<'a, A> {
    pub(super) fn new(ops: &'a Ops) -> Self {
        Resource {
            ops,
            kind: PhantomData,
        }
    }

    fn ctx(&self, actor: &Actor) -> WriteCtx<'a> {
        WriteCtx {
            secrets: &self.ops.secrets,
            user_id: actor.user_id(),
        }
    }

    /// Checks `action` on object `id` for `actor`: the object's facts go to
    /// the plugins' checks, and the object must pass their filter for the
    /// action. A view that fails the filter is `NotFound` (existence is not
    /// revealed); anything else refused is `Denied`.
    fn authorize(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        action: Action,
        id: i64,
    ) -> Result<ObjectFacts, OpError> {
        let facts = A::facts(conn, id)?;
        if *actor == Actor::System {
            return Ok(facts);
        }
        let authz = &self.ops.authz;
        // What the actor may not see does not exist for them, whatever the
        // action (a 403 would tell that it exists); what they see but may
        // not change is refused.
        let visible = |conn: &mut DbConn, action: Action| -> Result<bool, OpError> {
            let filter = authz.filter(actor, action, A::KIND);
            Ok(is_all(&filter) || A::matches(conn, id, &filter)?)
        };
        if !visible(conn, Action::View)? {
            return Err(OpError::NotFound {
                object: A::NOUN,
                key: format!("#{id}"),
            });
        }
        if action != Action::View && !visible(conn, action)? {
            return Err(OpError::Denied {
                reason: format!("this {} is not yours to {}", A::NOUN, action.as_str()),
            });
        }
        authz.check(actor, action, A::KIND, Some(&facts))?;
        Ok(facts)
    }

    /// Links that need rights of their own (issue 9.6): a user gives an
    /// object only to groups they are in (superusers excepted; groups it
    /// already had may stay), and joins a project to a pipeline only when
    /// they may edit that pipeline, so nobody receives another's stage
    /// outputs uninvited. `before` is the object being updated.
    fn check_links(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        input: &A::Input,
        before: Option<(i64, &ObjectFacts)>,
    ) -> Result<(), OpError> {
        if *actor == Actor::System {
            return Ok(());
        }
        if let Actor::User(user) = actor
            && !user.is_superuser
        {
            for group in A::input_owner_groups(input) {
                let had = before.is_some_and(|(_, f)| f.owner_groups.contains(group));
                if !had && !user.groups.iter().any(|g| g.id == *group) {
                    let name = crate::db::groups::Groups::get(conn, *group)
                        .map(|g| format!("'{}'", g.group.name))
                        .unwrap_or_else(|_| format!("#{group}"));
                    return Err(OpError::Denied {
                        reason: format!(
                            "you are not in group {name}, so you cannot make it an owner of this {}",
                            A::NOUN
                        ),
                    });
                }
            }
        }
        if let Some(pipeline) = A::input_pipeline(input) {
            let stored = match before {
                Some((id, _)) => A::stored_pipeline(conn, id)?,
                None => None,
            };
            if stored != Some(pipeline) {
                Resource::<crate::db::pipelines::Pipelines>::new(self.ops)
                    .authorize(conn, actor, Action::Edit, pipeline)
                    .map_err(|e| match e {
                        OpError::Denied { .. } => OpError::Denied {
                            reason: format!(
                                "joining pipeline #{pipeline} needs the right to edit that pipeline"
                            ),
                        },
                        other => other,
                    })?;
            }
        }
        Ok(())
    }

    /// Whether `actor` may do `action` (on object `id`, or on the kind for
    /// list/create): for showing or hiding buttons.
    pub fn can(&self, actor: &Actor, action: Action, id: Option<i64>) -> Result<bool, OpError> {
        let result = match id {
            Some(id) => {
                let mut conn = self.ops.db.conn()?;
                self.authorize(&mut conn, actor, action, id).map(|_| ())
            }
            None => self
                .ops
                .authz
                .check(actor, action, A::KIND, None)
                .map_err(OpError::from),
        };
        match result {
            Ok(()) => Ok(true),
            Err(OpError::Denied { .. } | OpError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates an object; `created_by` is the actor.
    pub fn create(&self, actor: &Actor, input: &A::Input) -> Result<A::Detail, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.create_in(&mut conn, actor, input)
    }

    /// [`Resource::create`] on `conn`, inside the caller's transaction
    /// (configuration as code applies a whole file in one).
    pub fn create_in(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        input: &A::Input,
    ) -> Result<A::Detail, OpError> {
        self.ops.authz.check(actor, Action::Create, A::KIND, None)?;
        self.check_links(conn, actor, input, None)?;
        let id = A::insert(conn, &self.ctx(actor), input)?;
        Ok(A::get(conn, id)?)
    }

    /// One object with its links.
    pub fn get(&self, actor: &Actor, id: i64) -> Result<A::Detail, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.get_in(&mut conn, actor, id)
    }

    /// [`Resource::get`] on `conn`.
    pub fn get_in(&self, conn: &mut DbConn, actor: &Actor, id: i64) -> Result<A::Detail, OpError> {
        self.authorize(conn, actor, Action::View, id)?;
        Ok(A::get(conn, id)?)
    }

    /// The id of the object called `name` that `actor` may view.
    pub fn id_by_name(&self, actor: &Actor, name: &str) -> Result<i64, OpError>
    where
        A::Row: HasId,
    {
        let mut conn = self.ops.db.conn()?;
        self.id_by_name_in(&mut conn, actor, name)
    }

    /// [`Resource::id_by_name`] on `conn`.
    pub fn id_by_name_in(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        name: &str,
    ) -> Result<i64, OpError>
    where
        A::Row: HasId,
    {
        let row = A::find_by_name(conn, name)?.ok_or_else(|| OpError::NotFound {
            object: A::NOUN,
            key: format!("'{}'", name.trim()),
        })?;
        let id = row.id();
        self.authorize(conn, actor, Action::View, id)
            .map_err(|e| match e {
                OpError::NotFound { object, .. } => OpError::NotFound {
                    object,
                    key: format!("'{}'", name.trim()),
                },
                other => other,
            })?;
        Ok(id)
    }

    /// Replaces every field and link of object `id`.
    pub fn update(&self, actor: &Actor, id: i64, input: &A::Input) -> Result<A::Detail, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.update_in(&mut conn, actor, id, input)
    }

    /// [`Resource::update`] on `conn`.
    pub fn update_in(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        id: i64,
        input: &A::Input,
    ) -> Result<A::Detail, OpError> {
        let facts = self.authorize(conn, actor, Action::Edit, id)?;
        self.check_links(conn, actor, input, Some((id, &facts)))?;
        A::update(conn, &self.ctx(actor), id, input)?;
        Ok(A::get(conn, id)?)
    }

    /// Deletes object `id` (reference §1.13 semantics).
    pub fn delete(&self, actor: &Actor, id: i64) -> Result<(), OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::Delete, id)?;
        Ok(A::delete(&mut conn, id)?)
    }

    /// One page of the objects `actor` may list, ordered by name.
    pub fn list(
        &self,
        actor: &Actor,
        filter: &A::ListFilter,
        page: PageRequest,
    ) -> Result<Paged<A::Row>, OpError> {
        self.ops.authz.check(actor, Action::List, A::KIND, None)?;
        let authz = self.ops.authz.filter(actor, Action::List, A::KIND);
        let mut conn = self.ops.db.conn()?;
        Ok(A::list(&mut conn, filter, &authz, self.ops.page(page))?)
    }

    /// Which of `ids` (rows `actor` was listed) `actor` may also open: a
    /// list may show more than the detail pages do (organizations are
    /// listed for everyone, opened by superusers only), and a page must
    /// not link to what answers "not found". When the plugins' view
    /// filter is the list filter, every listed row passes it and only the
    /// per-object check could refuse, which the detail page still makes;
    /// otherwise each row is checked as `get` would.
    pub fn viewable(&self, actor: &Actor, ids: &[i64]) -> Result<Vec<bool>, OpError> {
        if *actor == Actor::System {
            return Ok(vec![true; ids.len()]);
        }
        let view = self.ops.authz.filter(actor, Action::View, A::KIND);
        if view == Filter::Nothing {
            return Ok(vec![false; ids.len()]);
        }
        if view == self.ops.authz.filter(actor, Action::List, A::KIND) {
            return Ok(vec![true; ids.len()]);
        }
        let mut conn = self.ops.db.conn()?;
        ids.iter()
            .map(
                |id| match self.authorize(&mut conn, actor, Action::View, *id) {
                    Ok(_) => Ok(true),
                    Err(OpError::NotFound { .. } | OpError::Denied { .. }) => Ok(false),
                    Err(e) => Err(e),
                },
            )
            .collect()
    }
}

/// Rows with an id.
pub trait HasId {
    fn id(&self) -> i64;
}

macro_rules! has_id {
    ($($t:ty),+) => { $(impl HasId for $t { fn id(&self) -> i64 { self.id } })+ };
}

has_id!(
    crate::db::projects::Project,
    crate::db::pipelines::Pipeline,
    crate::db::stages::Stage,
    crate::db::snippets::Snippet,
    crate::db::variable_sets::VariableSet,
    crate::db::ssh_keys::SshKey,
    crate::db::service_logins::ServiceLogin,
    crate::db::worker_pools::WorkerPool,
    crate::db::organizations::Organization,
    crate::db::users::User,
    crate::db::groups::Group
);

impl Resource<'_, Projects> {
    /// Checks that `actor` may start project `id` (the engine then queues
    /// the build).
    pub fn authorize_start(&self, actor: &Actor, id: i64) -> Result<ObjectFacts, OpError> {
        let mut conn = self.ops.db.conn()?;
        // The facts that decided the view decide the start too.
        let facts = self.authorize(&mut conn, actor, Action::View, id)?;
        self.ops
            .authz
            .check(actor, Action::Start, Projects::KIND, Some(&facts))?;
        Ok(facts)
    }
}

impl Resource<'_, Projects> {
    /// Whether `actor` may start project `id` (the start button).
    pub fn can_start(&self, actor: &Actor, id: i64) -> Result<bool, OpError> {
        match self.authorize_start(actor, id) {
            Ok(_) => Ok(true),
            Err(OpError::Denied { .. } | OpError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// [`Resource::can_start`] for each of `ids` (a list page's start
    /// buttons), with the same answers: the projects' facts are read in
    /// one go and the view filter is asked for once, instead of once per
    /// project; the plugins still check every project. Ids of projects
    /// that do not exist answer `false`.
    pub fn can_start_many(
        &self,
        actor: &Actor,
        ids: &[i64],
    ) -> Result<HashMap<i64, bool>, OpError> {
        let mut conn = self.ops.db.conn()?;
        let facts = crate::db::projects::facts_of_many(&mut conn, ids)?;
        let visible = if *actor == Actor::System {
            None
        } else {
            let filter = self.ops.authz.filter(actor, Action::View, Projects::KIND);
            (!is_all(&filter))
                .then(|| crate::db::projects::matching(&mut conn, ids, &filter))
                .transpose()?
        };
        drop(conn);
        let authz = &self.ops.authz;
        let allowed = |f: &ObjectFacts| {
            visible.as_ref().is_none_or(|v| v.contains(&f.id))
                && authz
                    .check(actor, Action::View, Projects::KIND, Some(f))
                    .is_ok()
                && authz
                    .check(actor, Action::Start, Projects::KIND, Some(f))
                    .is_ok()
        };
        Ok(ids
            .iter()
            .map(|id| (*id, facts.get(id).is_some_and(allowed)))
            .collect())
    }
}

impl Resource<'_, SshKeys> {
    /// The decrypted key of `id`, for someone who may edit it.
    pub fn reveal(&self, actor: &Actor, id: i64) -> Result<SshKeySecrets, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.authorize(&mut conn, actor, Action::Edit, id)?;
        Ok(crate::db::ssh_keys::reveal(
            &mut conn,
            &self.ops.secrets,
            id,
        )?)
    }
}

impl Resource<'_, Users> {
    /// Like [`Resource::update`], but only superusers may change anyone's
    /// superuser flag, active flag or groups (reference §7.2: users edit
    /// themselves without those).
    pub fn update_user(
        &self,
        actor: &Actor,
        id: i64,
        input: &UserInput,
    ) -> Result<crate::db::users::UserDetail, OpError> {
        let mut conn = self.ops.db.conn()?;
        self.update_user_in(&mut conn, actor, id, input)
    }

    /// [`Resource::update_user`] on `conn`.
    pub fn update_user_in(
        &self,
        conn: &mut DbConn,
        actor: &Actor,
        id: i64,
        input: &UserInput,
    ) -> Result<crate::db::users::UserDetail, OpError> {
        if !actor.is_superuser() {
            let current = Users::get(conn, id)?;
            let mut wanted = input.groups.clone();
            wanted.sort_unstable();
            wanted.dedup();
            if input.is_superuser != current.user.is_superuser
                || input.is_active != current.user.is_active
                || wanted != current.groups
            {
                return Err(OpError::Denied {
                    reason: "only superusers may change superuser status, active status or groups"
                        .into(),
                });
            }
        }
        self.update_in(conn, actor, id, input)
    }
}
