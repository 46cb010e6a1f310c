//! Projects (reference §1.1): a repository, a build script, variables, a
//! worker pool, an optional place in a pipeline, a schedule and launch
//! questions. Deleting a project deletes its builds (§1.13).

use super::aggregate::{Aggregate, WriteCtx, contains_pattern, lower};
use super::builds::delete_builds_where;
use super::links::{check_ids, check_ref, link_ids, set_links};
use super::schema::projects::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, json, validate, write_tx};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "project";

/// The original's default build script.
pub const DEFAULT_SCRIPT: &str = "#!/bin/bash\necho \"replace this section\"\n";

/// A stored project, every field.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub pipeline_id: Option<i64>,
    /// When false the project does not advance its pipeline.
    pub pipeline_enabled: bool,
    pub stage_id: Option<i64>,
    /// The last finished build.
    pub last_build_id: Option<i64>,
    /// The build currently queued or running.
    pub active_build_id: Option<i64>,
    pub last_successful_build_id: Option<i64>,
    /// Blank: no checkout at all.
    pub repo_url: String,
    /// Blank: the remote's default branch.
    pub repo_branch: String,
    /// Clone submodules.
    pub recursive: bool,
    /// The name of an `[plugins.scm]` entry (blank: none).
    pub scm_type: String,
    pub webhook_enabled: bool,
    /// Optional token required in `?token=`, cloaked by the secrets plugin.
    #[serde(skip)]
    pub webhook_token: String,
    /// Jinja2 template of the build script.
    pub script: String,
    /// Minutes.
    pub timeout: i32,
    pub container_base_image: Option<String>,
    /// A JSON object.
    pub variables: String,
    /// A JSON list of questions (see [`json::LaunchQuestion`]).
    pub launch_questions: String,
    pub scm_login_id: Option<i64>,
    pub worker_pool_id: i64,
    pub created_by: Option<i64>,
    pub schedule_enabled: bool,
    pub monday: bool,
    pub tuesday: bool,
    pub wednesday: bool,
    pub thursday: bool,
    pub friday: bool,
    pub saturday: bool,
    pub sunday: bool,
    /// Comma list and/or `a-b` ranges of hours, UTC.
    pub weekday_start_hours: String,
    pub weekday_start_minutes: String,
    pub weekend_start_hours: String,
    pub weekend_start_minutes: String,
    /// Minutes: no scheduled build if the last was queued more recently.
    pub schedule_threshold: i32,
}

impl Project {
    /// Whether launch questions must be answered to start it.
    pub fn has_launch_questions(&self) -> bool {
        json::parse_launch_questions(NOUN, &self.launch_questions)
            .map(|q| !q.is_empty())
            .unwrap_or(false)
    }
}

/// A project with its links.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ProjectDetail {
    #[serde(flatten)]
    pub project: Project,
    pub variable_sets: Vec<i64>,
    pub ssh_keys: Vec<i64>,
    pub owner_groups: Vec<i64>,
    pub launch_groups: Vec<i64>,
}

/// The form that creates or replaces a project (defaults as the
/// original's). The build references (last/active/last successful build)
/// are the engine's: see [`set_build_refs`].
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectInput {
    pub name: String,
    pub description: String,
    pub pipeline_id: Option<i64>,
    pub pipeline_enabled: bool,
    pub stage_id: Option<i64>,
    pub repo_url: String,
    pub repo_branch: String,
    pub recursive: bool,
    pub scm_type: String,
    pub webhook_enabled: bool,
    /// Write-only: never serialized.
    #[serde(skip_serializing)]
    pub webhook_token: String,
    pub script: String,
    pub timeout: i32,
    pub container_base_image: Option<String>,
    pub variables: String,
    pub launch_questions: String,
    pub scm_login_id: Option<i64>,
    pub worker_pool_id: i64,
    pub schedule_enabled: bool,
    pub monday: bool,
    pub tuesday: bool,
    pub wednesday: bool,
    pub thursday: bool,
    pub friday: bool,
    pub saturday: bool,
    pub sunday: bool,
    pub weekday_start_hours: String,
    pub weekday_start_minutes: String,
    pub weekend_start_hours: String,
    pub weekend_start_minutes: String,
    pub schedule_threshold: i32,
    pub variable_sets: Vec<i64>,
    pub ssh_keys: Vec<i64>,
    pub owner_groups: Vec<i64>,
    pub launch_groups: Vec<i64>,
}

