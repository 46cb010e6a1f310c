//! Each kind of object between the file format and the core's forms:
//! [`Object::input`] turns an entry of a file into the input of a create
//! or update (names resolved to ids, secrets read from their sources), and
//! [`Object::from_detail`] turns a stored object into an entry (ids to
//! names, secrets left out).

use super::Kind;
use super::apply::{Cx, Failure, SecretKind};
use super::format::*;
use crate::authz::Actor;
use crate::db::DbConn;
use crate::db::aggregate::Aggregate;
use crate::db::groups::{GroupDetail, GroupInput, Groups};
use crate::db::organizations::{OrganizationDetail, OrganizationInput, Organizations};
use crate::db::pipelines::{PipelineDetail, PipelineInput, Pipelines};
use crate::db::projects::{ProjectDetail, ProjectInput, Projects};
use crate::db::service_logins::{ServiceLoginDetail, ServiceLoginInput, ServiceLogins};
use crate::db::snippets::{SnippetDetail, SnippetInput, Snippets};
use crate::db::ssh_keys::{SshKeyDetail, SshKeyInput, SshKeys};
use crate::db::stages::{StageDetail, StageInput, Stages};
use crate::db::users::{UserDetail, UserInput, Users};
use crate::db::variable_sets::{VariableSetDetail, VariableSetInput, VariableSets};
use crate::db::worker_pools::{WorkerPoolDetail, WorkerPoolInput, WorkerPools};
use crate::ops::{OpError, Resource};
use serde_json::Value as Json;
use std::collections::BTreeMap;

pub(super) type Detail<O> = <<O as Object>::A as Aggregate>::Detail;
pub(super) type Input<O> = <<O as Object>::A as Aggregate>::Input;

/// One kind of object in a file.
pub(super) trait Object: Sized {
    type A: Aggregate;
    const KIND: Kind;

    /// The entry's name, as written.
    fn name(&self) -> &str;

    /// The user named in `created_by`, if the kind has one and it is given.
    fn created_by(&self) -> Option<&str> {
        None
    }

    /// The input this entry asks for, comparable with [`Object::current`]:
    /// references resolved, JSON in canonical text, text fields trimmed as
    /// the database trims them, and each secret `Some` only when it is
    /// given and differs from the stored one (`existing`).
    fn input(
        &self,
        cx: &mut Cx<'_>,
        existing: Option<&Detail<Self>>,
    ) -> Result<Input<Self>, Failure>;

    /// The stored object as an input (secrets `None`: kept).
    fn current(d: &Detail<Self>) -> Input<Self>;

    fn id(d: &Detail<Self>) -> i64;

    /// The stored `created_by`.
    fn stored_created_by(_d: &Detail<Self>) -> Option<i64> {
        None
    }

    /// Whether the stored object holds a secret in plaintext (stored
    /// before a secrets plugin was configured, or written straight into
    /// the database): applying it then updates it, which encrypts it.
    fn holds_plaintext_secret(_d: &Detail<Self>) -> bool {
        false
    }

    /// Replaces the stored object (users have their own rules).
    fn update(
        r: &Resource<'_, Self::A>,
        conn: &mut DbConn,
        actor: &Actor,
        id: i64,
        input: &Input<Self>,
    ) -> Result<Detail<Self>, OpError> {
        r.update_in(conn, actor, id, input)
    }

    /// The entry describing a stored object.
    fn from_detail(d: &Detail<Self>, names: &Names) -> Self;
}

/// The names of stored objects by id, to write references.
#[derive(Debug, Default)]
pub(super) struct Names {
    pub groups: BTreeMap<i64, String>,
    pub users: BTreeMap<i64, String>,
    pub variable_sets: BTreeMap<i64, String>,
    pub stages: BTreeMap<i64, String>,
    pub pipelines: BTreeMap<i64, String>,
    pub worker_pools: BTreeMap<i64, String>,
    pub ssh_keys: BTreeMap<i64, String>,
    pub service_logins: BTreeMap<i64, String>,
}

impl Names {
    fn one(map: &BTreeMap<i64, String>, id: i64) -> String {
        map.get(&id).cloned().unwrap_or_else(|| format!("#{id}"))
    }

