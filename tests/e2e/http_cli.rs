//! The command line as a client of a running `vespene server`, on SQLite
//! and PostgreSQL: `vespene login` stores a token (mode 0600); with
//! `--server`/`VESPENE_SERVER`, `project start|stop`, `build
//! list|show|log --follow|stop`, `apply` and `export` go through the REST
//! API as the token's user and print what they print on the database.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::harness::Run;
use vespene_e2e::http::Server;

/// `vespene ARGS` on the database (as the system).
fn local(es: &EngineSandbox, args: &[&str]) -> Run {
    es.vespene(args)
}

fn remote_cmd(es: &EngineSandbox, server: &Server, args: &[&str]) -> Command {
    let mut c = es.sb.command();
    c.env("XDG_CONFIG_HOME", es.sb.root().join("config"))
        .env("VESPENE_SERVER", &server.url)
        .args(args);
    c
}

/// `vespene ARGS` through the server, with the stored login.
fn remote(es: &EngineSandbox, server: &Server, args: &[&str]) -> Run {
    let out = remote_cmd(es, server, args).output().expect("run vespene");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn cli_through_the_server(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let app = es.app();
    // A superuser, so local (system) and remote output agree.
    vespene_core::accounts::create_user(&app.db, "alice", Some("alice-pw"), true).unwrap();
    let pool = es.pool(&app, "cli");
    es.project(
        &app,
        "hello",
        pool,
        "#!/bin/sh\nfor i in 1 2 3; do echo line $i; sleep 0.2; done\n",
    );
    es.project(&app, "sleepy", pool, "#!/bin/sh\nsleep 60\n");
    let server = Server::start(&es);

    // Login: a token stored with mode 0600, the password never stored.
    let mut login = remote_cmd(
        &es,
        &server,
        &["login", &server.url, "--user", "alice", "--password-stdin"],
    );
    let out = {
        use std::io::Write;
        let mut child = login
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"alice-pw\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(out.status.success(), "{out:?}");
    let stored = es.sb.root().join("config/vespene/login.json");
    let mode = std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&stored).unwrap();
    assert!(
        text.contains("vsp_") && !text.contains("alice-pw"),
        "{text}"
    );

    // A wrong token is refused with the server's reason.
    let mut bad = remote_cmd(&es, &server, &["build", "list"]);
    let out = bad.env("VESPENE_TOKEN", "vsp_wrong").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("token"),
        "{out:?}"
    );

    // Start, follow, list, show: as on the database.
    let r = remote(&es, &server, &["project", "start", "hello"]);
    assert_eq!(r.ok().trim(), "build 1 queued for project 'hello'");
    let mut worker = es.worker("cli", &[]);
    let r = remote(&es, &server, &["build", "log", "1", "--follow"]);
    assert_eq!(r.ok(), local(&es, &["build", "log", "1"]).ok());
    assert!(r.stdout.contains("line 3"), "{}", r.stdout);
    // The table's columns line up under their headings.
    let table = local(&es, &["build", "list"]).ok().to_string();
    let mut lines = table.lines();
    let heading = lines.next().unwrap_or_default();
    let row = lines.next().unwrap_or_default();
    assert_eq!(row.find("SUCCESS"), heading.find("STATUS"), "{table}");
    assert!(row.starts_with("      1  "), "{table}");
    for args in [
        &["build", "list"][..],
        &["build", "list", "--json"],
        &["build", "list", "--project", "hello", "--status", "success"],
        &["build", "show", "1"],
        &["build", "show", "1", "--json"],
        &["build", "log", "1", "--messages"],
    ] {
        assert_eq!(
            remote(&es, &server, args).ok(),
            local(&es, args).ok(),
            "{args:?}"
        );
    }

    // Stop a running build by project, then by build.
    let r = remote(&es, &server, &["project", "start", "sleepy"]);
    assert_eq!(r.ok().trim(), "build 2 queued for project 'sleepy'");
    std::thread::sleep(Duration::from_millis(500));
    let r = remote(&es, &server, &["project", "stop", "sleepy"]);
    assert!(
        r.ok().starts_with("build 2 of project 'sleepy': ABORT"),
        "{r:?}"
    );
    let b = es.wait_build(&app, 2, Duration::from_secs(30));
    assert_eq!(b.status().as_str(), "ABORTED");
    remote(&es, &server, &["project", "start", "sleepy"]).ok();
    let r = remote(&es, &server, &["build", "stop", "3"]);
    assert!(r.ok().starts_with("build 3: ABORT"), "{r:?}");
    let r = remote(&es, &server, &["build", "stop", "3"]);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("build 3"), "{r:?}");

    // apply and export.
    let file = es.sb.root().join("objects.yml");
    std::fs::write(&file, "snippets:\n  - name: greet\n    text: echo hi\n").unwrap();
    let r = remote(&es, &server, &["apply", file.to_str().unwrap()]);
    assert!(r.ok().contains("created snippet 'greet'"), "{r:?}");
    for args in [&["export"][..], &["export", "--kind", "snippets"]] {
        assert_eq!(
            remote(&es, &server, args).ok(),
            local(&es, args).ok(),
            "{args:?}"
        );
    }
    // Secret sources name the server's files: refused over the API.
    std::fs::write(
        &file,
        "ssh_keys:\n  - name: k\n    private_key_file: /etc/shadow\n",
    )
    .unwrap();
    let r = remote(&es, &server, &["apply", file.to_str().unwrap()]);
    assert_ne!(r.code, Some(0));
    assert!(r.stderr.contains("refused over the API"), "{r:?}");
    assert!(!local(&es, &["export"]).ok().contains("name: k"));
    let _ = worker.kill();
    let _ = worker.wait();
}

#[test]
fn cli_through_the_server_on_sqlite() {
    cli_through_the_server(Backend::Sqlite);
}

#[test]
fn cli_through_the_server_on_postgres() {
    cli_through_the_server(Backend::Postgres);
}
