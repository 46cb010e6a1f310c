//! Unit tests of the sudo isolation plugin, in-process, with a test host
//! that records what the plugin asks for (and, in some tests, really runs it).

use super::*;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use vespene_plugin_api::WorkerPoolInfo;
use vespene_plugin_api::host::AppendRequest;
use vespene_plugin_api::serde_json::{self, Value, json};
use vespene_plugin_api::testing::TestHost;

type Runner = dyn Fn(&RunRequest) -> Result<RunOutcome, PluginError> + Send + Sync;

/// What the plugin asked of the host.
#[derive(Debug, Default)]
struct Seen {
    runs: Vec<RunRequest>,
    messages: Vec<String>,
}

/// A test host answering `run` with `runner`, `append` by recording, and
/// `info` with `info` (unsupported when `None`).
fn host_with(
    runner: impl Fn(&RunRequest) -> Result<RunOutcome, PluginError> + Send + Sync + 'static,
    info: Option<HostInfo>,
) -> (TestHost, Arc<Mutex<Seen>>) {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let runner: Box<Runner> = Box::new(runner);
    let s = seen.clone();
    let th = TestHost::new(move |op, args| match op {
        "run" => {
            let req: RunRequest = serde_json::from_str(args).unwrap();
            s.lock().unwrap().runs.push(req.clone());
            Ok(serde_json::to_string(&runner(&req)?).unwrap())
        }
        "append" => {
            let req: AppendRequest = serde_json::from_str(args).unwrap();
            assert_eq!(req.stream, Stream::Messages);
            s.lock().unwrap().messages.push(req.text);
            Ok("{}".into())
        }
        "info" => match &info {
            Some(i) => Ok(serde_json::to_string(i).unwrap()),
            None => Err(PluginError::unsupported(op)),
        },
        other => Err(PluginError::unsupported(other)),
    });
    (th, seen)
}

fn exit(code: i32) -> RunOutcome {
    RunOutcome {
        exit_code: Some(code),
        ..RunOutcome::default()
    }
}

/// A host whose commands all "exit" with `code` without running.
fn recording_host(code: i32) -> (TestHost, Arc<Mutex<Seen>>) {
    host_with(move |_| Ok(exit(code)), None)
}

/// Really runs a request, the way the host would (minus streaming and
/// timeouts): cleaned environment, working directory, merged output.
fn run_for_real(req: &RunRequest) -> Result<RunOutcome, PluginError> {
    let (program, args) = match &req.shell {
        Some(line) => ("/bin/sh".to_string(), vec!["-c".to_string(), line.clone()]),
        None => (req.argv[0].clone(), req.argv[1..].to_vec()),
    };
    let mut cmd = Command::new(&program);
    cmd.args(&args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .envs(&req.env)
        .stdin(Stdio::null());
    if let Some(cwd) = &req.cwd {
        cmd.current_dir(cwd);
    }
    let out = cmd
        .output()
        .map_err(|e| PluginError::failed(format!("cannot run '{program}': {e}")))?;
    let mut tail = String::from_utf8_lossy(&out.stdout).into_owned();
    tail.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok(RunOutcome {
        exit_code: out.status.code(),
        signal: out.status.signal(),
        last_line: tail.lines().last().unwrap_or("").to_string(),
        tail,
        ..RunOutcome::default()
    })
}

fn plugin(th: &TestHost, params: Value) -> Result<SudoIsolation, PluginError> {
    SudoIsolation::create(CreateContext {
        name: "sudo",
        params,
        host: th.host(),
    })
}

fn request(root: &str, sudo_user: Option<&str>, permissions_hex: &str) -> IsolationRequest {
    IsolationRequest {
        worker_pool: WorkerPoolInfo {
            name: "general".into(),
            sudo_user: sudo_user.map(str::to_string),
            permissions_hex: permissions_hex.into(),
            ..WorkerPoolInfo::default()
        },
        build_root: root.into(),
        script_path: format!("{root}/vespene_launch.sh"),
        variables_path: format!("{root}/vespene.json"),
        timeout_secs: Some(3600),
        ..IsolationRequest::default()
    }
}

fn current_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .expect("the test's own user has a passwd entry")
        .name
}

