//! Organizations (reference §1.10, §6): a source of repositories (GitHub
//! organization …) imported as projects, with the import policy flags.
//! Deleting one deletes its import builds (§1.13).

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::builds::delete_builds_where;
use super::links::{check_ids, check_ref, link_ids, set_links};
use super::schema::organizations::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, validate, write_tx};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "organization";

/// A stored organization, every field.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = organizations)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The name of an `[plugins.organizations]` entry (`github`).
    pub organization_type: String,
    /// E.g. `vespene-io`.
    pub organization_identifier: String,
    /// Blank: github.com; else `https://host/api/v3`.
    pub api_endpoint: String,
    pub import_enabled: bool,
    /// Create projects for repositories without a `.vespene` file.
    pub import_without_dotfile: bool,
    pub overwrite_project_name: bool,
    pub overwrite_project_script: bool,
    pub overwrite_configurations: bool,
    pub allow_pipeline_definition: bool,
    pub allow_worker_pool_assignment: bool,
    /// Pool of newly created projects and of the import build.
    pub default_worker_pool_id: i64,
    /// Import at the next opportunity, then reset.
    pub force_rescan: bool,
    /// Minimum minutes between imports.
    pub refresh_minutes: i32,
    pub scm_login_id: Option<i64>,
    /// Pool whose workers perform the import.
    pub worker_pool_id: i64,
    pub created_by: Option<i64>,
    pub last_build_id: Option<i64>,
    pub active_build_id: Option<i64>,
    pub last_successful_build_id: Option<i64>,
}

/// An organization with the SSH keys attached to imported projects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct OrganizationDetail {
    #[serde(flatten)]
    pub organization: Organization,
    pub auto_attach_ssh_keys: Vec<i64>,
}

/// The form that creates or replaces an organization.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct OrganizationInput {
    pub name: String,
    pub description: String,
    pub organization_type: String,
    pub organization_identifier: String,
    pub api_endpoint: String,
    pub import_enabled: bool,
    pub import_without_dotfile: bool,
    pub overwrite_project_name: bool,
    pub overwrite_project_script: bool,
    pub overwrite_configurations: bool,
    pub allow_pipeline_definition: bool,
    pub allow_worker_pool_assignment: bool,
    pub default_worker_pool_id: i64,
    pub force_rescan: bool,
    pub refresh_minutes: i32,
    pub scm_login_id: Option<i64>,
    pub worker_pool_id: i64,
    pub auto_attach_ssh_keys: Vec<i64>,
}

impl Default for OrganizationInput {
    fn default() -> Self {
        OrganizationInput {
            name: String::new(),
            description: String::new(),
            organization_type: "github".into(),
            organization_identifier: String::new(),
            api_endpoint: String::new(),
            import_enabled: true,
            import_without_dotfile: false,
            overwrite_project_name: true,
            overwrite_project_script: true,
            overwrite_configurations: true,
            allow_pipeline_definition: true,
            allow_worker_pool_assignment: true,
            default_worker_pool_id: 0,
            force_rescan: false,
            refresh_minutes: 120,
            scm_login_id: None,
            worker_pool_id: 0,
            auto_attach_ssh_keys: Vec::new(),
        }
    }
}

impl From<&OrganizationDetail> for OrganizationInput {
    fn from(d: &OrganizationDetail) -> Self {
        let o = &d.organization;
        OrganizationInput {
            name: o.name.clone(),
            description: o.description.clone(),
            organization_type: o.organization_type.clone(),
            organization_identifier: o.organization_identifier.clone(),
            api_endpoint: o.api_endpoint.clone(),
            import_enabled: o.import_enabled,
            import_without_dotfile: o.import_without_dotfile,
            overwrite_project_name: o.overwrite_project_name,
            overwrite_project_script: o.overwrite_project_script,
            overwrite_configurations: o.overwrite_configurations,
            allow_pipeline_definition: o.allow_pipeline_definition,
            allow_worker_pool_assignment: o.allow_worker_pool_assignment,
            default_worker_pool_id: o.default_worker_pool_id,
            force_rescan: o.force_rescan,
            refresh_minutes: o.refresh_minutes,
            scm_login_id: o.scm_login_id,
            worker_pool_id: o.worker_pool_id,
            auto_attach_ssh_keys: d.auto_attach_ssh_keys.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = organizations, treat_none_as_null = true)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    organization_type: &'a str,
    organization_identifier: &'a str,
    api_endpoint: &'a str,
    import_enabled: bool,
    import_without_dotfile: bool,
    overwrite_project_name: bool,
    overwrite_project_script: bool,
    overwrite_configurations: bool,
    allow_pipeline_definition: bool,
    allow_worker_pool_assignment: bool,
    default_worker_pool_id: i64,
    force_rescan: bool,
    refresh_minutes: i32,
    scm_login_id: Option<i64>,
    worker_pool_id: i64,
}

fn check(conn: &mut DbConn, input: &OrganizationInput) -> Result<String, DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    if input.organization_type.trim().is_empty() {
        return Err(DbError::invalid(
            NOUN,
            "organization_type",
            "is required (the name of an [plugins.organizations] entry)",
        ));
    }
    if input.organization_identifier.trim().is_empty() {
        return Err(DbError::invalid(
            NOUN,
            "organization_identifier",
            "is required",
        ));
    }
    validate::max_len(
        NOUN,
        "organization_identifier",
        &input.organization_identifier,
        512,
    )?;
    validate::max_len(NOUN, "api_endpoint", &input.api_endpoint, 1024)?;
    validate::range(NOUN, "refresh_minutes", input.refresh_minutes, 0, i32::MAX)?;
    for (field, pool) in [
        ("default_worker_pool", input.default_worker_pool_id),
        ("worker_pool", input.worker_pool_id),
    ] {
        if pool == 0 {
            return Err(DbError::invalid(NOUN, field, "is required"));
        }
        check_ids!(conn, worker_pools, &[pool], NOUN, field, "worker pool");
    }
    check_ref!(
        conn,
        service_logins,
        input.scm_login_id,
        NOUN,
        "scm_login",
        "service login"
    );
    check_ids!(
        conn,
        ssh_keys,
        &input.auto_attach_ssh_keys,
        NOUN,
        "auto_attach_ssh_keys",
        "ssh key"
    );
    Ok(name)
}

