//! `vespene tutorial` (the original's `tutorial_setup`, reference §9.1):
//! demo objects to play with, adapted so that the tutorial pipeline works
//! as shipped.
//!
//! It creates, by name, what is missing of:
//!
//! * groups `developers`, `qa`, `management`, `ops`, with every superuser
//!   in each;
//! * worker pool `tutorial-pool` (sudo isolation, builds running as the
//!   user the caller names);
//! * variable sets `tutorial-common-variables` (welcome, corp_database,
//!   messaging, password, feature_flags, repo) and
//!   `tutorial-deploy-variables` (testing, veeblefritzer);
//! * stages `build`, `qa`, `stage`, `release`, each with the common
//!   variable set;
//! * pipeline `tutorial-fake-CI/CD` with those four stages (owner `ops`);
//! * snippet `tutorial_snippet`;
//! * projects `tutorial-project1-build`, `-qa`, `-stage`, `-release`, one
//!   per stage; the release project also has the deploy variable set.
//!
//! Differences from the original: its build project cloned
//! `git@github.com:mpdehaan/foo.git` over SSH, so it failed unless keys
//! were added; here no project has a repository (a build starts in an
//! empty build root) and the scripts are plain `sh`. They show templates,
//! variable sets, the snippet, `{% if %}` on a variable set's value, and
//! `vespene/set`: the build stage prints `artifact_version` and
//! `artifact_checksum`, the qa stage `qa_passed` and `tested_version`, the
//! stage stage `staged_url`, and each later stage uses what the earlier
//! ones printed. Starting `tutorial-project1-build` runs the whole
//! pipeline to completion with one worker of `tutorial-pool`.
//!
//! The original deleted the four projects first and recreated them; this
//! one is idempotent instead: an object that exists is left as it is
//! (only the links the tutorial needs are added: group members, the common
//! variable set on the stages), so running it again changes nothing and
//! says so. Everything happens in one transaction.

use super::EngineError;
use crate::app::App;
use crate::authz::Actor;
use crate::db::aggregate::Aggregate;
use crate::db::{DbConn, write_tx};
use crate::ops::{
    GroupInput, Groups, HasId, PipelineInput, Pipelines, ProjectInput, Projects, SnippetInput,
    Snippets, StageInput, Stages, UserInput, Users, VariableSetInput, VariableSets,
    WorkerPoolInput, WorkerPools,
};
use diesel::prelude::*;
use serde_json::json;

/// The tutorial's worker pool.
pub const POOL: &str = "tutorial-pool";
/// The tutorial's pipeline.
pub const PIPELINE: &str = "tutorial-fake-CI/CD";
/// The groups, in the original's order.
pub const GROUPS: [&str; 4] = ["developers", "qa", "management", "ops"];
/// The stages, in pipeline order.
pub const STAGES: [&str; 4] = ["build", "qa", "stage", "release"];
/// The projects, one per stage, in pipeline order.
pub const PROJECTS: [&str; 4] = [
    "tutorial-project1-build",
    "tutorial-project1-qa",
    "tutorial-project1-stage",
    "tutorial-project1-release",
];
/// The snippet.
pub const SNIPPET: &str = "tutorial_snippet";
/// The variable set on every stage.
pub const COMMON_VARIABLES: &str = "tutorial-common-variables";
/// The variable set of the release project.
pub const DEPLOY_VARIABLES: &str = "tutorial-deploy-variables";

const BUILD_SCRIPT: &str = r#"#!/bin/sh
# tutorial-project1-build: the first stage of the pipeline 'tutorial-fake-CI/CD'.
# A build script is a Jinja2 template, rendered when the build is queued.
# Variables come from the worker pool, the pipeline, the stage, variable
# sets (here 'tutorial-common-variables', attached to every stage), the
# project, the outputs of earlier stages, and snippets.
set -e
echo "{{ welcome }}"

