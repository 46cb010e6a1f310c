//! Worker pools (reference §1.5): the queues builds wait in, their
//! isolation method and autoscaling settings. A pool that projects or
//! organizations use cannot be deleted (the error lists them); deleting a
//! pool deletes its builds (§1.13).

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::builds::delete_builds_where;
use super::links::{check_ids, link_ids, set_links};
use super::schema::worker_pools::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, json, now, validate, write_tx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "worker pool";

/// A stored worker pool.
#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = worker_pools)]
pub struct WorkerPool {
    pub id: i64,
    /// The queue name workers are started with.
    pub name: String,
    /// A JSON object: the lowest-precedence variables.
    pub variables: String,
    /// The name of an `[plugins.isolation]` entry.
    pub isolation_method: String,
    /// The user of sudo isolation (blank: `nobody`).
    pub sudo_user: Option<String>,
    /// chmod applied to the build root by sudo isolation (`0x777`).
    pub permissions_hex: String,
    /// Poll interval of the original's workers.
    pub sleep_seconds: i32,
    /// Queued builds older than this become ORPHANED.
    pub auto_abort_minutes: i32,
    /// De-duplicate queued builds of one project.
    pub build_latest: bool,
    pub autoscaling_enabled: bool,
    /// The name of an `[plugins.autoscaling_planners]` entry.
    pub planner: Option<String>,
    /// The name of an `[plugins.autoscaling_executors]` entry.
    pub executor: Option<String>,
    pub running_weight: f64,
    pub queued_weight: f64,
    pub excess: i32,
    pub multiplier: f64,
    pub minimum: i32,
    pub maximum: i32,
    /// Jinja2 shell command of the shell executor.
    pub executor_command: String,
    #[diesel(deserialize_as = super::stamp::OptStamp)]
    pub last_autoscaled: Option<NaiveDateTime>,
    /// 0 when the last autoscaling succeeded.
    pub autoscaling_status: Option<i32>,
    pub reevaluate_minutes: i32,
    /// Days (declared by the original, used by cleanup here).
    pub build_object_shelf_life: i32,
    pub build_root_shelf_life: i32,
    pub created_by: Option<i64>,
}

/// A pool with its variable sets.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct WorkerPoolDetail {
    #[serde(flatten)]
    pub worker_pool: WorkerPool,
    pub variable_sets: Vec<i64>,
}

/// The form that creates or replaces a worker pool (defaults as the
/// original's).
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerPoolInput {
    pub name: String,
    pub variables: String,
    pub isolation_method: String,
    pub sudo_user: Option<String>,
    pub permissions_hex: String,
    pub sleep_seconds: i32,
    pub auto_abort_minutes: i32,
    pub build_latest: bool,
    pub autoscaling_enabled: bool,
    pub planner: Option<String>,
    pub executor: Option<String>,
    pub running_weight: f64,
    pub queued_weight: f64,
    pub excess: i32,
    pub multiplier: f64,
    pub minimum: i32,
    pub maximum: i32,
    pub executor_command: String,
    pub reevaluate_minutes: i32,
    pub build_object_shelf_life: i32,
    pub build_root_shelf_life: i32,
    pub variable_sets: Vec<i64>,
}

impl Default for WorkerPoolInput {
    fn default() -> Self {
        WorkerPoolInput {
            name: String::new(),
            variables: "{}".into(),
            isolation_method: String::new(),
            sudo_user: None,
            permissions_hex: "0x777".into(),
            sleep_seconds: 10,
            auto_abort_minutes: 1440,
            build_latest: true,
            autoscaling_enabled: false,
            planner: None,
            executor: None,
            running_weight: 1.0,
            queued_weight: 1.0,
            excess: 0,
            multiplier: 1.0,
            minimum: 0,
            maximum: 10,
            executor_command: String::new(),
            reevaluate_minutes: 10,
            build_object_shelf_life: 365,
            build_root_shelf_life: 31,
            variable_sets: Vec::new(),
        }
    }
}

