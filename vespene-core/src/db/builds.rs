//! Builds (reference §1.2, §2): the request to run and the record of the
//! run. Users never create builds through a generic form: the engine queues
//! them ([`insert_queued`]) when a project is started, and updates their
//! fields as they run ([`update`]). Output lives in [`super::output`].

use super::aggregate::owned_facts;
use super::links::check_ref;
use super::schema::builds::{self, dsl as t};
use super::stamp::{OptStamp, Stamp};
use super::{DbConn, DbError, Page, Paged, authz_sql, json, now, write_tx};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use std::fmt;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts};

const NOUN: &str = "build";

/// The states of a build (reference §2.1), stored as the original's
/// upper-case words.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BuildStatus {
    Queued,
    Running,
    Success,
    Failure,
    Aborting,
    Aborted,
    Orphaned,
    Unknown,
    Blocked,
}

impl BuildStatus {
    pub const ALL: [BuildStatus; 9] = [
        BuildStatus::Queued,
        BuildStatus::Running,
        BuildStatus::Success,
        BuildStatus::Failure,
        BuildStatus::Aborting,
        BuildStatus::Aborted,
        BuildStatus::Orphaned,
        BuildStatus::Unknown,
        BuildStatus::Blocked,
    ];

    /// The stored spelling (`QUEUED`).
    pub fn as_str(self) -> &'static str {
        match self {
            BuildStatus::Queued => "QUEUED",
            BuildStatus::Running => "RUNNING",
            BuildStatus::Success => "SUCCESS",
            BuildStatus::Failure => "FAILURE",
            BuildStatus::Aborting => "ABORTING",
            BuildStatus::Aborted => "ABORTED",
            BuildStatus::Orphaned => "ORPHANED",
            BuildStatus::Unknown => "UNKNOWN",
            BuildStatus::Blocked => "BLOCKED",
        }
    }

    /// Parses a status, case-insensitively.
    pub fn parse(s: &str) -> Option<BuildStatus> {
        BuildStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// RUNNING (the original's `is_active`).
    pub fn is_active(self) -> bool {
        self == BuildStatus::Running
    }

    /// Neither RUNNING nor QUEUED.
    pub fn is_complete(self) -> bool {
        !matches!(self, BuildStatus::Running | BuildStatus::Queued)
    }

    /// RUNNING or QUEUED.
    pub fn is_stoppable(self) -> bool {
        matches!(self, BuildStatus::Running | BuildStatus::Queued)
    }
}

impl fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored build, every field.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Queryable,
    Selectable,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[diesel(table_name = builds)]
pub struct Build {
    pub id: i64,
    /// `None` for organization-import builds.
    pub project_id: Option<i64>,
    pub organization_id: Option<i64>,
    /// The pipeline the build ran in, if any.
    pub pipeline_id: Option<i64>,
    pub is_internal: bool,
    /// Short commit id (git) or last changed revision (svn).
    pub revision: String,
    /// Author of the checked-out revision.
    pub revision_username: String,
    #[diesel(deserialize_as = Stamp)]
    pub queued_time: NaiveDateTime,
    #[diesel(deserialize_as = OptStamp)]
    pub start_time: Option<NaiveDateTime>,
    #[diesel(deserialize_as = OptStamp)]
    pub end_time: Option<NaiveDateTime>,
    /// Exit code of the failing command; `None` on success.
    pub return_code: Option<i32>,
    /// The stored status word; see [`Build::status`].
    #[diesel(column_name = status)]
    #[serde(rename = "status")]
    pub status_text: String,
    pub worker_pool_id: i64,
    pub working_dir: String,
    /// JSON object: the variables computed at queue time.
    pub variables: String,
    /// JSON object: answers to launch questions.
    pub launch_answers: String,
    /// JSON object: collected from `vespene/set` lines.
    pub output_variables: String,
    /// The rendered build script.
    pub script: String,
    pub created_by: Option<i64>,
    pub pipeline_origin_build_id: Option<i64>,
    pub pipeline_parent_build_id: Option<i64>,
    pub worker_id: Option<i64>,
    /// The uid of the worker that claimed the build.
    pub claimed_by: Option<String>,
    /// Last heartbeat of the worker running the build.
    #[diesel(deserialize_as = OptStamp)]
    pub heartbeat_at: Option<NaiveDateTime>,
}