impl Default for ProjectInput {
    fn default() -> Self {
        ProjectInput {
            name: String::new(),
            description: String::new(),
            pipeline_id: None,
            pipeline_enabled: true,
            stage_id: None,
            repo_url: String::new(),
            repo_branch: String::new(),
            recursive: true,
            scm_type: String::new(),
            webhook_enabled: false,
            webhook_token: String::new(),
            script: DEFAULT_SCRIPT.into(),
            timeout: 60,
            container_base_image: None,
            variables: "{}".into(),
            launch_questions: "[]".into(),
            scm_login_id: None,
            worker_pool_id: 0,
            schedule_enabled: false,
            monday: false,
            tuesday: false,
            wednesday: false,
            thursday: false,
            friday: false,
            saturday: false,
            sunday: false,
            weekday_start_hours: String::new(),
            weekday_start_minutes: String::new(),
            weekend_start_hours: String::new(),
            weekend_start_minutes: String::new(),
            schedule_threshold: 10,
            variable_sets: Vec::new(),
            ssh_keys: Vec::new(),
            owner_groups: Vec::new(),
            launch_groups: Vec::new(),
        }
    }
}

impl From<&ProjectDetail> for ProjectInput {
    fn from(d: &ProjectDetail) -> Self {
        let p = &d.project;
        ProjectInput {
            name: p.name.clone(),
            description: p.description.clone(),
            pipeline_id: p.pipeline_id,
            pipeline_enabled: p.pipeline_enabled,
            stage_id: p.stage_id,
            repo_url: p.repo_url.clone(),
            repo_branch: p.repo_branch.clone(),
            recursive: p.recursive,
            scm_type: p.scm_type.clone(),
            webhook_enabled: p.webhook_enabled,
            webhook_token: p.webhook_token.clone(),
            script: p.script.clone(),
            timeout: p.timeout,
            container_base_image: p.container_base_image.clone(),
            variables: p.variables.clone(),
            launch_questions: p.launch_questions.clone(),
            scm_login_id: p.scm_login_id,
            worker_pool_id: p.worker_pool_id,
            schedule_enabled: p.schedule_enabled,
            monday: p.monday,
            tuesday: p.tuesday,
            wednesday: p.wednesday,
            thursday: p.thursday,
            friday: p.friday,
            saturday: p.saturday,
            sunday: p.sunday,
            weekday_start_hours: p.weekday_start_hours.clone(),
            weekday_start_minutes: p.weekday_start_minutes.clone(),
            weekend_start_hours: p.weekend_start_hours.clone(),
            weekend_start_minutes: p.weekend_start_minutes.clone(),
            schedule_threshold: p.schedule_threshold,
            variable_sets: d.variable_sets.clone(),
            ssh_keys: d.ssh_keys.clone(),
            owner_groups: d.owner_groups.clone(),
            launch_groups: d.launch_groups.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = projects, treat_none_as_null = true)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    pipeline_id: Option<i64>,
    pipeline_enabled: bool,
    stage_id: Option<i64>,
    repo_url: &'a str,
    repo_branch: &'a str,
    recursive: bool,
    scm_type: &'a str,
    webhook_enabled: bool,
    script: &'a str,
    timeout: i32,
    container_base_image: Option<&'a str>,
    variables: &'a str,
    launch_questions: &'a str,
    scm_login_id: Option<i64>,
    worker_pool_id: i64,
    schedule_enabled: bool,
    monday: bool,
    tuesday: bool,
    wednesday: bool,
    thursday: bool,
    friday: bool,
    saturday: bool,
    sunday: bool,
    weekday_start_hours: &'a str,
    weekday_start_minutes: &'a str,
    weekend_start_hours: &'a str,
    weekend_start_minutes: &'a str,
    schedule_threshold: i32,
}

/// Parses a schedule list: comma-separated integers and inclusive `a-b`
/// ranges within `0..=max` (hours: 24, minutes: 60, as the original).
/// Blank is an empty list.
pub fn parse_schedule_list(text: &str, max: u32) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let num = |s: &str| -> Result<u32, String> {
            let v: u32 = s
                .trim()
                .parse()
                .map_err(|_| format!("'{}' is not a whole number", s.trim()))?;
            if v > max {
                return Err(format!("{v} is out of range (0-{max})"));
            }
            Ok(v)
        };
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("range '{part}' is reversed"));
                }
                out.extend(a..=b);
            }
            None => out.push(num(part)?),
        }
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