# A snippet is a reusable piece of script, used by its name:
{{ tutorial_snippet }}

# Pretend to compile something. There is no repository to check out here:
# a build starts in its own empty build root, its working directory.
mkdir -p dist
echo "tutorial artifact, built $(date -u +%Y-%m-%dT%H:%M:%SZ)" > dist/artifact.txt
version="1.0.$(date -u +%Y%m%d%H%M%S)"
echo "built version $version"

# A line 'vespene/set NAME VALUE' sets an output variable: when this build
# succeeds, the next stage of the pipeline starts, and its projects see
# these as variables.
echo "vespene/set artifact_version $version"
echo "vespene/set artifact_checksum $(cksum < dist/artifact.txt | cut -d ' ' -f 1)"
"#;

const QA_SCRIPT: &str = r#"#!/bin/sh
# tutorial-project1-qa: started by the pipeline when the build stage succeeds.
# 'artifact_version' and 'artifact_checksum' were printed by the build stage
# with vespene/set. '| default' keeps this project startable by hand
# before the build stage ever ran.
set -e
version="{{ artifact_version | default('unknown') }}"
echo "testing version $version (checksum {{ artifact_checksum | default('unknown') }})"
echo "running imaginary tests against {{ corp_database }}... all passed"
echo "vespene/set qa_passed yes"
echo "vespene/set tested_version $version"
"#;

const STAGE_SCRIPT: &str = r#"#!/bin/sh
# tutorial-project1-stage: an imaginary deployment to a staging system.
set -e
# Templates can test variables: feature_flags comes from the variable set
# 'tutorial-common-variables'.
{% if feature_flags.auto_frobnicate %}
echo "Frobnicating..."
{% endif %}
{% if feature_flags.auto_defrobnicate %}
echo "Defrobnicating..."
{% endif %}
echo "staging version {{ artifact_version | default('unknown') }} (qa passed: {{ qa_passed | default('no') }})"
echo "vespene/set staged_url http://staging.example.com/tutorial/{{ artifact_version | default('unknown') }}"
"#;

const RELEASE_SCRIPT: &str = r#"#!/bin/sh
# tutorial-project1-release: the last stage. When it succeeds the pipeline
# records its completion. This project also has the variable set
# 'tutorial-deploy-variables'.
set -e
echo "releasing version {{ artifact_version | default('unknown') }}, tested as {{ tested_version | default('unknown') }}"
echo "staged at {{ staged_url | default('nowhere') }}"
echo "deploy settings: testing={{ testing }} veeblefritzer={{ veeblefritzer }}"
echo "Done"
"#;

const SNIPPET_TEXT: &str = r#"# --- from the snippet 'tutorial_snippet' ---
# Snippets are shared by every project; they are templates too.
echo "corporate database: {{ corp_database | default('not set') }}"
echo "messaging server: {{ messaging | default('not set') }}"
# --- end of the snippet ---"#;

/// What the tutorial set-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TutorialReport {
    /// One line per object or change, in order.
    pub lines: Vec<String>,
    /// How many objects were created or changed.
    pub changes: usize,
}

impl TutorialReport {
    fn created(&mut self, noun: &str, name: &str) {
        self.lines.push(format!("created {noun} '{name}'"));
        self.changes += 1;
    }
    fn exists(&mut self, noun: &str, name: &str) {
        self.lines.push(format!("exists  {noun} '{name}'"));
    }
    fn changed(&mut self, text: String) {
        self.lines.push(text);
        self.changes += 1;
    }
}

