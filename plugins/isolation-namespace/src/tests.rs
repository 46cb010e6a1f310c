//! Unit tests: the sandbox's command line as data, and real sandboxes
//! started the way the host starts them (the launcher built beside).

use super::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vespene_plugin_api::serde_json::{self, Value, json};
use vespene_plugin_api::testing::TestHost;

fn layout(root: &str) -> Layout {
    Layout {
        root: root.into(),
        program: format!("{root}/vespene_launch.sh"),
        network: true,
        ..Layout::default()
    }
}

/// The `--flag value` pairs of a launcher argv before `--`, in order.
fn options(argv: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < argv.len() && argv[i] != "--" {
        match argv[i].as_str() {
            "--hide-dir" | "--hide-file" | "--root" | "--drop" => {
                out.push(format!("{} {}", argv[i], argv[i + 1]));
                i += 2;
            }
            other => {
                out.push(other.to_string());
                i += 1;
            }
        }
    }
    out
}

#[test]
fn the_command_line_covers_what_the_build_must_not_see() {
    // (layout change, expected options of the launcher)
    let cases: Vec<(Layout, Vec<&str>)> = vec![
        (
            layout("/var/lib/vespene-builds/7"),
            vec!["--user-ns", "--root /var/lib/vespene-builds/7"],
        ),
        (
            Layout {
                hidden_dirs: vec![
                    "/var/lib/vespene".into(),
                    "/etc/vespene".into(),
                    "/etc/vespene/settings.d".into(),
                    "/tmp/x".into(),
                ],
                hidden_files: vec!["/etc/vespene/secrets.key".into(), "/srv/key".into()],
                ..layout("/var/lib/vespene-builds/7")
            },
            vec![
                "--user-ns",
                "--hide-dir /etc/vespene",
                "--hide-dir /var/lib/vespene",
                "--hide-file /srv/key",
                "--root /var/lib/vespene-builds/7",
            ],
        ),
    ];
    for (l, expected) in cases {
        let argv = sandbox_argv("/x/vespene-namespace-launcher", &l);
        assert_eq!(argv[0], "/x/vespene-namespace-launcher");
        assert_eq!(options(&argv), expected, "{l:?}");
        let tail = &argv[argv.iter().position(|a| a == "--").unwrap() + 1..];
        assert_eq!(tail, std::slice::from_ref(&l.program));
    }
}

#[test]
fn a_root_worker_drops_to_the_build_user_and_network_can_be_cut() {
    let l = Layout {
        drop_to: Some((65534, 65534)),
        network: false,
        ..layout("/b/1")
    };
    let argv = sandbox_argv("/usr/lib/vespene/vespene-namespace-launcher", &l);
    assert_eq!(
        options(&argv),
        ["--drop 65534:65534", "--no-network", "--root /b/1"]
    );
    assert_eq!(argv.last().unwrap(), "/b/1/vespene_launch.sh");
}

#[test]
fn hidden_paths_resolve_links_and_skip_what_is_missing() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    let key = t.path().join("key");
    std::fs::write(&key, "k").unwrap();
    let link = t.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let real = |p: &Path| std::fs::canonicalize(p).unwrap();
    let (dirs, files) = hidden_paths(&[
        link,
        key.clone(),
        t.path().join("missing"),
        "/".into(),
        "relative".into(),
        PathBuf::new(),
    ]);
    assert_eq!(dirs, [real(&dir)]);
    assert_eq!(files, [real(&key)]);
}

#[test]
fn parameters_are_checked_at_create() {
    let th = TestHost::unsupported();
    let make = |params: Value| {
        NamespaceIsolation::create(CreateContext {
            name: "namespace",
            params,
            host: th.host(),
        })
    };
    assert!(make(Value::Null).is_ok());
    assert!(make(json!({"network": false, "hide": ["/srv/secret"]})).is_ok());
    let err = make(json!({"hide": ["srv"]})).unwrap_err();
    assert!(
        err.message.contains("'srv' is not an absolute path"),
        "{err}"
    );
    let err = make(json!({"launcher": "bin/launcher"})).unwrap_err();
    assert!(err.message.contains("not an absolute path"), "{err}");
    let err = make(json!({"netwerk": false})).unwrap_err();
    assert!(err.message.contains("netwerk"), "{err}");
}

/// Whether the launcher can start a sandbox here; in CI its absence fails.
fn sandbox_works() -> bool {
    let th = TestHost::unsupported();
    let p = NamespaceIsolation::create(CreateContext {
        name: "namespace",
        params: Value::Null,
        host: th.host(),
    })
    .unwrap();
    match p.probe() {
        Ok(()) => true,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("namespace isolation cannot run in CI: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: {e}");
            false
        }
    }
}

/// A build root under a fresh base, as the engine makes it.
struct Root {
    _dir: tempfile::TempDir,
    base: PathBuf,
    root: PathBuf,
}

