//! Service logins (reference §1.9): a username and a password (stored
//! cloaked) for http(s) checkouts and organization imports. `Debug` never
//! shows the password.

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::links::{check_ids, link_ids, set_links};
use super::schema::service_logins::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, validate, write_tx};
use crate::secrets::{Secrets, SecretsError};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "service login";

/// A stored service login; `password` is cloaked.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema)]
#[diesel(table_name = service_logins)]
pub struct ServiceLogin {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub username: String,
    /// Cloaked (see [`crate::secrets`]).
    #[serde(skip)]
    pub password: String,
    pub created_by: Option<i64>,
}

impl std::fmt::Debug for ServiceLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceLogin")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("description", &self.description)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("created_by", &self.created_by)
            .finish()
    }
}

/// A service login with its owner groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct ServiceLoginDetail {
    #[serde(flatten)]
    pub service_login: ServiceLogin,
    pub owner_groups: Vec<i64>,
}

/// The form that creates or replaces a service login. On update, a
/// `None` password keeps the stored one.
#[derive(
    Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceLoginInput {
    pub name: String,
    pub description: String,
    pub username: String,
    /// Plaintext (it is cloaked before it is stored).
    /// Write-only: never serialized.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    pub owner_groups: Vec<i64>,
}

impl std::fmt::Debug for ServiceLoginInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceLoginInput")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("owner_groups", &self.owner_groups)
            .finish()
    }
}

impl From<&ServiceLoginDetail> for ServiceLoginInput {
    /// Keeps the password as stored.
    fn from(d: &ServiceLoginDetail) -> Self {
        ServiceLoginInput {
            name: d.service_login.name.clone(),
            description: d.service_login.description.clone(),
            username: d.service_login.username.clone(),
            password: None,
            owner_groups: d.owner_groups.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = service_logins)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
    username: &'a str,
}

fn check(conn: &mut DbConn, input: &ServiceLoginInput) -> Result<String, DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
    validate::max_len(NOUN, "username", &input.username, 512)?;
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

/// The ways service logins are looked up.
pub struct ServiceLogins;

impl Aggregate for ServiceLogins {
    const KIND: ObjectKind = ObjectKind::ServiceLogin;
    const NOUN: &'static str = NOUN;
    type Row = ServiceLogin;
    type Detail = ServiceLoginDetail;
    type Input = ServiceLoginInput;
    type ListFilter = NameFilter;
    fn input_owner_groups(input: &Self::Input) -> &[i64] {
        &input.owner_groups
    }

    fn get(conn: &mut DbConn, id: i64) -> Result<ServiceLoginDetail, DbError> {
        let service_login = t::service_logins
            .find(id)
            .select(ServiceLogin::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let owner_groups = link_ids!(
            conn,
            service_login_owner_groups,
            service_login_id,
            group_id,
            id
        )?;
        Ok(ServiceLoginDetail {
            service_login,
            owner_groups,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<ServiceLogin>, DbError> {
        Ok(t::service_logins
            .filter(t::name.eq(name.trim()))
            .select(ServiceLogin::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        input: &ServiceLoginInput,
    ) -> Result<i64, DbError> {
        let password = ctx.secrets.cloak(input.password.as_deref().unwrap_or(""))?;
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                username: &input.username,
            };
            let id: i64 = diesel::insert_into(t::service_logins)
                .values((
                    row,
                    t::password.eq(&password),
                    t::created_by.eq(ctx.user_id),
                ))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_links!(
                conn,
                service_login_owner_groups,
                service_login_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(id)
        })
    }

    fn update(
        conn: &mut DbConn,
        ctx: &WriteCtx<'_>,
        id: i64,
        input: &ServiceLoginInput,
    ) -> Result<(), DbError> {
        let mut password = ctx.secrets.cloak_replacement(input.password.as_deref())?;
        if password.is_none() {
            // A plaintext password found here is encrypted now.
            let stored: Option<String> = t::service_logins
                .find(id)
                .select(t::password)
                .first(conn)
                .optional()?;
            if let Some(stored) = stored {
                password = ctx.secrets.upgrade_plaintext(&stored)?;
            }
        }
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
                username: &input.username,
            };
            let n = diesel::update(t::service_logins.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            if let Some(v) = &password {
                diesel::update(t::service_logins.find(id))
                    .set(t::password.eq(v))
                    .execute(conn)?;
            }
            set_links!(
                conn,
                service_login_owner_groups,
                service_login_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(())
        })
    }

    /// Projects and organizations that use the login lose it.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{organizations as o, projects as p, service_login_owner_groups as og};
        write_tx(conn, |conn| {
            diesel::update(p::table.filter(p::scm_login_id.eq(id)))
                .set(p::scm_login_id.eq(None::<i64>))
                .execute(conn)?;
            diesel::update(o::table.filter(o::scm_login_id.eq(id)))
                .set(o::scm_login_id.eq(None::<i64>))
                .execute(conn)?;
            diesel::delete(og::table.filter(og::service_login_id.eq(id))).execute(conn)?;
            if diesel::delete(t::service_logins.find(id)).execute(conn)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let d = Self::get(conn, id)?;
        Ok(owned_facts(id, d.service_login.created_by, d.owner_groups))
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<ServiceLogin>, DbError> {
        let mut q = t::service_logins
            .select(ServiceLogin::as_select())
            .into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::service_logins(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::service_logins
            .filter(t::id.eq(id))
            .filter(authz_sql::service_logins(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}

/// The decrypted password of login `id` (no permission check: for the
/// engine).
pub fn reveal_password(conn: &mut DbConn, secrets: &Secrets, id: i64) -> Result<String, DbError> {
    let login = ServiceLogins::get(conn, id)?.service_login;
    Ok(password_of(secrets, &login)?)
}

/// The decrypted password of a login already read.
pub fn password_of(secrets: &Secrets, login: &ServiceLogin) -> Result<String, SecretsError> {
    secrets.decloak(&login.password)
}