fn running_as_root() -> bool {
    nix::unistd::geteuid().is_root()
}

#[test]
fn modes_parse_like_the_original_and_garbage_is_refused() {
    assert_eq!(parse_mode("0x777"), Ok(0o777));
    assert_eq!(parse_mode("0X755"), Ok(0o755));
    assert_eq!(parse_mode("777"), Ok(0o777));
    assert_eq!(parse_mode("0777"), Ok(0o777));
    assert_eq!(parse_mode("0o770"), Ok(0o770));
    assert_eq!(parse_mode(" 0x1777 "), Ok(0o1777));
    assert_eq!(parse_mode(""), Ok(0o777));
    assert_eq!(parse_mode("0"), Ok(0));
    for bad in [
        "0x",
        "0xzz",
        "0x1ff",
        "rwx",
        "8",
        "0x7777777",
        "-777",
        "7 7",
    ] {
        assert!(parse_mode(bad).is_err(), "{bad} was accepted");
    }
    assert!(parse_mode("0x1ff").unwrap_err().contains("'f'"));
    assert!(parse_mode("0o4777").unwrap_err().contains("setuid"));
    assert!(parse_mode("2770").unwrap_err().contains("setgid"));
}

#[test]
fn the_user_is_the_pools_or_the_default() {
    assert_eq!(choose_user(Some("builder"), "nobody"), "builder");
    assert_eq!(choose_user(Some(" builder "), "nobody"), "builder");
    assert_eq!(choose_user(Some("  "), "nobody"), "nobody");
    assert_eq!(choose_user(None, "nobody"), "nobody");
    assert_eq!(choose_user(None, "vespene_build"), "vespene_build");
    assert!(is_root("root", 1234));
    assert!(is_root("toor", 0));
    assert!(!is_root("nobody", 65534));
    assert_eq!(lookup_user("#0"), Ok(Some((0, 0))));
    assert_eq!(lookup_user("root"), Ok(Some((0, 0))));
    assert_eq!(lookup_user("no-such-user-vespene-test"), Ok(None));
    assert_eq!(lookup_user("#4242"), Ok(Some((4242, 4242))));
}

#[test]
fn begin_says_who_runs_the_build() {
    let (th, seen) = recording_host(0);
    let p = plugin(&th, Value::Null).unwrap();
    p.begin(&request("/tmp/b/1", None, "0x777")).unwrap();
    p.begin(&request("/tmp/b/1", Some(" "), "0x777")).unwrap();
    let with_default = plugin(&th, json!({"default_user": "root", "allow_root": true})).unwrap();
    with_default
        .begin(&request("/tmp/b/1", None, "0x777"))
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().messages,
        [
            "running build as user: nobody",
            "running build as user: nobody",
            "running build as user: root",
        ]
    );
    assert!(seen.lock().unwrap().runs.is_empty());
}

/// `uid:gid` of a user, as the plugin hands a build root over.
fn owner_of(user: &str) -> String {
    let u = nix::unistd::User::from_name(user).unwrap().unwrap();
    format!("{}:{}", u.uid, u.gid)
}

fn worker_owner() -> String {
    format!("{}:{}", nix::unistd::geteuid(), nix::unistd::getegid())
}

