//! The file format, as serde types: one struct per kind of object, every
//! field of the object, references by name, secrets as `*_file` / `*_env`
//! sources. Field defaults are the ones of the core's input forms (the
//! original's), so a field left out means its default.

use crate::db::organizations::OrganizationInput;
use crate::db::pipelines::PipelineInput;
use crate::db::projects::ProjectInput;
use crate::db::snippets::SnippetInput;
use crate::db::stages::StageInput;
use crate::db::users::UserInput;
use crate::db::variable_sets::VariableSetInput;
use crate::db::worker_pools::WorkerPoolInput;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::path::PathBuf;

/// A value given inline where only a source (`*_file`, `*_env`) is
/// accepted: kept only to say so.
pub type Inline = Option<serde_norway::Value>;

fn empty_object() -> Json {
    Json::Object(serde_json::Map::new())
}

fn empty_list() -> Json {
    Json::Array(Vec::new())
}

/// A JSON text field as the format holds it: a mapping (or list), or the
/// JSON text itself as a string.
pub(crate) fn json_of_text(text: &str) -> Json {
    if text.trim().is_empty() {
        return Json::Null;
    }
    serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_string()))
}

/// One file: objects of any kinds, applied in this order (so a file may
/// refer to objects it defines itself).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileSpec {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub variable_sets: Vec<VariableSetSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snippets: Vec<SnippetSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worker_pools: Vec<WorkerPoolSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pipelines: Vec<PipelineSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<SshKeySpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub service_logins: Vec<ServiceLoginSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub organizations: Vec<OrganizationSpec>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<ProjectSpec>,
}

/// A group (members are listed on users).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupSpec {
    pub name: String,
}

/// A user, without a password (set one with `vespene user password`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserSpec {
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub is_superuser: bool,
    pub is_active: bool,
    /// Group names.
    pub groups: Vec<String>,
    /// Refused: passwords are not configuration.
    #[serde(skip_serializing)]
    pub password: Inline,
}

impl Default for UserSpec {
    fn default() -> Self {
        let d = UserInput::default();
        UserSpec {
            username: d.username,
            first_name: d.first_name,
            last_name: d.last_name,
            email: d.email,
            is_superuser: d.is_superuser,
            is_active: d.is_active,
            groups: Vec::new(),
            password: None,
        }
    }
}

/// A variable set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VariableSetSpec {
    pub name: String,
    pub description: String,
    /// A mapping (or its JSON text).
    pub variables: Json,
    pub owner_groups: Vec<String>,
    /// A user name; left out: unchanged (new objects: whoever applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Default for VariableSetSpec {
    fn default() -> Self {
        let d = VariableSetInput::default();
        VariableSetSpec {
            name: d.name,
            description: d.description,
            variables: empty_object(),
            owner_groups: Vec::new(),
            created_by: None,
        }
    }
}

/// A snippet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnippetSpec {
    pub name: String,
    pub description: String,
    /// A Jinja2 template.
    pub text: String,
    pub owner_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Default for SnippetSpec {
    fn default() -> Self {
        let d = SnippetInput::default();
        SnippetSpec {
            name: d.name,
            description: d.description,
            text: d.text,
            owner_groups: Vec::new(),
            created_by: None,
        }
    }
}

