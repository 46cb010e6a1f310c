//! Secrets at rest: cloaked in the database, redacted in Debug, readable
//! through the manager; the manager's rules; the real secrets-basic plugin
//! when it has been built.

use crate::support::{TestCipher, TestDb, both_backends, test_secrets};
use diesel::prelude::*;
use std::sync::Arc;
use vespene_core::db::ssh_keys::reveal;
use vespene_core::ops::*;
use vespene_core::secrets::{Secrets, SecretsBackend, SecretsError};

const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-SECRET-KEY-MATERIAL\n-----END OPENSSH PRIVATE KEY-----\n";
const UNLOCK: &str = "unlock-passphrase-4711";
const PASSWORD: &str = "hunter2-service-password";

/// Every byte the SQLite database holds (main file and WAL).
fn sqlite_bytes(t: &TestDb) -> Vec<u8> {
    let path = t.sqlite_path.as_ref().unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let wal = path.with_extension("db-wal");
    if let Ok(w) = std::fs::read(wal) {
        bytes.extend(w);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn stored_secrets(t: &TestDb) -> Vec<String> {
    use vespene_core::db::schema::{service_logins as sl, ssh_keys as sk};
    let mut conn = t.conn();
    let mut v: Vec<String> = sk::table.select(sk::private_key).load(&mut *conn).unwrap();
    v.extend(
        sk::table
            .select(sk::unlock_password)
            .load::<String>(&mut *conn)
            .unwrap(),
    );
    v.extend(
        sl::table
            .select(sl::password)
            .load::<String>(&mut *conn)
            .unwrap(),
    );
    v
}

fn secrets_are_cloaked_at_rest(t: &TestDb) {
    let ops = t.ops(vespene_core::authz::Authz::none(), test_secrets());
    let a = &Actor::System;
    let key = ops
        .ssh_keys()
        .create(
            a,
            &SshKeyInput {
                name: "deploy".into(),
                private_key: Some(KEY.into()),
                unlock_password: Some(UNLOCK.into()),
                ..Default::default()
            },
        )
        .unwrap();
    let login = ops
        .service_logins()
        .create(
            a,
            &ServiceLoginInput {
                name: "gh".into(),
                username: "bot".into(),
                password: Some(PASSWORD.into()),
                ..Default::default()
            },
        )
        .unwrap();

    for stored in stored_secrets(t) {
        assert!(stored.starts_with("[VESPENE-CLOAK][TEST]"), "{stored}");
        for secret in [KEY, UNLOCK, PASSWORD] {
            assert!(!stored.contains(secret));
        }
    }
    if t.sqlite_path.is_some() {
        let bytes = sqlite_bytes(t);
        assert!(
            contains(&bytes, "deploy"),
            "the file is readable (sanity check)"
        );
        for secret in ["SECRET-KEY-MATERIAL", UNLOCK, PASSWORD] {
            assert!(
                !contains(&bytes, secret),
                "{secret} found in the SQLite file"
            );
        }
    }

    let debug = format!(
        "{key:?} {login:?} {:?} {:?}",
        ops.ssh_keys()
            .list(a, &NameFilter::default(), PageRequest::default())
            .unwrap(),
        SshKeyInput {
            private_key: Some(KEY.into()),
            unlock_password: Some(UNLOCK.into()),
            ..Default::default()
        }
    );
    let debug = format!(
        "{debug} {:?} {:?}",
        ServiceLoginInput {
            password: Some(PASSWORD.into()),
            ..Default::default()
        },
        ops.ssh_keys().reveal(a, key.ssh_key.id).unwrap()
    );
    for secret in ["SECRET-KEY-MATERIAL", UNLOCK, PASSWORD, "[VESPENE-CLOAK]"] {
        assert!(!debug.contains(secret), "{secret} in Debug output: {debug}");
    }

    let revealed = ops.ssh_keys().reveal(a, key.ssh_key.id).unwrap();
    assert_eq!(
        (
            revealed.private_key.as_str(),
            revealed.unlock_password.as_str()
        ),
        (KEY, UNLOCK)
    );
    let pw = vespene_core::db::service_logins::reveal_password(
        &mut t.conn(),
        ops.secrets(),
        login.service_login.id,
    )
    .unwrap();
    assert_eq!(pw, PASSWORD);

    // An update without secrets keeps them; with one replaces it.
    let mut input = SshKeyInput::from(&key);
    input.description = "changed".into();
    ops.ssh_keys().update(a, key.ssh_key.id, &input).unwrap();
    assert_eq!(
        ops.ssh_keys()
            .reveal(a, key.ssh_key.id)
            .unwrap()
            .private_key,
        KEY
    );
    input.unlock_password = Some(String::new());
    ops.ssh_keys().update(a, key.ssh_key.id, &input).unwrap();
    let now = ops.ssh_keys().reveal(a, key.ssh_key.id).unwrap();
    assert_eq!(
        (now.private_key.as_str(), now.unlock_password.as_str()),
        (KEY, "")
    );
}

fn manager_rules(t: &TestDb) {
    let first = Arc::new(TestCipher::new("FIRST"));
    let second = Arc::new(TestCipher::new("SECOND"));
    let secrets = Secrets::new(vec![first.clone(), second.clone()]);
    let c = secrets.cloak("p").unwrap();
    assert!(
        c.starts_with("[VESPENE-CLOAK][FIRST]"),
        "the first plugin cloaks"
    );
    assert_eq!(secrets.cloak(&c).unwrap(), c, "no double encryption");
    assert_eq!(secrets.cloak("").unwrap(), "", "empty stays empty");
    let by_second = second.cloak("q").unwrap();
    assert_eq!(
        secrets.decloak(&by_second).unwrap(),
        "q",
        "any plugin that recognizes decloaks"
    );
    assert_eq!(
        secrets.decloak("legacy plaintext").unwrap(),
        "legacy plaintext"
    );
    let unknown = secrets.decloak("[VESPENE-CLOAK][OTHER]abcd").unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "no secrets plugin recognizes this value"
    );

    // With no plugin: empty and plaintext-legacy values work, a secret cannot be stored.
    let none = Secrets::none();
    assert_eq!(none.cloak("").unwrap(), "");
    assert_eq!(none.decloak("plain").unwrap(), "plain");
    assert!(matches!(none.cloak("x"), Err(SecretsError::NoPlugin)));
    let ops = t.ops(vespene_core::authz::Authz::none(), none);
    let err = ops
        .ssh_keys()
        .create(
            &Actor::System,
            &SshKeyInput {
                name: "k".into(),
                private_key: Some(KEY.into()),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, OpError::Secrets(SecretsError::NoPlugin)),
        "{err:?}"
    );
    assert!(!err.to_string().contains("SECRET"), "{err}");
    assert!(
        ops.ssh_keys()
            .list(
                &Actor::System,
                &NameFilter::default(),
                PageRequest::default()
            )
            .unwrap()
            .items
            .is_empty()
    );
    // A key without secrets needs no plugin.
    ops.ssh_keys()
        .create(
            &Actor::System,
            &SshKeyInput {
                name: "empty".into(),
                ..Default::default()
            },
        )
        .unwrap();

    // A plaintext value stored by an old install reads back verbatim.
    use vespene_core::db::schema::ssh_keys as sk;
    let id = ops.ssh_keys().id_by_name(&Actor::System, "empty").unwrap();
    diesel::update(sk::table.find(id))
        .set(sk::private_key.eq("old plaintext"))
        .execute(&mut *t.conn())
        .unwrap();
    assert_eq!(
        reveal(&mut t.conn(), &test_secrets(), id)
            .unwrap()
            .private_key,
        "old plaintext"
    );
}

/// The real plugin, when `target/<profile>/libvespene_plugin_secrets_basic.so`
/// exists (it is built by another crate of the workspace).
fn real_secrets_basic_plugin(t: &TestDb) {
    let Some(path) = built_plugin("libvespene_plugin_secrets_basic.so") else {
        eprintln!(
            "SKIPPED: libvespene_plugin_secrets_basic.so not built (cargo build -p vespene-plugin-secrets-basic)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secrets.key");
    vespene_core::secrets::generate_key_file(&key_file).unwrap();
    let library = vespene_core::plugins::Library::open(&path).unwrap();
    let instance = library
        .create(
            "basic",
            &serde_json::json!({ "key_file": key_file.display().to_string() }),
            Arc::new(vespene_core::plugins::StandardHost::default()),
        )
        .unwrap();
    let backend = vespene_core::secrets::InstanceSecrets {
        name: "basic".into(),
        instance,
    };
    let secrets = Secrets::new(vec![Arc::new(backend)]);
    let cloaked = secrets.cloak(PASSWORD).unwrap();
    assert!(cloaked.starts_with("[VESPENE-CLOAK][BASIC]"), "{cloaked}");
    assert!(!cloaked.contains(PASSWORD));
    assert_eq!(secrets.decloak(&cloaked).unwrap(), PASSWORD);

    let ops = t.ops(vespene_core::authz::Authz::none(), secrets);
    let key = ops
        .ssh_keys()
        .create(
            &Actor::System,
            &SshKeyInput {
                name: "real".into(),
                private_key: Some(KEY.into()),
                unlock_password: Some(UNLOCK.into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        ops.ssh_keys()
            .reveal(&Actor::System, key.ssh_key.id)
            .unwrap()
            .unlock_password,
        UNLOCK
    );
    for stored in stored_secrets(t) {
        assert!(stored.starts_with("[VESPENE-CLOAK][BASIC]"), "{stored}");
    }
    if t.sqlite_path.is_some() {
        let bytes = sqlite_bytes(t);
        for secret in ["SECRET-KEY-MATERIAL", UNLOCK] {
            assert!(!contains(&bytes, secret));
        }
    }
    // Another key cannot read them.
    let other_key = dir.path().join("other.key");
    vespene_core::secrets::generate_key_file(&other_key).unwrap();
    let other = library
        .create(
            "basic",
            &serde_json::json!({ "key_file": other_key.display().to_string() }),
            Arc::new(vespene_core::plugins::StandardHost::default()),
        )
        .unwrap();
    let other = Secrets::new(vec![Arc::new(vespene_core::secrets::InstanceSecrets {
        name: "other".into(),
        instance: other,
    })]);
    assert!(other.decloak(&cloaked).is_err());
}

/// The plugin in the target directory this test binary was built into.
pub fn built_plugin(file: &str) -> Option<std::path::PathBuf> {
    let exe = std::env::current_exe().ok()?;
    // target/<profile>/deps/it-xxxx → target/<profile>/
    let dir = exe.parent()?.parent()?;
    let path = dir.join(file);
    path.exists().then_some(path)
}

both_backends!(
    secrets_are_cloaked_at_rest,
    manager_rules,
    real_secrets_basic_plugin
);
