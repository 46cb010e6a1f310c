//! The objects plugins are shown, as JSON. Field names follow the original
//! models, so templates written for it (`{{ build.working_dir }}`,
//! `{{ project.name }}`) keep working.
//!
//! Every field a later version adds is optional (`#[serde(default)]`), so
//! older plugins keep decoding newer hosts' requests.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object of variables.
pub type Variables = Map<String, Value>;

/// A named set of variables attached to a pool, pipeline, stage or project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VariableSetInfo {
    pub id: i64,
    pub name: String,
    pub variables: Variables,
}

/// A user name and password (decrypted) for a checkout or an API.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Credentials {
    pub name: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("name", &self.name)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A launch question of a project (reference §4.5).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LaunchQuestion {
    pub variable: String,
    /// `text` (default), `radio` or `multi`.
    #[serde(rename = "type")]
    pub kind: String,
    pub prompt: String,
    pub choices: Vec<String>,
}

/// A worker pool, with its isolation and autoscaling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerPoolInfo {
    pub id: i64,
    pub name: String,
    pub variables: Variables,
    pub variable_sets: Vec<VariableSetInfo>,
    pub isolation_method: String,
    pub sudo_user: Option<String>,
    pub permissions_hex: String,
    pub sleep_seconds: i64,
    pub auto_abort_minutes: i64,
    pub build_latest: bool,
    pub autoscaling_enabled: bool,
    pub planner: Option<String>,
    pub executor: Option<String>,
    pub running_weight: f64,
    pub queued_weight: f64,
    pub excess: i64,
    pub multiplier: f64,
    pub minimum: i64,
    pub maximum: i64,
    pub executor_command: String,
    /// RFC 3339.
    pub last_autoscaled: Option<String>,
    pub autoscaling_status: Option<i64>,
    pub reevaluate_minutes: i64,
}

impl Default for WorkerPoolInfo {
    fn default() -> Self {
        WorkerPoolInfo {
            id: 0,
            name: String::new(),
            variables: Variables::new(),
            variable_sets: Vec::new(),
            isolation_method: String::new(),
            sudo_user: None,
            permissions_hex: "0x777".into(),
            sleep_seconds: 10,
            auto_abort_minutes: 1440,
            build_latest: true,
            autoscaling_enabled: false,
            planner: None,
            executor: None,
            running_weight: 1.0,
            queued_weight: 1.0,
            excess: 0,
            multiplier: 1.0,
            minimum: 0,
            maximum: 10,
            executor_command: String::new(),
            last_autoscaled: None,
            autoscaling_status: None,
            reevaluate_minutes: 10,
        }
    }
}

/// A project, as far as plugins need it. Secrets are not here: a plugin that
/// needs credentials gets them in its own request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectInfo {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub repo_url: String,
    pub repo_branch: String,
    /// Check out submodules too.
    pub recursive: bool,
    pub scm_type: String,
    /// Minutes.
    pub timeout: i64,
    pub container_base_image: Option<String>,
    pub variables: Variables,
    pub variable_sets: Vec<VariableSetInfo>,
    pub launch_questions: Vec<LaunchQuestion>,
    pub worker_pool: String,
    pub pipeline: Option<String>,
    pub pipeline_enabled: bool,
    pub stage: Option<String>,
    pub webhook_enabled: bool,
    /// Name of the service login used for checkouts, if any.
    pub scm_login: Option<String>,
    /// Names of the SSH keys attached to the project.
    pub ssh_keys: Vec<String>,
    pub created_by: Option<i64>,
    pub owner_groups: Vec<String>,
    pub launch_groups: Vec<String>,
}

impl Default for ProjectInfo {
    fn default() -> Self {
        ProjectInfo {
            id: 0,
            name: String::new(),
            description: String::new(),
            repo_url: String::new(),
            repo_branch: String::new(),
            recursive: true,
            scm_type: String::new(),
            timeout: 60,
            container_base_image: None,
            variables: Variables::new(),
            variable_sets: Vec::new(),
            launch_questions: Vec::new(),
            worker_pool: String::new(),
            pipeline: None,
            pipeline_enabled: true,
            stage: None,
            webhook_enabled: false,
            scm_login: None,
            ssh_keys: Vec::new(),
            created_by: None,
            owner_groups: Vec::new(),
            launch_groups: Vec::new(),
        }
    }
}

/// A build (reference §1.2). Times are RFC 3339 strings in UTC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BuildInfo {
    pub id: i64,
    pub project_id: Option<i64>,
    pub organization_id: Option<i64>,
    pub status: String,
    pub revision: String,
    pub revision_username: String,
    pub queued_time: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub return_code: Option<i64>,
    pub working_dir: String,
    pub variables: Variables,
    pub launch_answers: Variables,
    pub output_variables: Map<String, Value>,
    /// The rendered script.
    pub script: String,
    pub worker_pool: String,
    pub created_by: Option<String>,
    pub pipeline_origin_build_id: Option<i64>,
    pub pipeline_parent_build_id: Option<i64>,
    pub worker: Option<String>,
}

/// A pipeline, for the variables plugins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PipelineInfo {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub variables: Variables,
    pub variable_sets: Vec<VariableSetInfo>,
}

/// A stage, for the variables plugins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageInfo {
    pub id: i64,
    pub name: String,
    pub variables: Variables,
    pub variable_sets: Vec<VariableSetInfo>,
}

/// A snippet: a named template that becomes a variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SnippetInfo {
    pub name: String,
    pub text: String,
}

/// A user asking for something, with the groups they belong to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserInfo {
    pub id: i64,
    pub username: String,
    pub is_superuser: bool,
    pub groups: Vec<GroupRef>,
}

/// A group, by id and name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
}
