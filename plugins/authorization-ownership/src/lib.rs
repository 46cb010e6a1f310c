//! `vespene.plugins.authorization.ownership`: the stock policy. Logged-in
//! users create most things, and edit or delete what they own; projects are
//! started and stopped by their owners and launch groups; superusers do
//! everything except edit builds (reference §7.2, with this project's
//! decisions).
//!
//! "Owned" means `created_by` is the user, or `owner_groups` shares a group
//! with the user. For a logged-in user who is not a superuser:
//!
//! | object | list / view | create | edit / delete | start / stop |
//! |---|---|---|---|---|
//! | Project | owned or launch group | yes | owned | owned or launch group |
//! | Build | started by the user, or its project's owner groups | nobody | nobody | started by the user, or its project owned or launch group |
//! | Pipeline, Snippet, VariableSet | all | yes | owned | no |
//! | SshKey, ServiceLogin | owned | yes | owned | no |
//! | Stage | all | yes | superuser | no |
//! | WorkerPool | all | superuser | superuser | no |
//! | Organization | list all, view superuser | superuser | superuser | no |
//! | User | self | superuser | edit self, delete superuser | no |
//! | Group | all | superuser | superuser | no |
//!
//! Superusers may do everything except create, edit or delete builds
//! (builds are made by starting projects). Anonymous users may do nothing.
//!
//! Parameter `filter_view` (bool, default `true`): when `false`, every
//! logged-in user lists and views every object; the other rules stay.
//!
//! Differences from the original, decided for this project: anonymous users
//! are denied everything (the original let the create check through and the
//! pages then failed); stopping has its own rule, the start rule, where the
//! original's manager asked the view rule; organizations are
//! superuser-only to create, edit and view in detail, which is what the
//! original did in effect, since its organization form raised for everyone
//! else; and the `list` check allows every logged-in user, the list itself
//! being narrowed by [`AuthorizationPlugin::filter`].

use serde::Deserialize;
use vespene_plugin_api::kinds::authorization::{
    Action, CheckRequest, Decision, Filter, FilterRequest, ObjectFacts, ObjectKind,
};
use vespene_plugin_api::{
    AuthorizationPlugin, CreateContext, Plugin, PluginError, UserInfo, export_plugin,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Params {
    filter_view: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params { filter_view: true }
    }
}

/// The plugin instance.
#[derive(Debug, Clone)]
pub struct Ownership {
    filter_view: bool,
}

/// Who may do something, for a logged-in user who is not a superuser.
/// Superusers pass every rule except [`Rule::Nobody`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Every logged-in user.
    Everyone,
    /// Nobody, superusers included.
    Nobody,
    SuperuserOnly,
    /// `created_by` is the user or `owner_groups` meets the user's groups.
    Owned,
    /// Owned, or `launch_groups` meets the user's groups (projects).
    OwnedOrLaunch,
    /// The build's `created_by` is the user, or its project's
    /// `owner_groups` meets the user's groups (the original's build list).
    BuildViewer,
    /// The build's `created_by` is the user, or its project is owned by
    /// the user or has them in a launch group.
    BuildStarter,
    /// The object is the user's own account.
    SelfOnly,
    /// The action does not exist for this kind of object (start a snippet).
    NotApplicable,
}

/// A user's name for a kind of object, and its plural.
fn noun(kind: ObjectKind) -> (&'static str, &'static str) {
    match kind {
        ObjectKind::Project => ("project", "projects"),
        ObjectKind::Build => ("build", "builds"),
        ObjectKind::Pipeline => ("pipeline", "pipelines"),
        ObjectKind::Stage => ("stage", "stages"),
        ObjectKind::Snippet => ("snippet", "snippets"),
        ObjectKind::VariableSet => ("variable set", "variable sets"),
        ObjectKind::SshKey => ("SSH key", "SSH keys"),
        ObjectKind::ServiceLogin => ("service login", "service logins"),
        ObjectKind::WorkerPool => ("worker pool", "worker pools"),
        ObjectKind::Organization => ("organization", "organizations"),
        ObjectKind::User => ("user", "users"),
        ObjectKind::Group => ("group", "groups"),
    }
}

/// `AnyOf` with one member is that member.
fn any_of(mut filters: Vec<Filter>) -> Filter {
    if filters.len() == 1 {
        filters.remove(0)
    } else {
        Filter::AnyOf(filters)
    }
}

/// A logged-in user and the ids of their groups.
struct Asker<'a> {
    user: &'a UserInfo,
    groups: Vec<i64>,
}