fn root_with(script: &str) -> Root {
    let dir = tempfile::Builder::new()
        .prefix("vespene-ns-")
        .tempdir()
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let base = dir.path().join("builds");
    let root = base.join("5");
    std::fs::create_dir_all(&root).unwrap();
    let launch = root.join("vespene_launch.sh");
    std::fs::write(&launch, script).unwrap();
    std::fs::set_permissions(&launch, std::fs::Permissions::from_mode(0o755)).unwrap();
    Root {
        _dir: dir,
        base,
        root,
    }
}

/// Runs the sandbox of `layout` as the host would: own process group.
fn spawn(layout: &Layout) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let argv = sandbox_argv(&find_launcher().unwrap().display().to_string(), layout);
    Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(&layout.root)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn dropped() -> Option<(u32, u32)> {
    worker_is_root().then_some((65534, 65534))
}

/// Runs the script of `r` in a sandbox (as `nobody` when root, the root
/// handed over first) to its end.
fn run_in(r: &Root, network: bool) -> std::process::Output {
    if let Some((u, g)) = dropped() {
        chown_tree(&r.root, u, g).unwrap();
    }
    let l = Layout {
        network,
        drop_to: dropped(),
        ..layout(&r.root.display().to_string())
    };
    spawn(&l).wait_with_output().unwrap()
}

#[test]
fn a_build_sees_its_root_and_nothing_private() {
    if !sandbox_works() {
        return;
    }
    let secret_dir = tempfile::tempdir().unwrap();
    let host_tmp = tempfile::NamedTempFile::new().unwrap();
    let key = secret_dir.path().join("secrets.key");
    std::fs::write(&key, "TOPSECRET").unwrap();
    let r = root_with(&format!(
        "#!/bin/sh\nid -u\ncat {key} || echo KEY-HIDDEN\nls {dir} | grep -q . && echo DIR-SHOWN\n\
         ls {base} | grep -v '^5$' && echo OTHERS-SHOWN\necho out > mine && echo ROOT-WRITABLE\n\
         touch /usr/x 2>/dev/null || echo SYSTEM-READ-ONLY\ntest -e {host_tmp} || echo TMP-PRIVATE\n\
         echo t > /tmp/t && echo TMP-WRITABLE\nhostname\ncat /proc/1/cmdline | tr '\\0' ' '; echo\n",
        key = key.display(),
        dir = secret_dir.path().display(),
        base = r_base_placeholder(),
        host_tmp = host_tmp.path().display(),
    ));
    // The other build's root, beside ours.
    std::fs::create_dir(r.base.join("4")).unwrap();
    let script = std::fs::read_to_string(r.root.join("vespene_launch.sh"))
        .unwrap()
        .replace("BASE", &r.base.display().to_string());
    std::fs::write(r.root.join("vespene_launch.sh"), script).unwrap();
    if let Some((u, g)) = dropped() {
        chown_tree(&r.root, u, g).unwrap();
    }
    let l = Layout {
        hidden_dirs: vec![secret_dir.path().into()],
        hidden_files: vec![key.clone()],
        drop_to: dropped(),
        ..layout(&r.root.display().to_string())
    };
    let out = spawn(&l).wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for want in [
        "KEY-HIDDEN",
        "ROOT-WRITABLE",
        "SYSTEM-READ-ONLY",
        "TMP-PRIVATE",
        "TMP-WRITABLE",
        "vespene-build",
    ] {
        assert!(text.contains(want), "{want} missing in:\n{text}");
    }
    for unwanted in ["TOPSECRET", "DIR-SHOWN", "OTHERS-SHOWN"] {
        assert!(!text.contains(unwanted), "{unwanted} in:\n{text}");
    }
    assert!(
        text.contains("vespene-namespace-launcher"),
        "pid 1 is the launcher's init:\n{text}"
    );
    if let Some((uid, _)) = dropped() {
        assert!(text.starts_with(&format!("{uid}\n")), "{text}");
    }
    assert_eq!(
        std::fs::read_to_string(r.root.join("mine")).unwrap(),
        "out\n"
    );
}

/// The script starts as under the other isolations: SIGPIPE at its default
/// action (the launcher's Rust start-up used to ignore it, and `execvp`
/// kept that, so `yes | head -1` in a build never ended by SIGPIPE), and no
/// mount of the sandbox propagates to or from the host's.
#[test]
fn the_script_starts_with_default_signals_and_private_mounts() {
    if !sandbox_works() {
        return;
    }
    let r = root_with(
        "#!/bin/sh\ngrep '^SigIgn:' /proc/self/status\n\
         grep -c ' shared:' /proc/self/mountinfo || true\n",
    );
    let out = run_in(&r, true);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    let mut lines = text.lines();
    let ignored = lines
        .next()
        .and_then(|l| l.strip_prefix("SigIgn:"))
        .map(|m| u64::from_str_radix(m.trim(), 16).unwrap())
        .unwrap_or_else(|| panic!("no SigIgn line in:\n{text}"));
    let sigpipe = 1u64 << (libc::SIGPIPE - 1);
    assert_eq!(
        ignored & sigpipe,
        0,
        "SIGPIPE ignored in the build:\n{text}"
    );
    assert_eq!(
        lines.next(),
        Some("0"),
        "shared mounts in the build:\n{text}"
    );
}

