//! Applying files: each file in one database transaction, its objects in
//! dependency order, each created or updated by name through the core
//! operations (so every change is authorized as the actor), and nothing of
//! the file stored when any object fails.

use super::format::Inline;
use super::kinds::{Detail, Input, Object};
use super::{ApplyError, Change, Document, FileReport, ObjectRef, Outcome};
use crate::authz::Actor;
use crate::db::aggregate::Aggregate;
use crate::db::users::Users;
use crate::db::{DbConn, DbError, write_tx};
use crate::ops::{HasId, OpError, Ops, shorten};
use diesel::prelude::*;
use std::path::{Path, PathBuf};
use vespene_plugin_api::kinds::authorization::ObjectKind;

/// Why one object (or the file) failed: the field, when one is to blame,
/// and the reason.
#[derive(Debug)]
pub(super) struct Failure {
    pub field: Option<String>,
    pub reason: String,
}

impl Failure {
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Failure {
        Failure {
            field: Some(field.into()),
            reason: reason.into(),
        }
    }

    fn reason(reason: impl Into<String>) -> Failure {
        Failure {
            field: None,
            reason: reason.into(),
        }
    }
}

impl From<OpError> for Failure {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid { field, reason, .. } => Failure::field(field, reason),
            OpError::Conflict { reason, .. } => Failure::reason(reason),
            other => Failure::reason(other.to_string()),
        }
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        OpError::from(e).into()
    }
}

/// A failure with the object it belongs to (the transaction's error).
#[derive(Debug)]
struct Located {
    object: Option<ObjectRef>,
    failure: Failure,
}

impl From<diesel::result::Error> for Located {
    fn from(e: diesel::result::Error) -> Self {
        Located {
            object: None,
            failure: Failure::from(DbError::from(e)),
        }
    }
}

/// How a secret read from a file is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SecretKind {
    /// Exactly the file's content (private keys need their last newline).
    Verbatim,
    /// One line: a final newline is dropped (passwords, tokens).
    Line,
}

/// What applying one object needs: the operations, the actor, the file's
/// transaction and the directory `*_file` paths are relative to.
pub(super) struct Cx<'a> {
    ops: &'a Ops,
    actor: &'a Actor,
    conn: &'a mut DbConn,
    dir: PathBuf,
    existing: Existing,
}

impl Cx<'_> {
    /// The id of the `A` named `name` (one the actor may view), for
    /// `field`.
    pub fn id<A: Aggregate>(&mut self, field: &str, name: &str) -> Result<i64, Failure>
    where
        A::Row: HasId,
    {
        self.ops
            .resource::<A>()
            .id_by_name_in(self.conn, self.actor, name)
            .map_err(|e| match e {
                OpError::NotFound { object, .. } => Failure::field(
                    field,
                    format!("no {object} named '{}'", shorten(name.trim())),
                ),
                other => Failure {
                    field: Some(field.to_string()),
                    ..Failure::from(other)
                },
            })
    }

    /// Like [`Cx::id`] for a required reference.
    pub fn required_id<A: Aggregate>(&mut self, field: &str, name: &str) -> Result<i64, Failure>
    where
        A::Row: HasId,
    {
        if name.trim().is_empty() {
            return Err(Failure::field(
                field,
                format!("is required (the name of a {})", A::NOUN),
            ));
        }
        self.id::<A>(field, name)
    }

    /// Like [`Cx::id`] for an optional reference (blank: none).
    pub fn opt_id<A: Aggregate>(
        &mut self,
        field: &str,
        name: Option<&str>,
    ) -> Result<Option<i64>, Failure>
    where
        A::Row: HasId,
    {
        match name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => self.id::<A>(field, n).map(Some),
            None => Ok(None),
        }
    }

    /// The sorted ids of a list of names.
    pub fn ids<A: Aggregate>(&mut self, field: &str, names: &[String]) -> Result<Vec<i64>, Failure>
    where
        A::Row: HasId,
    {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            ids.push(self.id::<A>(field, name)?);
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// The secret of `field` from its source: `{field}_file` (relative to
    /// the file's directory) or `{field}_env`; `None` when neither is
    /// given. A value written inline is refused.
    pub fn secret(
        &self,
        field: &str,
        inline: &Inline,
        file: &Option<PathBuf>,
        env: &Option<String>,
        kind: SecretKind,
    ) -> Result<Option<String>, Failure> {
        if inline.is_some() {
            return Err(Failure::field(
                field,
                format!(
                    "secrets are never written in configuration files: put it in a file and \
                     give {field}_file: PATH, or in an environment variable and give \
                     {field}_env: NAME"
                ),
            ));
        }
        match (file, env) {
            (Some(_), Some(_)) => Err(Failure::field(
                field,
                format!("give either {field}_file or {field}_env, not both"),
            )),
            (Some(path), None) => {
                let full = self.dir.join(path);
                let text = std::fs::read_to_string(&full).map_err(|e| {
                    Failure::field(
                        format!("{field}_file"),
                        format!("cannot read {}: {e}", shorten(&full.display().to_string())),
                    )
                })?;
                Ok(Some(match kind {
                    SecretKind::Verbatim => text,
                    SecretKind::Line => text
                        .strip_suffix("\r\n")
                        .or_else(|| text.strip_suffix('\n'))
                        .unwrap_or(&text)
                        .to_string(),
                }))
            }
            (None, Some(var)) => match std::env::var(var) {
                Ok(value) => Ok(Some(value)),
                Err(std::env::VarError::NotPresent) => Err(Failure::field(
                    format!("{field}_env"),
                    format!("the environment variable {} is not set", shorten(var)),
                )),
                Err(std::env::VarError::NotUnicode(_)) => Err(Failure::field(
                    format!("{field}_env"),
                    format!(
                        "the environment variable {} is not valid UTF-8",
                        shorten(var)
                    ),
                )),
            },
            (None, None) => Ok(None),
        }
    }

    /// The plaintext of a stored secret, when it can be read.
    pub fn stored_secret(&self, cloaked: &str) -> Option<String> {
        self.ops.secrets().decloak(cloaked).ok()
    }
}

