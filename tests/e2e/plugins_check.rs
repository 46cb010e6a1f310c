//! `vespene plugins check` runs every configured plugin's `create` with
//! its parameters, each in a child process of its own under `[worker]
//! create_call_seconds`, and reports every bad one on a line of its own
//! (plugin, entry, file, reason), not stopping at the first. A `create`
//! that loops ends no later than its deadline, here and in any command.

use std::time::{Duration, Instant};
use vespene_e2e::fixtures;
use vespene_e2e::harness::Sandbox;

#[test]
fn plugins_check_reports_every_bad_create_and_ends_at_the_deadline() {
    let sb = Sandbox::new();
    let [file, _] = fixtures::misbehaving_plugins(&sb.plugin_dir());
    let mark = sb.root().join("never-written");
    sb.write_settings(
        "30-test.toml",
        &format!(
            "[worker]\ncreate_call_seconds = 2\n\n[plugins.success_triggers]\nsegv = [\"vespene.fixtures.misbehaving_trigger\", \"create-segv\"]\nfine = [\"vespene.fixtures.misbehaving_trigger\", \"mark={}\"]\nabort = [\"vespene.fixtures.misbehaving_trigger\", \"create-abort\"]\nexit = [\"vespene.fixtures.misbehaving_trigger\", \"create-exit\"]\nhang = [\"vespene.fixtures.misbehaving_trigger\", \"create-hang\"]\n",
            mark.display()
        ),
    );
    let t = Instant::now();
    let run = sb.run(&["plugins", "check"]);
    let took = t.elapsed();
    assert_eq!(run.code, Some(1), "{run:?}");
    // All at once: the deadline, not the sum of them.
    assert!(took < Duration::from_secs(15), "{took:?}");
    let canonical = std::fs::canonicalize(&file).unwrap();
    let files = [file.display().to_string(), canonical.display().to_string()];
    let line_of = |entry: &str| {
        run.stdout
            .lines()
            .find(|l| {
                l.contains(&format!(
                    "plugin vespene.fixtures.misbehaving_trigger (entry '{entry}' of [plugins.success_triggers], file "
                ))
            })
            .unwrap_or_else(|| panic!("no line for {entry}: {run:?}"))
            .to_string()
    };
    for (entry, reason) in [
        ("segv", "create crashed with SIGSEGV"),
        ("abort", "create crashed with SIGABRT"),
        ("exit", "create ended the process with exit status 3"),
        (
            "hang",
            "create did not return within 2 s ([worker] create_call_seconds)",
        ),
    ] {
        let line = line_of(entry);
        assert!(line.starts_with("bad "), "{line}");
        assert!(files.iter().any(|f| line.contains(f.as_str())), "{line}");
        assert!(line.ends_with(reason), "{entry}: {line}");
    }
    let fine = line_of("fine");
    assert!(fine.starts_with("ok "), "{fine}");
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with("bad ")).count(),
        4,
        "{run:?}"
    );

    // The same as JSON.
    let json = sb.run(&["plugins", "check", "--json"]);
    assert_eq!(json.code, Some(1), "{json:?}");
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let bad: Vec<&str> = v["configured"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "bad")
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(bad.len(), 4, "{v:#}");

    // Any other command stops at the looping `create`, at its deadline.
    sb.write_settings(
        "30-test.toml",
        "[worker]\ncreate_call_seconds = 2\n\n[plugins.success_triggers]\nhang = [\"vespene.fixtures.misbehaving_trigger\", \"create-hang\"]\n",
    );
    let t = Instant::now();
    let list = sb.run(&["plugins", "list"]);
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert_ne!(list.code, Some(0), "{list:?}");
    assert!(
        list.stderr
            .contains("in create did not return within 2 s ([worker] create_call_seconds) and the command was ended"),
        "{list:?}"
    );
}
