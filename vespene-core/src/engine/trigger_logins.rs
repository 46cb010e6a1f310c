//! Service logins for triggers (trigger API 1.2): a trigger entry's
//! parameters name a login with `service_login = "NAME"` (at any depth: a
//! commit-status forge, a Slack entry), and the host resolves it for each
//! call against the build's project. The decrypted password goes into that
//! call's request only: never into messages, logs, the build's environment
//! or its variables.
//!
//! Who may use a login: the project's owner, as for anything it owns — the
//! login is usable when the project's creator is a superuser, or created
//! the login, or when one of the login's owner groups is one of the
//! project's owner groups or a group of the project's creator.

use crate::app::App;
use crate::db::aggregate::Aggregate;
use crate::db::projects::ProjectDetail;
use crate::db::schema::{user_groups, users};
use crate::db::service_logins::{ServiceLogins, password_of};
use crate::db::{DbConn, DbError};
use diesel::prelude::*;
use std::collections::BTreeMap;
use vespene_plugin_api::Credentials;
use vespene_plugin_api::kinds::trigger::ServiceLoginGrant;

/// The parameter key that names a service login.
pub const KEY: &str = "service_login";

/// The project a build's triggers act for.
#[derive(Clone, Copy)]
pub struct ActingFor<'a> {
    pub app: &'a App,
    pub project: &'a ProjectDetail,
}

/// Every `service_login = "NAME"` in `params`, at any depth, in order.
pub fn names_in(params: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(name) if k == KEY => {
                            if !out.contains(name) {
                                out.push(name.clone());
                            }
                        }
                        other => walk(other, out),
                    }
                }
            }
            serde_json::Value::Array(list) => list.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(params, &mut out);
    out
}

/// Resolves `names` for `acting` (or refuses them all when no project is
/// known: a trigger called outside a build).
pub fn resolve(
    acting: Option<ActingFor<'_>>,
    names: &[String],
) -> BTreeMap<String, ServiceLoginGrant> {
    let grant = |name: &String| match acting {
        Some(a) => match resolve_one(a, name) {
            Ok(c) => ServiceLoginGrant::Granted(c),
            Err(why) => ServiceLoginGrant::Refused(why),
        },
        None => ServiceLoginGrant::Refused(format!(
            "service login '{name}': no project to check it against outside a build"
        )),
    };
    names.iter().map(|n| (n.clone(), grant(n))).collect()
}

fn resolve_one(acting: ActingFor<'_>, name: &str) -> Result<Credentials, String> {
    let what = format!("service login '{name}'");
    let db = |e: DbError| format!("{what}: {e}");
    let mut conn = acting.app.db.conn().map_err(|e| format!("{what}: {e}"))?;
    let login = ServiceLogins::find_by_name(&mut conn, name)
        .map_err(db)?
        .ok_or_else(|| format!("{what}: there is no service login of that name"))?;
    let detail = ServiceLogins::get(&mut conn, login.id).map_err(db)?;
    if !may_use(
        &mut conn,
        acting.project,
        &detail.service_login.created_by,
        &detail.owner_groups,
    )
    .map_err(db)?
    {
        return Err(format!(
            "{what} may not be used by project '{}': neither its owner nor one of its owner groups owns the login",
            acting.project.project.name
        ));
    }
    let password = password_of(acting.app.ops.secrets(), &detail.service_login)
        .map_err(|e| format!("{what}: {e}"))?;
    Ok(Credentials {
        name: detail.service_login.name,
        username: detail.service_login.username,
        password,
    })
}

/// The rule of the module's doc: whether `project`'s owner may use a login
/// created by `login_creator` and owned by `login_groups`.
pub fn may_use(
    conn: &mut DbConn,
    project: &ProjectDetail,
    login_creator: &Option<i64>,
    login_groups: &[i64],
) -> Result<bool, DbError> {
    let owner = project.project.created_by;
    if owner.is_some() && owner == *login_creator {
        return Ok(true);
    }
    if project
        .owner_groups
        .iter()
        .any(|g| login_groups.contains(g))
    {
        return Ok(true);
    }
    let Some(owner) = owner else {
        return Ok(false);
    };
    let superuser = users::table
        .find(owner)
        .select(users::is_superuser)
        .first::<bool>(conn)
        .optional()?
        .unwrap_or(false);
    if superuser {
        return Ok(true);
    }
    let groups: Vec<i64> = user_groups::table
        .filter(user_groups::user_id.eq(owner))
        .select(user_groups::group_id)
        .load(conn)?;
    Ok(groups.iter().any(|g| login_groups.contains(g)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_found_at_any_depth_once() {
        let params = json!({
            "service_login": "slack-bot",
            "forges": [
                {"type": "github", "service_login": "gh"},
                {"type": "gitlab", "token": "x"},
                {"type": "gitea", "service_login": "gh"},
            ],
            "other": {"service_login": 3},
        });
        let mut names = names_in(&params);
        names.sort();
        assert_eq!(names, vec!["gh".to_string(), "slack-bot".into()]);
        assert!(names_in(&serde_json::Value::Null).is_empty());
    }
}