struct Checked {
    name: String,
    variables: String,
    launch_questions: String,
}

fn check(conn: &mut DbConn, input: &ProjectInput) -> Result<Checked, DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    let variables = json::object_text(NOUN, "variables", &input.variables)?;
    let launch_questions = json::launch_questions_text(NOUN, &input.launch_questions)?;
    validate::max_len(NOUN, "repo_url", &input.repo_url, 1024)?;
    validate::max_len(NOUN, "repo_branch", &input.repo_branch, 255)?;
    validate::max_len(NOUN, "scm_type", &input.scm_type, 30)?;
    if !crate::secrets::Secrets::is_cloaked(&input.webhook_token) {
        validate::max_len(NOUN, "webhook_token", &input.webhook_token, 128)?;
    }
    if let Some(image) = &input.container_base_image {
        validate::max_len(NOUN, "container_base_image", image, 512)?;
    }
    validate::range(NOUN, "timeout", input.timeout, 1, 525_600)?;
    validate::range(
        NOUN,
        "schedule_threshold",
        input.schedule_threshold,
        0,
        i32::MAX,
    )?;
    for (field, text, max) in [
        ("weekday_start_hours", &input.weekday_start_hours, 24),
        ("weekday_start_minutes", &input.weekday_start_minutes, 60),
        ("weekend_start_hours", &input.weekend_start_hours, 24),
        ("weekend_start_minutes", &input.weekend_start_minutes, 60),
    ] {
        validate::max_len(NOUN, field, text, 512)?;
        parse_schedule_list(text, max).map_err(|reason| DbError::invalid(NOUN, field, reason))?;
    }
    if !row_exists(conn, input.worker_pool_id)? {
        return Err(DbError::invalid(
            NOUN,
            "worker_pool",
            if input.worker_pool_id == 0 {
                "is required".to_string()
            } else {
                format!("no worker pool #{}", input.worker_pool_id)
            },
        ));
    }
    check_ref!(
        conn,
        pipelines,
        input.pipeline_id,
        NOUN,
        "pipeline",
        "pipeline"
    );
    check_ref!(conn, stages, input.stage_id, NOUN, "stage", "stage");
    check_ref!(
        conn,
        service_logins,
        input.scm_login_id,
        NOUN,
        "scm_login",
        "service login"
    );
    if let (Some(pipeline), Some(stage)) = (input.pipeline_id, input.stage_id) {
        let stages = super::pipelines::slots(conn, pipeline)?;
        if !stages.contains(&Some(stage)) {
            return Err(DbError::invalid(
                NOUN,
                "stage",
                format!("stage #{stage} is not a stage of pipeline #{pipeline}"),
            ));
        }
    }
    check_ids!(
        conn,
        variable_sets,
        &input.variable_sets,
        NOUN,
        "variable_sets",
        "variable set"
    );
    check_ids!(conn, ssh_keys, &input.ssh_keys, NOUN, "ssh_keys", "ssh key");
    check_ids!(
        conn,
        groups,
        &input.owner_groups,
        NOUN,
        "owner_groups",
        "group"
    );
    check_ids!(
        conn,
        groups,
        &input.launch_groups,
        NOUN,
        "launch_groups",
        "group"
    );
    Ok(Checked {
        name,
        variables,
        launch_questions,
    })
}