fn r_base_placeholder() -> &'static str {
    "BASE"
}

#[test]
fn without_network_only_loopback_is_left() {
    if !sandbox_works() {
        return;
    }
    let r = root_with("#!/bin/sh\ntail -n +3 /proc/net/dev | cut -d: -f1\n");
    let out = run_in(&r, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["lo"],
        "{text}"
    );
}

/// The pids of processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(format!("/proc/{pid}/cmdline"))
            && String::from_utf8_lossy(&cmd).contains(marker)
            && pid != std::process::id() as i32
        {
            found.push(pid);
        }
    }
    found
}

fn wait_until_gone(marker: &str) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = processes_with(marker);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Escapes that outlive a plain process-group kill: a new session, a
/// double fork, job control, a TERM-ignoring loop. `MARK` is replaced by a
/// unique word so the survivors can be found.
const ESCAPES: &str = "#!/bin/bash\n\
    setsid sleep 301 MARK &\n\
    ( ( sleep 302 MARK & ) & )\n\
    set -m\n\
    sleep 303 MARK &\n\
    bash -c \"trap '' TERM; sleep 304 MARK; sleep 305 MARK\" &\n\
    echo started\n";

fn marker() -> String {
    format!(
        "vespene-ns-mark-{}-{:?}",
        std::process::id(),
        Instant::now()
    )
    .replace([' ', '{', '}', ':', '.'], "")
}

#[test]
fn no_process_survives_the_end_of_the_script() {
    if !sandbox_works() {
        return;
    }
    let mark = marker();
    // `sleep N MARK` fails ("invalid time interval"), so each escape runs
    // `sleep` through a shell function that keeps the marker in argv.
    let script = ESCAPES.replace("sleep 3", "sh -c 'sleep 30; :' 3");
    let r = root_with(&script.replace("MARK", &mark));
    let out = run_in(&r, true);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("started"),
        "{out:?}"
    );
    assert_eq!(wait_until_gone(&mark), Vec::<i32>::new());
}

#[test]
fn no_process_survives_a_stop() {
    if !sandbox_works() {
        return;
    }
    for signal in [
        nix::sys::signal::Signal::SIGTERM,
        nix::sys::signal::Signal::SIGKILL,
    ] {
        let mark = marker();
        let script = ESCAPES.replace("sleep 3", "sh -c 'sleep 30; :' 3")
            + "trap '' TERM\nsh -c 'sleep 30; :' 306 MARK\n";
        let r = root_with(&script.replace("MARK", &mark));
        if let Some((u, g)) = dropped() {
            chown_tree(&r.root, u, g).unwrap();
        }
        let l = Layout {
            drop_to: dropped(),
            ..layout(&r.root.display().to_string())
        };
        let child = spawn(&l);
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_with(&mark).len() < 6 {
            assert!(Instant::now() < deadline, "the escapes never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        // What the host does on a stop or a timeout: signal the group.
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
        let _ = child.wait_with_output();
        assert_eq!(wait_until_gone(&mark), Vec::<i32>::new(), "{signal}");
    }
}

#[test]
fn the_host_runs_the_sandbox_with_the_projects_timeout() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<RunRequest>::new()));
    let s = seen.clone();
    let th = TestHost::new(move |op, args| match op {
        "run" => {
            s.lock().unwrap().push(serde_json::from_str(args).unwrap());
            Ok(serde_json::to_string(&RunOutcome {
                exit_code: Some(0),
                ..RunOutcome::default()
            })
            .unwrap())
        }
        "append" => Ok("{}".into()),
        other => Err(PluginError::unsupported(other)),
    });
    let p = NamespaceIsolation::create(CreateContext {
        name: "namespace",
        params: json!({"launcher": "/opt/launcher"}),
        host: th.host(),
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("7");
    std::fs::create_dir(&root).unwrap();
    let req = IsolationRequest {
        build_root: root.display().to_string(),
        script_path: root.join("vespene_launch.sh").display().to_string(),
        timeout_secs: Some(60),
        ..IsolationRequest::default()
    };
    assert!(p.execute(&req).unwrap().success());
    let runs = seen.lock().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].argv[0], "/opt/launcher");
    assert_eq!(runs[0].timeout_secs, Some(60));
    assert_eq!(runs[0].stream, Stream::Output);
    let bad = IsolationRequest {
        build_root: "relative".into(),
        ..req
    };
    assert!(p.begin(&bad).unwrap_err().message.contains("absolute"));
}