/// What applying does to an object whose name is already stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Existing {
    /// Update it to match the file (`vespene apply`).
    #[default]
    Update,
    /// Leave it as it is, reported unchanged: demo objects that must never
    /// overwrite what a user made (`vespene tutorial`).
    Keep,
}

/// Applies one parsed file in one transaction: every object is created or
/// updated by name, or the file changes nothing.
pub fn apply_document(ops: &Ops, actor: &Actor, doc: &Document) -> Result<FileReport, ApplyError> {
    let mut conn = ops.db().conn().map_err(|e| {
        let failure = Failure::from(e);
        ApplyError {
            file: doc.path.clone(),
            object: None,
            field: failure.field,
            reason: failure.reason,
        }
    })?;
    apply_document_in(ops, &mut conn, actor, doc, Existing::Update)
}

/// [`apply_document`] on `conn`, inside its transaction when it has one (a
/// savepoint then), with `existing` deciding what happens to objects that
/// are already stored.
pub fn apply_document_in(
    ops: &Ops,
    conn: &mut DbConn,
    actor: &Actor,
    doc: &Document,
    existing: Existing,
) -> Result<FileReport, ApplyError> {
    let fail = |l: Located| ApplyError {
        file: doc.path.clone(),
        object: l.object,
        field: l.failure.field,
        reason: l.failure.reason,
    };
    let dir = doc
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let spec = &doc.spec;
    let changes = write_tx(conn, |conn| {
        let mut cx = Cx {
            ops,
            actor,
            conn,
            dir,
            existing,
        };
        let mut changes = Vec::new();
        apply_all(&mut cx, &spec.groups, &mut changes)?;
        apply_all(&mut cx, &spec.users, &mut changes)?;
        apply_all(&mut cx, &spec.variable_sets, &mut changes)?;
        apply_all(&mut cx, &spec.snippets, &mut changes)?;
        apply_all(&mut cx, &spec.worker_pools, &mut changes)?;
        apply_all(&mut cx, &spec.stages, &mut changes)?;
        apply_all(&mut cx, &spec.pipelines, &mut changes)?;
        apply_all(&mut cx, &spec.ssh_keys, &mut changes)?;
        apply_all(&mut cx, &spec.service_logins, &mut changes)?;
        apply_all(&mut cx, &spec.organizations, &mut changes)?;
        apply_all(&mut cx, &spec.projects, &mut changes)?;
        Ok::<_, Located>(changes)
    })
    .map_err(fail)?;
    Ok(FileReport {
        file: doc.path.clone(),
        changes,
    })
}

fn apply_all<O: Object>(
    cx: &mut Cx<'_>,
    objects: &[O],
    changes: &mut Vec<Change>,
) -> Result<(), Located>
where
    <O::A as Aggregate>::Row: HasId,
    Input<O>: PartialEq,
    Detail<O>: PartialEq,
{
    for object in objects {
        let at = ObjectRef {
            kind: O::KIND.noun(),
            name: object.name().trim().to_string(),
        };
        match apply_one(cx, object) {
            Ok(outcome) => changes.push(Change {
                object: at,
                outcome,
            }),
            Err(failure) => {
                return Err(Located {
                    object: Some(at),
                    failure,
                });
            }
        }
    }
    Ok(())
}

