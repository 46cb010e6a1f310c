use super::*;

fn run_collect(spec: &CommandSpec) -> (Outcome, Vec<String>) {
    let mut lines = Vec::new();
    let out = run(spec, |l| lines.push(l.to_string())).unwrap();
    (out, lines)
}

#[test]
fn merges_stdout_and_stderr_in_order() {
    let (out, lines) = run_collect(&CommandSpec::shell(
        "echo one; echo two >&2; printf 'three\\r\\nfour'",
    ));
    assert!(out.success());
    assert_eq!(lines, ["one", "two", "three", "four"]);
    assert_eq!(out.last_line, "four");
    assert_eq!(out.tail, "one\ntwo\nthree\nfour\n");
}

#[test]
fn exit_codes_signals_and_spawn_errors() {
    let (out, _) = run_collect(&CommandSpec::shell("exit 3"));
    assert_eq!(out.exit_code, Some(3));
    assert!(!out.success());
    let (out, _) = run_collect(&CommandSpec::shell("kill -9 $$"));
    assert_eq!(out.signal, Some(9));
    let err = run(&CommandSpec::argv(["/nonexistent/program"]), |_| {}).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/program"), "{err}");
    assert!(matches!(
        run(&CommandSpec::default(), |_| {}),
        Err(RunError::Empty)
    ));
}

#[test]
fn environment_is_cleaned_and_extended() {
    // cargo gives test processes CARGO_MANIFEST_DIR; a command must not see it.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let mut spec = CommandSpec::shell("echo \"[$CARGO_MANIFEST_DIR] [$EXTRA] [$PATH]\"");
    spec.env.insert("EXTRA".into(), "yes".into());
    let (_, lines) = run_collect(&spec);
    assert!(lines[0].starts_with("[] [yes] ["), "{lines:?}");
    assert!(!lines[0].ends_with("[]"), "PATH is kept: {lines:?}");
}

#[test]
fn working_directory_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = CommandSpec::shell("pwd; cat");
    spec.cwd = Some(dir.path().to_path_buf());
    spec.stdin = Some("from stdin\n".into());
    let (out, lines) = run_collect(&spec);
    assert!(out.success());
    let canonical = dir.path().canonicalize().unwrap();
    assert_eq!(
        lines,
        [canonical.display().to_string(), "from stdin".into()]
    );
}

#[test]
fn timeout_kills_the_whole_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let mut spec = CommandSpec::shell(&format!(
        "sleep 1000 & echo $! > {}; echo started; wait",
        pidfile.display()
    ));
    spec.timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let (out, lines) = run_collect(&spec);
    assert!(out.timed_out && !out.aborted && !out.success());
    assert_eq!(lines, ["started"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!process_alive(pid), "the background sleep survived");
}

#[test]
fn cancel_stops_a_silent_command() {
    let token = CancelToken::new();
    let mut spec = CommandSpec::shell("sleep 1000");
    spec.cancel = Some(token.clone());
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        token.cancel();
    });
    let started = Instant::now();
    let (out, _) = run_collect(&spec);
    t.join().unwrap();
    assert!(out.aborted && !out.timed_out);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn leftovers_in_the_group_die_with_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // The main process exits at once, leaving a child holding the output.
    let spec = CommandSpec::shell(&format!(
        "sleep 1000 & echo $! > {}; echo bye",
        pidfile.display()
    ));
    let started = Instant::now();
    let (out, lines) = run_collect(&spec);
    assert!(out.success());
    assert_eq!(lines, ["bye"]);
    assert!(started.elapsed() < Duration::from_secs(5));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !process_alive(pid),
        "{:?}",
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
    );
}

#[test]
fn escaped_processes_do_not_hang_the_reader() {
    // setsid leaves the process group; it keeps the output pipe open.
    let spec = CommandSpec::shell("setsid sleep 30 & sleep 0.5; echo left");
    let started = Instant::now();
    let (out, lines) = run_collect(&spec);
    assert!(out.success());
    assert_eq!(lines, ["left"]);
    assert!(out.output_abandoned);
    assert!(started.elapsed() < Duration::from_secs(10));
    let _ = std::process::Command::new("pkill")
        .args(["-f", "^sleep 30$"])
        .status();
}

#[test]
fn long_lines_are_split_and_invalid_utf8_is_replaced() {
    let n = MAX_LINE_BYTES + 10;
    let (out, lines) = run_collect(&CommandSpec::shell(&format!(
        "head -c {n} /dev/zero | tr '\\0' a; echo; printf '\\377ok\\n'"
    )));
    assert!(out.success());
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0].len(), MAX_LINE_BYTES);
    assert_eq!(lines[1].len(), 10);
    assert_eq!(lines[2], "\u{fffd}ok");
    assert!(out.tail.len() <= TAIL_BYTES);
}

#[test]
fn many_lines_arrive_complete_and_in_order() {
    let mut count = 0u64;
    let mut sum = 0u64;
    let out = run(&CommandSpec::shell("seq 1 200000"), |l| {
        count += 1;
        sum += l.parse::<u64>().unwrap();
    })
    .unwrap();
    assert!(out.success());
    assert_eq!(count, 200_000);
    assert_eq!(sum, 200_000 * 200_001 / 2);
    assert_eq!(out.last_line, "200000");
}

#[test]
fn from_request_maps_every_field() {
    let req = vespene_plugin_api::RunRequest {
        argv: vec!["ls".into(), "-l".into()],
        cwd: Some("/tmp".into()),
        timeout_secs: Some(7),
        stdin: Some("x".into()),
        ..Default::default()
    };
    let spec = CommandSpec::from_request(&req, Some(Path::new("/other"))).unwrap();
    assert_eq!(spec.argv, ["ls", "-l"]);
    assert_eq!(spec.cwd, Some(PathBuf::from("/tmp")));
    assert_eq!(spec.timeout, Some(Duration::from_secs(7)));
    assert_eq!(spec.display(), "ls -l");
    let shell = vespene_plugin_api::RunRequest::shell("echo 'a b'");
    let spec = CommandSpec::from_request(&shell, Some(Path::new("/other"))).unwrap();
    assert_eq!(spec.cwd, Some(PathBuf::from("/other")));
    assert_eq!(spec.display(), "echo 'a b'");
    let both = vespene_plugin_api::RunRequest {
        argv: vec!["a".into()],
        shell: Some("b".into()),
        ..Default::default()
    };
    assert!(CommandSpec::from_request(&both, None).is_err());
}

/// Whether `pid` is still alive a moment later: a killed process closes its
/// files (so our reader sees EOF) slightly before it is gone, and a zombie
/// counts as dead (it has exited and only awaits reaping).
fn process_alive(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z ") && !s.contains(") X "))
            .unwrap_or(false);
        if !alive || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

use std::path::Path;