/// The id of the `A` called `name`, created from `input()` when missing.
fn get_or_create<A>(
    app: &App,
    conn: &mut DbConn,
    report: &mut TutorialReport,
    name: &str,
    input: impl FnOnce() -> A::Input,
) -> Result<i64, EngineError>
where
    A: Aggregate,
    A::Row: HasId,
{
    if let Some(row) = A::find_by_name(conn, name)? {
        report.exists(A::NOUN, name);
        return Ok(row.id());
    }
    app.ops
        .resource::<A>()
        .create_in(conn, &Actor::System, &input())?;
    report.created(A::NOUN, name);
    let row = A::find_by_name(conn, name)?.ok_or_else(|| {
        EngineError::Worker(format!("{} '{name}' vanished after creation", A::NOUN))
    })?;
    Ok(row.id())
}

fn text(v: serde_json::Value) -> String {
    v.to_string()
}

/// Creates what is missing of the tutorial's objects; builds of
/// `tutorial-pool` (when it is created) run through the isolation entry
/// `isolation` as `sudo_user`.
pub fn setup(app: &App, isolation: &str, sudo_user: &str) -> Result<TutorialReport, EngineError> {
    let mut conn = app.db.conn()?;
    write_tx(&mut conn, |conn| -> Result<TutorialReport, EngineError> {
        let mut report = TutorialReport::default();
        create_all(app, conn, isolation, sudo_user, &mut report)?;
        Ok(report)
    })
}