    fn opt(map: &BTreeMap<i64, String>, id: Option<i64>) -> Option<String> {
        id.map(|id| Self::one(map, id))
    }

    /// Names of `ids`, sorted (links have no order).
    fn list(map: &BTreeMap<i64, String>, ids: &[i64]) -> Vec<String> {
        let mut names: Vec<String> = ids.iter().map(|id| Self::one(map, *id)).collect();
        names.sort();
        names
    }

    fn user(&self, id: Option<i64>) -> Option<String> {
        Self::opt(&self.users, id)
    }
}

/// The text to store for a JSON field given in a file (`empty` for a
/// missing value).
fn json_text(v: &Json, empty: &str) -> String {
    match v {
        Json::Null => empty.to_string(),
        Json::String(s) => canonical(s, empty),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Stored JSON text in one spelling (compact, key order kept), so a
/// stored `{"a": 1}` equals a file's `a: 1`. Invalid text stays as it is.
fn canonical(text: &str, empty: &str) -> String {
    if text.trim().is_empty() {
        return empty.to_string();
    }
    serde_json::from_str::<Json>(text)
        .and_then(|v| serde_json::to_string(&v))
        .unwrap_or_else(|_| text.to_string())
}

fn trim(s: &str) -> String {
    s.trim().to_string()
}

/// A blank optional text is no value.
fn blank_none(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A stored secret that is not encrypted.
fn plaintext(stored: &str) -> bool {
    !stored.is_empty() && !crate::secrets::Secrets::is_cloaked(stored)
}

/// `Some(new)` when `new` is given and differs from the stored (cloaked)
/// value.
fn changed_secret(cx: &Cx<'_>, new: Option<String>, stored: Option<&str>) -> Option<String> {
    let new = new?;
    match stored.map(|s| cx.stored_secret(s)) {
        Some(Some(old)) if old == new => None,
        _ => Some(new),
    }
}

impl Object for GroupSpec {
    type A = Groups;
    const KIND: Kind = Kind::Groups;

    fn name(&self) -> &str {
        &self.name
    }

    fn input(&self, _: &mut Cx<'_>, _: Option<&GroupDetail>) -> Result<GroupInput, Failure> {
        Ok(GroupInput {
            name: trim(&self.name),
        })
    }

    fn current(d: &GroupDetail) -> GroupInput {
        GroupInput::from(d)
    }

    fn id(d: &GroupDetail) -> i64 {
        d.group.id
    }

    fn from_detail(d: &GroupDetail, _: &Names) -> Self {
        GroupSpec {
            name: d.group.name.clone(),
        }
    }
}

impl Object for UserSpec {
    type A = Users;
    const KIND: Kind = Kind::Users;

    fn name(&self) -> &str {
        &self.username
    }

    fn input(&self, cx: &mut Cx<'_>, _: Option<&UserDetail>) -> Result<UserInput, Failure> {
        if self.password.is_some() {
            return Err(Failure::field(
                "password",
                "passwords are not part of configuration files; set one with \
                 `vespene user password NAME`",
            ));
        }
        Ok(UserInput {
            username: trim(&self.username),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.clone(),
            password: None,
            is_superuser: self.is_superuser,
            is_active: self.is_active,
            groups: cx.ids::<Groups>("groups", &self.groups)?,
        })
    }

    fn current(d: &UserDetail) -> UserInput {
        UserInput::from(d)
    }

    fn id(d: &UserDetail) -> i64 {
        d.user.id
    }

    fn update(
        r: &Resource<'_, Users>,
        conn: &mut DbConn,
        actor: &Actor,
        id: i64,
        input: &UserInput,
    ) -> Result<UserDetail, OpError> {
        r.update_user_in(conn, actor, id, input)
    }

    fn from_detail(d: &UserDetail, names: &Names) -> Self {
        let u = &d.user;
        UserSpec {
            username: u.username.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            email: u.email.clone(),
            is_superuser: u.is_superuser,
            is_active: u.is_active,
            groups: Names::list(&names.groups, &d.groups),
            password: None,
        }
    }
}

impl Object for VariableSetSpec {
    type A = VariableSets;
    const KIND: Kind = Kind::VariableSets;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(
        &self,
        cx: &mut Cx<'_>,
        _: Option<&VariableSetDetail>,
    ) -> Result<VariableSetInput, Failure> {
        Ok(VariableSetInput {
            name: trim(&self.name),
            description: self.description.clone(),
            variables: json_text(&self.variables, "{}"),
            owner_groups: cx.ids::<Groups>("owner_groups", &self.owner_groups)?,
        })
    }

    fn current(d: &VariableSetDetail) -> VariableSetInput {
        let mut i = VariableSetInput::from(d);
        i.variables = canonical(&i.variables, "{}");
        i
    }

    fn id(d: &VariableSetDetail) -> i64 {
        d.variable_set.id
    }

    fn stored_created_by(d: &VariableSetDetail) -> Option<i64> {
        d.variable_set.created_by
    }

    fn from_detail(d: &VariableSetDetail, names: &Names) -> Self {
        let v = &d.variable_set;
        VariableSetSpec {
            name: v.name.clone(),
            description: v.description.clone(),
            variables: json_of_text(&v.variables),
            owner_groups: Names::list(&names.groups, &d.owner_groups),
            created_by: names.user(v.created_by),
        }
    }
}

impl Object for SnippetSpec {
    type A = Snippets;
    const KIND: Kind = Kind::Snippets;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(&self, cx: &mut Cx<'_>, _: Option<&SnippetDetail>) -> Result<SnippetInput, Failure> {
        Ok(SnippetInput {
            name: trim(&self.name),
            description: self.description.clone(),
            text: self.text.clone(),
            owner_groups: cx.ids::<Groups>("owner_groups", &self.owner_groups)?,
        })
    }

    fn current(d: &SnippetDetail) -> SnippetInput {
        SnippetInput::from(d)
    }

    fn id(d: &SnippetDetail) -> i64 {
        d.snippet.id
    }

    fn stored_created_by(d: &SnippetDetail) -> Option<i64> {
        d.snippet.created_by
    }

    fn from_detail(d: &SnippetDetail, names: &Names) -> Self {
        let s = &d.snippet;
        SnippetSpec {
            name: s.name.clone(),
            description: s.description.clone(),
            text: s.text.clone(),
            owner_groups: Names::list(&names.groups, &d.owner_groups),
            created_by: names.user(s.created_by),
        }
    }
}

impl Object for WorkerPoolSpec {
    type A = WorkerPools;
    const KIND: Kind = Kind::WorkerPools;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(
        &self,
        cx: &mut Cx<'_>,
        _: Option<&WorkerPoolDetail>,
    ) -> Result<WorkerPoolInput, Failure> {
        Ok(WorkerPoolInput {
            name: trim(&self.name),
            variables: json_text(&self.variables, "{}"),
            isolation_method: trim(&self.isolation_method),
            sudo_user: blank_none(&self.sudo_user),
            permissions_hex: trim(&self.permissions_hex),
            sleep_seconds: self.sleep_seconds,
            auto_abort_minutes: self.auto_abort_minutes,
            build_latest: self.build_latest,
            autoscaling_enabled: self.autoscaling_enabled,
            planner: blank_none(&self.planner),
            executor: blank_none(&self.executor),
            running_weight: self.running_weight,
            queued_weight: self.queued_weight,
            excess: self.excess,
            multiplier: self.multiplier,
            minimum: self.minimum,
            maximum: self.maximum,
            executor_command: self.executor_command.clone(),
            reevaluate_minutes: self.reevaluate_minutes,
            build_object_shelf_life: self.build_object_shelf_life,
            build_root_shelf_life: self.build_root_shelf_life,
            variable_sets: cx.ids::<VariableSets>("variable_sets", &self.variable_sets)?,
        })
    }

    fn current(d: &WorkerPoolDetail) -> WorkerPoolInput {
        let mut i = WorkerPoolInput::from(d);
        i.variables = canonical(&i.variables, "{}");
        i
    }

    fn id(d: &WorkerPoolDetail) -> i64 {
        d.worker_pool.id
    }

    fn stored_created_by(d: &WorkerPoolDetail) -> Option<i64> {
        d.worker_pool.created_by
    }

    fn from_detail(d: &WorkerPoolDetail, names: &Names) -> Self {
        let p = &d.worker_pool;
        WorkerPoolSpec {
            name: p.name.clone(),
            variables: json_of_text(&p.variables),
            variable_sets: Names::list(&names.variable_sets, &d.variable_sets),
            isolation_method: p.isolation_method.clone(),
            sudo_user: p.sudo_user.clone(),
            permissions_hex: p.permissions_hex.clone(),
            sleep_seconds: p.sleep_seconds,
            auto_abort_minutes: p.auto_abort_minutes,
            build_latest: p.build_latest,
            autoscaling_enabled: p.autoscaling_enabled,
            planner: p.planner.clone(),
            executor: p.executor.clone(),
            running_weight: p.running_weight,
            queued_weight: p.queued_weight,
            excess: p.excess,
            multiplier: p.multiplier,
            minimum: p.minimum,
            maximum: p.maximum,
            executor_command: p.executor_command.clone(),
            reevaluate_minutes: p.reevaluate_minutes,
            build_object_shelf_life: p.build_object_shelf_life,
            build_root_shelf_life: p.build_root_shelf_life,
            created_by: names.user(p.created_by),
        }
    }
}

impl Object for StageSpec {
    type A = Stages;
    const KIND: Kind = Kind::Stages;

    fn name(&self) -> &str {
        &self.name
    }

    fn input(&self, cx: &mut Cx<'_>, _: Option<&StageDetail>) -> Result<StageInput, Failure> {
        Ok(StageInput {
            name: trim(&self.name),
            description: self.description.clone(),
            variables: json_text(&self.variables, "{}"),
            variable_sets: cx.ids::<VariableSets>("variable_sets", &self.variable_sets)?,
        })
    }

    fn current(d: &StageDetail) -> StageInput {
        let mut i = StageInput::from(d);
        i.variables = canonical(&i.variables, "{}");
        i
    }

    fn id(d: &StageDetail) -> i64 {
        d.stage.id
    }

    fn from_detail(d: &StageDetail, names: &Names) -> Self {
        StageSpec {
            name: d.stage.name.clone(),
            description: d.stage.description.clone(),
            variables: json_of_text(&d.stage.variables),
            variable_sets: Names::list(&names.variable_sets, &d.variable_sets),
        }
    }
}

impl Object for PipelineSpec {
    type A = Pipelines;
    const KIND: Kind = Kind::Pipelines;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(&self, cx: &mut Cx<'_>, _: Option<&PipelineDetail>) -> Result<PipelineInput, Failure> {
        let mut stages = Vec::with_capacity(self.stages.len());
        for (i, stage) in self.stages.iter().enumerate() {
            stages.push(cx.opt_id::<Stages>(&format!("stages[{i}]"), stage.as_deref())?);
        }
        // Trailing empty slots mean nothing (they are not stored).
        while stages.last() == Some(&None) {
            stages.pop();
        }
        Ok(PipelineInput {
            name: trim(&self.name),
            description: self.description.clone(),
            enabled: self.enabled,
            variables: json_text(&self.variables, "{}"),
            stages,
            variable_sets: cx.ids::<VariableSets>("variable_sets", &self.variable_sets)?,
            owner_groups: cx.ids::<Groups>("owner_groups", &self.owner_groups)?,
        })
    }

    fn current(d: &PipelineDetail) -> PipelineInput {
        let mut i = PipelineInput::from(d);
        i.variables = canonical(&i.variables, "{}");
        i
    }

    fn id(d: &PipelineDetail) -> i64 {
        d.pipeline.id
    }

    fn stored_created_by(d: &PipelineDetail) -> Option<i64> {
        d.pipeline.created_by
    }

    fn from_detail(d: &PipelineDetail, names: &Names) -> Self {
        let p = &d.pipeline;
        PipelineSpec {
            name: p.name.clone(),
            description: p.description.clone(),
            enabled: p.enabled,
            variables: json_of_text(&p.variables),
            stages: d
                .stages
                .iter()
                .map(|s| Names::opt(&names.stages, *s))
                .collect(),
            variable_sets: Names::list(&names.variable_sets, &d.variable_sets),
            owner_groups: Names::list(&names.groups, &d.owner_groups),
            created_by: names.user(p.created_by),
        }
    }
}

impl Object for SshKeySpec {
    type A = SshKeys;
    const KIND: Kind = Kind::SshKeys;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(
        &self,
        cx: &mut Cx<'_>,
        existing: Option<&SshKeyDetail>,
    ) -> Result<SshKeyInput, Failure> {
        let private_key = cx.secret(
            "private_key",
            &self.private_key,
            &self.private_key_file,
            &self.private_key_env,
            SecretKind::Verbatim,
        )?;
        let unlock_password = cx.secret(
            "unlock_password",
            &self.unlock_password,
            &self.unlock_password_file,
            &self.unlock_password_env,
            SecretKind::Line,
        )?;
        Ok(SshKeyInput {
            name: trim(&self.name),
            description: self.description.clone(),
            private_key: changed_secret(
                cx,
                private_key,
                existing.map(|d| d.ssh_key.private_key.as_str()),
            ),
            unlock_password: changed_secret(
                cx,
                unlock_password,
                existing.map(|d| d.ssh_key.unlock_password.as_str()),
            ),
            owner_groups: cx.ids::<Groups>("owner_groups", &self.owner_groups)?,
        })
    }

    fn current(d: &SshKeyDetail) -> SshKeyInput {
        SshKeyInput::from(d)
    }

    fn id(d: &SshKeyDetail) -> i64 {
        d.ssh_key.id
    }

    fn stored_created_by(d: &SshKeyDetail) -> Option<i64> {
        d.ssh_key.created_by
    }

    fn holds_plaintext_secret(d: &SshKeyDetail) -> bool {
        plaintext(&d.ssh_key.private_key) || plaintext(&d.ssh_key.unlock_password)
    }

    fn from_detail(d: &SshKeyDetail, names: &Names) -> Self {
        SshKeySpec {
            name: d.ssh_key.name.clone(),
            description: d.ssh_key.description.clone(),
            owner_groups: Names::list(&names.groups, &d.owner_groups),
            created_by: names.user(d.ssh_key.created_by),
            ..SshKeySpec::default()
        }
    }
}

impl Object for ServiceLoginSpec {
    type A = ServiceLogins;
    const KIND: Kind = Kind::ServiceLogins;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(
        &self,
        cx: &mut Cx<'_>,
        existing: Option<&ServiceLoginDetail>,
    ) -> Result<ServiceLoginInput, Failure> {
        let password = cx.secret(
            "password",
            &self.password,
            &self.password_file,
            &self.password_env,
            SecretKind::Line,
        )?;
        Ok(ServiceLoginInput {
            name: trim(&self.name),
            description: self.description.clone(),
            username: self.username.clone(),
            password: changed_secret(
                cx,
                password,
                existing.map(|d| d.service_login.password.as_str()),
            ),
            owner_groups: cx.ids::<Groups>("owner_groups", &self.owner_groups)?,
        })
    }

    fn current(d: &ServiceLoginDetail) -> ServiceLoginInput {
        ServiceLoginInput::from(d)
    }

    fn id(d: &ServiceLoginDetail) -> i64 {
        d.service_login.id
    }

    fn stored_created_by(d: &ServiceLoginDetail) -> Option<i64> {
        d.service_login.created_by
    }

    fn holds_plaintext_secret(d: &ServiceLoginDetail) -> bool {
        plaintext(&d.service_login.password)
    }

    fn from_detail(d: &ServiceLoginDetail, names: &Names) -> Self {
        let s = &d.service_login;
        ServiceLoginSpec {
            name: s.name.clone(),
            description: s.description.clone(),
            username: s.username.clone(),
            owner_groups: Names::list(&names.groups, &d.owner_groups),
            created_by: names.user(s.created_by),
            ..ServiceLoginSpec::default()
        }
    }
}

impl Object for OrganizationSpec {
    type A = Organizations;
    const KIND: Kind = Kind::Organizations;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(
        &self,
        cx: &mut Cx<'_>,
        _: Option<&OrganizationDetail>,
    ) -> Result<OrganizationInput, Failure> {
        Ok(OrganizationInput {
            name: trim(&self.name),
            description: self.description.clone(),
            organization_type: trim(&self.organization_type),
            organization_identifier: trim(&self.organization_identifier),
            api_endpoint: trim(&self.api_endpoint),
            import_enabled: self.import_enabled,
            import_without_dotfile: self.import_without_dotfile,
            overwrite_project_name: self.overwrite_project_name,
            overwrite_project_script: self.overwrite_project_script,
            overwrite_configurations: self.overwrite_configurations,
            allow_pipeline_definition: self.allow_pipeline_definition,
            allow_worker_pool_assignment: self.allow_worker_pool_assignment,
            default_worker_pool_id: cx
                .required_id::<WorkerPools>("default_worker_pool", &self.default_worker_pool)?,
            force_rescan: self.force_rescan,
            refresh_minutes: self.refresh_minutes,
            scm_login_id: cx.opt_id::<ServiceLogins>("scm_login", self.scm_login.as_deref())?,
            worker_pool_id: cx.required_id::<WorkerPools>("worker_pool", &self.worker_pool)?,
            auto_attach_ssh_keys: cx
                .ids::<SshKeys>("auto_attach_ssh_keys", &self.auto_attach_ssh_keys)?,
        })
    }

    fn current(d: &OrganizationDetail) -> OrganizationInput {
        OrganizationInput::from(d)
    }

    fn id(d: &OrganizationDetail) -> i64 {
        d.organization.id
    }

    fn stored_created_by(d: &OrganizationDetail) -> Option<i64> {
        d.organization.created_by
    }

    fn from_detail(d: &OrganizationDetail, names: &Names) -> Self {
        let o = &d.organization;
        OrganizationSpec {
            name: o.name.clone(),
            description: o.description.clone(),
            organization_type: o.organization_type.clone(),
            organization_identifier: o.organization_identifier.clone(),
            api_endpoint: o.api_endpoint.clone(),
            import_enabled: o.import_enabled,
            import_without_dotfile: o.import_without_dotfile,
            overwrite_project_name: o.overwrite_project_name,
            overwrite_project_script: o.overwrite_project_script,
            overwrite_configurations: o.overwrite_configurations,
            allow_pipeline_definition: o.allow_pipeline_definition,
            allow_worker_pool_assignment: o.allow_worker_pool_assignment,
            default_worker_pool: Names::one(&names.worker_pools, o.default_worker_pool_id),
            force_rescan: o.force_rescan,
            refresh_minutes: o.refresh_minutes,
            scm_login: Names::opt(&names.service_logins, o.scm_login_id),
            worker_pool: Names::one(&names.worker_pools, o.worker_pool_id),
            auto_attach_ssh_keys: Names::list(&names.ssh_keys, &d.auto_attach_ssh_keys),
            created_by: names.user(o.created_by),
        }
    }
}

impl Object for ProjectSpec {
    type A = Projects;
    const KIND: Kind = Kind::Projects;

    fn name(&self) -> &str {
        &self.name
    }

    fn created_by(&self) -> Option<&str> {
        self.created_by.as_deref()
    }

    fn input(
        &self,
        cx: &mut Cx<'_>,
        existing: Option<&ProjectDetail>,
    ) -> Result<ProjectInput, Failure> {
        // Cloaked when stored, like every secret; left out, or the same as
        // the stored one, the stored (cloaked) value is kept.
        let given = cx.secret(
            "webhook_token",
            &self.webhook_token,
            &self.webhook_token_file,
            &self.webhook_token_env,
            SecretKind::Line,
        )?;
        let stored = existing.map(|d| d.project.webhook_token.as_str());
        let webhook_token = changed_secret(cx, given, stored)
            .or_else(|| stored.map(str::to_string))
            .unwrap_or_default();
        Ok(ProjectInput {
            name: trim(&self.name),
            description: self.description.clone(),
            pipeline_id: cx.opt_id::<Pipelines>("pipeline", self.pipeline.as_deref())?,
            pipeline_enabled: self.pipeline_enabled,
            stage_id: cx.opt_id::<Stages>("stage", self.stage.as_deref())?,
            repo_url: trim(&self.repo_url),
            repo_branch: trim(&self.repo_branch),
            recursive: self.recursive,
            scm_type: trim(&self.scm_type),
            webhook_enabled: self.webhook_enabled,
            webhook_token,
            script: self.script.clone(),
            timeout: self.timeout,
            container_base_image: blank_none(&self.container_base_image),
            variables: json_text(&self.variables, "{}"),
            launch_questions: json_text(&self.launch_questions, "[]"),
            scm_login_id: cx.opt_id::<ServiceLogins>("scm_login", self.scm_login.as_deref())?,
            worker_pool_id: cx.required_id::<WorkerPools>("worker_pool", &self.worker_pool)?,
            schedule_enabled: self.schedule_enabled,
            monday: self.monday,
            tuesday: self.tuesday,
            wednesday: self.wednesday,
            thursday: self.thursday,
            friday: self.friday,
            saturday: self.saturday,
            sunday: self.sunday,
            weekday_start_hours: self.weekday_start_hours.clone(),
            weekday_start_minutes: self.weekday_start_minutes.clone(),
            weekend_start_hours: self.weekend_start_hours.clone(),
            weekend_start_minutes: self.weekend_start_minutes.clone(),
            schedule_threshold: self.schedule_threshold,
            variable_sets: cx.ids::<VariableSets>("variable_sets", &self.variable_sets)?,
            ssh_keys: cx.ids::<SshKeys>("ssh_keys", &self.ssh_keys)?,
            owner_groups: cx.ids::<Groups>("owner_groups", &self.owner_groups)?,
            launch_groups: cx.ids::<Groups>("launch_groups", &self.launch_groups)?,
        })
    }

    fn current(d: &ProjectDetail) -> ProjectInput {
        let mut i = ProjectInput::from(d);
        i.variables = canonical(&i.variables, "{}");
        i.launch_questions = canonical(&i.launch_questions, "[]");
        i
    }

    fn id(d: &ProjectDetail) -> i64 {
        d.project.id
    }

    fn stored_created_by(d: &ProjectDetail) -> Option<i64> {
        d.project.created_by
    }

    fn holds_plaintext_secret(d: &ProjectDetail) -> bool {
        plaintext(&d.project.webhook_token)
    }

    fn from_detail(d: &ProjectDetail, names: &Names) -> Self {
        let p = &d.project;
        ProjectSpec {
            name: p.name.clone(),
            description: p.description.clone(),
            worker_pool: Names::one(&names.worker_pools, p.worker_pool_id),
            pipeline: Names::opt(&names.pipelines, p.pipeline_id),
            pipeline_enabled: p.pipeline_enabled,
            stage: Names::opt(&names.stages, p.stage_id),
            repo_url: p.repo_url.clone(),
            repo_branch: p.repo_branch.clone(),
            recursive: p.recursive,
            scm_type: p.scm_type.clone(),
            scm_login: Names::opt(&names.service_logins, p.scm_login_id),
            ssh_keys: Names::list(&names.ssh_keys, &d.ssh_keys),
            webhook_enabled: p.webhook_enabled,
            webhook_token_file: None,
            webhook_token_env: None,
            script: p.script.clone(),
            timeout: p.timeout,
            container_base_image: p.container_base_image.clone(),
            variables: json_of_text(&p.variables),
            variable_sets: Names::list(&names.variable_sets, &d.variable_sets),
            launch_questions: json_of_text(&p.launch_questions),
            owner_groups: Names::list(&names.groups, &d.owner_groups),
            launch_groups: Names::list(&names.groups, &d.launch_groups),
            schedule_enabled: p.schedule_enabled,
            monday: p.monday,
            tuesday: p.tuesday,
            wednesday: p.wednesday,
            thursday: p.thursday,
            friday: p.friday,
            saturday: p.saturday,
            sunday: p.sunday,
            weekday_start_hours: p.weekday_start_hours.clone(),
            weekday_start_minutes: p.weekday_start_minutes.clone(),
            weekend_start_hours: p.weekend_start_hours.clone(),
            weekend_start_minutes: p.weekend_start_minutes.clone(),
            schedule_threshold: p.schedule_threshold,
            created_by: names.user(p.created_by),
            webhook_token: None,
        }
    }
}