fn row_exists(conn: &mut DbConn, pool: i64) -> Result<bool, DbError> {
    use super::schema::worker_pools as w;
    Ok(diesel::select(diesel::dsl::exists(w::table.find(pool))).get_result(conn)?)
}

fn row<'a>(input: &'a ProjectInput, c: &'a Checked) -> Row<'a> {
    Row {
        name: &c.name,
        description: &input.description,
        pipeline_id: input.pipeline_id,
        pipeline_enabled: input.pipeline_enabled,
        stage_id: input.stage_id,
        repo_url: input.repo_url.trim(),
        repo_branch: input.repo_branch.trim(),
        recursive: input.recursive,
        scm_type: input.scm_type.trim(),
        webhook_enabled: input.webhook_enabled,
        script: &input.script,
        timeout: input.timeout,
        container_base_image: input
            .container_base_image
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty()),
        variables: &c.variables,
        launch_questions: &c.launch_questions,
        scm_login_id: input.scm_login_id,
        worker_pool_id: input.worker_pool_id,
        schedule_enabled: input.schedule_enabled,
        monday: input.monday,
        tuesday: input.tuesday,
        wednesday: input.wednesday,
        thursday: input.thursday,
        friday: input.friday,
        saturday: input.saturday,
        sunday: input.sunday,
        weekday_start_hours: &input.weekday_start_hours,
        weekday_start_minutes: &input.weekday_start_minutes,
        weekend_start_hours: &input.weekend_start_hours,
        weekend_start_minutes: &input.weekend_start_minutes,
        schedule_threshold: input.schedule_threshold,
    }
}

fn set_all_links(conn: &mut DbConn, id: i64, input: &ProjectInput) -> Result<(), DbError> {
    set_links!(
        conn,
        project_variable_sets,
        project_id,
        variable_set_id,
        id,
        &input.variable_sets
    );
    set_links!(
        conn,
        project_ssh_keys,
        project_id,
        ssh_key_id,
        id,
        &input.ssh_keys
    );
    set_links!(
        conn,
        project_owner_groups,
        project_id,
        group_id,
        id,
        &input.owner_groups
    );
    set_links!(
        conn,
        project_launch_groups,
        project_id,
        group_id,
        id,
        &input.launch_groups
    );
    Ok(())
}

/// The engine's references from a project to its builds; `None` leaves a
/// field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = projects)]
pub struct BuildRefs {
    pub last_build_id: Option<Option<i64>>,
    pub active_build_id: Option<Option<i64>>,
    pub last_successful_build_id: Option<Option<i64>>,
}

/// Updates the build references of project `id` (engine).
pub fn set_build_refs(conn: &mut DbConn, id: i64, refs: &BuildRefs) -> Result<(), DbError> {
    if *refs == BuildRefs::default() {
        return Ok(());
    }
    let n = diesel::update(t::projects.find(id))
        .set(refs)
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::not_found(NOUN, id));
    }
    Ok(())
}

/// Who owns project `id`.
pub(crate) fn facts_of(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
    let created_by: Option<i64> = t::projects
        .find(id)
        .select(t::created_by)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found(NOUN, id))?;
    Ok(ObjectFacts {
        id,
        created_by,
        owner_groups: link_ids!(conn, project_owner_groups, project_id, group_id, id)?,
        launch_groups: link_ids!(conn, project_launch_groups, project_id, group_id, id)?,
        project: None,
    })
}

