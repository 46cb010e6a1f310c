//! `vespene tutorial` (the original's `tutorial_setup`, reference §9.1):
//! demo objects to play with, adapted so that the tutorial pipeline works
//! as shipped.
//!
//! The objects are data, not code: [`TUTORIAL_YAML`] (`tutorial.yaml`
//! beside this file, built into the binary so the command needs no
//! installed file and the objects always match the binary) is an ordinary
//! configuration-as-code file, applied through
//! [`crate::config_as_code::apply_document_in`] as the invoking actor (the
//! administrator on the command line). It holds groups `developers`, `qa`,
//! `management`, `ops`; worker pool `tutorial-pool`; variable sets
//! `tutorial-common-variables` and `tutorial-deploy-variables`; stages
//! `build`, `qa`, `stage`, `release`; pipeline `tutorial-fake-CI/CD`;
//! snippet `tutorial_snippet`; and projects `tutorial-project1-build`,
//! `-qa`, `-stage`, `-release`, one per stage.
//!
//! What stays in code is what depends on the machine and the database, not
//! on the demo:
//!
//! * the pool's `isolation_method` and `sudo_user` are set, in the parsed
//!   file, to the caller's choice (what `vespene up` chose), so there is
//!   no text substitution in the YAML;
//! * every superuser joins every tutorial group, as in the original;
//! * a stage that existed before (stages are shared by every pipeline)
//!   gets the common variable set added.
//!
//! The original deleted the four projects first and recreated them; this
//! one is idempotent instead: the file is applied with
//! [`Existing::Keep`], so an object that exists is left as it is (only the
//! two links above are added), running it again changes nothing and says
//! so. Everything happens in one transaction.
//!
//! Differences from the original: its build project cloned
//! `git@github.com:mpdehaan/foo.git` over SSH, so it failed unless keys
//! were added; here no project has a repository (a build starts in an
//! empty build root) and the scripts are plain `sh`. They show templates,
//! variable sets, the snippet, `{% if %}` on a variable set's value, and
//! `vespene/set`: each later stage uses what the earlier ones printed.

use crate::app::App;
use crate::authz::Actor;
use crate::config_as_code::{ApplyError, Document, Existing, FileSpec, Outcome, apply_document_in};
use crate::db::aggregate::Aggregate;
use crate::db::{DbConn, DbError, write_tx};
use crate::ops::{OpError, StageInput, Stages, UserInput, Users};
use diesel::prelude::*;
use std::path::Path;

/// The tutorial's objects, as a configuration-as-code file.
pub const TUTORIAL_YAML: &str = include_str!("tutorial.yaml");

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
/// The variable set on every stage.
pub const COMMON_VARIABLES: &str = "tutorial-common-variables";

