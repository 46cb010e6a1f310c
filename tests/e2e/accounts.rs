//! Accounts and secrets through the real binary: `vespene migrate`, `user
//! create` with and without a password, `user password`, personal API
//! tokens shown once, listed without their secret and revoked, and
//! `secrets generate`.

use std::os::unix::fs::PermissionsExt as _;
use vespene_core::accounts;
use vespene_core::db::Db;
use vespene_core::db::aggregate::Aggregate;
use vespene_core::db::users::Users;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::harness::{Run, Sandbox};

fn db(sb: &Sandbox) -> Db {
    Db::connect(&format!(
        "sqlite://{}",
        sb.data_dir().join("vespene.db").display()
    ))
    .expect("the sandbox database")
}

/// Exit status 1 and one line on stderr, containing `reason`.
fn refused(run: &Run, reason: &str) {
    assert_eq!(run.code, Some(1), "{run:#?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {run:#?}");
    assert!(lines[0].starts_with("vespene: "), "{run:#?}");
    assert!(lines[0].contains(reason), "{reason}: {run:#?}");
}

fn migrated() -> Sandbox {
    let sb = Sandbox::new();
    sb.run(&["migrate"]).ok();
    sb
}

#[test]
fn migrate_applies_the_migrations_once() {
    let sb = Sandbox::new();
    // Nothing works on a database that needs migrating.
    refused(
        &sb.run(&["user", "create", "alice"]),
        "the database needs migrating: run `vespene migrate`",
    );
    let first = sb.run(&["migrate"]);
    let out = first.ok();
    assert!(out.contains("applied migration 2026"), "{out}");
    // Every migration the binary carries, each named once.
    let applied = out.matches("applied migration ").count();
    assert!(applied >= 1, "{out}");
    assert!(
        out.contains(&format!("up to date ({applied} migration")),
        "{out}"
    );
    let db_file = sb.data_dir().join("vespene.db");
    assert!(
        out.contains(&format!("sqlite://{}", db_file.display())),
        "{out}"
    );
    let second = sb.run(&["migrate"]);
    assert!(second.ok().ends_with("already up to date\n"), "{second:#?}");
    assert!(!db(&sb).has_pending_migrations().unwrap());
    // A database that cannot be opened is a one-line error.
    sb.write_settings("90-db.toml", "[database]\nurl = \"mysql://nope\"\n");
    refused(&sb.run(&["migrate"]), "is not a database URL");
}

#[test]
fn migrate_and_users_on_postgresql() {
    let Some(es) = EngineSandbox::new(Backend::Postgres, "") else {
        return;
    };
    let run = es.vespene(&["migrate"]);
    let out = run.ok();
    assert!(out.ends_with("already up to date\n"), "{out}");
    assert!(
        out.contains("postgres://vespene_test:********@"),
        "password masked: {out}"
    );
    es.vespene(&["user", "create", "pg-admin", "--superuser"])
        .ok();
    let token = es.vespene(&["user", "token", "create", "t", "--user", "pg-admin"]);
    let token = token.ok().trim().to_string();
    let db = Db::connect(es.database_url()).unwrap();
    let (user, _) = accounts::lookup_token(&db, &token).unwrap().unwrap();
    assert_eq!(user.username, "pg-admin");
    assert!(user.is_superuser);
}

#[test]
fn users_with_and_without_a_password() {
    let sb = migrated();
    let run = sb.run_with_stdin(
        &[
            "user",
            "create",
            "alice",
            "--superuser",
            "--password-stdin",
            "--email",
            "alice@example.com",
        ],
        "correct horse battery\n",
    );
    assert_eq!(run.ok(), "created user 'alice' (id 1, superuser)\n");
    let db = db(&sb);
    let alice = accounts::authenticate(&db, "alice", "correct horse battery")
        .unwrap()
        .expect("alice logs in");
    assert!(alice.is_superuser);
    assert!(
        accounts::authenticate(&db, "alice", "correct horse")
            .unwrap()
            .is_none()
    );
    let stored = Users::find_by_name(&mut db.conn().unwrap(), "alice")
        .unwrap()
        .unwrap();
    assert_eq!(stored.email, "alice@example.com");
    assert!(stored.password_hash.unwrap().starts_with("$argon2id$"));

    // Without a password: an account that cannot log in yet.
    let run = sb.run(&["user", "create", "bob"]);
    let out = run.ok();
    assert!(out.starts_with("created user 'bob' (id 2)\n"), "{out}");
    assert!(out.contains("cannot log in until one is set"), "{out}");
    let bob = Users::find_by_name(&mut db.conn().unwrap(), "bob")
        .unwrap()
        .unwrap();
    assert_eq!(bob.password_hash, None);
    assert!(!bob.is_superuser);
    sb.run_with_stdin(&["user", "password", "bob"], "s3cret\r\n")
        .ok();
    assert!(
        accounts::authenticate(&db, "bob", "s3cret")
            .unwrap()
            .is_some()
    );

    // Bad input: one line each, nothing changed.
    refused(
        &sb.run(&["user", "create", "alice"]),
        "a user named 'alice' already exists",
    );
    refused(
        &sb.run_with_stdin(&["user", "create", "carol", "--password-stdin"], "\n"),
        "no password on standard input",
    );
    refused(
        &sb.run_with_stdin(&["user", "create", "carol", "--password-stdin"], ""),
        "no password on standard input",
    );
    refused(
        &sb.run(&["user", "create", "two words"]),
        "username: must not contain spaces",
    );
    refused(
        &sb.run_with_stdin(&["user", "password", "nobody"], "x\n"),
        "user 'nobody' does not exist",
    );
    assert!(
        Users::find_by_name(&mut db.conn().unwrap(), "carol")
            .unwrap()
            .is_none()
    );
}