impl From<&WorkerPoolDetail> for WorkerPoolInput {
    fn from(d: &WorkerPoolDetail) -> Self {
        let p = &d.worker_pool;
        WorkerPoolInput {
            name: p.name.clone(),
            variables: p.variables.clone(),
            isolation_method: p.isolation_method.clone(),
            sudo_user: p.sudo_user.clone(),
            permissions_hex: p.permissions_hex.clone(),
            sleep_seconds: p.sleep_seconds,
            auto_abort_minutes: p.auto_abort_minutes,
            build_latest: p.build_latest,
            autoscaling_enabled: p.autoscaling_enabled,
            planner: p.planner.clone(),
            executor: p.executor.clone(),
            running_weight: p.running_weight,
            queued_weight: p.queued_weight,
            excess: p.excess,
            multiplier: p.multiplier,
            minimum: p.minimum,
            maximum: p.maximum,
            executor_command: p.executor_command.clone(),
            reevaluate_minutes: p.reevaluate_minutes,
            build_object_shelf_life: p.build_object_shelf_life,
            build_root_shelf_life: p.build_root_shelf_life,
            variable_sets: d.variable_sets.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = worker_pools, treat_none_as_null = true)]
struct Row<'a> {
    name: &'a str,
    variables: &'a str,
    isolation_method: &'a str,
    sudo_user: Option<&'a str>,
    permissions_hex: &'a str,
    sleep_seconds: i32,
    auto_abort_minutes: i32,
    build_latest: bool,
    autoscaling_enabled: bool,
    planner: Option<&'a str>,
    executor: Option<&'a str>,
    running_weight: f64,
    queued_weight: f64,
    excess: i32,
    multiplier: f64,
    minimum: i32,
    maximum: i32,
    executor_command: &'a str,
    reevaluate_minutes: i32,
    build_object_shelf_life: i32,
    build_root_shelf_life: i32,
}

fn blank_none(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Parses `0x777` / `777` (hex digits).
pub fn parse_permissions_hex(s: &str) -> Option<u32> {
    let digits = s
        .trim()
        .strip_prefix("0x")
        .or_else(|| s.trim().strip_prefix("0X"))
        .unwrap_or(s.trim());
    u32::from_str_radix(digits, 16)
        .ok()
        .filter(|v| *v <= 0o7777)
}

struct Checked {
    name: String,
    variables: String,
}

fn check(conn: &mut DbConn, input: &WorkerPoolInput) -> Result<Checked, DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    let variables = json::object_text(NOUN, "variables", &input.variables)?;
    if input.isolation_method.trim().is_empty() {
        return Err(DbError::invalid(
            NOUN,
            "isolation_method",
            "is required (the name of an [plugins.isolation] entry)",
        ));
    }
    if parse_permissions_hex(&input.permissions_hex).is_none() {
        return Err(DbError::invalid(
            NOUN,
            "permissions_hex",
            format!(
                "'{}' is not a file mode in hex digits such as 0x777",
                input.permissions_hex
            ),
        ));
    }
    validate::range(NOUN, "sleep_seconds", input.sleep_seconds, 0, 86_400)?;
    validate::range(
        NOUN,
        "auto_abort_minutes",
        input.auto_abort_minutes,
        0,
        i32::MAX,
    )?;
    validate::range(NOUN, "minimum", input.minimum, 0, i32::MAX)?;
    validate::range(NOUN, "maximum", input.maximum, input.minimum, i32::MAX)?;
    validate::range(
        NOUN,
        "reevaluate_minutes",
        input.reevaluate_minutes,
        0,
        i32::MAX,
    )?;
    validate::range(
        NOUN,
        "build_object_shelf_life",
        input.build_object_shelf_life,
        0,
        i32::MAX,
    )?;
    validate::range(
        NOUN,
        "build_root_shelf_life",
        input.build_root_shelf_life,
        0,
        i32::MAX,
    )?;
    for (field, v) in [
        ("multiplier", input.multiplier),
        ("running_weight", input.running_weight),
        ("queued_weight", input.queued_weight),
    ] {
        if !v.is_finite() || v < 0.0 {
            return Err(DbError::invalid(
                NOUN,
                field,
                format!("must be a number ≥ 0, got {v}"),
            ));
        }
    }
    if input.autoscaling_enabled
        && (blank_none(&input.planner).is_none() || blank_none(&input.executor).is_none())
    {
        return Err(DbError::invalid(
            NOUN,
            if blank_none(&input.planner).is_none() {
                "planner"
            } else {
                "executor"
            },
            "is required when autoscaling is enabled",
        ));
    }
    check_ids!(
        conn,
        variable_sets,
        &input.variable_sets,
        NOUN,
        "variable_sets",
        "variable set"
    );
    Ok(Checked { name, variables })
}

fn row<'a>(input: &'a WorkerPoolInput, c: &'a Checked) -> Row<'a> {
    Row {
        name: &c.name,
        variables: &c.variables,
        isolation_method: input.isolation_method.trim(),
        sudo_user: blank_none(&input.sudo_user),
        permissions_hex: input.permissions_hex.trim(),
        sleep_seconds: input.sleep_seconds,
        auto_abort_minutes: input.auto_abort_minutes,
        build_latest: input.build_latest,
        autoscaling_enabled: input.autoscaling_enabled,
        planner: blank_none(&input.planner),
        executor: blank_none(&input.executor),
        running_weight: input.running_weight,
        queued_weight: input.queued_weight,
        excess: input.excess,
        multiplier: input.multiplier,
        minimum: input.minimum,
        maximum: input.maximum,
        executor_command: &input.executor_command,
        reevaluate_minutes: input.reevaluate_minutes,
        build_object_shelf_life: input.build_object_shelf_life,
        build_root_shelf_life: input.build_root_shelf_life,
    }
}

