//! Users (reference §1.12): accounts with an optional password (argon2id
//! PHC string, see [`crate::accounts`]), a superuser flag and groups.
//! Deleting a user clears `created_by` everywhere (§1.13).

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower};
use super::links::{check_ids, link_ids, set_links};
use super::schema::users::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, now, validate, write_tx};
use crate::accounts::hash_password;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "user";

/// A stored user. `Debug` hides the password hash.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// argon2id PHC string; `None`: the user cannot log in with a password.
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub is_superuser: bool,
    /// An inactive user cannot log in or use tokens.
    pub is_active: bool,
    #[diesel(deserialize_as = super::stamp::Stamp)]
    pub date_joined: NaiveDateTime,
    #[diesel(deserialize_as = super::stamp::OptStamp)]
    pub last_login: Option<NaiveDateTime>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("email", &self.email)
            .field("has_password", &self.password_hash.is_some())
            .field("is_superuser", &self.is_superuser)
            .field("is_active", &self.is_active)
            .field("date_joined", &self.date_joined)
            .field("last_login", &self.last_login)
            .finish()
    }
}

/// A user with the ids of their groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct UserDetail {
    #[serde(flatten)]
    pub user: User,
    pub groups: Vec<i64>,
}

/// The form that creates or replaces a user. `password`: `None` keeps the
/// stored one (none for a new user), `Some("")` removes it, anything else
/// sets it.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UserInput {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// Write-only: never serialized.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    pub is_superuser: bool,
    pub is_active: bool,
    pub groups: Vec<i64>,
}

impl Default for UserInput {
    fn default() -> Self {
        UserInput {
            username: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            email: String::new(),
            password: None,
            is_superuser: false,
            is_active: true,
            groups: Vec::new(),
        }
    }
}

impl std::fmt::Debug for UserInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserInput")
            .field("username", &self.username)
            .field("first_name", &self.first_name)
            .field("last_name", &self.last_name)
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("is_superuser", &self.is_superuser)
            .field("is_active", &self.is_active)
            .field("groups", &self.groups)
            .finish()
    }
}

impl From<&UserDetail> for UserInput {
    /// Keeps the password as stored.
    fn from(d: &UserDetail) -> Self {
        UserInput {
            username: d.user.username.clone(),
            first_name: d.user.first_name.clone(),
            last_name: d.user.last_name.clone(),
            email: d.user.email.clone(),
            password: None,
            is_superuser: d.user.is_superuser,
            is_active: d.user.is_active,
            groups: d.groups.clone(),
        }
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = users)]
struct Row<'a> {
    username: &'a str,
    first_name: &'a str,
    last_name: &'a str,
    email: &'a str,
    is_superuser: bool,
    is_active: bool,
}

fn check(conn: &mut DbConn, input: &UserInput) -> Result<String, DbError> {
    let username = validate::name(NOUN, "username", &input.username)?;
    validate::max_len(NOUN, "username", &username, 150)?;
    if username.chars().any(char::is_whitespace) {
        return Err(DbError::invalid(
            NOUN,
            "username",
            "must not contain spaces",
        ));
    }
    validate::max_len(NOUN, "first_name", &input.first_name, 150)?;
    validate::max_len(NOUN, "last_name", &input.last_name, 150)?;
    validate::max_len(NOUN, "email", &input.email, 254)?;
    check_ids!(conn, groups, &input.groups, NOUN, "groups", "group");
    Ok(username)
}

/// What to store for a password field of the input.
fn password_change(input: &UserInput) -> Result<Option<Option<String>>, DbError> {
    match input.password.as_deref() {
        None => Ok(None),
        Some("") => Ok(Some(None)),
        Some(p) => Ok(Some(Some(hash_password(p)?))),
    }
}

/// Records a successful login.
pub fn touch_login(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
    diesel::update(t::users.find(id))
        .set(t::last_login.eq(Some(now())))
        .execute(conn)?;
    Ok(())
}

/// Replaces the password hash of user `id` (`None`: no password login).
pub fn set_password_hash(conn: &mut DbConn, id: i64, hash: Option<&str>) -> Result<(), DbError> {
    let n = diesel::update(t::users.find(id))
        .set(t::password_hash.eq(hash))
        .execute(conn)?;
    if n == 0 {
        return Err(DbError::not_found(NOUN, id));
    }
    Ok(())
}

/// Whether user `id` is active (`NotFound` when there is none).
pub fn is_active(conn: &mut DbConn, id: i64) -> Result<bool, DbError> {
    t::users
        .find(id)
        .select(t::is_active)
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found(NOUN, id))
}