/// Why the tutorial could not be set up (nothing of it is stored then).
#[derive(Debug, thiserror::Error)]
pub enum TutorialError {
    #[error("the tutorial's objects ({0})")]
    Apply(#[from] ApplyError),
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Database(#[from] DbError),
}

impl From<diesel::result::Error> for TutorialError {
    fn from(e: diesel::result::Error) -> Self {
        TutorialError::Database(e.into())
    }
}

/// What the tutorial set-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TutorialReport {
    /// One line per object or change, in order.
    pub lines: Vec<String>,
    /// How many objects were created or changed.
    pub changes: usize,
}

/// The tutorial file, parsed, with the pool's isolation set to
/// `isolation` as `sudo_user`.
pub fn document(isolation: &str, sudo_user: &str) -> Result<Document, ApplyError> {
    let mut doc = Document::parse(Path::new("tutorial.yaml"), TUTORIAL_YAML)?;
    place_pool(&mut doc.spec, isolation, sudo_user);
    Ok(doc)
}

fn place_pool(spec: &mut FileSpec, isolation: &str, sudo_user: &str) {
    for pool in spec.worker_pools.iter_mut().filter(|p| p.name == POOL) {
        pool.isolation_method = isolation.into();
        pool.sudo_user = Some(sudo_user.into());
    }
}

/// Creates what is missing of the tutorial's objects as `actor`; builds of
/// `tutorial-pool` (when it is created) run through the isolation entry
/// `isolation` as `sudo_user`.
pub fn setup(
    app: &App,
    actor: &Actor,
    isolation: &str,
    sudo_user: &str,
) -> Result<TutorialReport, TutorialError> {
    let doc = document(isolation, sudo_user)?;
    let mut conn = app.db.conn()?;
    write_tx(&mut conn, |conn| -> Result<TutorialReport, TutorialError> {
        let applied = apply_document_in(&app.ops, conn, actor, &doc, Existing::Keep)?;
        let mut report = TutorialReport::default();
        for change in &applied.changes {
            if change.outcome == Outcome::Unchanged {
                report.lines.push(format!("exists  {}", change.object));
            } else {
                report
                    .lines
                    .push(format!("{} {}", change.outcome.as_str(), change.object));
                report.changes += 1;
            }
        }
        superusers_join_groups(app, conn, actor, &mut report)?;
        stages_get_common_variables(app, conn, actor, &mut report)?;
        Ok(report)
    })
}

fn id_by_name<A: Aggregate>(conn: &mut DbConn, name: &str) -> Result<i64, TutorialError>
where
    A::Row: crate::ops::HasId,
{
    use crate::ops::HasId;
    A::find_by_name(conn, name)?
        .map(|row| row.id())
        .ok_or_else(|| {
            TutorialError::Database(DbError::invalid(
                A::NOUN,
                "name",
                format!("no {} named '{name}' after applying the tutorial", A::NOUN),
            ))
        })
}

/// Every superuser joins every tutorial group, as in the original.
fn superusers_join_groups(
    app: &App,
    conn: &mut DbConn,
    actor: &Actor,
    report: &mut TutorialReport,
) -> Result<(), TutorialError> {
    let groups = GROUPS
        .iter()
        .map(|g| id_by_name::<crate::ops::Groups>(conn, g))
        .collect::<Result<Vec<i64>, _>>()?;
    let superusers: Vec<i64> = {
        use crate::db::schema::users as u;
        u::table
            .filter(u::is_superuser.eq(true))
            .select(u::id)
            .order(u::id.asc())
            .load(conn)
            .map_err(DbError::from)?
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
        app.ops.users().update_user_in(conn, actor, id, &input)?;
        report.lines.push(format!(
            "added superuser '{}' to the tutorial groups",
            detail.user.username
        ));
        report.changes += 1;
    }
    Ok(())
}

/// A stage that existed before the tutorial (kept as it was) gets the
/// common variable set its projects need, as in the original.
fn stages_get_common_variables(
    app: &App,
    conn: &mut DbConn,
    actor: &Actor,
    report: &mut TutorialReport,
) -> Result<(), TutorialError> {
    let common = id_by_name::<crate::ops::VariableSets>(conn, COMMON_VARIABLES)?;
    for name in STAGES {
        let id = id_by_name::<Stages>(conn, name)?;
        let detail = Stages::get(conn, id)?;
        if detail.variable_sets.contains(&common) {
            continue;
        }
        let mut input = StageInput::from(&detail);
        input.variable_sets.push(common);
        app.ops.stages().update_in(conn, actor, id, &input)?;
        report.lines.push(format!(
            "added variable set '{COMMON_VARIABLES}' to stage '{name}'"
        ));
        report.changes += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! Unit tests: the file parses, names what the constants name, places
    //! the caller's pool user, and its scripts render with the variables
    //! the tutorial provides (strict undefined, as at queue time).

    use super::*;
    use serde_json::json;
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
    fn the_file_holds_the_named_objects_and_the_callers_pool_user() {
        let doc = document("namespace", "alice").unwrap();
        let spec = &doc.spec;
        let groups: Vec<&str> = spec.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(groups, GROUPS);
        let stages: Vec<&str> = spec.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(stages, STAGES);
        let projects: Vec<&str> = spec.projects.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(projects, PROJECTS);
        assert_eq!(spec.pipelines[0].name, PIPELINE);
        assert_eq!(spec.worker_pools.len(), 1);
        assert_eq!(spec.worker_pools[0].name, POOL);
        assert_eq!(spec.worker_pools[0].isolation_method, "namespace");
        assert_eq!(spec.worker_pools[0].sudo_user.as_deref(), Some("alice"));
        for stage in &spec.stages {
            assert_eq!(stage.variable_sets, [COMMON_VARIABLES]);
        }
    }

    #[test]
    fn every_script_renders_before_and_after_earlier_stages_ran() {
        let doc = document("sudo", "nobody").unwrap();
        let scripts: Vec<&str> = doc
            .spec
            .projects
            .iter()
            .map(|p| p.script.as_str())
            .collect();
        let [_build, _qa, stage_script, release_script] = scripts[..] else {
            panic!("four projects");
        };
        let snippet_text = &doc.spec.snippets[0].text;
        let mut vars = common();
        let snippet = jinja::render(snippet_text, &vars, Undefined::Lenient).unwrap();
        assert!(snippet.contains("corporate database: foo.example.com"));
        vars.insert("tutorial_snippet".into(), snippet.into());
        for script in &scripts {
            let out = jinja::render(script, &vars, Undefined::Strict).unwrap();
            assert!(out.starts_with("#!/bin/sh\n"), "{out}");
        }
        let stage = jinja::render(stage_script, &vars, Undefined::Strict).unwrap();
        assert!(stage.contains("Frobnicating"));
        assert!(!stage.contains("Defrobnicating"));
        vars.insert("artifact_version".into(), "1.0.7".into());
        let release = jinja::render(release_script, &vars, Undefined::Strict).unwrap();
        assert!(release.contains("releasing version 1.0.7"));
    }
}
