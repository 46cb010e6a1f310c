//! Snippets (reference §1.6): named Jinja2 templates that become variables.

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::links::{check_ids, link_ids, set_links};
use super::schema::snippets::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, validate, write_tx};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "snippet";

/// A stored snippet.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = snippets)]
pub struct Snippet {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// A Jinja2 template.
    pub text: String,
    pub created_by: Option<i64>,
}

/// A snippet with its owner groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SnippetDetail {
    #[serde(flatten)]
    pub snippet: Snippet,
    pub owner_groups: Vec<i64>,
}

/// The form that creates or replaces a snippet.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct SnippetInput {
    pub name: String,
    pub description: String,
    pub text: String,
    pub owner_groups: Vec<i64>,
}

impl From<&SnippetDetail> for SnippetInput {
    fn from(d: &SnippetDetail) -> Self {
        SnippetInput {
            name: d.snippet.name.clone(),
            description: d.snippet.description.clone(),
            text: d.snippet.text.clone(),
            owner_groups: d.owner_groups.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = snippets)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    text: &'a str,
}

fn check(conn: &mut DbConn, input: &SnippetInput) -> Result<String, DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    check_ids!(
        conn,
        groups,
        &input.owner_groups,
        NOUN,
        "owner_groups",
        "group"
    );
    Ok(name)
}

/// The ways snippets are looked up.
pub struct Snippets;

impl Aggregate for Snippets {
    const KIND: ObjectKind = ObjectKind::Snippet;
    const NOUN: &'static str = NOUN;
    type Row = Snippet;
    type Detail = SnippetDetail;
    type Input = SnippetInput;
    type ListFilter = NameFilter;
    fn input_owner_groups(input: &Self::Input) -> &[i64] {
        &input.owner_groups
    }

    fn get(conn: &mut DbConn, id: i64) -> Result<SnippetDetail, DbError> {
        let snippet = t::snippets
            .find(id)
            .select(Snippet::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let owner_groups = link_ids!(conn, snippet_owner_groups, snippet_id, group_id, id)?;
        Ok(SnippetDetail {
            snippet,
            owner_groups,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Snippet>, DbError> {
        Ok(t::snippets
            .filter(t::name.eq(name.trim()))
            .select(Snippet::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(conn: &mut DbConn, ctx: &WriteCtx<'_>, input: &SnippetInput) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                text: &input.text,
            };
            let id: i64 = diesel::insert_into(t::snippets)
                .values((row, t::created_by.eq(ctx.user_id)))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_links!(
                conn,
                snippet_owner_groups,
                snippet_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(id)
        })
    }

    fn update(
        conn: &mut DbConn,
        _ctx: &WriteCtx<'_>,
        id: i64,
        input: &SnippetInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                text: &input.text,
            };
            let n = diesel::update(t::snippets.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_links!(
                conn,
                snippet_owner_groups,
                snippet_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(())
        })
    }

    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            use super::schema::snippet_owner_groups as og;
            diesel::delete(og::table.filter(og::snippet_id.eq(id))).execute(conn)?;
            if diesel::delete(t::snippets.find(id)).execute(conn)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let d = Self::get(conn, id)?;
        Ok(owned_facts(id, d.snippet.created_by, d.owner_groups))
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<Snippet>, DbError> {
        let mut q = t::snippets.select(Snippet::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::snippets(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::snippets
            .filter(t::id.eq(id))
            .filter(authz_sql::snippets(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}