/// Records an autoscaling run (engine).
pub fn record_autoscale(conn: &mut DbConn, id: i64, status: i32) -> Result<(), DbError> {
    let n = diesel::update(t::worker_pools.find(id))
        .set((
            t::last_autoscaled.eq(Some(now())),
            t::autoscaling_status.eq(Some(status)),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::not_found(NOUN, id));
    }
    Ok(())
}

/// Names of those that keep pool `id` from being deleted.
fn users_of(conn: &mut DbConn, id: i64) -> Result<Vec<String>, DbError> {
    use super::schema::{organizations as o, projects as p};
    let projects: Vec<String> = p::table
        .filter(p::worker_pool_id.eq(id))
        .select(p::name)
        .order(p::name.asc())
        .limit(11)
        .load(conn)?;
    let orgs: Vec<String> = o::table
        .filter(
            o::worker_pool_id
                .eq(id)
                .or(o::default_worker_pool_id.eq(id)),
        )
        .select(o::name)
        .order(o::name.asc())
        .limit(11)
        .load(conn)?;
    let mut users: Vec<String> = projects
        .into_iter()
        .map(|n| format!("project '{n}'"))
        .collect();
    users.extend(orgs.into_iter().map(|n| format!("organization '{n}'")));
    Ok(users)
}

/// The ways worker pools are looked up.
pub struct WorkerPools;

impl Aggregate for WorkerPools {
    const KIND: ObjectKind = ObjectKind::WorkerPool;
    const NOUN: &'static str = NOUN;
    type Row = WorkerPool;
    type Detail = WorkerPoolDetail;
    type Input = WorkerPoolInput;
    type ListFilter = NameFilter;

    fn get(conn: &mut DbConn, id: i64) -> Result<WorkerPoolDetail, DbError> {
        let worker_pool = t::worker_pools
            .find(id)
            .select(WorkerPool::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let variable_sets = link_ids!(
            conn,
            worker_pool_variable_sets,
            worker_pool_id,
            variable_set_id,
            id
        )?;
        Ok(WorkerPoolDetail {
            worker_pool,
            variable_sets,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<WorkerPool>, DbError> {
        Ok(t::worker_pools
            .filter(t::name.eq(name.trim()))
            .select(WorkerPool::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        input: &WorkerPoolInput,
    ) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let checked = check(conn, input)?;
            let id: i64 = diesel::insert_into(t::worker_pools)
                .values((row(input, &checked), t::created_by.eq(ctx.user_id)))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &checked.name))?;
            set_links!(
                conn,
                worker_pool_variable_sets,
                worker_pool_id,
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
        input: &WorkerPoolInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let checked = check(conn, input)?;
            let n = diesel::update(t::worker_pools.find(id))
                .set(row(input, &checked))
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &checked.name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_links!(
                conn,
                worker_pool_variable_sets,
                worker_pool_id,
                variable_set_id,
                id,
                &input.variable_sets
            );
            Ok(())
        })
    }

    /// Refused while projects or organizations use the pool; otherwise
    /// deletes the pool's builds, then the pool.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::worker_pool_variable_sets as wv;
        write_tx(conn, |conn| {
            let name: String = t::worker_pools
                .find(id)
                .select(t::name)
                .first(conn)
                .optional()?
                .ok_or_else(|| DbError::not_found(NOUN, id))?;
            let users = users_of(conn, id)?;
            if !users.is_empty() {
                let shown: Vec<&str> = users.iter().take(10).map(String::as_str).collect();
                let more = if users.len() > 10 { " and more" } else { "" };
                return Err(DbError::conflict(
                    NOUN,
                    format!(
                        "worker pool '{name}' cannot be deleted: it is used by {}{more}; \
                         move them to another pool first",
                        shown.join(", ")
                    ),
                ));
            }
            delete_builds_where!(conn, super::schema::builds::worker_pool_id.eq(id));
            diesel::delete(wv::table.filter(wv::worker_pool_id.eq(id))).execute(conn)?;
            diesel::delete(t::worker_pools.find(id)).execute(conn)?;
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let created_by: Option<i64> = t::worker_pools
            .find(id)
            .select(t::created_by)
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        Ok(owned_facts(id, created_by, Vec::new()))
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<WorkerPool>, DbError> {
        let mut q = t::worker_pools.select(WorkerPool::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::worker_pools(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::worker_pools
            .filter(t::id.eq(id))
            .filter(authz_sql::worker_pools(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}