impl Build {
    /// The status (`UNKNOWN` for a word this version does not know).
    pub fn status(&self) -> BuildStatus {
        BuildStatus::parse(&self.status_text).unwrap_or(BuildStatus::Unknown)
    }
}

/// The columns a build list shows.
#[derive(
    Debug, Clone, PartialEq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = builds)]
pub struct BuildSummary {
    pub id: i64,
    pub project_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub worker_pool_id: i64,
    #[diesel(column_name = status)]
    #[serde(rename = "status")]
    pub status_text: String,
    pub revision: String,
    #[serde(serialize_with = "super::timestamp::serialize")]
    #[diesel(deserialize_as = Stamp)]
    pub queued_time: NaiveDateTime,
    #[serde(serialize_with = "super::timestamp::serialize_opt")]
    #[diesel(deserialize_as = OptStamp)]
    pub start_time: Option<NaiveDateTime>,
    #[serde(serialize_with = "super::timestamp::serialize_opt")]
    #[diesel(deserialize_as = OptStamp)]
    pub end_time: Option<NaiveDateTime>,
    pub return_code: Option<i32>,
    pub created_by: Option<i64>,
}

impl BuildSummary {
    pub fn status(&self) -> BuildStatus {
        BuildStatus::parse(&self.status_text).unwrap_or(BuildStatus::Unknown)
    }
}

/// A build to queue (the engine fills it from the project).
#[derive(Debug, Clone, PartialEq)]
pub struct NewBuild {
    pub project_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub worker_pool_id: i64,
    /// `Queued` normally; `Failure` for a template error at queue time.
    pub status: BuildStatus,
    pub is_internal: bool,
    /// JSON object.
    pub variables: String,
    /// JSON object.
    pub launch_answers: String,
    pub script: String,
    pub created_by: Option<i64>,
    /// `None`: the build starts its own chain (origin = its own id).
    pub pipeline_origin_build_id: Option<i64>,
    pub pipeline_parent_build_id: Option<i64>,
}

impl NewBuild {
    /// A queued build of `project_id` in `worker_pool_id`, otherwise empty.
    pub fn queued(project_id: i64, worker_pool_id: i64) -> NewBuild {
        NewBuild {
            project_id: Some(project_id),
            organization_id: None,
            pipeline_id: None,
            worker_pool_id,
            status: BuildStatus::Queued,
            is_internal: false,
            variables: "{}".into(),
            launch_answers: "{}".into(),
            script: String::new(),
            created_by: None,
            pipeline_origin_build_id: None,
            pipeline_parent_build_id: None,
        }
    }
}

/// Changes to a build; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, AsChangeset)]
#[diesel(table_name = builds)]
pub struct BuildChanges {
    #[diesel(column_name = status)]
    pub status_text: Option<String>,
    pub start_time: Option<Option<NaiveDateTime>>,
    pub end_time: Option<Option<NaiveDateTime>>,
    pub return_code: Option<Option<i32>>,
    pub revision: Option<String>,
    pub revision_username: Option<String>,
    pub working_dir: Option<String>,
    pub variables: Option<String>,
    pub output_variables: Option<String>,
    pub script: Option<String>,
    pub worker_id: Option<Option<i64>>,
    pub claimed_by: Option<Option<String>>,
    pub heartbeat_at: Option<Option<NaiveDateTime>>,
    pub pipeline_id: Option<Option<i64>>,
    pub pipeline_origin_build_id: Option<Option<i64>>,
    pub pipeline_parent_build_id: Option<Option<i64>>,
}

impl BuildChanges {
    /// Sets the status.
    pub fn status(mut self, status: BuildStatus) -> Self {
        self.status_text = Some(status.as_str().to_string());
        self
    }
}

/// The filters of a build list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildFilter {
    pub project_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub worker_pool_id: Option<i64>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<BuildStatus>,
    /// Only builds older than this id (keyset paging: cheaper than page
    /// numbers deep into a long history).
    pub before_id: Option<i64>,
}

fn json_field(field: &str, text: &str) -> Result<String, DbError> {
    json::object_text(NOUN, field, text)
}

