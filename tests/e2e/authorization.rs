//! The authorization matrix of reference §7.2, as this project decided it,
//! through the real plugins (`vespene.plugins.authorization.ownership` and
//! `group_required`, loaded from their `.so` files by the plugin host) and
//! the core operations, on SQLite and on PostgreSQL.
//!
//! One line per object kind and operation, one column per kind of user;
//! every cell is one case: a fresh object related to the asking user as
//! the column says, then the operation, allowed (`Y`) or refused (`N`). A
//! `-` is a relation the kind cannot have (a stage has no creator).
//!
//! Columns, as in the ownership plugin's own table:
//! * `anon`: nobody logged in;
//! * `plain`: a logged-in user in group `devs`, unrelated to the object;
//! * `creator`: the object's `created_by` (a build's starter);
//! * `ogroup`: in the object's owner groups (a build's project's);
//! * `launch`: in the launch groups (a project's, a build's project's);
//! * `pcreator`: the creator of a build's project;
//! * `self`: the user's own account;
//! * `super`: a superuser, unrelated to the object.
//!
//! Operations: `list` (is the object in the user's list), `create`,
//! `view` (get), `edit` (update with the values it has), `delete`,
//! `start` (a project: `authorize_start`), `stop` (a build:
//! `authorize_stop`). Builds have no create or edit operation (the engine
//! queues them): those lines ask the authorization manager of the same
//! operations. `http_authz.rs` runs the same table over the REST API.

use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::aggregate::{Aggregate, WriteCtx};
use vespene_core::db::builds::{self, NewBuild};
use vespene_core::ops::*;
use vespene_core::settings::Section;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_plugin_api::kinds::authorization::{Action, ObjectKind};

pub(crate) const WHO: [&str; 8] = [
    "anon", "plain", "creator", "ogroup", "launch", "pcreator", "self", "super",
];

pub(crate) const MATRIX: &str = "
# kind         action  anon plain creator ogroup launch pcreator self super
project        list    N    N     Y       Y      Y      -        -    Y
project        create  N    Y     Y       Y      Y      -        -    Y
project        view    N    N     Y       Y      Y      -        -    Y
project        edit    N    N     Y       Y      N      -        -    Y
project        delete  N    N     Y       Y      N      -        -    Y
project        start   N    N     Y       Y      Y      -        -    Y
build          list    N    N     Y       Y      N      N        -    Y
build          create  N    N     N       N      N      N        -    N
build          view    N    N     Y       Y      N      N        -    Y
build          edit    N    N     N       N      N      N        -    N
build          delete  N    N     N       N      N      N        -    N
build          stop    N    N     Y       Y      N      N        -    Y
pipeline       list    N    Y     Y       Y      -      -        -    Y
pipeline       create  N    Y     Y       Y      -      -        -    Y
pipeline       view    N    Y     Y       Y      -      -        -    Y
pipeline       edit    N    N     Y       Y      -      -        -    Y
pipeline       delete  N    N     Y       Y      -      -        -    Y
snippet        list    N    Y     Y       Y      -      -        -    Y
snippet        create  N    Y     Y       Y      -      -        -    Y
snippet        view    N    Y     Y       Y      -      -        -    Y
snippet        edit    N    N     Y       Y      -      -        -    Y
snippet        delete  N    N     Y       Y      -      -        -    Y
variable_set   list    N    Y     Y       Y      -      -        -    Y
variable_set   create  N    Y     Y       Y      -      -        -    Y
variable_set   view    N    Y     Y       Y      -      -        -    Y
variable_set   edit    N    N     Y       Y      -      -        -    Y
variable_set   delete  N    N     Y       Y      -      -        -    Y
ssh_key        list    N    N     Y       Y      -      -        -    Y
ssh_key        create  N    Y     Y       Y      -      -        -    Y
ssh_key        view    N    N     Y       Y      -      -        -    Y
ssh_key        edit    N    N     Y       Y      -      -        -    Y
ssh_key        delete  N    N     Y       Y      -      -        -    Y
service_login  list    N    N     Y       Y      -      -        -    Y
service_login  create  N    Y     Y       Y      -      -        -    Y
service_login  view    N    N     Y       Y      -      -        -    Y
service_login  edit    N    N     Y       Y      -      -        -    Y
service_login  delete  N    N     Y       Y      -      -        -    Y
stage          list    N    Y     -       -      -      -        -    Y
stage          create  N    Y     -       -      -      -        -    Y
stage          view    N    Y     -       -      -      -        -    Y
stage          edit    N    N     -       -      -      -        -    Y
stage          delete  N    N     -       -      -      -        -    Y
worker_pool    list    N    Y     Y       -      -      -        -    Y
worker_pool    create  N    N     N       -      -      -        -    Y
worker_pool    view    N    Y     Y       -      -      -        -    Y
worker_pool    edit    N    N     N       -      -      -        -    Y
worker_pool    delete  N    N     N       -      -      -        -    Y
organization   list    N    Y     Y       -      -      -        -    Y
organization   create  N    N     N       -      -      -        -    Y
organization   view    N    N     N       -      -      -        -    Y
organization   edit    N    N     N       -      -      -        -    Y
organization   delete  N    N     N       -      -      -        -    Y
user           list    N    N     -       -      -      -        Y    Y
user           create  N    N     -       -      -      -        N    Y
user           view    N    N     -       -      -      -        Y    Y
user           edit    N    N     -       -      -      -        Y    Y
user           delete  N    N     -       -      -      -        N    Y
group          list    N    Y     -       -      -      -        -    Y
group          create  N    N     -       -      -      -        -    Y
group          view    N    Y     -       -      -      -        -    Y
group          edit    N    N     -       -      -      -        -    Y
group          delete  N    N     -       -      -      -        -    Y
";

