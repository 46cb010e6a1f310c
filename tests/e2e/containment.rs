//! Plugins that misbehave outside a call: a constructor that forks a
//! long-lived helper does not block the scan, and the helper does not
//! outlive it.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use vespene_e2e::fixtures;
use vespene_e2e::harness::Sandbox;

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(')').is_some_and(|(_, r)| r.starts_with(" Z")))
}

fn helpers(dir: &Path) -> Vec<i32> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect()
}

#[test]
fn a_constructor_that_forks_a_helper_does_not_block_the_scan() {
    let sb = Sandbox::new();
    let file = fixtures::forks_on_load_plugin(&sb.plugin_dir());
    let pids = sb.root().join("helper-pids");
    std::fs::create_dir_all(&pids).unwrap();
    let mut cmd = sb.command();
    cmd.args(["plugins", "list", "--json"])
        .env("FIXTURE_HELPER_PIDS", &pids)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let output = rx.recv_timeout(Duration::from_secs(60));
    let left: Vec<i32> = helpers(&pids).into_iter().filter(|p| alive(*p)).collect();
    for p in helpers(&pids).into_iter().chain([pid as i32]) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let output = output
        .expect("`plugins list` still running after 60 s: the scan waits for the helper")
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert!(!helpers(&pids).is_empty(), "the fixture forked no helper");
    assert!(left.is_empty(), "helpers outlived the scan: {left:?}");
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let canonical = std::fs::canonicalize(&file).unwrap();
    let entry = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == canonical.display().to_string())
        .unwrap_or_else(|| panic!("not listed: {list:#}"));
    // Its table is empty (refused for that), but it was opened, answered
    // and is not blamed for hanging.
    assert!(
        !entry["error"].as_str().unwrap_or("").contains("hung"),
        "{entry:#}"
    );
}
