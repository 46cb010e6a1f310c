//! What a build can reach: through sudo isolation it runs as an
//! unprivileged user that cannot read the settings or the secrets key; SSH
//! keys are per build and never reach another build.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::ops::{ProjectInput, SshKeyInput};
use vespene_e2e::engine::{EngineSandbox, backends, finish};

const WAIT: Duration = Duration::from_secs(60);

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The test needs root (to become `nobody` through sudo) and sudo; in CI
/// their absence is a failure, elsewhere a loud skip.
fn sudo_available() -> bool {
    let ok = nix::unistd::geteuid().is_root()
        && have("sudo")
        && nix::unistd::User::from_name("nobody")
            .ok()
            .flatten()
            .is_some();
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("sudo isolation tests need root, sudo and a 'nobody' user");
        }
        eprintln!("SKIPPED: sudo isolation tests need root, sudo and a 'nobody' user");
    }
    ok
}

#[test]
fn a_sudo_build_cannot_read_the_settings_or_the_secrets_key() {
    if !sudo_available() {
        return;
    }
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        // As a package installs it: the tree is traversable, the settings
        // directory is root's alone (0750), the key 0600.
        std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let etc = es.sb.settings_dir();
        std::fs::set_permissions(&etc, std::fs::Permissions::from_mode(0o750)).unwrap();
        let key = es.settings().secrets_key_file;
        vespene_core::secrets::generate_key_file(&key).unwrap();
        let app = es.app();
        let pool = es.pool_as(&app, "isolated", "nobody");
        let settings_file = etc.join("settings.d/10-engine.toml");
        let project = es.project(
            &app,
            "nosy",
            pool,
            &format!(
                "#!/bin/sh\nid -un\ncat {key} && echo LEAKED-KEY\ncat {settings} && echo LEAKED-SETTINGS\nls {etc} && echo LEAKED-DIR\necho done\n",
                key = key.display(),
                settings = settings_file.display(),
                etc = etc.display()
            ),
        );
        let worker = es.worker("isolated", &["--max-builds", "1"]);
        let id = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b = es.wait_build(&app, id, WAIT);
        finish(worker);
        let out = es.output(&app, id, OutputStream::Output);
        assert_eq!(b.status(), BuildStatus::Success, "{out}");
        assert!(out.contains("| nobody\n"), "{out}");
        assert!(out.contains("Permission denied"), "{out}");
        assert!(!out.contains("LEAKED"), "{out}");
        assert!(out.contains("| done\n"), "{out}");
        let m = es.output(&app, id, OutputStream::Messages);
        assert!(m.contains("running build as user: nobody"), "{m}");
    }
}

#[test]
fn ssh_keys_are_per_build_and_never_leak_to_the_next() {
    if !(have("ssh-keygen") && have("ssh-agent") && have("ssh-add")) {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "the SSH key test needs openssh-client"
        );
        eprintln!("SKIPPED: the SSH key test needs openssh-client");
        return;
    }
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        let key_path = es.sb.root().join("deploy_key");
        let made = std::process::Command::new("ssh-keygen")
            .args([
                "-q",
                "-t",
                "ed25519",
                "-N",
                "unlock me",
                "-C",
                "vespene-test-key",
                "-f",
            ])
            .arg(&key_path)
            .status()
            .unwrap();
        assert!(made.success());
        vespene_core::secrets::generate_key_file(&es.settings().secrets_key_file).unwrap();
        let app = es.app();
        let pool = es.pool(&app, "main");
        let key = app
            .ops
            .ssh_keys()
            .create(
                &Actor::System,
                &SshKeyInput {
                    name: "deploy".into(),
                    private_key: Some(std::fs::read_to_string(&key_path).unwrap()),
                    unlock_password: Some("unlock me".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        let script = "#!/bin/sh\necho \"sock=[$SSH_AUTH_SOCK]\"\nssh-add -l || echo NO-AGENT\n";
        let with_key = es.project_with(
            &app,
            ProjectInput {
                name: "with-key".into(),
                worker_pool_id: pool,
                ssh_keys: vec![key.ssh_key.id],
                script: script.into(),
                ..Default::default()
            },
        );
        let without = es.project(&app, "without-key", pool, script);
        let worker = es.worker("main", &["--max-builds", "2"]);
        let first = start_project(&app, &Actor::System, with_key, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b1 = es.wait_build(&app, first, WAIT);
        let second = start_project(&app, &Actor::System, without, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b2 = es.wait_build(&app, second, WAIT);
        finish(worker);
        assert_eq!(b2.status(), BuildStatus::Success);
        let out1 = es.output(&app, first, OutputStream::Output);
        assert_eq!(b1.status(), BuildStatus::Success, "{out1}");
        assert!(
            out1.contains("vespene-test-key"),
            "the build's agent holds the key: {out1}"
        );
        let sock = out1
            .lines()
            .find_map(|l| l.split("sock=[").nth(1))
            .and_then(|s| s.strip_suffix(']'))
            .unwrap()
            .to_string();
        assert!(!sock.is_empty());
        assert!(
            !std::path::Path::new(&sock).parent().unwrap().exists(),
            "the build's key directory is removed"
        );
        let out2 = es.output(&app, second, OutputStream::Output);
        assert!(out2.contains("sock=[]"), "{out2}");
        assert!(out2.contains("NO-AGENT"), "{out2}");
        assert!(!out2.contains("vespene-test-key"), "{out2}");
        // The private key is never in the build's output or messages.
        let secret = std::fs::read_to_string(&key_path).unwrap();
        let body = secret.lines().nth(1).unwrap();
        for stream in [OutputStream::Output, OutputStream::Messages] {
            assert!(!es.output(&app, first, stream).contains(body));
        }
    }
}

/// Stop reaches a build running as another user through sudo: its whole
/// process tree is gone within seconds.
#[test]
fn stopping_a_sudo_build_kills_its_process_tree() {
    if !sudo_available() {
        return;
    }
    let Some(es) = EngineSandbox::new(vespene_e2e::engine::Backend::Sqlite, "") else {
        return;
    };
    std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = es.app();
    let pool = es.pool_as(&app, "isolated", "nobody");
    let pids = es.sb.root().join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    std::fs::set_permissions(&pids, std::fs::Permissions::from_mode(0o777)).unwrap();
    let project = es.project(
        &app,
        "stubborn",
        pool,
        &format!(
            "#!/bin/sh\ntrap '' TERM\n(sleep 1000 & echo $! > {p}/child; wait) &\necho started\nwait\n",
            p = pids.display()
        ),
    );
    let worker = es.worker("isolated", &["--max-builds", "1"]);
    let id = start_project(&app, &Actor::System, project, &StartRequest::default())
        .unwrap()
        .build
        .id;
    let child = pids.join("child");
    let deadline = std::time::Instant::now() + WAIT;
    while !child.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the build did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = std::fs::read_to_string(&child).unwrap().trim().to_string();
    let t = std::time::Instant::now();
    vespene_core::engine::queue::stop_build(&app, &Actor::System, id).unwrap();
    let b = es.wait_build(&app, id, WAIT);
    finish(worker);
    assert_eq!(b.status(), BuildStatus::Aborted);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let gone = (0..100).any(|_| {
        let alive =
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
        if alive {
            std::thread::sleep(Duration::from_millis(50));
        }
        !alive
    });
    assert!(
        gone,
        "the build's grandchild (pid {pid}, user nobody) survived the stop"
    );
}
