//! Variable sets (reference §1.7): named JSON objects of variables,
//! attachable to worker pools, pipelines, stages and projects.

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::links::{check_ids, link_ids, set_links};
use super::schema::variable_sets::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, json, validate, write_tx};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "variable set";

/// A stored variable set.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = variable_sets)]
pub struct VariableSet {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// A JSON object (validated on save).
    pub variables: String,
    pub created_by: Option<i64>,
}

/// A variable set with its owner groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct VariableSetDetail {
    #[serde(flatten)]
    pub variable_set: VariableSet,
    pub owner_groups: Vec<i64>,
}

/// The form that creates or replaces a variable set.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct VariableSetInput {
    pub name: String,
    pub description: String,
    /// A JSON object; blank means `{}`.
    pub variables: String,
    pub owner_groups: Vec<i64>,
}

impl Default for VariableSetInput {
    fn default() -> Self {
        VariableSetInput {
            name: String::new(),
            description: String::new(),
            variables: "{}".into(),
            owner_groups: Vec::new(),
        }
    }
}

impl From<&VariableSetDetail> for VariableSetInput {
    fn from(d: &VariableSetDetail) -> Self {
        VariableSetInput {
            name: d.variable_set.name.clone(),
            description: d.variable_set.description.clone(),
            variables: d.variable_set.variables.clone(),
            owner_groups: d.owner_groups.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = variable_sets)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    variables: &'a str,
}

fn check(conn: &mut DbConn, input: &VariableSetInput) -> Result<(String, String), DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    let variables = json::object_text(NOUN, "variables", &input.variables)?;
    check_ids!(
        conn,
        groups,
        &input.owner_groups,
        NOUN,
        "owner_groups",
        "group"
    );
    Ok((name, variables))
}

/// The ways variable sets are looked up.
pub struct VariableSets;

impl Aggregate for VariableSets {
    const KIND: ObjectKind = ObjectKind::VariableSet;
    const NOUN: &'static str = NOUN;
    type Row = VariableSet;
    type Detail = VariableSetDetail;
    type Input = VariableSetInput;
    type ListFilter = NameFilter;
    fn input_owner_groups(input: &Self::Input) -> &[i64] {
        &input.owner_groups
    }

    fn get(conn: &mut DbConn, id: i64) -> Result<VariableSetDetail, DbError> {
        let variable_set = t::variable_sets
            .find(id)
            .select(VariableSet::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let owner_groups = link_ids!(
            conn,
            variable_set_owner_groups,
            variable_set_id,
            group_id,
            id
        )?;
        Ok(VariableSetDetail {
            variable_set,
            owner_groups,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<VariableSet>, DbError> {
        Ok(t::variable_sets
            .filter(t::name.eq(name.trim()))
            .select(VariableSet::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        input: &VariableSetInput,
    ) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let (name, variables) = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                variables: &variables,
            };
            let id: i64 = diesel::insert_into(t::variable_sets)
                .values((row, t::created_by.eq(ctx.user_id)))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_links!(
                conn,
                variable_set_owner_groups,
                variable_set_id,
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
        input: &VariableSetInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let (name, variables) = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                variables: &variables,
            };
            let n = diesel::update(t::variable_sets.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_links!(
                conn,
                variable_set_owner_groups,
                variable_set_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(())
        })
    }

    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{
            pipeline_variable_sets as pv, project_variable_sets as prv, stage_variable_sets as sv,
            variable_set_owner_groups as og, worker_pool_variable_sets as wv,
        };
        write_tx(conn, |conn| {
            diesel::delete(prv::table.filter(prv::variable_set_id.eq(id))).execute(conn)?;
            diesel::delete(pv::table.filter(pv::variable_set_id.eq(id))).execute(conn)?;
            diesel::delete(sv::table.filter(sv::variable_set_id.eq(id))).execute(conn)?;
            diesel::delete(wv::table.filter(wv::variable_set_id.eq(id))).execute(conn)?;
            diesel::delete(og::table.filter(og::variable_set_id.eq(id))).execute(conn)?;
            if diesel::delete(t::variable_sets.find(id)).execute(conn)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let d = Self::get(conn, id)?;
        Ok(owned_facts(id, d.variable_set.created_by, d.owner_groups))
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<VariableSet>, DbError> {
        let mut q = t::variable_sets
            .select(VariableSet::as_select())
            .into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::variable_sets(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::variable_sets
            .filter(t::id.eq(id))
            .filter(authz_sql::variable_sets(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}

/// The variable sets of `ids`, in the order given (for the variables
/// plugins).
pub fn load_many(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<VariableSet>, DbError> {
    let rows: Vec<VariableSet> = t::variable_sets
        .filter(t::id.eq_any(ids.to_vec()))
        .select(VariableSet::as_select())
        .load(conn)?;
    Ok(ids
        .iter()
        .filter_map(|id| rows.iter().find(|r| r.id == *id).cloned())
        .collect())
}
