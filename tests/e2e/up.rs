//! `vespene up`: the embedded default starts with one command, prints an
//! admin login, runs builds through its supervised worker, and stops
//! cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use vespene_core::app::{App, Migrations};
use vespene_core::authz::Actor;
use vespene_core::ops::ProjectInput;
use vespene_core::plugins::Scanner;
use vespene_core::settings::Settings;
use vespene_e2e::harness::{Sandbox, vespene_bin};

/// Starts `vespene up` and returns it with the banner it printed.
fn up(sb: &Sandbox, data: &std::path::Path) -> (Child, String) {
    let mut child = sb
        .command()
        .args(["up", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start vespene up");
    let mut banner = String::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    // Keep draining so the process never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, banner)
}

fn stop(mut child: Child) -> std::process::ExitStatus {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "vespene up did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn up_starts_runs_a_build_and_stops() {
    let sb = Sandbox::new();
    // `up` brings its own data directory; the sandbox's settings only
    // point the plugin path at the sandbox (and let builds run as root).
    sb.write_settings(
        "20-isolation.toml",
        "[plugins.isolation]\nsudo = [\"vespene.plugins.isolation.sudo\", { allow_root = true }]\n",
    );
    let data = sb.root().join("up-data");
    let (child, banner) = up(&sb, &data);
    assert!(banner.contains("is up."), "{banner}");
    assert!(
        banner.contains(&format!(
            "database        sqlite://{}",
            data.canonicalize().unwrap().join("vespene.db").display()
        )),
        "{banner}"
    );
    let password = banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("admin login     admin / "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no admin login in {banner}"))
        .to_string();
    assert_eq!(
        std::fs::read_to_string(data.join("admin-password"))
            .unwrap()
            .trim(),
        password
    );
    assert!(banner.contains("for pool 'default' (created)"), "{banner}");

    // A project in the default pool, started from the command line.
    let env = vec![("VESPENE_DATA_DIR".to_string(), data.display().to_string())];
    let settings = Settings::load_with_env(&sb.settings_dir(), env).unwrap();
    let app = App::start(
        settings,
        Scanner::new(vespene_bin(), vec!["__scan-plugins".into()]),
        Migrations::Require,
    )
    .unwrap();
    let pool = app
        .ops
        .worker_pools()
        .id_by_name(&Actor::System, "default")
        .unwrap();
    app.ops
        .projects()
        .create(
            &Actor::System,
            &ProjectInput {
                name: "hello".into(),
                worker_pool_id: pool,
                script: "#!/bin/sh\necho hello from up\n".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let mut start = sb.command();
    start
        .env("VESPENE_DATA_DIR", &data)
        .args(["project", "start", "hello"]);
    assert!(start.status().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let out = loop {
        let mut log = sb.command();
        log.env("VESPENE_DATA_DIR", &data)
            .args(["build", "list", "--json"]);
        let listed: serde_json::Value =
            serde_json::from_slice(&log.output().unwrap().stdout).unwrap();
        if listed[0]["status"] == "SUCCESS" {
            let mut log = sb.command();
            log.env("VESPENE_DATA_DIR", &data)
                .args(["build", "log", "1"]);
            break String::from_utf8(log.output().unwrap().stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "the build did not succeed: {listed:#}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(out.ends_with("| hello from up\n"), "{out}");
    let status = stop(child);
    assert!(status.success(), "{status:?}");

    // A second start keeps the same login and pool.
    let (child, banner) = up(&sb, &data);
    assert!(
        banner.contains("admin login     admin (password in"),
        "{banner}"
    );
    assert!(!banner.contains("(created)"), "{banner}");
    assert!(stop(child).success());
}