#[test]
fn execute_hands_the_root_over_then_runs_the_script_through_sudo() {
    let (th, seen) = recording_host(0);
    let p = plugin(&th, Value::Null).unwrap();
    let req = request("/tmp/b/7", Some("nobody"), "0x770");
    if !running_as_root() {
        let err = p.execute(&req).unwrap_err();
        assert!(
            err.message.contains("needs a worker running as root"),
            "{err}"
        );
        assert!(err.message.contains("namespace isolation"), "{err}");
        return;
    }
    let outcome = p.execute(&req).unwrap();
    assert!(outcome.success());
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.messages, ["----------\nBuilding..."]);
        assert_eq!(seen.runs.len(), 2);
        let chown = &seen.runs[0];
        assert_eq!(chown.argv, ["chown", "-R", &owner_of("nobody"), "/tmp/b/7"]);
        assert_eq!(chown.stream, Stream::Messages);
        assert!(chown.log_command);
        assert_eq!(chown.shell, None);
        let build = &seen.runs[1];
        assert_eq!(
            build.argv,
            [
                "sudo",
                "-n",
                "-u",
                "nobody",
                "--",
                "/tmp/b/7/vespene_launch.sh"
            ]
        );
        assert_eq!(build.cwd.as_deref(), Some("/tmp/b/7"));
        assert_eq!(build.timeout_secs, Some(3600));
        assert_eq!(build.stream, Stream::Output);
        assert!(!build.log_command);
    }
    // `end` gives a root that still exists back to the worker's user.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().display().to_string();
    p.end(&request(&root, Some("nobody"), "")).unwrap();
    assert_eq!(
        seen.lock().unwrap().runs.last().unwrap().argv,
        ["chown", "-R", &worker_owner(), &root]
    );
    let runs = seen.lock().unwrap().runs.len();
    p.end(&request("/nonexistent/b/7", Some("nobody"), ""))
        .unwrap();
    assert_eq!(seen.lock().unwrap().runs.len(), runs);
}

#[test]
fn a_failing_script_is_an_outcome_not_an_error() {
    let (th, _) = host_with(
        |req| Ok(exit(if req.argv[0] == "sudo" { 42 } else { 0 })),
        None,
    );
    let p = plugin(
        &th,
        json!({"sudo": "sudo", "use_sudo_when_same_user": true, "allow_root": true}),
    )
    .unwrap();
    let outcome = p
        .execute(&request("/tmp/b/2", Some(&current_user()), ""))
        .unwrap();
    assert_eq!(outcome.exit_code, Some(42));
    assert!(!outcome.success());
}

#[test]
fn a_failing_chown_stops_before_the_script() {
    if !running_as_root() {
        return;
    }
    let (th, seen) = host_with(
        |req| {
            Ok(RunOutcome {
                exit_code: Some(1),
                last_line: format!("{}: Operation not permitted", req.argv[0]),
                ..RunOutcome::default()
            })
        },
        None,
    );
    let p = plugin(&th, Value::Null).unwrap();
    let err = p.execute(&request("/tmp/b/3", None, "0x777")).unwrap_err();
    assert!(
        err.message
            .contains(&format!("chown -R {} /tmp/b/3", owner_of("nobody"))),
        "{err}"
    );
    assert!(err.message.contains("exit code 1"), "{err}");
    assert!(err.message.contains("Operation not permitted"), "{err}");
    assert_eq!(seen.lock().unwrap().runs.len(), 1);

    // A stop during chown ends the build as stopped, not as an error.
    let (th, seen) = host_with(
        |_| {
            Ok(RunOutcome {
                aborted: true,
                ..RunOutcome::default()
            })
        },
        None,
    );
    let p = plugin(&th, Value::Null).unwrap();
    let outcome = p.execute(&request("/tmp/b/3", None, "0x777")).unwrap();
    assert!(outcome.aborted);
    assert_eq!(seen.lock().unwrap().runs.len(), 1);
}

#[test]
fn bad_pool_settings_are_clear_errors() {
    let (th, seen) = recording_host(0);
    let p = plugin(&th, Value::Null).unwrap();
    let err = p
        .begin(&request("/tmp/b/4", None, "0xgarbage"))
        .unwrap_err();
    assert!(err.message.contains("permissions_hex '0xgarbage'"), "{err}");
    assert!(err.message.contains("worker pool 'general'"), "{err}");
    let err = p.execute(&request("/tmp/b/4", None, "rwx")).unwrap_err();
    assert!(err.message.contains("'rwx'"), "{err}");
    let err = p
        .begin(&request("/tmp/b/4", Some("no-such-user-vespene-test"), ""))
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{err}");
    let err = p
        .begin(&request("/tmp/b/4", Some("-oops"), ""))
        .unwrap_err();
    assert!(err.message.contains("sudo_user"), "{err}");
    let err = p.begin(&request("relative", None, "")).unwrap_err();
    assert!(err.message.contains("absolute"), "{err}");
    assert!(seen.lock().unwrap().runs.is_empty());
    assert!(seen.lock().unwrap().messages.is_empty());
}