fn row<'a>(input: &'a OrganizationInput, name: &'a str) -> Row<'a> {
    Row {
        name,
        description: &input.description,
        organization_type: input.organization_type.trim(),
        organization_identifier: input.organization_identifier.trim(),
        api_endpoint: input.api_endpoint.trim(),
        import_enabled: input.import_enabled,
        import_without_dotfile: input.import_without_dotfile,
        overwrite_project_name: input.overwrite_project_name,
        overwrite_project_script: input.overwrite_project_script,
        overwrite_configurations: input.overwrite_configurations,
        allow_pipeline_definition: input.allow_pipeline_definition,
        allow_worker_pool_assignment: input.allow_worker_pool_assignment,
        default_worker_pool_id: input.default_worker_pool_id,
        force_rescan: input.force_rescan,
        refresh_minutes: input.refresh_minutes,
        scm_login_id: input.scm_login_id,
        worker_pool_id: input.worker_pool_id,
    }
}

/// The engine's changes to an organization after an import; `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct ImportState {
    pub force_rescan: Option<bool>,
    pub last_build_id: Option<Option<i64>>,
    pub active_build_id: Option<Option<i64>>,
    pub last_successful_build_id: Option<Option<i64>>,
}

/// Applies `state` to organization `id` (engine).
pub fn set_import_state(conn: &mut DbConn, id: i64, state: &ImportState) -> Result<(), DbError> {
    if *state == ImportState::default() {
        return Ok(());
    }
    let n = diesel::update(t::organizations.find(id))
        .set(state)
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::not_found(NOUN, id));
    }
    Ok(())
}

/// The ways organizations are looked up.
pub struct Organizations;

impl Aggregate for Organizations {
    const KIND: ObjectKind = ObjectKind::Organization;
    const NOUN: &'static str = NOUN;
    type Row = Organization;
    type Detail = OrganizationDetail;
    type Input = OrganizationInput;
    type ListFilter = NameFilter;

    fn get(conn: &mut DbConn, id: i64) -> Result<OrganizationDetail, DbError> {
        let organization = t::organizations
            .find(id)
            .select(Organization::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let auto_attach_ssh_keys =
            link_ids!(conn, organization_ssh_keys, organization_id, ssh_key_id, id)?;
        Ok(OrganizationDetail {
            organization,
            auto_attach_ssh_keys,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Organization>, DbError> {
        Ok(t::organizations
            .filter(t::name.eq(name.trim()))
            .select(Organization::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        input: &OrganizationInput,
    ) -> Result<i64, DbError> {
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let id: i64 = diesel::insert_into(t::organizations)
                .values((row(input, &name), t::created_by.eq(ctx.user_id)))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_links!(
                conn,
                organization_ssh_keys,
                organization_id,
                ssh_key_id,
                id,
                &input.auto_attach_ssh_keys
            );
            Ok(id)
        })
    }

    fn update(
        conn: &mut DbConn,
        _ctx: &WriteCtx<'_>,
        id: i64,
        input: &OrganizationInput,
    ) -> Result<(), DbError> {
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let n = diesel::update(t::organizations.find(id))
                .set(row(input, &name))
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            set_links!(
                conn,
                organization_ssh_keys,
                organization_id,
                ssh_key_id,
                id,
                &input.auto_attach_ssh_keys
            );
            Ok(())
        })
    }

    /// Deletes the organization's import builds, its links, then it.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::organization_ssh_keys as os;
        write_tx(conn, |conn| {
            let exists: bool =
                diesel::select(diesel::dsl::exists(t::organizations.find(id))).get_result(conn)?;
            if !exists {
                return Err(DbError::not_found(NOUN, id));
            }
            delete_builds_where!(conn, super::schema::builds::organization_id.eq(id));
            diesel::delete(os::table.filter(os::organization_id.eq(id))).execute(conn)?;
            diesel::delete(t::organizations.find(id)).execute(conn)?;
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let created_by: Option<i64> = t::organizations
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
    ) -> Result<Paged<Organization>, DbError> {
        let mut q = t::organizations
            .select(Organization::as_select())
            .into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::organizations(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::organizations
            .filter(t::id.eq(id))
            .filter(authz_sql::organizations(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}
