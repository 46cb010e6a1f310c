//! Configuration as code through the real binary: `vespene apply` of a
//! file with every kind of object, `vespene export`, the export applied to
//! an empty database (SQLite, and PostgreSQL when configured) exporting
//! byte for byte the same, a second apply changing nothing, a bad object
//! among good ones storing nothing, inline secrets refused, and secrets
//! read from files and the environment stored encrypted.

use std::path::{Path, PathBuf};
use vespene_core::authz::Actor;
use vespene_core::db::ssh_keys;
use vespene_e2e::engine::{Backend, EngineSandbox, backends};
use vespene_e2e::harness::{Run, repo_root};

/// Every kind of object; the secrets come from `keys/deploy`,
/// `secrets/git-password` and the variable `DEPLOY_KEY_PASSPHRASE`.
const SITE: &str = r##"
groups:
  - name: developers
  - name: ops
users:
  - username: alice
    first_name: Alice
    email: alice@example.com
    groups: [developers]
  - username: olga
    is_superuser: true
    groups: [ops]
variable_sets:
  - name: common
    description: Everywhere
    variables: {region: eu-west, replicas: 3, flags: {fast: true}}
    owner_groups: [ops]
snippets:
  - name: notify
    text: "echo '{{ message }}'"
worker_pools:
  - name: general
    variables: {arch: x86_64}
    variable_sets: [common]
    isolation_method: sudo
    sudo_user: vespene_build
    permissions_hex: "0x770"
    autoscaling_enabled: true
    planner: stock
    executor: shell
    multiplier: 1.5
    executor_command: "scale {{ size }}"
  - name: imports
    isolation_method: sudo
stages:
  - name: build
  - name: deploy
    variables: {target: production}
pipelines:
  - name: release
    stages: [build, deploy]
    owner_groups: [ops]
    created_by: olga
ssh_keys:
  - name: deploy
    private_key_file: keys/deploy
    unlock_password_env: DEPLOY_KEY_PASSPHRASE
    owner_groups: [ops]
service_logins:
  - name: git-reader
    username: reader
    password_file: secrets/git-password
organizations:
  - name: acme
    organization_identifier: acme-corp
    default_worker_pool: general
    worker_pool: imports
    scm_login: git-reader
    auto_attach_ssh_keys: [deploy]
projects:
  - name: website
    description: The public site
    worker_pool: general
    pipeline: release
    stage: deploy
    repo_url: https://git.example.com/website.git
    scm_type: git
    scm_login: git-reader
    ssh_keys: [deploy]
    script: |
      #!/bin/bash
      echo "deploying to {{ target }}"
    timeout: 30
    variables: {color: blue}
    variable_sets: [common]
    launch_questions: [{variable: why, prompt: Why deploy?}]
    owner_groups: [developers]
    launch_groups: [ops]
    schedule_enabled: true
    saturday: true
    weekend_start_hours: "3"
    created_by: alice
"##;

const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nZmFrZS1rZXktbWF0ZXJpYWwtZm9yLXRoZS10ZXN0\n-----END OPENSSH PRIVATE KEY-----\n";
const PASSPHRASE: &str = "passphrase-in-the-environment";
const GIT_PASSWORD: &str = "git-password-in-a-file";