/// The stock authorization plugins, written out so the test does not
/// depend on the shipped defaults.
pub(crate) const SETTINGS: &str = r#"
[plugins.authorization]
ownership = ["vespene.plugins.authorization.ownership", { filter_view = true }]
group_required = ["vespene.plugins.authorization.group_required", { project = {} }]
"#;

pub(crate) struct Case {
    pub kind: ObjectKind,
    pub action: Action,
    pub who: &'static str,
    pub allowed: bool,
    pub line: String,
}

pub(crate) fn parse(table: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for line in table.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 2 + WHO.len(), "bad table line: {line}");
        let kind = ObjectKind::from_name(cols[0]).unwrap_or_else(|| panic!("kind in {line}"));
        let action: Action = serde_json::from_value(cols[1].into())
            .unwrap_or_else(|e| panic!("action in {line}: {e}"));
        for (who, cell) in WHO.iter().zip(&cols[2..]) {
            let allowed = match *cell {
                "Y" => true,
                "N" => false,
                "-" => continue,
                other => panic!("cell {other} in {line}"),
            };
            cases.push(Case {
                kind,
                action,
                who,
                allowed,
                line: line.to_string(),
            });
        }
    }
    cases
}

/// The users and groups every case relates objects to.
pub(crate) struct World<'a> {
    app: &'a App,
    pat: Actor,
    pub pat_id: i64,
    root: Actor,
    other_id: i64,
    devs: i64,
    others: i64,
    pub pool: i64,
    serial: std::cell::Cell<u32>,
}

/// How a fresh object relates to the asking user.
#[derive(Default)]
struct Relation {
    created_by: Option<i64>,
    owner_groups: Vec<i64>,
    launch_groups: Vec<i64>,
    project_created_by: Option<i64>,
    project_owner_groups: Vec<i64>,
    project_launch_groups: Vec<i64>,
}

