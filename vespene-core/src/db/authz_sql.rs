//! Authorization filters as SQL: a plugin's [`Filter`] (data) becomes a
//! boxed diesel condition on one table, so list queries are narrowed in
//! the database, with link-table subqueries for group membership.
//!
//! A leaf that does not apply to a table (launch groups of a snippet, the
//! creator of a stage) matches nothing: filters fail closed.

use super::Backend;
use super::schema;
use diesel::dsl::not;
use diesel::expression::BoxableExpression;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use vespene_plugin_api::kinds::authorization::Filter;

/// A condition on the rows of table `T`.
pub type Cond<T> = Box<dyn BoxableExpression<T, Backend, SqlType = Bool>>;

fn yes<T: 'static>() -> Cond<T> {
    Box::new(true.into_sql::<Bool>())
}

fn no<T: 'static>() -> Cond<T> {
    Box::new(not(true.into_sql::<Bool>()))
}

/// Turns `filter` into a condition; `leaf` translates the table-specific
/// leaves and answers `None` for those that do not apply.
pub fn condition<T: 'static>(
    filter: &Filter,
    leaf: &dyn Fn(&Filter) -> Option<Cond<T>>,
) -> Cond<T> {
    match filter {
        Filter::All => yes(),
        Filter::Nothing => no(),
        Filter::AnyOf(parts) => {
            if parts.contains(&Filter::All) {
                return yes();
            }
            parts
                .iter()
                .filter(|p| **p != Filter::Nothing)
                .map(|p| condition(p, leaf))
                .reduce(|a, b| Box::new(a.or(b)))
                .unwrap_or_else(no)
        }
        Filter::AllOf(parts) => {
            if parts.contains(&Filter::Nothing) {
                return no();
            }
            parts
                .iter()
                .filter(|p| **p != Filter::All)
                .map(|p| condition(p, leaf))
                .reduce(|a, b| Box::new(a.and(b)))
                .unwrap_or_else(yes)
        }
        other => leaf(other).unwrap_or_else(no),
    }
}

/// Whether `filter` can only ever match every row (no query needed).
pub fn is_all(filter: &Filter) -> bool {
    match filter {
        Filter::All => true,
        Filter::AllOf(parts) => parts.iter().all(is_all),
        Filter::AnyOf(parts) => parts.iter().any(is_all),
        _ => false,
    }
}

/// Tables with `created_by` and an owner-groups link table.
macro_rules! owned {
    ($fn:ident, $table:ident, $link:ident, $col:ident) => {
        /// The condition of a filter on this table.
        pub fn $fn(filter: &Filter) -> Cond<schema::$table::table> {
            use schema::$table::dsl as t;
            condition(filter, &|leaf| match leaf {
                Filter::CreatedBy(u) => Some(Box::new(t::created_by.assume_not_null().eq(*u))),
                Filter::OwnerGroupsAny(groups) => Some(Box::new(
                    t::id.eq_any(
                        schema::$link::table
                            .filter(schema::$link::group_id.eq_any(groups.clone()))
                            .select(schema::$link::$col),
                    ),
                )),
                Filter::IdIs(id) => Some(Box::new(t::id.eq(*id))),
                _ => None,
            })
        }
    };
}

owned!(pipelines, pipelines, pipeline_owner_groups, pipeline_id);
owned!(snippets, snippets, snippet_owner_groups, snippet_id);
owned!(
    variable_sets,
    variable_sets,
    variable_set_owner_groups,
    variable_set_id
);
owned!(ssh_keys, ssh_keys, ssh_key_owner_groups, ssh_key_id);
owned!(
    service_logins,
    service_logins,
    service_login_owner_groups,
    service_login_id
);

/// Tables with `created_by` but no owner groups.
macro_rules! created {
    ($fn:ident, $table:ident) => {
        /// The condition of a filter on this table.
        pub fn $fn(filter: &Filter) -> Cond<schema::$table::table> {
            use schema::$table::dsl as t;
            condition(filter, &|leaf| match leaf {
                Filter::CreatedBy(u) => Some(Box::new(t::created_by.assume_not_null().eq(*u))),
                Filter::IdIs(id) => Some(Box::new(t::id.eq(*id))),
                _ => None,
            })
        }
    };
}

created!(worker_pools, worker_pools);
created!(organizations, organizations);

/// Tables with only an id (stages, users, groups).
macro_rules! by_id {
    ($fn:ident, $table:ident) => {
        /// The condition of a filter on this table.
        pub fn $fn(filter: &Filter) -> Cond<schema::$table::table> {
            use schema::$table::dsl as t;
            condition(filter, &|leaf| match leaf {
                Filter::IdIs(id) => Some(Box::new(t::id.eq(*id))),
                _ => None,
            })
        }
    };
}

by_id!(stages, stages);
by_id!(users, users);
by_id!(groups, groups);

/// Projects: creator, owner groups, launch groups, id.
pub fn projects(filter: &Filter) -> Cond<schema::projects::table> {
    use schema::project_launch_groups as lg;
    use schema::project_owner_groups as og;
    use schema::projects::dsl as t;
    condition(filter, &|leaf| match leaf {
        Filter::CreatedBy(u) => Some(Box::new(t::created_by.assume_not_null().eq(*u))),
        Filter::OwnerGroupsAny(groups) => Some(Box::new(
            t::id.eq_any(
                og::table
                    .filter(og::group_id.eq_any(groups.clone()))
                    .select(og::project_id),
            ),
        )),
        Filter::LaunchGroupsAny(groups) => Some(Box::new(
            t::id.eq_any(
                lg::table
                    .filter(lg::group_id.eq_any(groups.clone()))
                    .select(lg::project_id),
            ),
        )),
        Filter::IdIs(id) => Some(Box::new(t::id.eq(*id))),
        _ => None,
    })
}

/// Builds: creator, the project's owner groups, launch groups and
/// creator, id.
pub fn builds(filter: &Filter) -> Cond<schema::builds::table> {
    use schema::builds::dsl as t;
    use schema::project_launch_groups as lg;
    use schema::project_owner_groups as og;
    use schema::projects as p;
    condition(filter, &|leaf| match leaf {
        Filter::CreatedBy(u) => Some(Box::new(t::created_by.assume_not_null().eq(*u))),
        Filter::ProjectOwnerGroupsAny(groups) => Some(Box::new(
            t::project_id.assume_not_null().eq_any(
                og::table
                    .filter(og::group_id.eq_any(groups.clone()))
                    .select(og::project_id),
            ),
        )),
        Filter::ProjectLaunchGroupsAny(groups) => Some(Box::new(
            t::project_id.assume_not_null().eq_any(
                lg::table
                    .filter(lg::group_id.eq_any(groups.clone()))
                    .select(lg::project_id),
            ),
        )),
        Filter::ProjectCreatedBy(u) => {
            Some(Box::new(t::project_id.assume_not_null().eq_any(
                p::table.filter(p::created_by.eq(Some(*u))).select(p::id),
            )))
        }
        Filter::IdIs(id) => Some(Box::new(t::id.eq(*id))),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_detection() {
        assert!(is_all(&Filter::All));
        assert!(is_all(&Filter::AllOf(vec![Filter::All, Filter::All])));
        assert!(is_all(&Filter::AllOf(vec![])));
        assert!(is_all(&Filter::AnyOf(vec![Filter::Nothing, Filter::All])));
        assert!(!is_all(&Filter::AnyOf(vec![])));
        assert!(!is_all(&Filter::AllOf(vec![
            Filter::All,
            Filter::CreatedBy(1)
        ])));
        assert!(!is_all(&Filter::Nothing));
    }
}