impl<'a> Asker<'a> {
    fn new(user: &'a UserInfo) -> Asker<'a> {
        Asker {
            user,
            groups: user.groups.iter().map(|g| g.id).collect(),
        }
    }

    fn in_any(&self, ids: &[i64]) -> bool {
        ids.iter().any(|id| self.groups.contains(id))
    }

    fn owns(&self, o: &ObjectFacts) -> bool {
        o.created_by == Some(self.user.id) || self.in_any(&o.owner_groups)
    }

    fn launches(&self, o: &ObjectFacts) -> bool {
        self.in_any(&o.launch_groups)
    }

    /// Whether the rule lets this (non-superuser) user act on `o`.
    fn passes(&self, rule: Rule, o: &ObjectFacts) -> bool {
        let started_it = o.created_by == Some(self.user.id);
        match rule {
            Rule::Everyone => true,
            Rule::Nobody | Rule::SuperuserOnly | Rule::NotApplicable => false,
            Rule::Owned => self.owns(o),
            Rule::OwnedOrLaunch => self.owns(o) || self.launches(o),
            Rule::BuildViewer => {
                started_it
                    || o.project
                        .as_deref()
                        .is_some_and(|p| self.in_any(&p.owner_groups))
            }
            Rule::BuildStarter => {
                started_it
                    || o.project
                        .as_deref()
                        .is_some_and(|p| self.owns(p) || self.launches(p))
            }
            Rule::SelfOnly => o.id == self.user.id,
        }
    }

    /// The rule as a query filter, for the actions that have one.
    fn filter(&self, rule: Rule) -> Result<Filter, PluginError> {
        let me = self.user.id;
        // Group terms only when the user has groups: an empty list can
        // match nothing, and `IN ()` is not valid SQL everywhere.
        let groups =
            |f: fn(Vec<i64>) -> Filter| (!self.groups.is_empty()).then(|| f(self.groups.clone()));
        Ok(match rule {
            Rule::Everyone => Filter::All,
            Rule::Nobody | Rule::SuperuserOnly | Rule::NotApplicable => Filter::Nothing,
            Rule::Owned => any_of(
                [Some(Filter::CreatedBy(me)), groups(Filter::OwnerGroupsAny)]
                    .into_iter()
                    .flatten()
                    .collect(),
            ),
            Rule::OwnedOrLaunch => any_of(
                [
                    Some(Filter::CreatedBy(me)),
                    groups(Filter::OwnerGroupsAny),
                    groups(Filter::LaunchGroupsAny),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
            Rule::BuildViewer => any_of(
                [
                    Some(Filter::CreatedBy(me)),
                    groups(Filter::ProjectOwnerGroupsAny),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
            Rule::SelfOnly => Filter::IdIs(me),
            Rule::BuildStarter => {
                return Err(PluginError::invalid_request(
                    "the build start/stop rule has no query filter",
                ));
            }
        })
    }
}

impl Ownership {
    /// Who may see objects of `kind` in lists and detail pages.
    fn visibility(&self, kind: ObjectKind, action: Action) -> Rule {
        if !self.filter_view {
            return Rule::Everyone;
        }
        match kind {
            ObjectKind::Project => Rule::OwnedOrLaunch,
            ObjectKind::Build => Rule::BuildViewer,
            ObjectKind::SshKey | ObjectKind::ServiceLogin => Rule::Owned,
            ObjectKind::User => Rule::SelfOnly,
            // Detail pages of organizations were superuser-only in effect
            // (the original's organization form raised for other users).
            ObjectKind::Organization if action == Action::View => Rule::SuperuserOnly,
            ObjectKind::Organization
            | ObjectKind::Pipeline
            | ObjectKind::Snippet
            | ObjectKind::VariableSet
            | ObjectKind::Stage
            | ObjectKind::WorkerPool
            | ObjectKind::Group => Rule::Everyone,
        }
    }

    /// The rule for `action` on an object of `kind`.
    fn rule(&self, kind: ObjectKind, action: Action) -> Rule {
        use ObjectKind as K;
        match action {
            Action::List | Action::View => self.visibility(kind, action),
            Action::Create => match kind {
                // Builds are made by starting projects.
                K::Build => Rule::Nobody,
                // The original's form bug made organizations superuser-only.
                K::WorkerPool | K::User | K::Group | K::Organization => Rule::SuperuserOnly,
                K::Project
                | K::Pipeline
                | K::Stage
                | K::Snippet
                | K::VariableSet
                | K::SshKey
                | K::ServiceLogin => Rule::Everyone,
            },
            Action::Edit | Action::Delete => match kind {
                K::Build => Rule::Nobody,
                K::Project
                | K::Pipeline
                | K::Snippet
                | K::VariableSet
                | K::SshKey
                | K::ServiceLogin => Rule::Owned,
                K::Stage | K::WorkerPool | K::Organization | K::Group => Rule::SuperuserOnly,
                K::User if action == Action::Edit => Rule::SelfOnly,
                K::User => Rule::SuperuserOnly,
            },
            // Stopping follows starting, not viewing (the original's manager
            // asked the view rule for stop).
            Action::Start | Action::Stop => match kind {
                K::Project => Rule::OwnedOrLaunch,
                K::Build => Rule::BuildStarter,
                _ => Rule::NotApplicable,
            },
        }
    }

    /// Why `rule` refuses `action` on `kind`, in a few words.
    fn reason(rule: Rule, kind: ObjectKind, action: Action) -> String {
        let (one, many) = noun(kind);
        let verb = action.as_str();
        match rule {
            Rule::Nobody if action == Action::Create => {
                format!("{many} are made by starting a project, not created directly")
            }
            Rule::Nobody => format!("{many} cannot be changed or deleted"),
            Rule::SuperuserOnly => format!("only superusers may {verb} {many}"),
            Rule::Owned => format!("only the owners of this {one} may {verb} it"),
            Rule::OwnedOrLaunch => {
                format!("only the owners and launch groups of this {one} may {verb} it")
            }
            Rule::BuildViewer => format!(
                "only the user who started this {one} and its project's owner groups may {verb} it"
            ),
            Rule::BuildStarter => format!(
                "only the user who started this {one} and its project's owners and launch \
                 groups may {verb} it"
            ),
            Rule::SelfOnly => format!("users may only {verb} their own account"),
            Rule::NotApplicable if action == Action::Stop => format!("{many} cannot be stopped"),
            Rule::NotApplicable => format!("{many} cannot be started"),
            Rule::Everyone => format!("any logged-in user may {verb} {many}"),
        }
    }
}

impl Plugin for Ownership {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        Ok(Ownership {
            filter_view: params.filter_view,
        })
    }
}

impl AuthorizationPlugin for Ownership {
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError> {
        let Some(user) = &request.user else {
            return Ok(Decision::deny("you must log in"));
        };
        let (kind, action) = (request.object_kind, request.action);
        let rule = self.rule(kind, action);
        if user.is_superuser {
            return Ok(if rule == Rule::Nobody {
                Decision::deny(Self::reason(rule, kind, action))
            } else {
                Decision::allow()
            });
        }
        // Every logged-in user may ask for a list; `filter` narrows it.
        if action == Action::List {
            return Ok(Decision::allow());
        }
        let allowed = match rule {
            Rule::Everyone => true,
            Rule::Nobody | Rule::SuperuserOnly | Rule::NotApplicable => false,
            _ => {
                let object = request.object.as_ref().ok_or_else(|| {
                    PluginError::invalid_request(format!(
                        "checking '{}' on a {} needs the object's facts",
                        action.as_str(),
                        noun(kind).0
                    ))
                })?;
                Asker::new(user).passes(rule, object)
            }
        };
        Ok(if allowed {
            Decision::allow()
        } else {
            Decision::deny(Self::reason(rule, kind, action))
        })
    }

    fn filter(&self, request: &FilterRequest) -> Result<Filter, PluginError> {
        let (kind, action) = (request.object_kind, request.action);
        if !matches!(
            action,
            Action::List | Action::View | Action::Edit | Action::Delete
        ) {
            return Err(PluginError::invalid_request(format!(
                "there is no query filter for '{}' (only list, view, edit and delete)",
                action.as_str()
            )));
        }
        let Some(user) = &request.user else {
            return Ok(Filter::Nothing);
        };
        let rule = self.rule(kind, action);
        if user.is_superuser {
            return Ok(if rule == Rule::Nobody {
                Filter::Nothing
            } else {
                Filter::All
            });
        }
        Asker::new(user).filter(rule)
    }
}

export_plugin! {
    name: "vespene.plugins.authorization.ownership",
    kind: authorization,
    plugin: Ownership,
    description: "Users edit and delete what they or their groups own; projects start and stop for owners and launch groups; superusers do everything but edit builds.",
}

#[cfg(test)]
mod tests;
