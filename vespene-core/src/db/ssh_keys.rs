//! SSH keys (reference §1.8): a private key and its unlock password, both
//! stored cloaked by the secrets plugin. `Debug` never shows them.

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower, owned_facts};
use super::links::{check_ids, link_ids, set_links};
use super::schema::ssh_keys::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, validate, write_tx};
use crate::secrets::{Secrets, SecretsError};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "ssh key";

/// A stored SSH key; `private_key` and `unlock_password` are cloaked.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema)]
#[diesel(table_name = ssh_keys)]
pub struct SshKey {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Cloaked (see [`crate::secrets`]).
    #[serde(skip)]
    pub private_key: String,
    /// Cloaked.
    #[serde(skip)]
    pub unlock_password: String,
    pub created_by: Option<i64>,
}

impl std::fmt::Debug for SshKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshKey")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("description", &self.description)
            .field("private_key", &"<redacted>")
            .field("unlock_password", &"<redacted>")
            .field("created_by", &self.created_by)
            .finish()
    }
}

/// An SSH key with its owner groups.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct SshKeyDetail {
    #[serde(flatten)]
    pub ssh_key: SshKey,
    pub owner_groups: Vec<i64>,
}

/// The form that creates or replaces an SSH key. On update, `None` keeps
/// the stored secret (forms do not send secrets back).
#[derive(
    Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct SshKeyInput {
    pub name: String,
    pub description: String,
    /// Plaintext (it is cloaked before it is stored).
    /// Write-only: never serialized.
    #[serde(skip_serializing)]
    pub private_key: Option<String>,
    /// Plaintext.
    /// Write-only: never serialized.
    #[serde(skip_serializing)]
    pub unlock_password: Option<String>,
    pub owner_groups: Vec<i64>,
}

impl std::fmt::Debug for SshKeyInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshKeyInput")
            .field("name", &self.name)
            .field("description", &self.description)
            .field(
                "private_key",
                &self.private_key.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "unlock_password",
                &self.unlock_password.as_ref().map(|_| "<redacted>"),
            )
            .field("owner_groups", &self.owner_groups)
            .finish()
    }
}

impl From<&SshKeyDetail> for SshKeyInput {
    /// Keeps the secrets as stored.
    fn from(d: &SshKeyDetail) -> Self {
        SshKeyInput {
            name: d.ssh_key.name.clone(),
            description: d.ssh_key.description.clone(),
            private_key: None,
            unlock_password: None,
            owner_groups: d.owner_groups.clone(),
        }
    }
}

/// The decrypted secrets of a key (for the build that uses it).
#[derive(Clone, PartialEq, Eq)]
pub struct SshKeySecrets {
    pub private_key: String,
    pub unlock_password: String,
}

impl std::fmt::Debug for SshKeySecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SshKeySecrets { <redacted> }")
    }
}

#[derive(Insertable, AsChangeset)]
#[diesel(table_name = ssh_keys)]
struct Row<'a> {
    name: &'a str,
    description: &'a str,
}