/// A worker pool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerPoolSpec {
    pub name: String,
    pub variables: Json,
    pub variable_sets: Vec<String>,
    pub isolation_method: String,
    pub sudo_user: Option<String>,
    pub permissions_hex: String,
    pub sleep_seconds: i32,
    pub auto_abort_minutes: i32,
    pub build_latest: bool,
    pub autoscaling_enabled: bool,
    pub planner: Option<String>,
    pub executor: Option<String>,
    pub running_weight: f64,
    pub queued_weight: f64,
    pub excess: i32,
    pub multiplier: f64,
    pub minimum: i32,
    pub maximum: i32,
    pub executor_command: String,
    pub reevaluate_minutes: i32,
    pub build_object_shelf_life: i32,
    pub build_root_shelf_life: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Default for WorkerPoolSpec {
    fn default() -> Self {
        let d = WorkerPoolInput::default();
        WorkerPoolSpec {
            name: d.name,
            variables: empty_object(),
            variable_sets: Vec::new(),
            isolation_method: d.isolation_method,
            sudo_user: d.sudo_user,
            permissions_hex: d.permissions_hex,
            sleep_seconds: d.sleep_seconds,
            auto_abort_minutes: d.auto_abort_minutes,
            build_latest: d.build_latest,
            autoscaling_enabled: d.autoscaling_enabled,
            planner: d.planner,
            executor: d.executor,
            running_weight: d.running_weight,
            queued_weight: d.queued_weight,
            excess: d.excess,
            multiplier: d.multiplier,
            minimum: d.minimum,
            maximum: d.maximum,
            executor_command: d.executor_command,
            reevaluate_minutes: d.reevaluate_minutes,
            build_object_shelf_life: d.build_object_shelf_life,
            build_root_shelf_life: d.build_root_shelf_life,
            created_by: None,
        }
    }
}

/// A stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StageSpec {
    pub name: String,
    pub description: String,
    pub variables: Json,
    pub variable_sets: Vec<String>,
}

impl Default for StageSpec {
    fn default() -> Self {
        let d = StageInput::default();
        StageSpec {
            name: d.name,
            description: d.description,
            variables: empty_object(),
            variable_sets: Vec::new(),
        }
    }
}

/// A pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineSpec {
    pub name: String,
    pub description: String,
    pub enabled: bool,
    pub variables: Json,
    /// Stage names, slot 1 first (at most seven); `null` leaves a slot
    /// empty, which ends the chain there.
    pub stages: Vec<Option<String>>,
    pub variable_sets: Vec<String>,
    pub owner_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Default for PipelineSpec {
    fn default() -> Self {
        let d = PipelineInput::default();
        PipelineSpec {
            name: d.name,
            description: d.description,
            enabled: d.enabled,
            variables: empty_object(),
            stages: Vec::new(),
            variable_sets: Vec::new(),
            owner_groups: Vec::new(),
            created_by: None,
        }
    }
}

/// An SSH key. The key and its unlock password come from files or
/// environment variables, never from the file itself; left out, the
/// stored ones are kept.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshKeySpec {
    pub name: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_env: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlock_password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unlock_password_env: Option<String>,
    pub owner_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Refused: inline secret.
    #[serde(skip_serializing)]
    pub private_key: Inline,
    /// Refused: inline secret.
    #[serde(skip_serializing)]
    pub unlock_password: Inline,
}

/// A service login; its password comes from a file or an environment
/// variable.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceLoginSpec {
    pub name: String,
    pub description: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    pub owner_groups: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Refused: inline secret.
    #[serde(skip_serializing)]
    pub password: Inline,
}

/// An organization (a source of imported projects).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrganizationSpec {
    pub name: String,
    pub description: String,
    pub organization_type: String,
    pub organization_identifier: String,
    pub api_endpoint: String,
    pub import_enabled: bool,
    pub import_without_dotfile: bool,
    pub overwrite_project_name: bool,
    pub overwrite_project_script: bool,
    pub overwrite_configurations: bool,
    pub allow_pipeline_definition: bool,
    pub allow_worker_pool_assignment: bool,
    /// A worker pool name.
    pub default_worker_pool: String,
    pub force_rescan: bool,
    pub refresh_minutes: i32,
    /// A service login name.
    pub scm_login: Option<String>,
    /// A worker pool name.
    pub worker_pool: String,
    /// SSH key names.
    pub auto_attach_ssh_keys: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
}