/// A directory with `site.yaml` (`text`) and the secret files it reads.
fn config(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("keys")).unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("keys/deploy"), KEY).unwrap();
    std::fs::write(
        dir.path().join("secrets/git-password"),
        format!("{GIT_PASSWORD}\n"),
    )
    .unwrap();
    let path = dir.path().join("site.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A migrated sandbox with a secrets key.
fn sandbox(backend: Backend) -> Option<EngineSandbox> {
    let es = EngineSandbox::new(backend, "")?;
    es.vespene(&["secrets", "generate"]).ok();
    Some(es)
}

fn apply(es: &EngineSandbox, files: &[&Path]) -> Run {
    let mut cmd = es.sb.command();
    cmd.arg("apply").args(files);
    cmd.env("DEPLOY_KEY_PASSPHRASE", PASSPHRASE);
    let out = cmd.output().expect("run vespene apply");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn export(es: &EngineSandbox) -> String {
    es.vespene(&["export"]).ok().to_string()
}

/// Exit status 1 and one line on stderr, containing every `part`.
fn refused(run: &Run, parts: &[&str]) {
    assert_eq!(run.code, Some(1), "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {run:#?}");
    for part in parts {
        assert!(lines[0].contains(part), "{part}: {}", lines[0]);
    }
}

#[test]
fn export_applied_to_an_empty_database_exports_byte_for_byte_the_same() {
    let es = sandbox(Backend::Sqlite).unwrap();
    let (_dir, site) = config(SITE);
    let run = apply(&es, &[&site]);
    let out = run.ok();
    assert!(out.contains("created project 'website'\n"), "{out}");
    assert!(
        out.ends_with(&format!(
            "{}: 15 created, 0 updated, 0 unchanged\n",
            site.display()
        )),
        "{out}"
    );
    let first = export(&es);
    assert!(first.contains("name: website") && first.contains("created_by: alice"));
    // --output writes the same text.
    let file = es.sb.root().join("export.yaml");
    es.vespene(&["export", "--output", file.to_str().unwrap()])
        .ok();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), first);

    // Applied twice: nothing changes, and it says so.
    let again = apply(&es, &[&site]);
    assert_eq!(
        again.ok(),
        format!("{}: no changes (15 objects unchanged)\n", site.display())
    );
    assert_eq!(export(&es), first);

    // Into empty databases, on every backend: the same export.
    for backend in backends() {
        let empty = sandbox(backend).unwrap();
        assert_eq!(export(&empty), vespene_core::config_as_code::EXPORT_HEADER);
        let run = apply(&empty, &[&file]);
        assert!(run.ok().contains("15 created"), "{backend:?}: {run:#?}");
        assert_eq!(export(&empty), first, "{backend:?}");
        // The export carries no secret: the keys exist, empty.
        let app = empty.app();
        let id = app
            .ops
            .ssh_keys()
            .id_by_name(&Actor::System, "deploy")
            .unwrap();
        let secrets = ssh_keys::reveal(&mut app.db.conn().unwrap(), app.ops.secrets(), id).unwrap();
        assert_eq!(secrets.private_key, "");
    }

    // Kinds can be picked.
    let only = es.vespene(&["export", "--kind", "stage", "--kind", "worker-pools"]);
    let kinds: Vec<&str> = only
        .ok()
        .lines()
        .filter(|l| l.ends_with(':') && !l.starts_with([' ', '-', '#']))
        .collect();
    assert_eq!(kinds, ["worker_pools:", "stages:"]);
    refused(
        &es.vespene(&["export", "--kind", "builds"]),
        &["unknown kind 'builds'"],
    );
}

#[test]
fn a_bad_object_among_good_ones_stores_nothing_of_its_file() {
    let es = sandbox(Backend::Sqlite).unwrap();
    let (dir, site) = config(SITE);
    apply(&es, &[&site]).ok();
    let before = export(&es);

    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "stages:\n  - name: qa\nsnippets:\n  - name: notify\n    text: changed\nprojects:\n  - name: docs\n    worker_pool: general\n  - name: api\n    worker_pool: nowhere\n  - name: zzz\n    worker_pool: general\n",
    )
    .unwrap();
    refused(
        &apply(&es, &[&bad]),
        &[
            &bad.display().to_string(),
            "project 'api', field 'worker_pool': no worker pool named 'nowhere'",
            "nothing of this file was stored",
        ],
    );
    assert_eq!(export(&es), before, "nothing of bad.yaml stored");

    // Invalid JSON in a variables field, an unknown field, a type error.
    for (text, parts) in [
        (
            "projects:\n  - name: web2\n    worker_pool: general\n    variables: '{\"x\": }'\n",
            vec!["project 'web2', field 'variables': is not valid JSON"],
        ),
        (
            "worker_pools:\n  - name: general\n    isolation: sudo\n",
            vec!["worker pool 'general', field 'isolation': unknown field `isolation`"],
        ),
        (
            "projects:\n  - name: web3\n    worker_pool: general\n    timeout: an hour\n",
            vec!["project 'web3', field 'timeout': invalid type", "line 4"],
        ),
        (
            "groups:\n  - name: a\n  - name: a\n",
            vec!["group 'a', field 'name': is defined twice in this file"],
        ),
    ] {
        std::fs::write(&bad, text).unwrap();
        refused(&apply(&es, &[&bad]), &parts);
        assert_eq!(export(&es), before, "{text}");
    }

    // Files apply in order, each on its own: a good file before a bad one
    // is applied; a malformed file anywhere stops everything first.
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, "stages:\n  - name: qa\n").unwrap();
    std::fs::write(&bad, "projects:\n  - name: api\n    worker_pool: nowhere\n").unwrap();
    let run = apply(&es, &[&good, &bad]);
    assert!(
        run.stdout
            .contains(&format!("{}: 1 created", good.display())),
        "{run:#?}"
    );
    refused(&run, &["project 'api'", "nothing of this file was stored"]);
    let after = export(&es);
    assert!(after.contains("name: qa") && !after.contains("name: api"));
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "stages:\n  - name: release\n").unwrap();
    std::fs::write(&bad, "projects: [\n").unwrap();
    refused(
        &apply(&es, &[&other, &bad]),
        &["not valid YAML", "nothing was applied"],
    );
    assert_eq!(export(&es), after);

    // Acting as a user: checked like the web UI.
    es.vespene(&["user", "create", "pat"]).ok();
    std::fs::write(
        &other,
        "worker_pools:\n  - name: mine\n    isolation_method: sudo\n",
    )
    .unwrap();
    let mut cmd = es.sb.command();
    let out = cmd
        .args(["apply", "--as", "pat"])
        .arg(&other)
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    refused(
        &run,
        &[
            "worker pool 'mine'",
            "permission denied",
            "only superusers may create worker pools",
        ],
    );
    refused(
        &es.vespene(&["apply", "--as", "nobody", other.to_str().unwrap()]),
        &["user 'nobody' does not exist"],
    );
}