/// Queues a build (no permission check: the engine's door). Validates the
/// references and the JSON fields; a build that starts its own pipeline
/// chain gets its own id as `pipeline_origin_build_id` (reference §2.2).
pub fn insert_queued(conn: &mut DbConn, new: &NewBuild) -> Result<i64, DbError> {
    let variables = json_field("variables", &new.variables)?;
    let launch_answers = json_field("launch_answers", &new.launch_answers)?;
    write_tx(conn, |conn| {
        check_ref!(conn, projects, new.project_id, NOUN, "project", "project");
        check_ref!(
            conn,
            organizations,
            new.organization_id,
            NOUN,
            "organization",
            "organization"
        );
        check_ref!(
            conn,
            pipelines,
            new.pipeline_id,
            NOUN,
            "pipeline",
            "pipeline"
        );
        check_ref!(
            conn,
            worker_pools,
            Some(new.worker_pool_id),
            NOUN,
            "worker_pool",
            "worker pool"
        );
        check_ref!(conn, users, new.created_by, NOUN, "created_by", "user");
        let id: i64 = diesel::insert_into(t::builds)
            .values((
                t::project_id.eq(new.project_id),
                t::organization_id.eq(new.organization_id),
                t::pipeline_id.eq(new.pipeline_id),
                t::is_internal.eq(new.is_internal),
                t::queued_time.eq(now()),
                t::status.eq(new.status.as_str()),
                t::worker_pool_id.eq(new.worker_pool_id),
                t::variables.eq(&variables),
                t::launch_answers.eq(&launch_answers),
                t::script.eq(&new.script),
                t::created_by.eq(new.created_by),
                t::pipeline_origin_build_id.eq(new.pipeline_origin_build_id),
                t::pipeline_parent_build_id.eq(new.pipeline_parent_build_id),
            ))
            .returning(t::id)
            .get_result(conn)?;
        if new.pipeline_origin_build_id.is_none() {
            diesel::update(t::builds.find(id))
                .set(t::pipeline_origin_build_id.eq(Some(id)))
                .execute(conn)?;
        }
        Ok(id)
    })
}

/// Applies `changes` to build `id` (no permission check). JSON fields are
/// validated.
pub fn update(conn: &mut DbConn, id: i64, changes: &BuildChanges) -> Result<(), DbError> {
    let mut changes = changes.clone();
    if let Some(v) = &changes.variables {
        changes.variables = Some(json_field("variables", v)?);
    }
    if let Some(v) = &changes.output_variables {
        changes.output_variables = Some(json_field("output_variables", v)?);
    }
    if let Some(s) = &changes.status_text
        && BuildStatus::parse(s).is_none()
    {
        return Err(DbError::invalid(
            NOUN,
            "status",
            format!("'{s}' is not a build status"),
        ));
    }
    if changes == BuildChanges::default() {
        return if exists(conn, id)? {
            Ok(())
        } else {
            Err(DbError::not_found(NOUN, id))
        };
    }
    let n = diesel::update(t::builds.find(id))
        .set(&changes)
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::not_found(NOUN, id));
    }
    Ok(())
}

/// Whether build `id` exists.
pub fn exists(conn: &mut DbConn, id: i64) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(t::builds.find(id))).get_result(conn)?)
}

/// Build `id`, every field.
pub fn get(conn: &mut DbConn, id: i64) -> Result<Build, DbError> {
    t::builds
        .find(id)
        .select(Build::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found(NOUN, id))
}

/// Only the status of build `id` (for watchers and pipelines that ask
/// often and need nothing else).
pub fn status_of(conn: &mut DbConn, id: i64) -> Result<BuildStatus, DbError> {
    let text: String = t::builds
        .find(id)
        .select(t::status)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found(NOUN, id))?;
    Ok(BuildStatus::parse(&text).unwrap_or(BuildStatus::Unknown))
}

/// The statuses of builds `ids` that match `authz` (the status icons of
/// a page of projects: one query, not one per project).
pub fn statuses(
    conn: &mut DbConn,
    ids: &[i64],
    authz: &Filter,
) -> Result<Vec<(i64, BuildStatus)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = t::builds
        .filter(t::id.eq_any(ids.to_vec()))
        .select((t::id, t::status))
        .into_boxed();
    if !authz_sql::is_all(authz) {
        q = q.filter(authz_sql::builds(authz));
    }
    let rows: Vec<(i64, String)> = q.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, s)| (id, BuildStatus::parse(&s).unwrap_or(BuildStatus::Unknown)))
        .collect())
}

