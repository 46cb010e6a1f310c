//! Accounts: users and groups, superusers, password hashing (argon2id, PHC
//! strings) and personal API tokens. Permission checks are not here: the
//! CLI's `vespene user create` and the first start of `vespene up` create
//! users directly; the web UI goes through [`crate::ops`].

mod password;
mod tokens;

pub use password::{hash_password, verify_password};
pub use tokens::{NewToken, TOKEN_PREFIX, create_token, list_tokens, lookup_token, revoke_token};

use crate::db::aggregate::{Aggregate, WriteCtx};
use crate::db::users::{User, UserInput, Users};
use crate::db::{Db, DbConn, DbError, groups};
use crate::secrets::Secrets;
use vespene_plugin_api::{GroupRef, UserInfo};

/// Creates user `name` (`vespene user create`). `password`: `None` makes
/// a user who cannot log in with a password (tokens only).
pub fn create_user(
    db: &Db,
    name: &str,
    password: Option<&str>,
    superuser: bool,
) -> Result<User, DbError> {
    create_user_with(
        db,
        &NewUser {
            name,
            password,
            superuser,
            email: "",
        },
    )
}

/// What `vespene user create` asks for.
#[derive(Clone, Copy, Default)]
pub struct NewUser<'a> {
    pub name: &'a str,
    /// `None`: the user cannot log in with a password until one is set.
    pub password: Option<&'a str>,
    pub superuser: bool,
    pub email: &'a str,
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("name", &self.name)
            .field("password", &self.password.map(|_| "<redacted>"))
            .field("superuser", &self.superuser)
            .field("email", &self.email)
            .finish()
    }
}

/// Creates a user (see [`NewUser`]).
pub fn create_user_with(db: &Db, new: &NewUser<'_>) -> Result<User, DbError> {
    let password = new.password;
    if password == Some("") {
        return Err(DbError::Invalid {
            object: "user",
            field: "password".into(),
            reason: "must not be empty".into(),
        });
    }
    let mut conn = db.conn()?;
    let input = UserInput {
        username: new.name.to_string(),
        email: new.email.trim().to_string(),
        password: password.map(str::to_string),
        is_superuser: new.superuser,
        ..UserInput::default()
    };
    let secrets = Secrets::none();
    let ctx = WriteCtx {
        secrets: &secrets,
        user_id: None,
    };
    let id = Users::insert(&mut conn, &ctx, &input)?;
    Ok(Users::get(&mut conn, id)?.user)
}

/// The name of the administrator a first start creates.
pub const FIRST_ADMIN: &str = "admin";

/// A first start (`vespene up`, `vespene migrate --create-admin`): when
/// there is no user yet, creates the superuser [`FIRST_ADMIN`] with a
/// random password and returns that password, to be shown once; `None`
/// when users exist.
pub fn create_first_admin(
    db: &Db,
) -> Result<Option<String>, Box<dyn std::error::Error + Send + Sync>> {
    if crate::db::users::any_user(&mut *db.conn()?)? {
        return Ok(None);
    }
    let password = crate::app::random_password(20)?;
    create_user(db, FIRST_ADMIN, Some(&password), true)?;
    Ok(Some(password))
}

/// The user called `name` (`NotFound` when there is none).
pub fn user_by_name(db: &Db, name: &str) -> Result<User, DbError> {
    Users::find_by_name(&mut *db.conn()?, name)?.ok_or_else(|| DbError::NotFound {
        object: "user",
        key: format!("'{}'", name.trim()),
    })
}

/// The user `name` if `password` is theirs and they are active; records
/// the login.
pub fn authenticate(db: &Db, name: &str, password: &str) -> Result<Option<UserInfo>, DbError> {
    let mut conn = db.conn()?;
    let Some(user) = Users::find_by_name(&mut conn, name)? else {
        // Spend the same time as a real check, so timing does not tell
        // which names exist.
        let _ = verify_password(password, dummy_hash());
        return Ok(None);
    };
    let ok = user.is_active
        && user
            .password_hash
            .as_deref()
            .is_some_and(|h| verify_password(password, h));
    if !ok {
        return Ok(None);
    }
    crate::db::users::touch_login(&mut conn, user.id)?;
    Ok(Some(user_info_of(&mut conn, &user)?))
}

/// A hash to check against when the user does not exist (made once).
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password("no such user").unwrap_or_default())
}

/// Sets (`Some`) or removes (`None`) the password of user `id`.
pub fn set_password(db: &Db, id: i64, password: Option<&str>) -> Result<(), DbError> {
    let hash = match password {
        Some(p) => Some(hash_password(p)?),
        None => None,
    };
    crate::db::users::set_password_hash(&mut *db.conn()?, id, hash.as_deref())
}

/// The request user of user `id`, with their groups (what authorization
/// plugins see).
pub fn user_info(conn: &mut DbConn, id: i64) -> Result<UserInfo, DbError> {
    let user = user_row(conn, id)?;
    user_info_of(conn, &user)
}

/// [`user_info`] of an active account; `None` when it is disabled.
pub fn active_user_info(conn: &mut DbConn, id: i64) -> Result<Option<UserInfo>, DbError> {
    let user = user_row(conn, id)?;
    if !user.is_active {
        return Ok(None);
    }
    Ok(Some(user_info_of(conn, &user)?))
}

/// The user row alone (its group links come from [`groups::of_user`]).
fn user_row(conn: &mut DbConn, id: i64) -> Result<User, DbError> {
    use diesel::prelude::*;
    crate::db::schema::users::table
        .find(id)
        .select(User::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| DbError::not_found("user", id))
}

fn user_info_of(conn: &mut DbConn, user: &User) -> Result<UserInfo, DbError> {
    let groups = groups::of_user(conn, user.id)?
        .into_iter()
        .map(|g| GroupRef {
            id: g.id,
            name: g.name,
        })
        .collect();
    Ok(UserInfo {
        id: user.id,
        username: user.username.clone(),
        is_superuser: user.is_superuser,
        groups,
    })
}
