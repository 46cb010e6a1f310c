//! Authorization: every configured plugin must allow an action; list
//! queries are narrowed by every plugin's filter (reference §7.2). A plugin
//! that errors denies.

use super::adapter;
use crate::context::UserInfo;
use crate::export::{Dispatch, handle};
use crate::{Kind, Plugin, PluginError};
use serde::{Deserialize, Serialize};

/// Operation names.
pub mod ops {
    /// [`super::CheckRequest`] → [`super::Decision`].
    pub const CHECK: &str = "check";
    /// [`super::FilterRequest`] → [`super::FilterResponse`].
    pub const FILTER: &str = "filter";
}

/// What a user wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    List,
    Create,
    View,
    Edit,
    Delete,
    Start,
    Stop,
}

impl Action {
    pub const ALL: [Action; 7] = [
        Action::List,
        Action::Create,
        Action::View,
        Action::Edit,
        Action::Delete,
        Action::Start,
        Action::Stop,
    ];

    /// The action named `name` (`list`, `create` ...).
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::List => "list",
            Action::Create => "create",
            Action::View => "view",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::Start => "start",
            Action::Stop => "stop",
        }
    }
}

/// The kinds of stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Project,
    Build,
    Pipeline,
    Stage,
    Snippet,
    VariableSet,
    SshKey,
    ServiceLogin,
    WorkerPool,
    Organization,
    User,
    Group,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 12] = [
        ObjectKind::Project,
        ObjectKind::Build,
        ObjectKind::Pipeline,
        ObjectKind::Stage,
        ObjectKind::Snippet,
        ObjectKind::VariableSet,
        ObjectKind::SshKey,
        ObjectKind::ServiceLogin,
        ObjectKind::WorkerPool,
        ObjectKind::Organization,
        ObjectKind::User,
        ObjectKind::Group,
    ];

    /// The kind named `name`, by wire name (`variable_set`) or class name
    /// (`variableset`).
    pub fn from_name(name: &str) -> Option<ObjectKind> {
        ObjectKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name || k.class_name() == name)
    }

    /// The wire name (`variable_set`).
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Project => "project",
            ObjectKind::Build => "build",
            ObjectKind::Pipeline => "pipeline",
            ObjectKind::Stage => "stage",
            ObjectKind::Snippet => "snippet",
            ObjectKind::VariableSet => "variable_set",
            ObjectKind::SshKey => "ssh_key",
            ObjectKind::ServiceLogin => "service_login",
            ObjectKind::WorkerPool => "worker_pool",
            ObjectKind::Organization => "organization",
            ObjectKind::User => "user",
            ObjectKind::Group => "group",
        }
    }

    /// The original's model class name in lower case (`variableset`), the
    /// noun `group_required` parameters use.
    pub fn class_name(self) -> &'static str {
        match self {
            ObjectKind::VariableSet => "variableset",
            ObjectKind::SshKey => "sshkey",
            ObjectKind::ServiceLogin => "servicelogin",
            ObjectKind::WorkerPool => "workerpool",
            other => other.as_str(),
        }
    }
}

/// Who owns an object, which is all the stock policies look at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ObjectFacts {
    pub id: i64,
    pub created_by: Option<i64>,
    /// Group ids of `owner_groups`.
    pub owner_groups: Vec<i64>,
    /// Group ids of `launch_groups` (projects).
    pub launch_groups: Vec<i64>,
    /// For a build: its project's facts.
    pub project: Option<Box<ObjectFacts>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRequest {
    /// `None` for an anonymous request.
    pub user: Option<UserInfo>,
    pub action: Action,
    pub object_kind: ObjectKind,
    /// The object, for view/edit/delete/start/stop; `None` for list/create.
    #[serde(default)]
    pub object: Option<ObjectFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Why not, in a few words, when denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Decision {
    pub fn allow() -> Decision {
        Decision {
            allowed: true,
            reason: None,
        }
    }
    pub fn deny(reason: impl Into<String>) -> Decision {
        Decision {
            allowed: false,
            reason: Some(reason.into()),
        }
    }
}

/// A request to narrow a query. Hosts only ask for `list`, `view`, `edit`
/// and `delete`; a plugin may answer anything else with `invalid_request`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterRequest {
    pub user: Option<UserInfo>,
    /// `list`, `view`, `edit` or `delete`.
    pub action: Action,
    pub object_kind: ObjectKind,
}

/// Which objects a query may return, as data the host turns into SQL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "value")]
pub enum Filter {
    All,
    Nothing,
    /// `created_by` is this user id.
    CreatedBy(i64),
    /// `owner_groups` shares a group with these ids.
    OwnerGroupsAny(Vec<i64>),
    /// `launch_groups` shares a group with these ids.
    LaunchGroupsAny(Vec<i64>),
    /// For builds: the build's project's `owner_groups` shares a group.
    ProjectOwnerGroupsAny(Vec<i64>),
    /// For builds: the build's project's `launch_groups` shares a group.
    ProjectLaunchGroupsAny(Vec<i64>),
    /// For builds: the build's project was created by this user id.
    ProjectCreatedBy(i64),
    /// The object's id is this one (users: "self only").
    IdIs(i64),
    AnyOf(Vec<Filter>),
    AllOf(Vec<Filter>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterResponse {
    pub filter: Filter,
}

/// An authorization plugin.
pub trait AuthorizationPlugin: Send + Sync {
    fn check(&self, request: &CheckRequest) -> Result<Decision, PluginError>;
    /// Narrows list queries. The default lets everything through (the
    /// original's plugins that never filter).
    fn filter(&self, _request: &FilterRequest) -> Result<Filter, PluginError> {
        Ok(Filter::All)
    }
}

adapter!(Kind::Authorization, AuthorizationPlugin);

impl<T: AuthorizationPlugin + Plugin> Dispatch for Adapter<T> {
    fn call(&self, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            ops::CHECK => handle(args, |r: CheckRequest| self.0.check(&r)),
            ops::FILTER => handle(args, |r: FilterRequest| {
                self.0.filter(&r).map(|filter| FilterResponse { filter })
            }),
            _ => Err(PluginError::unsupported(op)),
        }
    }
}
