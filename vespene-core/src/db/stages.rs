//! Stages (reference §1.4): global, named steps that pipelines order in
//! slots. Deleting a stage deletes every pipeline that uses it, in any
//! slot, and clears it from projects (§1.13).

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower};
use super::links::{check_ids, link_ids, set_links};
use super::schema::stages::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, json, pipelines, validate, write_tx};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "stage";

/// A stored stage.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = stages)]
pub struct Stage {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// A JSON object (validated on save).
    pub variables: String,
}

/// A stage with its variable sets.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct StageDetail {
    #[serde(flatten)]
    pub stage: Stage,
    pub variable_sets: Vec<i64>,
}

/// The form that creates or replaces a stage.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct StageInput {
    pub name: String,
    pub description: String,
    /// A JSON object; blank means `{}`.
    pub variables: String,
    pub variable_sets: Vec<i64>,
}

impl Default for StageInput {
    fn default() -> Self {
        StageInput {
            name: String::new(),
            description: String::new(),
            variables: "{}".into(),
            variable_sets: Vec::new(),
        }
    }
}

impl From<&StageDetail> for StageInput {
    fn from(d: &StageDetail) -> Self {
        StageInput {
            name: d.stage.name.clone(),
            description: d.stage.description.clone(),
            variables: d.stage.variables.clone(),
            variable_sets: d.variable_sets.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = stages)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    variables: &'a str,
}

fn check(conn: &mut DbConn, input: &StageInput) -> Result<(String, String), DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    let variables = json::object_text(NOUN, "variables", &input.variables)?;
    check_ids!(
        conn,
        variable_sets,
        &input.variable_sets,
        NOUN,
        "variable_sets",
        "variable set"
    );
    Ok((name, variables))
}

/// The ways stages are looked up.
pub struct Stages;

impl Aggregate for Stages {
    const KIND: ObjectKind = ObjectKind::Stage;
    const NOUN: &'static str = NOUN;
    type Row = Stage;
    type Detail = StageDetail;
    type Input = StageInput;
    type ListFilter = NameFilter;

    fn get(conn: &mut DbConn, id: i64) -> Result<StageDetail, DbError> {
        let stage = t::stages
            .find(id)
            .select(Stage::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let variable_sets = link_ids!(conn, stage_variable_sets, stage_id, variable_set_id, id)?;
        Ok(StageDetail {
            stage,
            variable_sets,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Stage>, DbError> {
        Ok(t::stages
            .filter(t::name.eq(name.trim()))
            .select(Stage::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(conn: &mut DbConn, _ctx: &WriteCtx<'_>, input: &StageInput) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let (name, variables) = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                variables: &variables,
            };
            let id: i64 = diesel::insert_into(t::stages)
                .values(row)
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_links!(
                conn,
                stage_variable_sets,
                stage_id,
                variable_set_id,
                id,
                &input.variable_sets
            );
            Ok(id)
        })
    }

    fn update(
        conn: &mut DbConn,
        _ctx: &WriteCtx<'_>,
        id: i64,
        input: &StageInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let (name, variables) = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                variables: &variables,
            };
            let n = diesel::update(t::stages.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_links!(
                conn,
                stage_variable_sets,
                stage_id,
                variable_set_id,
                id,
                &input.variable_sets
            );
            Ok(())
        })
    }

    /// Deletes every pipeline using the stage in any slot, clears the
    /// stage of projects, then deletes the stage.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{pipeline_stages as ps, projects as p, stage_variable_sets as sv};
        write_tx(conn, |conn| {
            let using: Vec<i64> = ps::table
                .filter(ps::stage_id.eq(id))
                .select(ps::pipeline_id)
                .load(conn)?;
            for pipeline in using {
                pipelines::delete_rows(conn, pipeline)?;
            }
            diesel::update(p::table.filter(p::stage_id.eq(id)))
                .set(p::stage_id.eq(None::<i64>))
                .execute(conn)?;
            diesel::delete(sv::table.filter(sv::stage_id.eq(id))).execute(conn)?;
            if diesel::delete(t::stages.find(id)).execute(conn)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        Self::get(conn, id)?;
        Ok(ObjectFacts {
            id,
            ..ObjectFacts::default()
        })
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<Stage>, DbError> {
        let mut q = t::stages.select(Stage::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::stages(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::stages
            .filter(t::id.eq(id))
            .filter(authz_sql::stages(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}