fn apply_one<O: Object>(cx: &mut Cx<'_>, object: &O) -> Result<Outcome, Failure>
where
    <O::A as Aggregate>::Row: HasId,
    Input<O>: PartialEq,
    Detail<O>: PartialEq,
{
    let resource = cx.ops.resource::<O::A>();
    let owner = wanted_owner(cx, object.created_by())?;
    let found = O::A::find_by_name(cx.conn, object.name())?;
    if found.is_some() && cx.existing == Existing::Keep {
        return Ok(Outcome::Unchanged);
    }
    let Some(row) = found else {
        let input = object.input(cx, None)?;
        let detail = resource.create_in(cx.conn, cx.actor, &input)?;
        if let Some(owner) = owner
            && O::stored_created_by(&detail) != Some(owner)
        {
            may_give(cx)?;
            set_created_by(cx.conn, O::A::KIND, O::id(&detail), owner)?;
        }
        return Ok(Outcome::Created);
    };
    let id = row.id();
    let before = match resource.get_in(cx.conn, cx.actor, id) {
        Ok(before) => before,
        // An object the actor may not view is treated as missing: the
        // file creates it, and the answer is the one any create under a
        // taken name gets (names are unique for everyone), never that it
        // exists and is hidden.
        Err(OpError::NotFound { .. }) => {
            let input = object.input(cx, None)?;
            resource.create_in(cx.conn, cx.actor, &input)?;
            return Err(Failure::reason(format!(
                "a {} named '{}' cannot be created",
                O::A::NOUN,
                shorten(object.name().trim())
            )));
        }
        Err(other) => return Err(other.into()),
    };
    let input = object.input(cx, Some(&before))?;
    let owner = owner.filter(|o| O::stored_created_by(&before) != Some(*o));
    if input == O::current(&before) && owner.is_none() && !O::holds_plaintext_secret(&before) {
        return Ok(Outcome::Unchanged);
    }
    if owner.is_some() {
        may_give(cx)?;
    }
    // Even a change of owner alone is an edit, and is authorized as one.
    O::update(&resource, cx.conn, cx.actor, id, &input)?;
    if let Some(owner) = owner {
        set_created_by(cx.conn, O::A::KIND, id, owner)?;
    }
    let after = O::A::get(cx.conn, id)?;
    Ok(if after == before {
        Outcome::Unchanged
    } else {
        Outcome::Updated
    })
}

/// The user id `created_by` names.
fn wanted_owner(cx: &mut Cx<'_>, name: Option<&str>) -> Result<Option<i64>, Failure> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    // Whether another user exists is not told to one who may not give.
    if let Actor::User(me) = cx.actor
        && !me.is_superuser
        && me.username != name
    {
        may_give(cx)?;
    }
    let user = Users::find_by_name(cx.conn, name)?.ok_or_else(|| {
        Failure::field("created_by", format!("no user named '{}'", shorten(name)))
    })?;
    Ok(Some(user.id))
}

/// Only superusers (and the system) may change who created an object.
fn may_give(cx: &Cx<'_>) -> Result<(), Failure> {
    if cx.actor.is_superuser() {
        Ok(())
    } else {
        Err(Failure::field(
            "created_by",
            "permission denied: only superusers may give objects to other users",
        ))
    }
}

/// Sets `created_by` of object `id` (the forms leave it to the creator).
fn set_created_by(conn: &mut DbConn, kind: ObjectKind, id: i64, user: i64) -> Result<(), DbError> {
    macro_rules! set {
        ($table:ident) => {{
            use crate::db::schema::$table::dsl as t;
            diesel::update(t::$table.find(id))
                .set(t::created_by.eq(Some(user)))
                .execute(conn)?
        }};
    }
    let n = match kind {
        ObjectKind::Project => set!(projects),
        ObjectKind::Pipeline => set!(pipelines),
        ObjectKind::Snippet => set!(snippets),
        ObjectKind::VariableSet => set!(variable_sets),
        ObjectKind::SshKey => set!(ssh_keys),
        ObjectKind::ServiceLogin => set!(service_logins),
        ObjectKind::WorkerPool => set!(worker_pools),
        ObjectKind::Organization => set!(organizations),
        ObjectKind::Build | ObjectKind::Stage | ObjectKind::User | ObjectKind::Group => {
            return Err(DbError::invalid(
                "object",
                "created_by",
                format!("a {} has no created_by", kind.as_str()),
            ));
        }
    };
    if n == 0 {
        return Err(DbError::not_found("object", id));
    }
    Ok(())
}