impl World<'_> {
    pub fn new(app: &App) -> World<'_> {
        let sys = &Actor::System;
        let group = |name: &str| {
            app.ops
                .groups()
                .create(sys, &GroupInput { name: name.into() })
                .unwrap()
                .group
                .id
        };
        let (devs, others) = (group("devs"), group("others"));
        let user = |name: &str, superuser: bool, groups: Vec<i64>| {
            app.ops
                .users()
                .create(
                    sys,
                    &UserInput {
                        username: name.into(),
                        is_superuser: superuser,
                        groups,
                        ..Default::default()
                    },
                )
                .unwrap()
                .user
                .id
        };
        let pat_id = user("pat", false, vec![devs]);
        let root_id = user("root", true, vec![]);
        let other_id = user("other", false, vec![others]);
        let pool = app
            .ops
            .worker_pools()
            .create(
                sys,
                &WorkerPoolInput {
                    name: "shared".into(),
                    isolation_method: "sudo".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .worker_pool
            .id;
        World {
            app,
            pat: app.ops.actor_for_user(pat_id).unwrap(),
            pat_id,
            root: app.ops.actor_for_user(root_id).unwrap(),
            other_id,
            devs,
            others,
            pool,
            serial: std::cell::Cell::new(0),
        }
    }

    pub fn name(&self, kind: ObjectKind) -> String {
        self.serial.set(self.serial.get() + 1);
        format!("{}-{}", kind.as_str(), self.serial.get())
    }

    fn actor(&self, who: &str) -> Actor {
        match who {
            "anon" => Actor::Anonymous,
            "super" => self.root.clone(),
            _ => self.pat.clone(),
        }
    }

    fn relation(&self, who: &str) -> Relation {
        let mut r = Relation {
            created_by: Some(self.other_id),
            owner_groups: vec![self.others],
            launch_groups: vec![self.others],
            project_created_by: Some(self.other_id),
            project_owner_groups: vec![self.others],
            project_launch_groups: vec![self.others],
        };
        match who {
            "creator" => r.created_by = Some(self.pat_id),
            "ogroup" => {
                r.owner_groups.push(self.devs);
                r.project_owner_groups.push(self.devs);
            }
            "launch" => {
                r.launch_groups.push(self.devs);
                r.project_launch_groups.push(self.devs);
            }
            "pcreator" => r.project_created_by = Some(self.pat_id),
            _ => {}
        }
        r
    }

    /// Stores `input` as created by `created_by` (the forms take the
    /// creator from the actor; here it is the column's).
    fn insert<A: Aggregate>(&self, created_by: Option<i64>, input: &A::Input) -> i64 {
        let ctx = WriteCtx {
            secrets: self.app.ops.secrets(),
            user_id: created_by,
        };
        A::insert(&mut self.app.db.conn().unwrap(), &ctx, input).unwrap()
    }

    fn project_input(&self, owner_groups: Vec<i64>, launch_groups: Vec<i64>) -> ProjectInput {
        ProjectInput {
            name: self.name(ObjectKind::Project),
            worker_pool_id: self.pool,
            owner_groups,
            launch_groups,
            ..Default::default()
        }
    }

    /// A fresh object of `kind` related to the asking user as `who` says
    /// (`self`: the user's own account).
    pub fn target(&self, kind: ObjectKind, who: &str) -> i64 {
        let r = self.relation(who);
        let by = r.created_by;
        match kind {
            ObjectKind::Project => {
                self.insert::<Projects>(by, &self.project_input(r.owner_groups, r.launch_groups))
            }
            ObjectKind::Build => {
                let project = self.insert::<Projects>(
                    r.project_created_by,
                    &self.project_input(r.project_owner_groups, r.project_launch_groups),
                );
                builds::insert_queued(
                    &mut self.app.db.conn().unwrap(),
                    &NewBuild {
                        created_by: by,
                        ..NewBuild::queued(project, self.pool)
                    },
                )
                .unwrap()
            }
            ObjectKind::Pipeline => self.insert::<Pipelines>(
                by,
                &PipelineInput {
                    name: self.name(kind),
                    owner_groups: r.owner_groups,
                    ..Default::default()
                },
            ),
            ObjectKind::Snippet => self.insert::<Snippets>(
                by,
                &SnippetInput {
                    name: self.name(kind),
                    owner_groups: r.owner_groups,
                    ..Default::default()
                },
            ),
            ObjectKind::VariableSet => self.insert::<VariableSets>(
                by,
                &VariableSetInput {
                    name: self.name(kind),
                    owner_groups: r.owner_groups,
                    ..Default::default()
                },
            ),
            ObjectKind::SshKey => self.insert::<SshKeys>(
                by,
                &SshKeyInput {
                    name: self.name(kind),
                    owner_groups: r.owner_groups,
                    ..Default::default()
                },
            ),
            ObjectKind::ServiceLogin => self.insert::<ServiceLogins>(
                by,
                &ServiceLoginInput {
                    name: self.name(kind),
                    username: "reader".into(),
                    owner_groups: r.owner_groups,
                    ..Default::default()
                },
            ),
            ObjectKind::Stage => self.insert::<Stages>(by, &self.fresh_stage()),
            ObjectKind::WorkerPool => self.insert::<WorkerPools>(by, &self.fresh_pool()),
            ObjectKind::Organization => self.insert::<Organizations>(by, &self.fresh_org()),
            ObjectKind::User if who == "self" => self.pat_id,
            ObjectKind::User => self.insert::<Users>(None, &self.fresh_user()),
            ObjectKind::Group => self.insert::<Groups>(None, &self.fresh_group()),
        }
    }

    fn fresh_stage(&self) -> StageInput {
        StageInput {
            name: self.name(ObjectKind::Stage),
            ..Default::default()
        }
    }

    fn fresh_pool(&self) -> WorkerPoolInput {
        WorkerPoolInput {
            name: self.name(ObjectKind::WorkerPool),
            isolation_method: "sudo".into(),
            ..Default::default()
        }
    }

    fn fresh_org(&self) -> OrganizationInput {
        OrganizationInput {
            name: self.name(ObjectKind::Organization),
            organization_identifier: "acme".into(),
            default_worker_pool_id: self.pool,
            worker_pool_id: self.pool,
            ..Default::default()
        }
    }

    fn fresh_user(&self) -> UserInput {
        UserInput {
            username: self.name(ObjectKind::User),
            ..Default::default()
        }
    }

    fn fresh_group(&self) -> GroupInput {
        GroupInput {
            name: self.name(ObjectKind::Group),
        }
    }

    /// Runs one case's operation: `Ok(true)` allowed, `Ok(false)` refused
    /// (denied, or not found for the user), `Err` anything else.
    fn run(
        &self,
        kind: ObjectKind,
        action: Action,
        actor: &Actor,
        id: i64,
    ) -> Result<bool, String> {
        let ops = &self.app.ops;
        let result = match kind {
            ObjectKind::Project if action == Action::Start => {
                ops.projects().authorize_start(actor, id).map(drop)
            }
            ObjectKind::Project => {
                let fresh = self.project_input(vec![], vec![]);
                generic::<Projects>(ops, actor, action, id, fresh)
            }
            ObjectKind::Build => build_op(ops, actor, action, id),
            ObjectKind::Pipeline => generic::<Pipelines>(
                ops,
                actor,
                action,
                id,
                PipelineInput {
                    name: self.name(kind),
                    ..Default::default()
                },
            ),
            ObjectKind::Snippet => generic::<Snippets>(
                ops,
                actor,
                action,
                id,
                SnippetInput {
                    name: self.name(kind),
                    ..Default::default()
                },
            ),
            ObjectKind::VariableSet => generic::<VariableSets>(
                ops,
                actor,
                action,
                id,
                VariableSetInput {
                    name: self.name(kind),
                    ..Default::default()
                },
            ),
            ObjectKind::SshKey => generic::<SshKeys>(
                ops,
                actor,
                action,
                id,
                SshKeyInput {
                    name: self.name(kind),
                    ..Default::default()
                },
            ),
            ObjectKind::ServiceLogin => generic::<ServiceLogins>(
                ops,
                actor,
                action,
                id,
                ServiceLoginInput {
                    name: self.name(kind),
                    ..Default::default()
                },
            ),
            ObjectKind::Stage => generic::<Stages>(ops, actor, action, id, self.fresh_stage()),
            ObjectKind::WorkerPool => {
                generic::<WorkerPools>(ops, actor, action, id, self.fresh_pool())
            }
            ObjectKind::Organization => {
                generic::<Organizations>(ops, actor, action, id, self.fresh_org())
            }
            // A user's own edit goes through the rules of user edits.
            ObjectKind::User if action == Action::Edit => {
                let current = ops.users().get(&Actor::System, id).unwrap();
                ops.users()
                    .update_user(actor, id, &UserInput::from(&current))
                    .map(drop)
            }
            ObjectKind::User => generic::<Users>(ops, actor, action, id, self.fresh_user()),
            ObjectKind::Group => generic::<Groups>(ops, actor, action, id, self.fresh_group()),
        };
        match result {
            Ok(()) => Ok(true),
            Err(OpError::Denied { .. } | OpError::NotFound { .. }) => Ok(false),
            Err(other) => Err(other.to_string()),
        }
    }
}