#[test]
fn inline_secrets_are_refused() {
    let es = sandbox(Backend::Sqlite).unwrap();
    let before = export(&es);
    for (text, parts) in [
        (
            "ssh_keys:\n  - name: k\n    private_key: |\n      -----BEGIN OPENSSH PRIVATE KEY-----\n",
            ["ssh key 'k', field 'private_key'", "private_key_file: PATH"],
        ),
        (
            "ssh_keys:\n  - name: k\n    unlock_password: hunter2\n",
            [
                "ssh key 'k', field 'unlock_password'",
                "unlock_password_env: NAME",
            ],
        ),
        (
            "service_logins:\n  - name: s\n    password: hunter2\n",
            [
                "service login 's', field 'password'",
                "never written in configuration files",
            ],
        ),
        (
            "users:\n  - username: u\n    password: hunter2\n",
            ["user 'u', field 'password'", "vespene user password"],
        ),
        (
            "service_logins:\n  - name: s\n    password_file: a\n    password_env: B\n",
            ["service login 's', field 'password'", "not both"],
        ),
    ] {
        let (_dir, path) = config(text);
        refused(&apply(&es, &[&path]), &parts);
        assert_eq!(export(&es), before);
    }
}

#[test]
fn secrets_from_files_and_the_environment_are_stored_encrypted() {
    let es = sandbox(Backend::Sqlite).unwrap();
    let (_dir, site) = config(SITE);
    apply(&es, &[&site]).ok();
    let app = es.app();
    let ops = &app.ops;
    let a = &Actor::System;
    let key = ops.ssh_keys().id_by_name(a, "deploy").unwrap();
    let stored = ops.ssh_keys().get(a, key).unwrap().ssh_key;
    assert!(stored.private_key.starts_with("[VESPENE-CLOAK][BASIC][V2]"));
    assert!(
        stored
            .unlock_password
            .starts_with("[VESPENE-CLOAK][BASIC][V2]")
    );
    let revealed = ssh_keys::reveal(&mut app.db.conn().unwrap(), ops.secrets(), key).unwrap();
    assert_eq!(revealed.private_key, KEY);
    assert_eq!(revealed.unlock_password, PASSPHRASE);
    let login = ops.service_logins().id_by_name(a, "git-reader").unwrap();
    let login = ops.service_logins().get(a, login).unwrap().service_login;
    assert_eq!(
        ops.secrets().decloak(&login.password).unwrap(),
        GIT_PASSWORD
    );
    drop(app);

    // Not one of them, nor a line of the key, is anywhere in the database
    // files. The WAL first: when the last connection closes it is copied
    // into the database file and removed.
    let mut read = 0;
    for name in ["vespene.db-wal", "vespene.db-shm", "vespene.db"] {
        let file = es.sb.data_dir().join(name);
        let bytes = match std::fs::read(&file) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "vespene.db" => continue,
            Err(e) => panic!("{}: {e}", file.display()),
        };
        read += 1;
        for secret in [PASSPHRASE, GIT_PASSWORD, KEY.lines().nth(1).unwrap()] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in plaintext in {}",
                file.display()
            );
        }
    }
    assert!(read >= 1);
    // An environment variable that is not set names the field.
    let mut cmd = es.sb.command();
    let out = cmd.arg("apply").arg(&site).output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    refused(
        &run,
        &[
            "ssh key 'deploy', field 'unlock_password_env'",
            "DEPLOY_KEY_PASSPHRASE is not set",
        ],
    );
}

