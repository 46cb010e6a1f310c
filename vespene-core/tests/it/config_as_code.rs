//! Configuration as code on both backends: apply creates, updates or
//! leaves alone by name; a file is all or nothing; export writes what is
//! stored (secrets left out) so that `export | apply` round-trips; every
//! change is authorized as the actor.

use crate::support::{TestDb, both_backends, postgres, sqlite, user_actor};
use std::path::{Path, PathBuf};
use vespene_core::config_as_code::{
    ApplyError, Document, FileReport, Kind, Outcome, apply_document, export,
};
use vespene_core::db::BackendKind;
use vespene_core::db::aggregate::Aggregate;
use vespene_core::db::ssh_keys::{self, SshKeys};
use vespene_core::ops::*;

/// Every kind of object, most fields set away from their defaults.
/// `keys/deploy` and `tokens/web` are written next to the file; the
/// unlock password comes from `CARGO_PKG_NAME`, which cargo sets for
/// every test.
pub const FULL: &str = r##"
projects:
  - name: website
    description: The public site
    worker_pool: general
    pipeline: release
    pipeline_enabled: false
    stage: build
    repo_url: https://git.example.com/website.git
    repo_branch: main
    recursive: false
    scm_type: git
    scm_login: git-reader
    ssh_keys: [deploy]
    webhook_enabled: true
    webhook_token_file: tokens/web
    script: |
      #!/bin/bash
      echo "{{ greeting }}"
    timeout: 15
    container_base_image: debian:stable
    variables: {greeting: hello, nested: {list: [1, 2.5, "three"]}}
    variable_sets: [common]
    launch_questions:
      - {variable: target, type: radio, choices: [staging, production]}
      - {variable: note, prompt: Why?}
    owner_groups: [developers]
    launch_groups: [ops]
    schedule_enabled: true
    monday: true
    friday: true
    weekday_start_hours: "2, 14-16"
    weekday_start_minutes: "0,30"
    weekend_start_hours: "4"
    weekend_start_minutes: "15"
    schedule_threshold: 20
    created_by: alice
groups:
  - name: developers
  - name: ops
users:
  - username: alice
    first_name: Alice
    last_name: Liddell
    email: alice@example.com
    groups: [developers, ops]
  - username: root
    is_superuser: true
  - username: gone
    is_active: false
variable_sets:
  - name: common
    description: Shared by everything
    variables: {region: eu-west, replicas: 3}
    owner_groups: [ops]
    created_by: alice
snippets:
  - name: notify
    description: Tell the channel
    text: "curl -d '{{ message }}' https://chat.example.com"
    owner_groups: [developers]
worker_pools:
  - name: general
    variables: {arch: x86_64}
    variable_sets: [common]
    isolation_method: sudo
    sudo_user: vespene_build
    permissions_hex: "0x770"
    sleep_seconds: 5
    auto_abort_minutes: 120
    build_latest: false
    autoscaling_enabled: true
    planner: stock
    executor: shell
    running_weight: 2.0
    queued_weight: 0.5
    excess: 1
    multiplier: 1.5
    minimum: 1
    maximum: 4
    executor_command: "scale-to {{ size }}"
    reevaluate_minutes: 3
    build_object_shelf_life: 90
    build_root_shelf_life: 7
  - name: imports
    isolation_method: sudo
stages:
  - name: build
    variables: {stage: build}
    variable_sets: [common]
  - name: deploy
    description: Ship it
pipelines:
  - name: release
    description: Build then deploy
    enabled: false
    variables: {channel: "#releases"}
    stages: [build, null, deploy]
    variable_sets: [common]
    owner_groups: [ops]
ssh_keys:
  - name: deploy
    description: Deploy key
    private_key_file: keys/deploy
    unlock_password_env: CARGO_PKG_NAME
    owner_groups: [ops]
    created_by: alice
service_logins:
  - name: git-reader
    description: Reads repositories
    username: reader
    password_file: tokens/git
organizations:
  - name: acme
    description: Our GitHub organization
    organization_type: github
    organization_identifier: acme-corp
    api_endpoint: https://github.example.com/api/v3
    import_enabled: false
    import_without_dotfile: true
    overwrite_project_name: false
    overwrite_project_script: false
    overwrite_configurations: false
    allow_pipeline_definition: false
    allow_worker_pool_assignment: false
    default_worker_pool: general
    force_rescan: true
    refresh_minutes: 60
    scm_login: git-reader
    worker_pool: imports
    auto_attach_ssh_keys: [deploy]