#[test]
fn root_is_refused_unless_allowed() {
    let (th, seen) = recording_host(0);
    let p = plugin(&th, Value::Null).unwrap();
    for user in ["root", "#0"] {
        let err = p.begin(&request("/tmp/b/5", Some(user), "")).unwrap_err();
        assert!(
            err.message.contains("refusing to run the build as root"),
            "{err}"
        );
        assert!(err.message.contains("allow_root"), "{err}");
        // execute refuses too, should a host skip begin.
        assert!(p.execute(&request("/tmp/b/5", Some(user), "")).is_err());
    }
    let err = plugin(&th, json!({"default_user": "root"}))
        .unwrap()
        .begin(&request("/tmp/b/5", None, ""))
        .unwrap_err();
    assert!(err.message.contains("root"), "{err}");
    assert!(seen.lock().unwrap().runs.is_empty());

    let allowed = plugin(&th, json!({"allow_root": true})).unwrap();
    allowed
        .begin(&request("/tmp/b/5", Some("root"), ""))
        .unwrap();
    assert!(
        allowed
            .execute(&request("/tmp/b/5", Some("root"), ""))
            .is_ok()
    );
}

#[test]
fn the_workers_own_user_runs_the_script_directly_unless_asked() {
    let me = current_user();
    let root_ok = json!({"allow_root": true});
    let (th, seen) = recording_host(0);
    let p = plugin(&th, root_ok.clone()).unwrap();
    p.execute(&request("/tmp/b/6", Some(&me), "")).unwrap();
    // The only run is the script: nothing to hand over.
    assert_eq!(seen.lock().unwrap().runs.len(), 1);
    assert_eq!(
        seen.lock().unwrap().runs.last().unwrap().argv,
        ["/tmp/b/6/vespene_launch.sh"]
    );
    assert!(p.plan(&request("/tmp/b/6", Some(&me), "")).unwrap().direct);

    let (th, seen) = recording_host(0);
    let p = plugin(
        &th,
        json!({"allow_root": true, "use_sudo_when_same_user": true, "sudo": "/usr/local/bin/sudo"}),
    )
    .unwrap();
    p.execute(&request("/tmp/b/6", Some(&me), "")).unwrap();
    let argv = seen.lock().unwrap().runs.last().unwrap().argv.clone();
    assert_eq!(
        argv[..5],
        ["/usr/local/bin/sudo", "-n", "-u", me.as_str(), "--"]
    );
    assert_eq!(argv.last().unwrap(), "/tmp/b/6/vespene_launch.sh");
}

#[test]
fn a_non_root_worker_wraps_the_script_in_timeout() {
    let th = TestHost::unsupported();
    let p = plugin(&th, Value::Null).unwrap();
    assert_eq!(
        p.sudo_argv("builder", "/b/s.sh", Some(600), false),
        [
            "sudo", "-n", "-u", "builder", "--", "timeout", "-k", "5", "630", "/b/s.sh"
        ]
    );
    // No project timeout: no timer, the wrapper only passes a stop on.
    assert_eq!(
        p.sudo_argv("builder", "/b/s.sh", None, false)[5..],
        ["timeout", "-k", "5", "0", "/b/s.sh"]
    );
    assert_eq!(
        p.sudo_argv("builder", "/b/s.sh", Some(u64::MAX), false)[8],
        u64::MAX.to_string()
    );
    // A root worker can signal the build user's processes itself.
    assert_eq!(
        p.sudo_argv("builder", "/b/s.sh", Some(600), true),
        ["sudo", "-n", "-u", "builder", "--", "/b/s.sh"]
    );
    let p = plugin(&th, json!({"timeout_program": "/opt/bin/timeout"})).unwrap();
    assert_eq!(p.sudo_argv("b", "/s", None, false)[5], "/opt/bin/timeout");
    let p = plugin(&th, json!({"timeout_program": ""})).unwrap();
    assert_eq!(
        p.sudo_argv("builder", "/b/s.sh", Some(600), false),
        ["sudo", "-n", "-u", "builder", "--", "/b/s.sh"]
    );
}

