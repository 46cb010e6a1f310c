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
    let mut cmd = sb.command();
    cmd.args(["up", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(data);
    up_with(cmd)
}

/// Starts `cmd` (a `vespene up`) and returns it with its banner.
fn up_with(mut cmd: std::process::Command) -> (Child, String) {
    let mut child = cmd
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

fn have_namespaces() -> bool {
    let ok = vespene_e2e::harness::namespaces_work();
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "namespaces (vespene-namespace-launcher starting a sandbox) are needed in CI"
        );
        eprintln!("SKIPPED: needs namespaces (vespene-namespace-launcher starting a sandbox)");
    }
    ok
}

/// Polls `vespene build list --json` (run by `list`) until build 1 ends.
fn wait_first_build(mut list: impl FnMut() -> std::process::Output) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = list();
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let status = listed[0]["status"].as_str().unwrap_or("").to_string();
        if !["", "QUEUED", "RUNNING"].contains(&status.as_str()) {
            return listed[0].clone();
        }
        assert!(Instant::now() < deadline, "no end: {listed:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// As root with a private home (0700, like /root) and the data directory
/// in it (what `up` chose by default before), without sudo configured: the
/// first build succeeds, in namespaces, as the dedicated build user.
#[test]
fn as_root_with_a_private_home_the_first_build_succeeds_without_sudo() {
    if !nix::unistd::geteuid().is_root() || !have_namespaces() {
        return;
    }
    let sb = Sandbox::new();
    // Only the plugin path: no data_dir nor build_root settings.
    sb.write_settings(
        "00-sandbox.toml",
        &format!("plugin_path = [\"{}\"]\n", sb.plugin_dir().display()),
    );
    let home = sb.root().join("home");
    std::fs::create_dir(&home).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let data = home.join(".local/share/vespene");
    let mut cmd = sb.command();
    // Any free port: the `up` tests run side by side.
    cmd.env("HOME", &home)
        .args(["up", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data);
    let (child, banner) = up_with(cmd);
    assert!(banner.contains("isolation       namespaces"), "{banner}");
    assert!(
        banner.contains("as user nobody") || banner.contains("as user vespene_build"),
        "{banner}"
    );
    let with_data = |args: &[&str]| {
        let mut c = sb.command();
        c.env("HOME", &home)
            .env("VESPENE_DATA_DIR", &data)
            .args(args);
        c.output().unwrap()
    };
    let yaml = sb.root().join("p.yaml");
    std::fs::write(
        &yaml,
        "projects:\n  - name: first\n    worker_pool: default\n    script: |\n      #!/bin/sh\n      id -un\n      echo first build ok\n",
    )
    .unwrap();
    let applied = with_data(&["apply", yaml.to_str().unwrap()]);
    assert!(applied.status.success(), "{applied:?}");
    assert!(with_data(&["project", "start", "first"]).status.success());
    let b = wait_first_build(|| with_data(&["build", "list", "--json"]));
    let log = String::from_utf8(with_data(&["build", "log", "1"]).stdout).unwrap();
    assert_eq!(b["status"], "SUCCESS", "{log}");
    assert!(log.contains("| first build ok"), "{log}");
    assert!(!log.contains("| root\n"), "{log}");
    assert!(stop(child).success());
}

/// An ordinary user with a 0700 home and no settings naming a data
/// directory: `up` and a second terminal's commands find the same data in
/// `~/.local/share/vespene` without any export, and builds run in
/// namespaces without root or sudo.
#[test]
fn a_second_terminal_needs_no_exports() {
    if !nix::unistd::geteuid().is_root() || !have_namespaces() {
        return;
    }
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let sb = Sandbox::new();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(sb.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let etc = sb.root().join("empty-etc");
    std::fs::create_dir(&etc).unwrap();
    std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let home = sb.root().join("home");
    std::fs::create_dir(&home).unwrap();
    nix::unistd::chown(&home, Some(nobody.uid), Some(nobody.gid)).unwrap();
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
            .arg(vespene_bin())
            .arg("--settings-dir")
            .arg(&etc)
            .args(args)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(&home);
        c
    };
    let (child, banner) = up_with(as_nobody(&["up", "--bind", "127.0.0.1:0"]));
    let data = home.join(".local/share/vespene");
    assert!(
        banner.contains(&format!("data directory  {}", data.display())),
        "{banner}"
    );
    assert!(!banner.contains("export"), "{banner}");
    assert!(
        banner.contains("command line    vespene project start NAME"),
        "{banner}"
    );
    assert!(banner.contains("isolation       namespaces"), "{banner}");
    let yaml = home.join("p.yaml");
    std::fs::write(
        &yaml,
        "projects:\n  - name: mine\n    worker_pool: default\n    script: |\n      #!/bin/sh\n      echo from a second terminal\n",
    )
    .unwrap();
    nix::unistd::chown(&yaml, Some(nobody.uid), None).unwrap();
    let run = |args: &[&str]| as_nobody(args).output().unwrap();
    let applied = run(&["apply", yaml.to_str().unwrap()]);
    assert!(applied.status.success(), "{applied:?}");
    assert!(run(&["project", "start", "mine"]).status.success());
    let b = wait_first_build(|| run(&["build", "list", "--json"]));
    let log = String::from_utf8(run(&["build", "log", "1"]).stdout).unwrap();
    assert_eq!(b["status"], "SUCCESS", "{log}");
    assert!(log.contains("| from a second terminal"), "{log}");
    assert!(stop(child).success());
}