#[test]
fn tokens_are_shown_once_listed_without_their_secret_and_revoked() {
    let sb = migrated();
    sb.run(&["user", "create", "robot"]).ok();
    let run = sb.run(&["user", "token", "create", "ci runner", "--user", "robot"]);
    let token = run.ok().trim().to_string();
    assert!(token.starts_with("vsp_") && token.len() == 47, "{token}");
    assert_eq!(run.stdout.lines().count(), 1, "only the token on stdout");
    assert!(run.stderr.contains("cannot be shown again"), "{run:#?}");
    let db = db(&sb);
    let (user, row) = accounts::lookup_token(&db, &token)
        .unwrap()
        .expect("the token works");
    assert_eq!(user.username, "robot");

    let list = sb.run(&["user", "token", "list", "--user", "robot", "--json"]);
    let json = list.json();
    assert_eq!(json.as_array().unwrap().len(), 1);
    assert_eq!(json[0]["id"], row.id);
    assert_eq!(json[0]["name"], "ci runner");
    assert_eq!(json[0]["prefix"], &token[..12]);
    assert!(!list.stdout.contains(&token));
    let table = sb.run(&["user", "token", "list", "--user", "robot"]);
    assert!(table.ok().contains("ci runner"), "{table:#?}");
    assert!(!table.stdout.contains(&token));

    let id = row.id.to_string();
    sb.run(&["user", "token", "revoke", &id, "--user", "robot"])
        .ok();
    assert!(accounts::lookup_token(&db, &token).unwrap().is_none());
    refused(
        &sb.run(&["user", "token", "revoke", &id, "--user", "robot"]),
        &format!("user 'robot' has no token {id}"),
    );
    assert!(
        sb.run(&["user", "token", "list", "--user", "robot"])
            .ok()
            .contains("has no tokens")
    );
    refused(
        &sb.run(&["user", "token", "create", "x", "--user", "nobody"]),
        "user 'nobody' does not exist",
    );
    refused(
        &sb.run(&["user", "token", "create", " ", "--user", "robot"]),
        "name: is required",
    );
}

#[test]
fn secrets_generate_writes_a_private_key_file_and_never_overwrites_it() {
    let sb = Sandbox::new();
    let path = sb.data_dir().join("secrets.key");
    let run = sb.run(&["secrets", "generate"]);
    assert_eq!(
        run.ok(),
        format!(
            "wrote a new secrets key to {} (mode 0600)\n",
            path.display()
        )
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key = vespene_core::secrets::read_key_file(&path).unwrap();
    let text = std::fs::read(&path).unwrap();
    refused(
        &sb.run(&["secrets", "generate"]),
        "already exists; refusing to overwrite it",
    );
    assert_eq!(std::fs::read(&path).unwrap(), text, "the key is kept");
    assert_eq!(vespene_core::secrets::read_key_file(&path).unwrap(), key);

    // The key file follows the setting.
    let elsewhere = sb.root().join("keys/site.key");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    sb.write_settings(
        "50-key.toml",
        &format!("secrets_key_file = \"{}\"\n", elsewhere.display()),
    );
    assert!(
        sb.run(&["secrets", "generate"])
            .ok()
            .contains(&elsewhere.display().to_string())
    );
    assert_ne!(
        vespene_core::secrets::read_key_file(&elsewhere).unwrap(),
        key
    );
    // A directory that does not exist is a one-line error.
    sb.write_settings(
        "50-key.toml",
        &format!(
            "secrets_key_file = \"{}\"\n",
            sb.root().join("missing/dir/x.key").display()
        ),
    );
    refused(&sb.run(&["secrets", "generate"]), "cannot create");
}
