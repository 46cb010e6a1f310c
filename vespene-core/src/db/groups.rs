//! Groups (reference §1.12): names that matter through owner groups,
//! launch groups and the `group_required` plugin.

use super::aggregate::{Aggregate, NameFilter, WriteCtx, contains_pattern, lower};
use super::schema::groups::{self, dsl as t};
use super::{DbConn, DbError, Page, Paged, authz_sql, validate, write_tx};
use diesel::prelude::*;
use vespene_plugin_api::kinds::authorization::{Filter, ObjectFacts, ObjectKind};

const NOUN: &str = "group";

/// A stored group.
#[derive(
    Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize, schemars::JsonSchema,
)]
#[diesel(table_name = groups)]
pub struct Group {
    pub id: i64,
    pub name: String,
}

/// A group with its members.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct GroupDetail {
    #[serde(flatten)]
    pub group: Group,
    /// User ids.
    pub members: Vec<i64>,
}

/// The form that creates or renames a group (members are set on users).
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(default, deny_unknown_fields)]
pub struct GroupInput {
    pub name: String,
}

impl From<&GroupDetail> for GroupInput {
    fn from(d: &GroupDetail) -> Self {
        GroupInput {
            name: d.group.name.clone(),
        }
    }
}

/// The ways groups are looked up.
pub struct Groups;

impl Aggregate for Groups {
    const KIND: ObjectKind = ObjectKind::Group;
    const NOUN: &'static str = NOUN;
    type Row = Group;
    type Detail = GroupDetail;
    type Input = GroupInput;
    type ListFilter = NameFilter;

    fn get(conn: &mut DbConn, id: i64) -> Result<GroupDetail, DbError> {
        use super::schema::user_groups as ug;
        let group = t::groups
            .find(id)
            .select(Group::as_select())
            .first(conn)
            .optional()?
            .ok_or_else(|| DbError::not_found(NOUN, id))?;
        let members = ug::table
            .filter(ug::group_id.eq(id))
            .select(ug::user_id)
            .order(ug::user_id.asc())
            .load(conn)?;
        Ok(GroupDetail { group, members })
    }

    fn find_by_name(conn: &mut DbConn, name: &str) -> Result<Option<Group>, DbError> {
        Ok(t::groups
            .filter(t::name.eq(name.trim()))
            .select(Group::as_select())
            .first(conn)
            .optional()?)
    }

    fn insert(conn: &mut DbConn, _ctx: &WriteCtx<'_>, input: &GroupInput) -> Result<i64, DbError> {
        let name = validate::name(NOUN, "name", &input.name)?;
        diesel::insert_into(t::groups)
            .values(t::name.eq(&name))
            .returning(t::id)
            .get_result(conn)
            .map_err(validate::unique_name(NOUN, &name))
    }

    fn update(
        conn: &mut DbConn,
        _ctx: &WriteCtx<'_>,
        id: i64,
        input: &GroupInput,
    ) -> Result<(), DbError> {
        let name = validate::name(NOUN, "name", &input.name)?;
        let n = diesel::update(t::groups.find(id))
            .set(t::name.eq(&name))
            .execute(conn)
            .map_err(validate::unique_name(NOUN, &name))?;
        if n == 0 {
            return Err(DbError::not_found(NOUN, id));
        }
        Ok(())
    }

    /// Removes the group from users and from every owner/launch list.
    fn delete(conn: &mut DbConn, id: i64) -> Result<(), DbError> {
        use super::schema::{
            pipeline_owner_groups as a, project_launch_groups as b, project_owner_groups as c,
            service_login_owner_groups as d, snippet_owner_groups as e, ssh_key_owner_groups as f,
            user_groups as g, variable_set_owner_groups as h,
        };
        write_tx(conn, |conn| {
            diesel::delete(a::table.filter(a::group_id.eq(id))).execute(conn)?;
            diesel::delete(b::table.filter(b::group_id.eq(id))).execute(conn)?;
            diesel::delete(c::table.filter(c::group_id.eq(id))).execute(conn)?;
            diesel::delete(d::table.filter(d::group_id.eq(id))).execute(conn)?;
            diesel::delete(e::table.filter(e::group_id.eq(id))).execute(conn)?;
            diesel::delete(f::table.filter(f::group_id.eq(id))).execute(conn)?;
            diesel::delete(g::table.filter(g::group_id.eq(id))).execute(conn)?;
            diesel::delete(h::table.filter(h::group_id.eq(id))).execute(conn)?;
            if diesel::delete(t::groups.find(id)).execute(conn)? == 0 {
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
    ) -> Result<Paged<Group>, DbError> {
        let mut q = t::groups.select(Group::as_select()).into_boxed();
        if let Some(s) = filter.name_contains.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(lower(t::name).like(contains_pattern(s)).escape('\\'));
        }
        if !authz_sql::is_all(authz) {
            q = q.filter(authz_sql::groups(authz));
        }
        let rows = q
            .order(t::name.asc())
            .limit(page.limit() + 1)
            .offset(page.offset())
            .load(conn)?;
        Ok(page.cut(rows))
    }

    fn matches(conn: &mut DbConn, id: i64, authz: &Filter) -> Result<bool, DbError> {
        Ok(t::groups
            .filter(t::id.eq(id))
            .filter(authz_sql::groups(authz))
            .select(t::id)
            .first::<i64>(conn)
            .optional()?
            .is_some())
    }
}

/// The groups of user `user_id`, by name.
pub fn of_user(conn: &mut DbConn, user_id: i64) -> Result<Vec<Group>, DbError> {
    use super::schema::user_groups as ug;
    Ok(t::groups
        .filter(
            t::id.eq_any(
                ug::table
                    .filter(ug::user_id.eq(user_id))
                    .select(ug::group_id),
            ),
        )
        .select(Group::as_select())
        .order(t::name.asc())
        .load(conn)?)
}
