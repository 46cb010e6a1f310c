//! What every stored object kind offers: read, insert, update, delete,
//! list (narrowed by an authorization filter and paged) and the facts
//! authorization plugins decide on. [`crate::ops`] adds permissions on top,
//! once, for all of them.

use super::{DbConn, DbError, Page, Paged};
use crate::secrets::Secrets;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

/// What a write needs besides the input.
#[derive(Debug, Clone, Copy)]
pub struct WriteCtx<'a> {
    /// Encrypts SSH keys and passwords.
    pub secrets: &'a Secrets,
    /// The user creating the object (`created_by`); `None` for the system.
    pub user_id: Option<i64>,
}

/// The list filter of objects that are only filtered by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
}

/// One kind of stored object.
pub trait Aggregate {
    /// The kind authorization plugins see.
    const KIND: ObjectKind;
    /// The noun used in messages (`variable set`).
    const NOUN: &'static str;
    /// A stored row (what lists return).
    type Row;
    /// A row with its links (what `get` returns).
    type Detail;
    /// The form that creates or replaces an object.
    type Input;
    /// The filters of `list`.
    type ListFilter: Default;

    /// One object with its links.
    fn get(conn: &mut DbConn, id: i64) -> Result<Self::Detail, DbError>;
    /// One object by its unique name (`None` when there is none).
    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Self::Row>, DbError>;
    /// Validates and stores a new object; returns its id.
    fn insert(conn: &mut DbConn, ctx: &WriteCtx<'_>, input: &Self::Input) -> Result<i64, DbError>;
    /// Validates and replaces every field and link of an object.
    fn update(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        id: i64,
        input: &Self::Input,
    ) -> Result<(), DbError>;
    /// Deletes an object with the semantics of reference §1.13.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError>;
    /// Who owns the object.
    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError>;
    /// The owner groups an input gives the object (they need the writer
    /// to be in them, see `ops`).
    fn input_owner_groups(_input: &Self::Input) -> &[i64] {
        &[]
    }
    /// The pipeline an input joins the object to (projects).
    fn input_pipeline(_input: &Self::Input) -> Option<i64> {
        None
    }
    /// The pipeline object `id` is in now (projects).
    fn stored_pipeline(_conn: &mut DbConn, _id: i64) -> Result<Option<i64>, DbError> {
        Ok(None)
    }
    /// One page of objects matching `filter` and `authz`.
    fn list(
        conn: &mut DbConn,
        filter: &Self::ListFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<Self::Row>, DbError>;
    /// Whether object `id` matches `authz`.
    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError>;
}

diesel::define_sql_function! {
    /// SQL `lower(text)`, on both backends.
    fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The `LIKE` pattern of a case-insensitive substring search (escape `\`).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Facts of an object with an owner.
pub(crate) fn owned_facts(id: i64, created_by: Option<i64>, owner_groups: Vec<i64>) -> ObjectFacts {
    ObjectFacts {
        id,
        created_by,
        owner_groups,
        ..ObjectFacts::default()
    }
}