fn create_all(
    app: &App,
    conn: &mut DbConn,
    isolation: &str,
    sudo_user: &str,
    report: &mut TutorialReport,
) -> Result<(), EngineError> {
    let mut groups = Vec::new();
    for name in GROUPS {
        groups.push(get_or_create::<Groups>(app, conn, report, name, || {
            GroupInput { name: name.into() }
        })?);
    }
    let [developers, qa, _management, ops] = [groups[0], groups[1], groups[2], groups[3]];

    // Every superuser joins every tutorial group, as in the original.
    let superusers: Vec<i64> = {
        use crate::db::schema::users as u;
        u::table
            .filter(u::is_superuser.eq(true))
            .select(u::id)
            .order(u::id.asc())
            .load(conn)
            .map_err(crate::db::DbError::from)?
    };
    for id in superusers {
        let detail = Users::get(conn, id)?;
        let missing: Vec<i64> = groups
            .iter()
            .copied()
            .filter(|g| !detail.groups.contains(g))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut input = UserInput::from(&detail);
        input.groups.extend(&missing);
        app.ops
            .users()
            .update_user_in(conn, &Actor::System, id, &input)?;
        report.changed(format!(
            "added superuser '{}' to the tutorial groups",
            detail.user.username
        ));
    }

    let pool = get_or_create::<WorkerPools>(app, conn, report, POOL, || WorkerPoolInput {
        name: POOL.into(),
        isolation_method: isolation.into(),
        sudo_user: Some(sudo_user.into()),
        ..WorkerPoolInput::default()
    })?;

    let common =
        get_or_create::<VariableSets>(app, conn, report, COMMON_VARIABLES, || VariableSetInput {
            name: COMMON_VARIABLES.into(),
            description: "Variables of every stage of the tutorial pipeline".into(),
            variables: text(json!({
                "welcome": "Welcome to the Vespene Build Tutorial",
                "corp_database": "foo.example.com",
                "messaging": "msg.example.com",
                "password": "you should never use this for passwords! seriously, no!",
                "feature_flags": {"auto_frobnicate": 1, "auto_defrobnicate": 0},
                "repo": "foo.example.com"
            })),
            owner_groups: vec![developers, ops],
        })?;
    let deploy =
        get_or_create::<VariableSets>(app, conn, report, DEPLOY_VARIABLES, || VariableSetInput {
            name: DEPLOY_VARIABLES.into(),
            description: "Variables of the tutorial's release project".into(),
            variables: text(json!({"testing": 1234, "veeblefritzer": 1})),
            owner_groups: vec![developers, ops],
        })?;

    let mut stages = Vec::new();
    for name in STAGES {
        let id = get_or_create::<Stages>(app, conn, report, name, || StageInput {
            name: name.into(),
            variable_sets: vec![common],
            ..StageInput::default()
        })?;
        // A stage that existed before (stages are shared by every
        // pipeline) gets the common variables added, as in the original.
        let detail = Stages::get(conn, id)?;
        if !detail.variable_sets.contains(&common) {
            let mut input = StageInput::from(&detail);
            input.variable_sets.push(common);
            app.ops
                .stages()
                .update_in(conn, &Actor::System, id, &input)?;
            report.changed(format!(
                "added variable set '{COMMON_VARIABLES}' to stage '{name}'"
            ));
        }
        stages.push(id);
    }

    let pipeline = get_or_create::<Pipelines>(app, conn, report, PIPELINE, || PipelineInput {
        name: PIPELINE.into(),
        description: "The tutorial's imaginary CI/CD pipeline: build, qa, stage, release".into(),
        stages: stages.iter().copied().map(Some).collect(),
        owner_groups: vec![ops],
        ..PipelineInput::default()
    })?;

    get_or_create::<Snippets>(app, conn, report, SNIPPET, || SnippetInput {
        name: SNIPPET.into(),
        description: "Shows how snippets work (used by tutorial-project1-build)".into(),
        text: SNIPPET_TEXT.into(),
        owner_groups: vec![developers, ops],
    })?;

    let scripts = [BUILD_SCRIPT, QA_SCRIPT, STAGE_SCRIPT, RELEASE_SCRIPT];
    let owners = [
        vec![developers, ops],
        vec![qa, ops],
        vec![qa, ops],
        vec![ops],
    ];
    for (i, name) in PROJECTS.into_iter().enumerate() {
        get_or_create::<Projects>(app, conn, report, name, || ProjectInput {
            name: name.into(),
            description: format!(
                "Tutorial: the {} stage of the pipeline '{PIPELINE}'",
                STAGES[i]
            ),
            pipeline_id: Some(pipeline),
            stage_id: Some(stages[i]),
            script: scripts[i].into(),
            worker_pool_id: pool,
            timeout: 10,
            variable_sets: if i == PROJECTS.len() - 1 {
                vec![common, deploy]
            } else {
                Vec::new()
            },
            owner_groups: owners[i].clone(),
            ..ProjectInput::default()
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Unit tests: the scripts render with the variables the tutorial
    //! provides (strict undefined, as at queue time).

    use super::*;
    use vespene_plugin_api::jinja::{self, Undefined};

    fn common() -> serde_json::Map<String, serde_json::Value> {
        let serde_json::Value::Object(m) = json!({
            "welcome": "Welcome",
            "corp_database": "foo.example.com",
            "messaging": "msg.example.com",
            "feature_flags": {"auto_frobnicate": 1, "auto_defrobnicate": 0},
            "testing": 1234,
            "veeblefritzer": 1,
        }) else {
            unreachable!()
        };
        m
    }

    #[test]
    fn every_script_renders_before_and_after_earlier_stages_ran() {
        let mut vars = common();
        let snippet = jinja::render(SNIPPET_TEXT, &vars, Undefined::Lenient).unwrap();
        assert!(snippet.contains("corporate database: foo.example.com"));
        vars.insert("tutorial_snippet".into(), snippet.into());
        for script in [BUILD_SCRIPT, QA_SCRIPT, STAGE_SCRIPT, RELEASE_SCRIPT] {
            let out = jinja::render(script, &vars, Undefined::Strict).unwrap();
            assert!(out.starts_with("#!/bin/sh\n"), "{out}");
        }
        let stage = jinja::render(STAGE_SCRIPT, &vars, Undefined::Strict).unwrap();
        assert!(stage.contains("Frobnicating"));
        assert!(!stage.contains("Defrobnicating"));
        vars.insert("artifact_version".into(), "1.0.7".into());
        let release = jinja::render(RELEASE_SCRIPT, &vars, Undefined::Strict).unwrap();
        assert!(release.contains("releasing version 1.0.7"));
    }
}