/// Whether process `pid` is gone (or a zombie waiting to be reaped).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[test]
fn the_timeout_wrapper_kills_a_script_that_ignores_sigterm() {
    // What the wrapper is for: sudo relays the host's SIGTERM to `timeout`,
    // which must take the whole script down, children that ignore SIGTERM
    // included, as the build user. Checked here on the machine's coreutils.
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let script = format!(
        "trap '' TERM; sleep 300 & echo $! > {}; wait; sleep 300",
        pidfile.display()
    );
    let th = TestHost::unsupported();
    let p = plugin(&th, Value::Null).unwrap();
    let argv = p.sudo_argv("nobody", "/bin/sh", None, false);
    let mut wrapper = Command::new(&argv[5])
        .args(&argv[6..9])
        .args(["/bin/sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let child: i32 = loop {
        if let Ok(text) = std::fs::read_to_string(&pidfile)
            && let Ok(pid) = text.trim().parse()
        {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the script never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    kill(Pid::from_raw(wrapper.id() as i32), Signal::SIGTERM).unwrap();
    let status = wrapper.wait().unwrap();
    assert!(!status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !process_gone(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "the script's child {child} survived the wrapper"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn parameters_are_checked_at_create() {
    let th = TestHost::unsupported();
    assert!(plugin(&th, json!({"sudo": ""})).is_err());
    assert!(plugin(&th, json!({"default_user": "two words"})).is_err());
    let err = plugin(&th, json!({"sudo_user": "x"})).unwrap_err();
    assert!(err.message.contains("sudo_user"), "{err}");
    assert!(plugin(&th, json!({})).is_ok());
    assert!(plugin(&th, json!({"timeout_program": ""})).is_ok());
}

#[test]
fn a_world_readable_secrets_key_is_reported_to_the_operator() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("secrets.key");
    std::fs::write(&key, "k").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let info = HostInfo {
        secrets_key_file: key.display().to_string(),
        ..HostInfo::default()
    };
    let (th, _) = host_with(|_| Ok(exit(0)), Some(info));
    let p = plugin(&th, Value::Null).unwrap();
    p.begin(&request("/tmp/b/8", Some("nobody"), "")).unwrap();
    assert!(
        th.logs()
            .iter()
            .any(|(level, line)| *level == LogLevel::Warn as i32 && line.contains("readable")),
        "{:?}",
        th.logs()
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = th.logs().len();
    p.begin(&request("/tmp/b/8", Some("nobody"), "")).unwrap();
    assert_eq!(th.logs().len(), before);
}

/// Writes a build root with a script, the way the host leaves it.
fn build_root(parent: &Path, script: &str) -> IsolationRequest {
    let root = parent.join("build");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
    let launch = root.join("vespene_launch.sh");
    std::fs::write(&launch, script).unwrap();
    std::fs::set_permissions(&launch, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(root.join("vespene.json"), "{}").unwrap();
    request(&root.display().to_string(), Some("nobody"), "0x777")
}

#[test]
fn a_sudo_stand_in_really_runs_the_script() {
    // A stand-in for sudo that shows its arguments, then runs what follows
    // `--`: the plugin's commands really execute, wherever the test runs.
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake-sudo");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho \"fake-sudo $*\"\nwhile [ \"$1\" != \"--\" ]; do shift; done\nshift\nexec \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut req = build_root(dir.path(), "#!/bin/sh\necho \"in $(pwd)\"\nexit 7\n");
    req.worker_pool.sudo_user = Some(current_user());
    let (th, seen) = host_with(run_for_real, None);
    let p = plugin(
        &th,
        json!({"sudo": fake.display().to_string(), "use_sudo_when_same_user": true, "allow_root": true}),
    )
    .unwrap();
    p.begin(&req).unwrap();
    let outcome = p.execute(&req).unwrap();
    assert_eq!(outcome.exit_code, Some(7), "{outcome:?}");
    assert!(
        outcome.tail.contains(&format!("-u {} -- ", current_user())),
        "{outcome:?}"
    );
    assert!(
        outcome.tail.contains(&format!("in {}", req.build_root)),
        "{outcome:?}"
    );
    // The root keeps its mode (no more `chmod -R 777`) and, the build user
    // being the worker's, nothing is handed over.
    let mode = std::fs::metadata(&req.build_root).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o700);
    assert_eq!(seen.lock().unwrap().runs.len(), 1);

    // The wrapped form a non-root worker uses runs the script just the same.
    let wrapped = run_for_real(&RunRequest {
        argv: p.sudo_argv("nobody", &req.script_path, Some(60), false),
        cwd: Some(req.build_root.clone()),
        ..RunRequest::default()
    })
    .unwrap();
    assert_eq!(wrapped.exit_code, Some(7), "{wrapped:?}");
    assert!(wrapped.tail.contains("-- timeout -k 5 90 "), "{wrapped:?}");

    // A sudo that cannot be run at all is an error naming it.
    let p = plugin(
        &th,
        json!({"sudo": "/nonexistent/sudo", "use_sudo_when_same_user": true, "allow_root": true}),
    )
    .unwrap();
    let err = p.execute(&req).unwrap_err();
    assert!(err.message.contains("/nonexistent/sudo"), "{err}");
}

#[test]
fn real_sudo_runs_the_build_as_nobody_who_cannot_read_root_only_files() {
    let nobody = nix::unistd::User::from_name("nobody").ok().flatten();
    let sudo_works = Command::new("sudo")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let (Some(nobody), true, true) = (nobody, running_as_root(), sudo_works) else {
        eprintln!("skipped: needs root, a 'nobody' user and sudo (apt-get install sudo)");
        return;
    };
    // A root-only secret, like /etc/vespene/secrets.key.
    let secrets = tempfile::tempdir().unwrap();
    let key = secrets.path().join("secrets.key");
    std::fs::write(&key, "TOPSECRET").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The build root's parent lets others through (as build_root does).
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"user=$(id -un)\"\ncat {} || echo \"secret unreadable\"\n\
         touch written_by_build\nexit 3\n",
        key.display()
    );
    let req = build_root(dir.path(), &script);
    let (th, seen) = host_with(run_for_real, None);
    let p = plugin(&th, Value::Null).unwrap();
    p.begin(&req).unwrap();
    let outcome = p.execute(&req).unwrap();
    assert_eq!(outcome.exit_code, Some(3), "{outcome:?}");
    assert!(outcome.tail.contains("user=nobody"), "{outcome:?}");
    assert!(outcome.tail.contains("secret unreadable"), "{outcome:?}");
    assert!(!outcome.tail.contains("TOPSECRET"), "{outcome:?}");
    let written = std::fs::metadata(Path::new(&req.build_root).join("written_by_build")).unwrap();
    assert_eq!(written.uid(), nobody.uid.as_raw());
    assert_eq!(
        seen.lock().unwrap().messages,
        ["running build as user: nobody", "----------\nBuilding..."]
    );
    assert_eq!(seen.lock().unwrap().runs[1].argv[0], "sudo");
    // Only the build user could enter the root; `end` gives it back.
    let meta = std::fs::metadata(&req.build_root).unwrap();
    assert_eq!(
        (meta.uid(), meta.mode() & 0o7777),
        (nobody.uid.as_raw(), 0o700)
    );
    p.end(&req).unwrap();
    assert_eq!(std::fs::metadata(&req.build_root).unwrap().uid(), 0);
    p.execute(&req).unwrap();

    // The form a non-root worker uses, through the real sudo.
    let wrapped = run_for_real(&RunRequest {
        argv: p.sudo_argv("nobody", &req.script_path, Some(60), false),
        cwd: Some(req.build_root.clone()),
        ..RunRequest::default()
    })
    .unwrap();
    assert_eq!(wrapped.exit_code, Some(3), "{wrapped:?}");
    assert!(wrapped.tail.contains("user=nobody"), "{wrapped:?}");
}