fn check(conn: &mut DbConn, input: &SshKeyInput) -> Result<String, DbError> {
    let name = validate::name(NOUN, "name", &input.name)?;
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

/// The ways SSH keys are looked up.
pub struct SshKeys;

impl Aggregate for SshKeys {
    const KIND: ObjectKind = ObjectKind::SshKey;
    const NOUN: &'static str = NOUN;
    type Row = SshKey;
    type Detail = SshKeyDetail;
    type Input = SshKeyInput;
    type ListFilter = NameFilter;
    fn input_owner_groups(input: &Self::Input) -> &[i64] {
        &input.owner_groups
    }

    fn get(conn: &mut DbConn, id: i64) -> Result<SshKeyDetail, DbError> {
        let ssh_key = t::ssh_keys
            .find(id)
            .select(SshKey::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let owner_groups = link_ids!(conn, ssh_key_owner_groups, ssh_key_id, group_id, id)?;
        Ok(SshKeyDetail {
            ssh_key,
            owner_groups,
        })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<SshKey>, DbError> {
        Ok(t::ssh_keys
            .filter(t::name.eq(name.trim()))
            .select(SshKey::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(conn: &mut DbConn, ctx: &WriteCtx<'_>, input: &SshKeyInput) -> Result<i64, DbError> {
        let private_key = ctx
            .secrets
            .cloak(input.private_key.as_deref().unwrap_or(""))?;
        let unlock_password = ctx
            .secrets
            .cloak(input.unlock_password.as_deref().unwrap_or(""))?;
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
            };
            let id: i64 = diesel::insert_into(t::ssh_keys)
                .values((
                    row,
                    t::private_key.eq(&private_key),
                    t::unlock_password.eq(&unlock_password),
                    t::created_by.eq(ctx.user_id),
                ))
                .returning(t::id)
                .get_result(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            set_links!(
                conn,
                ssh_key_owner_groups,
                ssh_key_id,
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
        input: &SshKeyInput,
    ) -> Result<(), DbError> {
        let mut private_key = ctx
            .secrets
            .cloak_replacement(input.private_key.as_deref())?;
        let mut unlock_password = ctx
            .secrets
            .cloak_replacement(input.unlock_password.as_deref())?;
        // Plaintext secrets found here are encrypted now.
        let stored: Option<(String, String)> = t::ssh_keys
            .find(id)
            .select((t::private_key, t::unlock_password))
            .first(conn)
            .optional()?;
        if let Some((key, unlock)) = stored {
            if private_key.is_none() {
                private_key = ctx.secrets.upgrade_plaintext(&key)?;
            }
            if unlock_password.is_none() {
                unlock_password = ctx.secrets.upgrade_plaintext(&unlock)?;
            }
        }
        write_tx(conn, |conn| {
            let name = check(conn, input)?;
            let row = Row {
                name: &name,
                description: &input.description,
            };
            let n = diesel::update(t::ssh_keys.find(id))
                .set(row)
                .execute(conn)
                .map_err(validate::unique_name(NOUN, &name))?;
            if n == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            if let Some(v) = &private_key {
                diesel::update(t::ssh_keys.find(id))
                    .set(t::private_key.eq(v))
                    .execute(conn)?;
            }
            if let Some(v) = &unlock_password {
                diesel::update(t::ssh_keys.find(id))
                    .set(t::unlock_password.eq(v))
                    .execute(conn)?;
            }
            set_links!(
                conn,
                ssh_key_owner_groups,
                ssh_key_id,
                group_id,
                id,
                &input.owner_groups
            );
            Ok(())
        })
    }

    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{
            organization_ssh_keys as os, project_ssh_keys as ps, ssh_key_owner_groups as og,
        };
        write_tx(conn, |conn| {
            diesel::delete(ps::table.filter(ps::ssh_key_id.eq(id))).execute(conn)?;
            diesel::delete(os::table.filter(os::ssh_key_id.eq(id))).execute(conn)?;
            diesel::delete(og::table.filter(og::ssh_key_id.eq(id))).execute(conn)?;
            if diesel::delete(t::ssh_keys.find(id)).execute(conn)? == 0 {
                return Err(DbError::not_found(NOUN, id));
            }
            Ok(())
        })
    }

    fn facts(conn: &mut DbConn, id: i64) -> Result<ObjectFacts, DbError> {
        let d = Self::get(conn, id)?;
        Ok(owned_facts(id, d.ssh_key.created_by, d.owner_groups))
    }

    fn list(
        conn: &mut DbConn,
        filter: &NameFilter,
        authz: &Filter,
        page: Page,
    ) -> Result<Paged<SshKey>, DbError> {
        let mut q = t::ssh_keys.select(SshKey::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::ssh_keys(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::ssh_keys
            .filter(t::id.eq(id))
            .filter(authz_sql::ssh_keys(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}

/// The decrypted secrets of key `id` (no permission check: for the engine).
pub fn reveal(conn: &mut DbConn, secrets: &Secrets, id: i64) -> Result<SshKeySecrets, DbError> {
    let key = SshKeys::get(conn, id)?.ssh_key;
    Ok(secrets_of(secrets, &key)?)
}

/// The decrypted secrets of a key already read.
pub fn secrets_of(secrets: &Secrets, key: &SshKey) -> Result<SshKeySecrets, SecretsError> {
    Ok(SshKeySecrets {
        private_key: secrets.decloak(&key.private_key)?,
        unlock_password: secrets.decloak(&key.unlock_password)?,
    })
}
