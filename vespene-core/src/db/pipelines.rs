//! Pipelines (reference §1.3, §5): up to seven ordered stage slots.
//!
//! Slots are rows of `pipeline_stages (pipeline_id, slot 1..7, stage_id)`
//! rather than seven columns: "which pipelines use stage S" (needed to
//! delete a stage) is one indexed lookup, a stage cannot sit in two slots of
//! one pipeline (a unique key), and gaps keep the original's meaning (a
//! missing slot ends the chain) because slot numbers are stored.

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::links::{check_ids, insert_rows, link_ids, set_links};
use super::schema::pipeline_stages as ps;
use super::schema::pipelines::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, json, now, validate, write_tx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "pipeline";

/// How many stage slots a pipeline has.
pub const SLOTS: usize = 7;

/// A stored pipeline.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = pipelines)]
pub struct Pipeline {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The whole-pipeline switch.
    pub enabled: bool,
    #[diesel(deserialize_as = super::stamp::OptStamp)]
    pub last_completed_date: Option<NaiveDateTime>,
    /// The build that completed the pipeline last.
    pub last_completed_by: Option<i64>,
    /// A JSON object (validated on save).
    pub variables: String,
    pub created_by: Option<i64>,
}

/// A pipeline with its slots and links.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct PipelineDetail {
    #[serde(flatten)]
    pub pipeline: Pipeline,
    /// Slot 1 first; `None` for an empty slot; trailing empty slots are
    /// left out.
    pub stages: Vec<Option<i64>>,
    pub variable_sets: Vec<i64>,
    pub owner_groups: Vec<i64>,
}

impl PipelineDetail {
    /// The stages in slot order, skipping empty slots (`all_stages`).
    pub fn all_stages(&self) -> Vec<i64> {
        self.stages.iter().flatten().copied().collect()
    }

    /// The stage in the slot after the one holding `stage` (`None` at the
    /// end or at a gap).
    pub fn next_stage(&self, stage: i64) -> Option<i64> {
        let i = self.stages.iter().position(|s| *s == Some(stage))?;
        self.stages.get(i + 1).copied().flatten()
    }

    /// The stage in the slot before the one holding `stage`.
    pub fn previous_stage(&self, stage: i64) -> Option<i64> {
        let i = self.stages.iter().position(|s| *s == Some(stage))?;
        i.checked_sub(1).and_then(|j| self.stages[j])
    }
}

/// The form that creates or replaces a pipeline.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineInput {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// A JSON object; blank means `{}`.
    pub variables: String,
    /// Slot 1 first, at most seven; `None` leaves a slot empty.
    pub stages: Vec<Option<i64>>,
    pub variable_sets: Vec<i64>,
    pub owner_groups: Vec<i64>,
}

impl Default for PipelineInput {
    fn default() -> Self {
        PipelineInput {
            name: String::new(),
            description: String::new(),
            enabled: true,
            variables: "{}".into(),
            stages: Vec::new(),
            variable_sets: Vec::new(),
            owner_groups: Vec::new(),
        }
    }
}