/// The administrator the command line acts as: the active superuser
/// named `admin` (the one `vespene up` creates) when there is one, else the
/// oldest active superuser; `None` when there is no active superuser.
pub fn administrator_id(conn: &mut DbConn) -> Result<Option<i64>, DbError> {
    let admin = t::users
        .filter(t::is_superuser.eq(true))
        .filter(t::is_active.eq(true))
        .filter(t::username.eq("admin"))
        .select(t::id)
        .first(conn)
        .optional()?;
    if admin.is_some() {
        return Ok(admin);
    }
    Ok(t::users
        .filter(t::is_superuser.eq(true))
        .filter(t::is_active.eq(true))
        .order(t::id.asc())
        .select(t::id)
        .first(conn)
        .optional()?)
}

/// Whether any user exists.
pub fn any_user(conn: &mut DbConn) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(t::users.select(t::id))).get_result(conn)?)
}

/// Whether any superuser exists.
pub fn any_superuser(conn: &mut DbConn) -> Result<bool, DbError> {
    Ok(diesel::select(diesel::dsl::exists(
        t::users.filter(t::is_superuser.eq(true)),
    ))
    .get_result(conn)?)
}

/// The ways users are looked up.
pub struct Users;

impl Aggregate for Users {
    const KIND: ObjectKind = ObjectKind::User;
    const NOUN: &'static str = NOUN;
    type Row = User;
    type Detail = UserDetail;
    type Input = UserInput;
    type ListFilter = NameFilter;

    fn get(conn: &mut DbConn, id: i64) -> Result<UserDetail, DbError> {
        let user = t::users
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let groups = link_ids!(conn, user_groups, user_id, group_id, id)?;
        Ok(UserDetail { user, groups })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<User>, DbError> {
        Ok(t::users
            .filter(t::username.eq(name.trim()))
            .select(User::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(conn: &mut DbConn, _ctx: &WriteCtx<'_>, input: &UserInput) -> Result<i64, DbError> {
        let password = password_change(input)?.flatten();
        write_tx(conn, |conn| {
            let username = check(conn, input)?;
            let row = Row {
                username: &username,
                first_name: &input.first_name,
                last_name: &input.last_name,
                email: &input.email,
                is_superuser: input.is_superuser,
                is_active: input.is_active,
            };
            let id: i64 = diesel::insert_into(t::users)
                .values((
                    row,
                    t::password_hash.eq(&password),
                    t::date_joined.eq(now()),
                ))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &username))?;
            set_links!(conn, user_groups, user_id, group_id, id, &input.groups);
            Ok(id)
        })
    }

    fn update(
        conn: &mut DbConn,
        _ctx: &WriteCtx<'_>,
        id: i64,
        input: &UserInput,
    ) -> Result<(), DbError> {
        let password = password_change(input)?;
        write_tx(conn, |conn| {
            let username = check(conn, input)?;
            let row = Row {
                username: &username,
                first_name: &input.first_name,
                last_name: &input.last_name,
                email: &input.email,
                is_superuser: input.is_superuser,
                is_active: input.is_active,
            };
            let n = diesel::update(t::users.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &username))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            if let Some(hash) = &password {
                set_password_hash(conn, id, hash.as_deref())?;
            }
            set_links!(conn, user_groups, user_id, group_id, id, &input.groups);
            Ok(())
        })
    }

    /// Clears `created_by` wherever the user is named, removes their tokens
    /// and memberships, then the user.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{
            api_tokens, builds, organizations, pipelines, projects, service_logins, snippets,
            ssh_keys, user_groups, variable_sets, worker_pools,
        };
        macro_rules! clear_creator {
            ($conn:expr, $($table:ident),+) => {
                $(
                    diesel::update($table::table.filter($table::created_by.eq(id)))
                        .set($table::created_by.eq(None::<i64>))
                        .execute($conn)?;
                )+
            };
        }
        write_tx(conn, |conn| {
            clear_creator!(
                conn,
                builds,
                organizations,
                pipelines,
                projects,
                service_logins,
                snippets,
                ssh_keys,
                variable_sets,
                worker_pools
            );
            diesel::delete(api_tokens::table.filter(api_tokens::user_id.eq(id))).execute(conn)?;
            diesel::delete(user_groups::table.filter(user_groups::user_id.eq(id))).execute(conn)?;
            if diesel::delete(t::users.find(id)).execute(conn)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let exists: bool =
            diesel::select(diesel::dsl::exists(t::users.find(id))).get_result(conn)?;
        if !exists {
            return Err(DbError::not_found(NOUN, id));
        }
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
    ) -> Result<Paged<User>, DbError> {
        let mut q = t::users.select(User::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::username).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::users(authz));
        }
        let rows = q
            .order(t::username.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::users
            .filter(t::id.eq(id))
            .filter(authz_sql::users(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}