/// List (is `id` in the actor's list), create, view, edit, delete.
fn generic<A: Aggregate>(
    ops: &Ops,
    actor: &Actor,
    action: Action,
    id: i64,
    fresh: A::Input,
) -> Result<(), OpError>
where
    A::Row: HasId,
    for<'d> A::Input: From<&'d A::Detail>,
{
    let r = ops.resource::<A>();
    match action {
        Action::List => {
            let page = r.list(
                actor,
                &Default::default(),
                PageRequest {
                    page: 1,
                    size: Some(MAX_PAGE_SIZE),
                },
            )?;
            assert!(!page.has_more, "more objects than one page");
            if page.items.iter().any(|row| row.id() == id) {
                Ok(())
            } else {
                Err(OpError::NotFound {
                    object: A::NOUN,
                    key: "in the list".into(),
                })
            }
        }
        Action::Create => r.create(actor, &fresh).map(drop),
        Action::View => r.get(actor, id).map(drop),
        Action::Edit => {
            let current = r.get(&Actor::System, id)?;
            r.update(actor, id, &A::Input::from(&current)).map(drop)
        }
        Action::Delete => r.delete(actor, id),
        Action::Start | Action::Stop => panic!("no generic {} operation", action.as_str()),
    }
}

fn build_op(ops: &Ops, actor: &Actor, action: Action, id: i64) -> Result<(), OpError> {
    let b = ops.builds();
    match action {
        Action::List => {
            let page = b.list(
                actor,
                &BuildFilter::default(),
                PageRequest {
                    page: 1,
                    size: Some(MAX_PAGE_SIZE),
                },
            )?;
            if page.items.iter().any(|s| s.id == id) {
                Ok(())
            } else {
                Err(OpError::NotFound {
                    object: "build",
                    key: "in the list".into(),
                })
            }
        }
        Action::View => b.get(actor, id).map(drop),
        Action::Delete => b.delete(actor, id),
        Action::Stop => b.authorize_stop(actor, id).map(drop),
        Action::Create => Ok(ops.authz().check(actor, action, ObjectKind::Build, None)?),
        Action::Edit => {
            let facts = builds::facts(&mut *ops.db().conn()?, id)?;
            Ok(ops
                .authz()
                .check(actor, action, ObjectKind::Build, Some(&facts))?)
        }
        Action::Start => panic!("builds are not started"),
    }
}