/// The complete example of docs/data.md applies, and stays valid.
#[test]
fn the_documented_example_applies() {
    let doc = std::fs::read_to_string(repo_root().join("docs/data.md")).unwrap();
    let start = doc
        .find("```yaml\n# vespene.yaml")
        .expect("docs/data.md has the complete example");
    let body = &doc[start + "```yaml\n".len()..];
    let example = &body[..body.find("```").unwrap()];
    let es = sandbox(Backend::Sqlite).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/deploy_ed25519"), KEY).unwrap();
    std::fs::write(dir.path().join("secrets/github-token"), "ghp_example\n").unwrap();
    let path = dir.path().join("vespene.yaml");
    std::fs::write(&path, example).unwrap();
    let mut cmd = es.sb.command();
    let out = cmd
        .arg("apply")
        .arg(&path)
        .env("DEPLOY_KEY_PASSPHRASE", PASSPHRASE)
        .env("WEBHOOK_TOKEN", "example-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" 0 updated, 0 unchanged"), "{stdout}");
    let exported = export(&es);
    for kind in vespene_core::config_as_code::Kind::ALL {
        assert!(
            exported.contains(&format!("\n{}:\n", kind.key())),
            "the example has {kind}: {exported}"
        );
    }
}

/// 16.6: a secret found in plaintext in the database (stored before a
/// secrets plugin was configured, or written there by hand) is encrypted
/// the next time its object is applied or edited, on both backends. On
/// the main an apply of the same file said "unchanged" and an edit kept
/// the plaintext.
#[test]
fn a_plaintext_secret_is_encrypted_when_next_applied_or_edited() {
    use diesel::connection::SimpleConnection;
    use vespene_core::ops::{ServiceLoginInput, SshKeyInput};
    for backend in backends() {
        let Some(es) = sandbox(backend) else { continue };
        eprintln!("-- {backend:?}");
        let (_dir, site) = config(SITE);
        apply(&es, &[&site]).ok();
        let app = es.app();
        let ops = &app.ops;
        let a = &Actor::System;
        let plant = |password: &str, unlock: &str| {
            app.db
                .conn()
                .unwrap()
                .batch_execute(&format!(
                    "UPDATE service_logins SET password = '{password}'; \
                     UPDATE ssh_keys SET unlock_password = '{unlock}'"
                ))
                .unwrap();
        };
        let login = ops.service_logins().id_by_name(a, "git-reader").unwrap();
        let key = ops.ssh_keys().id_by_name(a, "deploy").unwrap();
        let stored = || {
            let l = ops.service_logins().get(a, login).unwrap().service_login;
            let k = ops.ssh_keys().get(a, key).unwrap().ssh_key;
            (l.password, k.unlock_password)
        };

        // Through apply: the file and the stored secrets are the same,
        // but the stored ones are plaintext.
        plant(GIT_PASSWORD, PASSPHRASE);
        assert_eq!(stored().0, GIT_PASSWORD);
        let run = apply(&es, &[&site]);
        assert!(run.ok().contains(" 2 updated,"), "{run:#?}");
        for (value, plain) in [(stored().0, GIT_PASSWORD), (stored().1, PASSPHRASE)] {
            assert!(value.starts_with("[VESPENE-CLOAK]"), "{backend:?}: {value}");
            assert_eq!(ops.secrets().decloak(&value).unwrap(), plain);
        }

        // Through the edit operations, which keep the secrets (`None`).
        plant("plain-pw", "plain-unlock");
        let detail = ops.service_logins().get(a, login).unwrap();
        let mut input = ServiceLoginInput::from(&detail);
        input.password = None;
        ops.service_logins().update(a, login, &input).unwrap();
        let detail = ops.ssh_keys().get(a, key).unwrap();
        let mut input = SshKeyInput::from(&detail);
        input.private_key = None;
        input.unlock_password = None;
        ops.ssh_keys().update(a, key, &input).unwrap();
        for (value, plain) in [(stored().0, "plain-pw"), (stored().1, "plain-unlock")] {
            assert!(value.starts_with("[VESPENE-CLOAK]"), "{backend:?}: {value}");
            assert_eq!(ops.secrets().decloak(&value).unwrap(), plain);
        }
    }
}

/// 9.6: a document nested 100 000 deep is refused at once with the line
/// and the limit; on the main `vespene apply` parsed it for minutes.
#[test]
fn deeply_nested_yaml_is_refused_quickly() {
    let es = sandbox(Backend::Sqlite).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in [
        ("flow.yaml", format!("groups: {}\n", "[".repeat(100_000))),
        (
            "closed.yaml",
            format!("groups: {}{}\n", "[".repeat(100_000), "]".repeat(100_000)),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut child = es
            .sb
            .command()
            .arg("apply")
            .arg(&path)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // A hang detector, not a timing: the main never finished.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > deadline {
                child.kill().unwrap();
                panic!("{name}: still parsing after 60 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains("line 1: nested more than 64 levels deep"),
            "{name}: {stderr}"
        );
        assert!(stderr.len() < 500, "{name}: {stderr}");
    }
}