impl From<&PipelineDetail> for PipelineInput {
    fn from(d: &PipelineDetail) -> Self {
        PipelineInput {
            name: d.pipeline.name.clone(),
            description: d.pipeline.description.clone(),
            enabled: d.pipeline.enabled,
            variables: d.pipeline.variables.clone(),
            stages: d.stages.clone(),
            variable_sets: d.variable_sets.clone(),
            owner_groups: d.owner_groups.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = pipelines)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    enabled: bool,
    variables: &'a str,
}

fn check(conn: &mut DbConn, input: &PipelineInput) -> Result<(String, String), DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    let variables = json::object_text(NOUN, "variables", &input.variables)?;
    if input.stages.len() > SLOTS {
        return Err(DbError::invalid(
            NOUN,
            "stages",
            format!(
                "a pipeline has at most {SLOTS} stages, got {}",
                input.stages.len()
            ),
        ));
    }
    let used: Vec<i64> = input.stages.iter().flatten().copied().collect();
    if validate::dedup(&used).len() != used.len() {
        return Err(DbError::invalid(
            NOUN,
            "stages",
            "a stage can fill only one slot",
        ));
    }
    check_ids!(conn, stages, &used, NOUN, "stages", "stage");
    check_ids!(
        conn,
        variable_sets,
        &input.variable_sets,
        NOUN,
        "variable_sets",
        "variable set"
    );
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

fn set_slots(conn: &mut DbConn, id: i64, stages: &[Option<i64>]) -> Result<(), DbError> {
    diesel::delete(ps::table.filter(ps::pipeline_id.eq(id))).execute(conn)?;
    let rows: Vec<_> = stages
        .iter()
        .enumerate()
        .filter_map(|(i, stage)| {
            let slot = i16::try_from(i + 1).unwrap_or(i16::MAX);
            stage.map(|s| {
                (
                    ps::pipeline_id.eq(id),
                    ps::slot.eq(slot),
                    ps::stage_id.eq(s),
                )
            })
        })
        .collect();
    if !rows.is_empty() {
        insert_rows!(conn, ps::table, rows)?;
    }
    Ok(())
}

/// The stage slots of pipeline `id` (slot 1 first, trailing gaps cut).
pub fn slots(conn: &mut DbConn, id: i64) -> Result<Vec<Option<i64>>, DbError> {
    let rows: Vec<(i16, i64)> = ps::table
        .filter(ps::pipeline_id.eq(id))
        .select((ps::slot, ps::stage_id))
        .order(ps::slot.asc())
        .load(conn)?;
    let mut stages = vec![None; SLOTS];
    for (slot, stage) in rows {
        if let Some(s) = usize::try_from(slot).ok().and_then(|s| s.checked_sub(1))
            && s < SLOTS
        {
            stages[s] = Some(stage);
        }
    }
    while stages.last() == Some(&None) {
        stages.pop();
    }
    Ok(stages)
}

/// Deletes pipeline `id`: projects leave it, builds forget it.
pub(crate) fn delete_rows(conn: &mut DbConn, id: i64) -> Result<usize, DbError> {
    use super::schema::{
        builds as b, pipeline_owner_groups as og, pipeline_variable_sets as pv, projects as p,
    };
    diesel::update(p::table.filter(p::pipeline_id.eq(id)))
        .set(p::pipeline_id.eq(None::<i64>))
        .execute(conn)?;
    diesel::update(b::table.filter(b::pipeline_id.eq(id)))
        .set(b::pipeline_id.eq(None::<i64>))
        .execute(conn)?;
    diesel::delete(ps::table.filter(ps::pipeline_id.eq(id))).execute(conn)?;
    diesel::delete(pv::table.filter(pv::pipeline_id.eq(id))).execute(conn)?;
    diesel::delete(og::table.filter(og::pipeline_id.eq(id))).execute(conn)?;
    Ok(diesel::delete(t::pipelines.find(id)).execute(conn)?)
}

/// Records that `build_id` completed pipeline `id` now (engine).
pub fn mark_completed(conn: &mut DbConn, id: i64, build_id: i64) -> Result<(), DbError> {
    let n = diesel::update(t::pipelines.find(id))
        .set((
            t::last_completed_date.eq(Some(now())),
            t::last_completed_by.eq(Some(build_id)),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::not_found(NOUN, id));
    }
    Ok(())
}

/// The ways pipelines are looked up.
pub struct Pipelines;

impl Aggregate for Pipelines {
    const KIND: ObjectKind = ObjectKind::Pipeline;
    const NOUN: &'static str = NOUN;
    type Row = Pipeline;
    type Detail = PipelineDetail;
    type Input = PipelineInput;
    type ListFilter = NameFilter;
    fn input_owner_groups(input: &Self::Input) -> &[i64] {
        &input.owner_groups
    }

    fn get(conn: &mut DbConn, id: i64) -> Result<PipelineDetail, DbError> {
        let pipeline = t::pipelines
            .find(id)
            .select(Pipeline::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        Ok(PipelineDetail {
            pipeline,
            stages: slots(conn, id)?,
            variable_sets: link_ids!(
                conn,
                pipeline_variable_sets,
                pipeline_id,
                variable_set_id,
                id
            )?,
            owner_groups: link_ids!(conn, pipeline_owner_groups, pipeline_id, group_id, id)?,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Pipeline>, DbError> {
        Ok(t::pipelines
            .filter(t::name.eq(name.trim()))
            .select(Pipeline::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        input: &PipelineInput,
    ) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let (name, variables) = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                enabled: input.enabled,
                variables: &variables,
            };
            let id: i64 = diesel::insert_into(t::pipelines)
                .values((row, t::created_by.eq(ctx.user_id)))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_slots(conn, id, &input.stages)?;
            set_links!(
                conn,
                pipeline_variable_sets,
                pipeline_id,
                variable_set_id,
                id,
                &input.variable_sets
            );
            set_links!(
                conn,
                pipeline_owner_groups,
                pipeline_id,
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
        input: &PipelineInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let (name, variables) = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                enabled: input.enabled,
                variables: &variables,
            };
            let n = diesel::update(t::pipelines.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_slots(conn, id, &input.stages)?;
            set_links!(
                conn,
                pipeline_variable_sets,
                pipeline_id,
                variable_set_id,
                id,
                &input.variable_sets
            );
            set_links!(
                conn,
                pipeline_owner_groups,
                pipeline_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(())
        })
    }

    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            if delete_rows(conn, id)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let created_by: Option<i64> = t::pipelines
            .find(id)
            .select(t::created_by)
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let owner_groups = link_ids!(conn, pipeline_owner_groups, pipeline_id, group_id, id)?;
        Ok(owned_facts(id, created_by, owner_groups))
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<Pipeline>, DbError> {
        let mut q = t::pipelines.select(Pipeline::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::pipelines(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::pipelines
            .filter(t::id.eq(id))
            .filter(authz_sql::pipelines(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}