impl Default for OrganizationSpec {
    fn default() -> Self {
        let d = OrganizationInput::default();
        OrganizationSpec {
            name: d.name,
            description: d.description,
            organization_type: d.organization_type,
            organization_identifier: d.organization_identifier,
            api_endpoint: d.api_endpoint,
            import_enabled: d.import_enabled,
            import_without_dotfile: d.import_without_dotfile,
            overwrite_project_name: d.overwrite_project_name,
            overwrite_project_script: d.overwrite_project_script,
            overwrite_configurations: d.overwrite_configurations,
            allow_pipeline_definition: d.allow_pipeline_definition,
            allow_worker_pool_assignment: d.allow_worker_pool_assignment,
            default_worker_pool: String::new(),
            force_rescan: d.force_rescan,
            refresh_minutes: d.refresh_minutes,
            scm_login: None,
            worker_pool: String::new(),
            auto_attach_ssh_keys: Vec::new(),
            created_by: None,
        }
    }
}

/// A project, every field. The webhook token is a secret: it comes from a
/// file or an environment variable; left out, the stored one is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectSpec {
    pub name: String,
    pub description: String,
    /// A worker pool name (required).
    pub worker_pool: String,
    /// A pipeline name.
    pub pipeline: Option<String>,
    pub pipeline_enabled: bool,
    /// A stage name (a stage of `pipeline`).
    pub stage: Option<String>,
    pub repo_url: String,
    pub repo_branch: String,
    pub recursive: bool,
    pub scm_type: String,
    /// A service login name.
    pub scm_login: Option<String>,
    /// SSH key names.
    pub ssh_keys: Vec<String>,
    pub webhook_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_token_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_token_env: Option<String>,
    pub script: String,
    /// Minutes.
    pub timeout: i32,
    pub container_base_image: Option<String>,
    pub variables: Json,
    pub variable_sets: Vec<String>,
    /// A list of questions (or its JSON text).
    pub launch_questions: Json,
    pub owner_groups: Vec<String>,
    pub launch_groups: Vec<String>,
    pub schedule_enabled: bool,
    pub monday: bool,
    pub tuesday: bool,
    pub wednesday: bool,
    pub thursday: bool,
    pub friday: bool,
    pub saturday: bool,
    pub sunday: bool,
    pub weekday_start_hours: String,
    pub weekday_start_minutes: String,
    pub weekend_start_hours: String,
    pub weekend_start_minutes: String,
    pub schedule_threshold: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Refused: inline secret.
    #[serde(skip_serializing)]
    pub webhook_token: Inline,
}

impl Default for ProjectSpec {
    fn default() -> Self {
        let d = ProjectInput::default();
        ProjectSpec {
            name: d.name,
            description: d.description,
            worker_pool: String::new(),
            pipeline: None,
            pipeline_enabled: d.pipeline_enabled,
            stage: None,
            repo_url: d.repo_url,
            repo_branch: d.repo_branch,
            recursive: d.recursive,
            scm_type: d.scm_type,
            scm_login: None,
            ssh_keys: Vec::new(),
            webhook_enabled: d.webhook_enabled,
            webhook_token_file: None,
            webhook_token_env: None,
            script: d.script,
            timeout: d.timeout,
            container_base_image: d.container_base_image,
            variables: empty_object(),
            variable_sets: Vec::new(),
            launch_questions: empty_list(),
            owner_groups: Vec::new(),
            launch_groups: Vec::new(),
            schedule_enabled: d.schedule_enabled,
            monday: d.monday,
            tuesday: d.tuesday,
            wednesday: d.wednesday,
            thursday: d.thursday,
            friday: d.friday,
            saturday: d.saturday,
            sunday: d.sunday,
            weekday_start_hours: d.weekday_start_hours,
            weekday_start_minutes: d.weekday_start_minutes,
            weekend_start_hours: d.weekend_start_hours,
            weekend_start_minutes: d.weekend_start_minutes,
            schedule_threshold: d.schedule_threshold,
            created_by: None,
            webhook_token: None,
        }
    }
}