/// One page of builds, newest first.
pub fn list(
    conn: &mut DbConn,
    filter: &BuildFilter,
    authz: &Filter,
    page: Page,
) -> Result<Paged<BuildSummary>, DbError> {
    let mut q = t::builds.select(BuildSummary::as_select()).into_boxed();
    if let Some(p) = filter.project_id {
        q = q.filter(t::project_id.eq(p));
    }
    if let Some(o) = filter.organization_id {
        q = q.filter(t::organization_id.eq(o));
    }
    if let Some(w) = filter.worker_pool_id {
        q = q.filter(t::worker_pool_id.eq(w));
    }
    match filter.statuses.as_slice() {
        [] => {}
        [one] => q = q.filter(t::status.eq(one.as_str())),
        many => q = q.filter(t::status.eq_any(many.iter().map(|s| s.as_str()).collect::<Vec<_>>())),
    }
    if let Some(b) = filter.before_id {
        q = q.filter(t::id.lt(b));
    }
    if !authz_sql::is_all(authz) {
        q = q.filter(authz_sql::builds(authz));
    }
    let rows = q
        .order(t::id.desc())
        .limit(page.limit() + 1)
        .offset(page.offset())
        .load(conn)?;
    Ok(page.cut(rows))
}

/// Whether build `id` matches `authz`.
pub fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
    Ok(t::builds
        .filter(t::id.eq(id))
        .filter(authz_sql::builds(authz))
        .select(t::id)
        .first::<i64>(conn)
        .optional()?
        .is_some())
}

/// Who owns build `id`: its starter and its project's owners.
pub fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
    let (created_by, project_id): (Option<i64>, Option<i64>) = t::builds
        .find(id)
        .select((t::created_by, t::project_id))
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found(NOUN, id))?;
    let mut facts = owned_facts(id, created_by, Vec::new());
    if let Some(pid) = project_id {
        facts.project = Some(Box::new(super::projects::facts_of(conn, pid)?));
    }
    Ok(facts)
}

/// Deletes build `id` and its output; references to it are cleared.
pub fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    write_tx(conn, |conn| {
        if !exists(conn, id)? {
            return Err(DbError::not_found(NOUN, id));
        }
        delete_builds_where!(conn, t::id.eq(id));
        Ok(())
    })
}

/// Deletes the builds matching a predicate on `builds`, with their output,
/// clearing every reference to them (projects' and organizations'
/// last/active/last successful build, pipelines' last completed build).
macro_rules! delete_builds_where {
    ($conn:expr, $pred:expr) => {{
        use diesel::prelude::*;
        use $crate::db::schema::{
            build_output as bo, builds as b, organizations as o, pipelines as pl, projects as pr,
        };
        let none = None::<i64>;
        diesel::update(
            pl::table.filter(
                pl::last_completed_by.eq_any(b::table.filter($pred).select(b::id.nullable())),
            ),
        )
        .set(pl::last_completed_by.eq(none))
        .execute($conn)?;
        diesel::update(
            pr::table
                .filter(pr::last_build_id.eq_any(b::table.filter($pred).select(b::id.nullable()))),
        )
        .set(pr::last_build_id.eq(none))
        .execute($conn)?;
        diesel::update(
            pr::table.filter(
                pr::active_build_id.eq_any(b::table.filter($pred).select(b::id.nullable())),
            ),
        )
        .set(pr::active_build_id.eq(none))
        .execute($conn)?;
        diesel::update(pr::table.filter(
            pr::last_successful_build_id.eq_any(b::table.filter($pred).select(b::id.nullable())),
        ))
        .set(pr::last_successful_build_id.eq(none))
        .execute($conn)?;
        diesel::update(
            o::table
                .filter(o::last_build_id.eq_any(b::table.filter($pred).select(b::id.nullable()))),
        )
        .set(o::last_build_id.eq(none))
        .execute($conn)?;
        diesel::update(
            o::table
                .filter(o::active_build_id.eq_any(b::table.filter($pred).select(b::id.nullable()))),
        )
        .set(o::active_build_id.eq(none))
        .execute($conn)?;
        diesel::update(o::table.filter(
            o::last_successful_build_id.eq_any(b::table.filter($pred).select(b::id.nullable())),
        ))
        .set(o::last_successful_build_id.eq(none))
        .execute($conn)?;
        diesel::delete(bo::table.filter(bo::build_id.eq_any(b::table.filter($pred).select(b::id))))
            .execute($conn)?;
        diesel::delete(b::table.filter($pred)).execute($conn)?
    }};
}

pub(crate) use delete_builds_where;