/// [`facts_of`] for each of `ids` that exists, in three queries
/// whatever their number (a list page's start buttons).
pub(crate) fn facts_of_many(
    conn: &mut DbConn,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, ObjectFacts>, DbError> {
    use super::schema::{project_launch_groups as lg, project_owner_groups as og};
    let ids = validate::dedup(ids);
    let rows: Vec<(i64, Option<i64>)> = t::projects
        .filter(t::id.eq_any(&ids))
        .select((t::id, t::created_by))
        .load(conn)?;
    let mut facts: std::collections::HashMap<i64, ObjectFacts> = rows
        .into_iter()
        .map(|(id, created_by)| {
            let f = ObjectFacts {
                id,
                created_by,
                ..ObjectFacts::default()
            };
            (id, f)
        })
        .collect();
    let owners: Vec<(i64, i64)> = og::table
        .filter(og::project_id.eq_any(&ids))
        .select((og::project_id, og::group_id))
        .order((og::project_id.asc(), og::group_id.asc()))
        .load(conn)?;
    for (project, group) in owners {
        if let Some(f) = facts.get_mut(&project) {
            f.owner_groups.push(group);
        }
    }
    let launchers: Vec<(i64, i64)> = lg::table
        .filter(lg::project_id.eq_any(&ids))
        .select((lg::project_id, lg::group_id))
        .order((lg::project_id.asc(), lg::group_id.asc()))
        .load(conn)?;
    for (project, group) in launchers {
        if let Some(f) = facts.get_mut(&project) {
            f.launch_groups.push(group);
        }
    }
    Ok(facts)
}

/// The projects among `ids` that match `authz` (one query).
pub(crate) fn matching(
    conn: &mut DbConn,
    ids: &[i64],
    authz: &Filter,
) -> Result<std::collections::HashSet<i64>, DbError> {
    Ok(t::projects
        .filter(t::id.eq_any(validate::dedup(ids)))
        .filter(authz_sql::projects(authz))
        .select(t::id)
        .load::<i64>(conn)?
        .into_iter()
        .collect())
}

/// `(id, name)` of the projects among `ids` (for build lists).
pub fn names(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<(i64, String)>, DbError> {
    Ok(t::projects
        .filter(t::id.eq_any(validate::dedup(ids)))
        .select((t::id, t::name))
        .load(conn)?)
}

/// The filters of a project list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectFilter {
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    pub worker_pool_id: Option<i64>,
    pub pipeline_id: Option<i64>,
    pub stage_id: Option<i64>,
    /// Only projects with the schedule on.
    pub scheduled_only: bool,
}

/// The ways projects are looked up.
pub struct Projects;

impl Aggregate for Projects {
    const KIND: ObjectKind = ObjectKind::Project;
    const NOUN: &'static str = NOUN;
    type Row = Project;
    type Detail = ProjectDetail;
    type Input = ProjectInput;
    type ListFilter = ProjectFilter;
    fn input_owner_groups(input: &Self::Input) -> &[i64] {
        &input.owner_groups
    }
    fn input_pipeline(input: &Self::Input) -> Option<i64> {
        input.pipeline_id
    }
    fn stored_pipeline(conn: &mut DbConn, id: i64) -> Result<Option<i64>, DbError> {
        use super::schema::projects::dsl as pt;
        Ok(pt::projects
            .find(id)
            .select(pt::pipeline_id)
            .first::<Option<i64>>(conn)
            .optional()?
            .flatten())
    }

    fn get(conn: &mut DbConn, id: i64) -> Result<ProjectDetail, DbError> {
        let project = t::projects
            .find(id)
            .select(Project::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        Ok(ProjectDetail {
            project,
            variable_sets: link_ids!(conn, project_variable_sets, project_id, variable_set_id, id)?,
            ssh_keys: link_ids!(conn, project_ssh_keys, project_id, ssh_key_id, id)?,
            owner_groups: link_ids!(conn, project_owner_groups, project_id, group_id, id)?,
            launch_groups: link_ids!(conn, project_launch_groups, project_id, group_id, id)?,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Project>, DbError> {
        Ok(t::projects
            .filter(t::name.eq(name.trim()))
            .select(Project::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(conn: &mut DbConn, ctx: &WriteCtx<'_>, input: &ProjectInput) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let checked = check(conn, input)?;
            let token = ctx.secrets.cloak(&input.webhook_token)?;
            let id: i64 = diesel::insert_into(t::projects)
                .values((
                    row(input, &checked),
                    t::webhook_token.eq(&token),
                    t::created_by.eq(ctx.user_id),
                ))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &checked.name))?;
            set_all_links(conn, id, input)?;
            Ok(id)
        })
    }

    fn update(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        id: i64,
        input: &ProjectInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let checked = check(conn, input)?;
            // Plaintext (a new token, or one stored before it was
            // encrypted) is encrypted now; a stored cloaked value is kept.
            let token = ctx.secrets.cloak(&input.webhook_token)?;
            let n = diesel::update(t::projects.find(id))
                .set((row(input, &checked), t::webhook_token.eq(&token)))
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &checked.name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_all_links(conn, id, input)
        })
    }

    /// Deletes the project's builds (with their output), its links, then
    /// the project.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{
            project_launch_groups as lg, project_owner_groups as og, project_ssh_keys as sk,
            project_variable_sets as vs,
        };
        write_tx(conn, |conn| {
            let exists: bool =
                diesel::select(diesel::dsl::exists(t::projects.find(id))).get_result(conn)?;
            if !exists {
                return Err(DbError::not_found(NOUN, id));
            }
            diesel::update(t::projects.find(id))
                .set(&BuildRefs {
                    last_build_id: Some(None),
                    active_build_id: Some(None),
                    last_successful_build_id: Some(None),
                })
                .execute(conn)?;
            delete_builds_where!(conn, super::schema::builds::project_id.eq(id));
            diesel::delete(vs::table.filter(vs::project_id.eq(id))).execute(conn)?;
            diesel::delete(sk::table.filter(sk::project_id.eq(id))).execute(conn)?;
            diesel::delete(og::table.filter(og::project_id.eq(id))).execute(conn)?;
            diesel::delete(lg::table.filter(lg::project_id.eq(id))).execute(conn)?;
            diesel::delete(t::projects.find(id)).execute(conn)?;
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        facts_of(conn, id)
    }

    fn list(
        conn: &mut DbConn,
        filter: &ProjectFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<Project>, DbError> {
        let mut q = t::projects.select(Project::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if let Some(w) = filter.worker_pool_id {
            q = q.filter(t::worker_pool_id.eq(w));
        }
        if let Some(p) = filter.pipeline_id {
            q = q.filter(t::pipeline_id.eq(p));
        }
        if let Some(s) = filter.stage_id {
            q = q.filter(t::stage_id.eq(s));
        }
        if filter.scheduled_only {
            q = q.filter(t::schedule_enabled.eq(true));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::projects(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::projects
            .filter(t::id.eq(id))
            .filter(authz_sql::projects(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::parse_schedule_list;

    #[test]
    fn schedule_lists() {
        assert_eq!(parse_schedule_list("", 24).unwrap(), Vec::<u32>::new());
        assert_eq!(parse_schedule_list("16, 19", 24).unwrap(), vec![16, 19]);
        assert_eq!(parse_schedule_list("1-3,2", 24).unwrap(), vec![1, 2, 3]);
        assert!(
            parse_schedule_list("25", 24)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse_schedule_list("5-2", 24)
                .unwrap_err()
                .contains("reversed")
        );
        assert!(
            parse_schedule_list("x", 60)
                .unwrap_err()
                .contains("not a whole number")
        );
    }
}