"##;

pub const PRIVATE_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-not-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n";
const GIT_PASSWORD: &str = "hunter2-git";
const WEB_TOKEN: &str = "s3cret-webhook-token";

/// A directory holding `name` with `text` and the secret files `FULL`
/// reads.
fn config_dir(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::create_dir_all(dir.path().join("tokens")).unwrap();
    std::fs::write(dir.path().join("keys/deploy"), PRIVATE_KEY).unwrap();
    std::fs::write(dir.path().join("tokens/git"), format!("{GIT_PASSWORD}\n")).unwrap();
    std::fs::write(dir.path().join("tokens/web"), format!("{WEB_TOKEN}\r\n")).unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn doc(path: &Path) -> Document {
    Document::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn apply(ops: &Ops, actor: &Actor, path: &Path) -> Result<FileReport, ApplyError> {
    apply_document(ops, actor, &doc(path))
}

fn apply_text(ops: &Ops, actor: &Actor, text: &str) -> Result<FileReport, ApplyError> {
    let (_dir, path) = config_dir("site.yaml", text);
    apply(ops, actor, &path)
}

fn export_all(ops: &Ops) -> String {
    export(ops, &Actor::System, &[]).unwrap()
}

fn outcomes(r: &FileReport) -> Vec<(String, Outcome)> {
    r.changes
        .iter()
        .map(|c| (c.object.to_string(), c.outcome))
        .collect()
}

/// Another fresh database of the same backend.
fn sibling(t: &TestDb) -> TestDb {
    match t.kind {
        BackendKind::Sqlite => sqlite(),
        BackendKind::Postgres => postgres().expect("PostgreSQL is configured"),
    }
}

fn apply_creates_every_kind_then_changes_nothing(t: &TestDb) {
    let ops = t.system_ops();
    let (_dir, path) = config_dir("site.yaml", FULL);
    let first = apply(&ops, &Actor::System, &path).unwrap();
    assert_eq!(first.changes.len(), 16);
    assert!(
        first.changes.iter().all(|c| c.outcome == Outcome::Created),
        "{first:?}"
    );
    // Apply order: groups, users, ..., projects, whatever the file's order.
    assert_eq!(first.changes[0].object.to_string(), "group 'developers'");
    assert_eq!(
        first.changes.last().unwrap().object.to_string(),
        "project 'website'"
    );

    let exported = export_all(&ops);
    let second = apply(&ops, &Actor::System, &path).unwrap();
    assert!(
        second
            .changes
            .iter()
            .all(|c| c.outcome == Outcome::Unchanged),
        "{:?}",
        outcomes(&second)
    );
    assert_eq!(
        second.summary().split(": ").nth(1),
        Some("no changes (16 objects unchanged)")
    );
    assert_eq!(export_all(&ops), exported, "a second apply wrote nothing");

    // Every field arrived.
    let a = &Actor::System;
    let id = ops.projects().id_by_name(a, "website").unwrap();
    let p = ops.projects().get(a, id).unwrap();
    assert_eq!(p.project.timeout, 15);
    assert!(!p.project.recursive && !p.project.pipeline_enabled);
    assert!(p.project.webhook_token.starts_with("[VESPENE-CLOAK]"));
    assert_eq!(
        ops.secrets().decloak(&p.project.webhook_token).unwrap(),
        WEB_TOKEN,
        "one line, newline dropped, stored encrypted"
    );
    assert_eq!(
        p.project.variables,
        r#"{"greeting":"hello","nested":{"list":[1,2.5,"three"]}}"#
    );
    assert!(p.project.has_launch_questions());
    assert_eq!(p.project.weekday_start_hours, "2, 14-16");
    let alice = ops.users().id_by_name(a, "alice").unwrap();
    assert_eq!(p.project.created_by, Some(alice));
    assert_eq!(p.owner_groups.len(), 1);
    let pipeline = ops.pipelines().id_by_name(a, "release").unwrap();
    let pl = ops.pipelines().get(a, pipeline).unwrap();
    assert_eq!(pl.stages.len(), 3);
    assert_eq!(pl.stages[1], None, "the gap is kept");
    let pool = ops.worker_pools().id_by_name(a, "general").unwrap();
    let wp = ops.worker_pools().get(a, pool).unwrap().worker_pool;
    assert_eq!(wp.permissions_hex, "0x770");
    assert_eq!((wp.multiplier, wp.running_weight), (1.5, 2.0));
    let users = ops.users();
    let gone = users.get(a, users.id_by_name(a, "gone").unwrap()).unwrap();
    assert!(!gone.user.is_active);
    assert_eq!(
        gone.user.password_hash, None,
        "users are made without passwords"
    );

    // Secrets: stored cloaked, readable with the key, never exported.
    let key_id = ops.ssh_keys().id_by_name(a, "deploy").unwrap();
    let stored = ops.ssh_keys().get(a, key_id).unwrap().ssh_key;
    assert!(stored.private_key.starts_with("[VESPENE-CLOAK]"));
    let secrets = ssh_keys::reveal(&mut t.conn(), ops.secrets(), key_id).unwrap();
    assert_eq!(
        secrets.private_key, PRIVATE_KEY,
        "verbatim, final newline kept"
    );
    assert_eq!(secrets.unlock_password, env!("CARGO_PKG_NAME"));
    for secret in [PRIVATE_KEY.trim(), GIT_PASSWORD, WEB_TOKEN] {
        assert!(!exported.contains(secret), "{secret} exported");
    }
    assert!(!exported.contains("_file:") && !exported.contains("_env:"));
}

fn export_applied_to_an_empty_database_exports_identically(t: &TestDb) {
    let ops = t.system_ops();
    let (_dir, path) = config_dir("site.yaml", FULL);
    apply(&ops, &Actor::System, &path).unwrap();
    let exported = export_all(&ops);
    assert!(exported.starts_with("# Vespene configuration"));
    // Kinds in apply order, objects by name.
    let keys: Vec<&str> = exported
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']))
        .collect();
    assert_eq!(
        keys,
        [
            "groups:",
            "users:",
            "variable_sets:",
            "snippets:",
            "worker_pools:",
            "stages:",
            "pipelines:",
            "ssh_keys:",
            "service_logins:",
            "organizations:",
            "projects:"
        ]
    );
    assert!(exported.find("username: alice") < exported.find("username: gone"));
    assert!(exported.contains("created_by: alice"));

    let empty = sibling(t);
    let other = empty.system_ops();
    assert_eq!(
        export_all(&other),
        vespene_core::config_as_code::EXPORT_HEADER
    );
    let (_dir2, copy) = config_dir("export.yaml", &exported);
    let report = apply(&other, &Actor::System, &copy).unwrap();
    assert_eq!(report.count(Outcome::Created), 16);
    assert_eq!(export_all(&other), exported, "byte for byte");
    // The export applied back onto its source changes nothing, and keeps
    // the secrets it does not carry.
    let back = apply(&ops, &Actor::System, &copy).unwrap();
    assert!(!back.changed_anything(), "{:?}", outcomes(&back));
    let key_id = ops.ssh_keys().id_by_name(&Actor::System, "deploy").unwrap();
    let secrets = ssh_keys::reveal(&mut t.conn(), ops.secrets(), key_id).unwrap();
    assert_eq!(secrets.private_key, PRIVATE_KEY);
    // Only the kinds asked for.
    let projects = export(&ops, &Actor::System, &[Kind::Projects, Kind::Stages]).unwrap();
    let kinds: Vec<&str> = projects
        .lines()
        .filter(|l| l.ends_with(':') && !l.starts_with([' ', '-']))
        .collect();
    assert_eq!(kinds, ["stages:", "projects:"]);
}

fn updates_change_only_what_differs(t: &TestDb) {
    let ops = t.system_ops();
    let (dir, path) = config_dir("site.yaml", FULL);
    apply(&ops, &Actor::System, &path).unwrap();
    let changed = FULL
        .replace("timeout: 15", "timeout: 25")
        .replace("    groups: [developers, ops]\n", "    groups: [ops]\n");
    std::fs::write(&path, changed).unwrap();
    let report = apply(&ops, &Actor::System, &path).unwrap();
    let touched: Vec<(String, Outcome)> = outcomes(&report)
        .into_iter()
        .filter(|(_, o)| *o != Outcome::Unchanged)
        .collect();
    assert_eq!(
        touched,
        [
            ("user 'alice'".to_string(), Outcome::Updated),
            ("project 'website'".to_string(), Outcome::Updated)
        ]
    );
    let a = &Actor::System;
    let id = ops.projects().id_by_name(a, "website").unwrap();
    assert_eq!(ops.projects().get(a, id).unwrap().project.timeout, 25);

    // A secret given anew with the same content changes nothing; another
    // content is stored; left out, it is kept.
    std::fs::write(dir.path().join("keys/deploy"), "another key\n").unwrap();
    let report = apply(&ops, a, &path).unwrap();
    assert_eq!(report.count(Outcome::Updated), 1, "{:?}", outcomes(&report));
    let key_id = ops.ssh_keys().id_by_name(a, "deploy").unwrap();
    let reveal = || ssh_keys::reveal(&mut t.conn(), ops.secrets(), key_id).unwrap();
    assert_eq!(reveal().private_key, "another key\n");
    let without = std::fs::read_to_string(&path)
        .unwrap()
        .replace("    private_key_file: keys/deploy\n", "");
    std::fs::write(&path, without).unwrap();
    assert!(!apply(&ops, a, &path).unwrap().changed_anything());
    assert_eq!(reveal().private_key, "another key\n");
    // The stored ciphertext did not change either (no re-encryption).
    let before = SshKeys::get(&mut t.conn(), key_id).unwrap();
    apply(&ops, a, &path).unwrap();
    assert_eq!(SshKeys::get(&mut t.conn(), key_id).unwrap(), before);
}

/// Good objects around one bad one: the error names the file, the object
/// and the field, and the database is exactly as before.
fn one_bad_object_stores_nothing(t: &TestDb) {
    let ops = t.system_ops();
    apply_text(
        &ops,
        &Actor::System,
        "worker_pools:\n  - name: general\n    isolation_method: sudo\n",
    )
    .unwrap();
    let before = export_all(&ops);
    let good = "\
groups:
  - name: qa
snippets:
  - name: hello
    text: hi
worker_pools:
  - name: general
    isolation_method: sudo
    sleep_seconds: 3
";
    let cases: [(&str, &str, Option<&str>, &str); 9] = [
        (
            "projects:\n  - name: web\n    worker_pool: nowhere\n",
            "project 'web'",
            Some("worker_pool"),
            "no worker pool named 'nowhere'",
        ),
        (
            "projects:\n  - name: web\n    worker_pool: general\n    variables: '{\"a\": '\n",
            "project 'web'",
            Some("variables"),
            "is not valid JSON",
        ),
        (
            "projects:\n  - name: web\n    worker_pool: general\n    variables: [1, 2]\n",
            "project 'web'",
            Some("variables"),
            "must be a JSON object",
        ),
        (
            "projects:\n  - name: web\n    worker_pool: general\n    timeout: 0\n",
            "project 'web'",
            Some("timeout"),
            "must be between 1 and",
        ),
        (
            "projects:\n  - name: web\n    worker_pool: general\n    launch_questions: [{type: radio, variable: x}]\n",
            "project 'web'",
            Some("launch_questions[0]"),
            "'choices' is required",
        ),
        (
            "pipelines:\n  - name: p\n    stages: [build]\n",
            "pipeline 'p'",
            Some("stages[0]"),
            "no stage named 'build'",
        ),
        (
            "ssh_keys:\n  - name: k\n    private_key: \"-----BEGIN\"\n",
            "ssh key 'k'",
            Some("private_key"),
            "private_key_file",
        ),
        (
            "service_logins:\n  - name: s\n    password_env: VESPENE_TEST_SURELY_UNSET_VARIABLE\n",
            "service login 's'",
            Some("password_env"),
            "VESPENE_TEST_SURELY_UNSET_VARIABLE is not set",
        ),
        (
            "users:\n  - username: bob\n    groups: [qa, nobody]\n",
            "user 'bob'",
            Some("groups"),
            "no group named 'nobody'",
        ),
    ];
    for (bad, object, field, reason) in cases {
        let text = format!("{good}{bad}");
        let e = apply_text(&ops, &Actor::System, &text).unwrap_err();
        assert!(e.file.ends_with("site.yaml"), "{e}");
        assert_eq!(
            e.object.as_ref().map(|o| o.to_string()).as_deref(),
            Some(object),
            "{e}"
        );
        assert_eq!(e.field.as_deref(), field, "{e}");
        assert!(e.reason.contains(reason), "{bad}: {e}");
        assert_eq!(export_all(&ops), before, "nothing of the file stored: {e}");
    }
}

fn authorized_as_the_actor(t: &TestDb) {
    let ops_sys = t.system_ops();
    apply_text(
        &ops_sys,
        &Actor::System,
        "groups:\n  - name: dev\nusers:\n  - username: pat\n    groups: [dev]\n  - username: sam\n\
         worker_pools:\n  - name: general\n    isolation_method: sudo\n",
    )
    .unwrap();
    // A policy that lets users do everything but change worker pools and
    // users (those are for superusers).
    let policy = crate::support::FakeAuthz {
        name: "test".into(),
        check: Box::new(|r| {
            use vespene_plugin_api::kinds::authorization::{Action, Decision, ObjectKind};
            let superuser = r.user.as_ref().is_some_and(|u| u.is_superuser);
            let writes = matches!(r.action, Action::Create | Action::Edit | Action::Delete);
            Ok(
                if superuser
                    || !writes
                    || !matches!(r.object_kind, ObjectKind::WorkerPool | ObjectKind::User)
                {
                    Decision::allow()
                } else {
                    Decision::deny("only superusers may change worker pools")
                },
            )
        }),
        filter: Box::new(|_| Ok(vespene_plugin_api::kinds::authorization::Filter::All)),
    };
    let ops = t.ops(
        crate::support::authz_of(vec![policy]),
        crate::support::test_secrets(),
    );
    let pat = ops_sys
        .actor_for_user(ops_sys.users().id_by_name(&Actor::System, "pat").unwrap())
        .unwrap();
    let before = export_all(&ops);
    let e = apply_text(
        &ops,
        &pat,
        "snippets:\n  - name: mine\nworker_pools:\n  - name: general\n    isolation_method: basic_container\n",
    )
    .unwrap_err();
    assert_eq!(e.object.unwrap().to_string(), "worker pool 'general'");
    assert!(e.reason.contains("permission denied"), "{}", e.reason);
    assert_eq!(export_all(&ops), before);

    // What pat may do is done, and pat owns what pat creates.
    let r = apply_text(&ops, &pat, "snippets:\n  - name: mine\n    text: x\n").unwrap();
    assert_eq!(r.count(Outcome::Created), 1);
    let id = ops.snippets().id_by_name(&pat, "mine").unwrap();
    assert_eq!(
        ops.snippets().get(&pat, id).unwrap().snippet.created_by,
        pat.user_id()
    );
    // An unchanged worker pool needs no edit permission.
    let r = apply_text(
        &ops,
        &pat,
        "worker_pools:\n  - name: general\n    isolation_method: sudo\n",
    )
    .unwrap();
    assert!(!r.changed_anything());
    // Giving an object to someone else is for superusers.
    let e = apply_text(
        &ops,
        &pat,
        "snippets:\n  - name: mine\n    text: x\n    created_by: sam\n",
    )
    .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("created_by"));
    assert!(e.reason.contains("only superusers"), "{e}");
    let root = user_actor(0, "root", true, &[]);
    let r = apply_text(
        &ops,
        &root,
        "snippets:\n  - name: mine\n    text: x\n    created_by: sam\n",
    )
    .unwrap();
    assert_eq!(r.count(Outcome::Updated), 1);
    assert_eq!(
        ops.snippets().get(&root, id).unwrap().snippet.created_by,
        Some(ops.users().id_by_name(&root, "sam").unwrap())
    );
    // Naming oneself as creator is no change of owner.
    let sam = ops_sys
        .actor_for_user(ops.users().id_by_name(&root, "sam").unwrap())
        .unwrap();
    let r = apply_text(
        &ops,
        &sam,
        "snippets:\n  - name: mine\n    text: x\n    created_by: sam\n",
    )
    .unwrap();
    assert!(!r.changed_anything());
}

both_backends!(
    apply_creates_every_kind_then_changes_nothing,
    export_applied_to_an_empty_database_exports_identically,
    updates_change_only_what_differs,
    one_bad_object_stores_nothing,
    authorized_as_the_actor,
);