fn the_matrix(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, SETTINGS) else {
        return;
    };
    let app = es.app();
    let loaded: Vec<&str> = app
        .plugins
        .registry
        .section(Section::Authorization)
        .iter()
        .map(|c| c.name())
        .collect();
    assert_eq!(loaded, ["ownership", "group_required"]);

    let cases = parse(MATRIX);
    // Every kind has its lines, each once.
    let mut lines: Vec<(ObjectKind, Action)> = cases.iter().map(|c| (c.kind, c.action)).collect();
    lines.dedup();
    assert_eq!(lines.len(), ObjectKind::ALL.len() * 5 + 2, "{lines:?}");
    assert_eq!(cases.len(), 293);

    let world = World::new(&app);
    let mut failures = Vec::new();
    for case in &cases {
        let id = world.target(case.kind, case.who);
        let actor = world.actor(case.who);
        match world.run(case.kind, case.action, &actor, id) {
            Ok(allowed) if allowed == case.allowed => {}
            Ok(allowed) => failures.push(format!(
                "{:<46} {:<8}: got {}, table says {}",
                case.line,
                case.who,
                if allowed { "Y" } else { "N" },
                if case.allowed { "Y" } else { "N" }
            )),
            Err(e) => failures.push(format!("{:<46} {:<8}: error {e}", case.line, case.who)),
        }
    }
    assert!(
        failures.is_empty(),
        "{backend:?}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_matrix_on_sqlite() {
    the_matrix(Backend::Sqlite);
}

#[test]
fn the_matrix_on_postgres() {
    the_matrix(Backend::Postgres);
}
