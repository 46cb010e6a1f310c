//! `vespene.plugins.authorization.group_required`: restricts verbs on kinds
//! of object to the members of named groups. Meant to run together with
//! `vespene.plugins.authorization.ownership` (every authorization plugin
//! must allow an action); alone it lets through everything it is not told
//! to restrict.
//!
//! Parameters map a noun to verbs to lists of group names:
//!
//! ```toml
//! [authorization.group_required.params]
//! project = { create = ["developers", "ops"], start = ["ops"] }
//! variable_set = { edit = [] }
//! ```
//!
//! * Nouns: the original's lower-case model class names `project`, `build`,
//!   `pipeline`, `stage`, `snippet`, `variableset`, `sshkey`,
//!   `servicelogin`, `workerpool`, `organization`, `user`, `group`, or the
//!   wire names `variable_set`, `ssh_key`, `service_login`, `worker_pool`.
//! * Verbs: `list`, `create`, `view`, `edit`, `delete`, `start`, `stop` (in
//!   this version `list` is consulted and `stop` is reached; the original's
//!   manager did neither).
//!
//! Rules: a superuser always passes; a noun or verb that is not configured
//! passes; otherwise the user must be a member of at least one listed group
//! (by name), so an empty list forbids everyone but superusers, and an
//! anonymous user is refused. Queries are not narrowed, except that a
//! `list` or `view` rule the user does not satisfy filters out everything.
//! No parameters, or `{}`, restrict nothing (the original crashed on `{}`).
//! Unknown nouns or verbs and values that are not lists of names are
//! refused when the instance is created.

use std::collections::HashMap;
use vespene_plugin_api::kinds::authorization::{
    Action, CheckRequest, Decision, Filter, FilterRequest, ObjectKind,
};
use vespene_plugin_api::serde_json::Value;
use vespene_plugin_api::{
    AuthorizationPlugin, CreateContext, Plugin, PluginError, UserInfo, export_plugin,
};

/// The plugin instance: for each configured noun and verb, the group names
/// whose members may act.
#[derive(Debug, Clone, Default)]
pub struct GroupRequired {
    rules: HashMap<(ObjectKind, Action), Vec<String>>,
}

fn plural(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Project => "projects",
        ObjectKind::Build => "builds",
        ObjectKind::Pipeline => "pipelines",
        ObjectKind::Stage => "stages",
        ObjectKind::Snippet => "snippets",
        ObjectKind::VariableSet => "variable sets",
        ObjectKind::SshKey => "SSH keys",
        ObjectKind::ServiceLogin => "service logins",
        ObjectKind::WorkerPool => "worker pools",
        ObjectKind::Organization => "organizations",
        ObjectKind::User => "users",
        ObjectKind::Group => "groups",
    }
}

impl GroupRequired {
    /// Reads the parameters (see the crate docs).
    fn from_params(instance: &str, params: &Value) -> Result<GroupRequired, PluginError> {
        let bad = |msg: String| PluginError::invalid_params(format!("'{instance}': {msg}"));
        let nouns = match params {
            Value::Null => return Ok(GroupRequired::default()),
            Value::Object(map) => map,
            _ => {
                return Err(bad(
                    "parameters must be a table mapping nouns (project, build, ...) to verbs \
                     to lists of group names"
                        .into(),
                ));
            }
        };
        let mut rules = HashMap::new();
        let mut seen: HashMap<ObjectKind, &str> = HashMap::new();
        for (noun, verbs) in nouns {
            let kind = ObjectKind::from_name(noun).ok_or_else(|| {
                let known: Vec<&str> = ObjectKind::ALL.iter().map(|k| k.class_name()).collect();
                bad(format!(
                    "unknown noun '{noun}' (use one of {})",
                    known.join(", ")
                ))
            })?;
            if let Some(other) = seen.insert(kind, noun) {
                return Err(bad(format!(
                    "'{other}' and '{noun}' name the same kind of object; use one"
                )));
            }
            let Value::Object(verbs) = verbs else {
                return Err(bad(format!(
                    "'{noun}' must be a table mapping verbs to lists of group names"
                )));
            };
            for (verb, groups) in verbs {
                let action = Action::from_name(verb).ok_or_else(|| {
                    let known: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
                    bad(format!(
                        "'{noun}.{verb}': unknown verb '{verb}' (use one of {})",
                        known.join(", ")
                    ))
                })?;
                let Value::Array(groups) = groups else {
                    return Err(bad(format!(
                        "'{noun}.{verb}' must be a list of group names"
                    )));
                };
                let names = groups
                    .iter()
                    .enumerate()
                    .map(|(i, g)| {
                        g.as_str().map(str::to_string).ok_or_else(|| {
                            bad(format!(
                                "'{noun}.{verb}[{i}]' must be a group name (a string)"
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                rules.insert((kind, action), names);
            }
        }
        Ok(GroupRequired { rules })
    }

    /// `Ok` when the user may, `Err(reason)` when not.
    fn decide(
        &self,
        user: Option<&UserInfo>,
        kind: ObjectKind,
        action: Action,
    ) -> Result<(), String> {
        if user.is_some_and(|u| u.is_superuser) {
            return Ok(());
        }
        let Some(required) = self.rules.get(&(kind, action)) else {
            return Ok(());
        };
        let Some(user) = user else {
            return Err("you must log in".into());
        };
        if user.groups.iter().any(|g| required.contains(&g.name)) {
            return Ok(());
        }
        let (verb, many) = (action.as_str(), plural(kind));
        Err(if required.is_empty() {
            format!("only superusers may {verb} {many}")
        } else {
            format!(
                "only members of the groups {} may {verb} {many}",
                required.join(", ")
            )
        })
    }
}

impl Plugin for GroupRequired {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        GroupRequired::from_params(ctx.name, &ctx.params)
    }
}

impl AuthorizationPlugin for GroupRequired {
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError> {
        Ok(
            match self.decide(request.user.as_ref(), request.object_kind, request.action) {
                Ok(()) => Decision::allow(),
                Err(reason) => Decision::deny(reason),
            },
        )
    }

    fn filter(&self, request: &FilterRequest) -> Result<Filter, PluginError> {
        match request.action {
            Action::List | Action::View => Ok(
                match self.decide(request.user.as_ref(), request.object_kind, request.action) {
                    Ok(()) => Filter::All,
                    Err(_) => Filter::Nothing,
                },
            ),
            Action::Edit | Action::Delete => Ok(Filter::All),
            other => Err(PluginError::invalid_request(format!(
                "there is no query filter for '{}' (only list, view, edit and delete)",
                other.as_str()
            ))),
        }
    }
}

export_plugin! {
    name: "vespene.plugins.authorization.group_required",
    kind: authorization,
    plugin: GroupRequired,
    description: "Restricts verbs on kinds of object (create projects, start builds ...) to members of named groups.",
}

#[cfg(test)]
mod tests;
