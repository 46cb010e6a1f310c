//! Bad plugins, each a real file on disk next to good ones: `vespene plugins
//! list` stays up, says what is wrong with the file in one or two lines,
//! and the good plugins beside it still load and work.

use serde_json::Value;
use std::path::{Path, PathBuf};
use vespene_e2e::fixtures;
use vespene_e2e::harness::{Run, Sandbox};

/// A sandbox whose plugin directory holds `bad` and a good C plugin.
fn sandbox_with(bad: impl FnOnce(&Path) -> PathBuf) -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    fixtures::good_c_plugin(&sb.plugin_dir());
    let file = bad(&sb.plugin_dir());
    (sb, file)
}

fn entry<'a>(list: &'a Value, file: &Path) -> &'a Value {
    let canonical = std::fs::canonicalize(file).unwrap();
    list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["file"] == canonical.display().to_string())
        .unwrap_or_else(|| panic!("{} not listed: {list:#}", file.display()))
}

/// The good plugins still load and work: the C plugin answers a call and
/// the stock timestamp filter filters, with the bad file on the path.
fn good_plugins_still_work(sb: &Sandbox, list: &Value) {
    for name in [
        "vespene.fixtures.c_trigger",
        "vespene.plugins.output.timestamp",
    ] {
        let e = list["plugins"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {list:#}"));
        assert_eq!(e["status"], "ok", "{e:#}");
    }
    assert!(list["problems"].as_array().unwrap().is_empty(), "{list:#}");
    let call = sb.run(&[
        "plugins",
        "call",
        "vespene.fixtures.c_trigger",
        "execute_hook",
        "{}",
    ]);
    assert_eq!(call.ok().trim(), "{}");
    let filtered = sb.run_with_stdin(
        &["plugins", "filter", "vespene.plugins.output.timestamp"],
        "hello\n",
    );
    assert_eq!(filtered.ok(), "    0.00m | hello\n");
}

/// Lists, checks the file is refused for `reason`, and that everything
/// else still works. The reason is one or two lines and names nothing but
/// the file (which the listing shows beside it).
fn assert_refused(sb: &Sandbox, file: &Path, reason: &str) {
    let run = sb.run(&["plugins", "list", "--json"]);
    let list = run.json();
    let e = entry(&list, file);
    assert_eq!(e["status"], "refused", "{e:#}");
    let error = e["error"].as_str().unwrap();
    assert!(error.contains(reason), "expected {reason:?} in {error:?}");
    assert!(error.lines().count() <= 2, "{error}");
    good_plugins_still_work(sb, &list);
    // The human listing names the file and the reason on one line.
    let text = sb.run(&["plugins", "list"]).ok().to_string();
    let canonical = std::fs::canonicalize(file).unwrap();
    assert!(
        text.lines()
            .any(|l| l.contains(&canonical.display().to_string()) && l.contains(reason)),
        "{text}"
    );
    // `plugins check` on the file alone fails with the same reason.
    let check: Run = sb.run(&["plugins", "check", &file.display().to_string()]);
    assert_eq!(check.code, Some(1), "{check:#?}");
    assert!(check.stdout.contains(reason), "{check:#?}");
}

#[test]
fn a_text_file_named_so() {
    let (sb, f) = sandbox_with(fixtures::text_file_so);
    assert_refused(&sb, &f, "file too short");
}

#[test]
fn random_bytes() {
    let (sb, f) = sandbox_with(fixtures::random_bytes_so);
    assert_refused(&sb, &f, "invalid ELF header");
}

#[test]
fn a_truncated_copy_of_a_real_plugin() {
    let (sb, small) = sandbox_with(fixtures::truncated_plugin_4k);
    let half = fixtures::truncated_plugin_half(&sb.plugin_dir());
    assert_refused(&sb, &small, "killed the scanner process with SIGBUS");
    assert_refused(&sb, &half, "killed the scanner process with SIGBUS");
}

#[test]
fn a_library_that_is_not_a_plugin() {
    let (sb, f) = sandbox_with(fixtures::not_a_plugin_so);
    assert_refused(&sb, &f, "not a Vespene plugin");
}

#[test]
fn a_plugin_with_a_missing_shared_library() {
    let (sb, f) = sandbox_with(fixtures::missing_dependency_plugin);
    assert_refused(
        &sb,
        &f,
        "libvespenefixturedep.so: cannot open shared object file",
    );
}

#[test]
fn a_plugin_built_against_a_different_interface() {
    let (sb, f) = sandbox_with(|dir| {
        fixtures::install_as(
            &fixtures::other_interface_plugin(),
            dir,
            "libother_interface.so",
        )
    });
    assert_refused(
        &sb,
        &f,
        "built against plugin interface 2.0.0, but this Vespene uses interface 1.0.0",
    );
    let (sb, f) = sandbox_with(fixtures::abi_major_2_plugin);
    assert_refused(
        &sb,
        &f,
        "built for plugin ABI 2 but this Vespene speaks ABI 1",
    );
}

#[test]
fn a_plugin_that_segfaults_when_loaded() {
    let (sb, f) = sandbox_with(fixtures::segfault_on_load_plugin);
    assert_refused(&sb, &f, "killed the scanner process with SIGSEGV");
}

#[test]
fn a_plugin_whose_constructor_panics() {
    let (sb, f) = sandbox_with(|dir| {
        fixtures::install_as(&fixtures::panic_create_plugin(), dir, "libpanic_create.so")
    });
    let settings = sb.write_settings(
        "50-plugins.toml",
        "[plugins.output]\nboom = \"vespene.fixtures.panic_create\"\n",
    );
    let list = sb.run(&["plugins", "list", "--json"]).json();
    // The file itself is a plugin; making an instance is what fails.
    assert_eq!(entry(&list, &f)["status"], "ok");
    let problems = list["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    let p = problems[0].as_str().unwrap();
    assert!(p.starts_with(&settings.display().to_string()), "{p}");
    assert!(p.contains("section [plugins.output], entry 'boom'"), "{p}");
    assert!(p.contains("could not be started: plugin panicked"), "{p}");
    assert!(p.lines().count() <= 2, "{p}");
    // The stock entries beside it are fine and work.
    let configured = list["configured"].as_array().unwrap();
    let ts = configured
        .iter()
        .find(|c| c["name"] == "timestamp")
        .unwrap();
    assert_eq!(ts["status"], "ok");
    let filtered = sb.run_with_stdin(
        &["plugins", "filter", "vespene.plugins.output.timestamp"],
        "still here\n",
    );
    assert_eq!(filtered.ok(), "    0.00m | still here\n");
}

#[test]
fn a_plugin_whose_call_panics() {
    let (sb, f) = sandbox_with(|dir| {
        fixtures::install_as(&fixtures::panic_call_plugin(), dir, "libpanic_call.so")
    });
    let list = sb.run(&["plugins", "list", "--json"]).json();
    assert_eq!(entry(&list, &f)["status"], "ok");
    good_plugins_still_work(&sb, &list);
    // The call fails cleanly: the process exits 1 with the error, it is
    // not aborted or killed.
    let run = sb.run(&[
        "plugins",
        "call",
        "vespene.fixtures.panic_call",
        "execute_hook",
        "{}",
    ]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    // The plugin's own panic hook may print first; the error is the last line.
    let last = run.stderr.lines().last().unwrap_or_default();
    let err: Value = serde_json::from_str(last).unwrap();
    assert_eq!(err["code"], "panicked", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .starts_with("plugin panicked")
    );
}

#[test]
fn two_plugins_declaring_the_same_name() {
    let sb = Sandbox::new();
    let second_dir = sb.root().join("more-plugins");
    std::fs::create_dir_all(&second_dir).unwrap();
    sb.write_settings(
        "10-path.toml",
        &format!(
            "plugin_path = [\"{}\", \"{}\"]\n",
            sb.plugin_dir().display(),
            second_dir.display()
        ),
    );
    fixtures::good_c_plugin(&sb.plugin_dir());
    let [first, second] = fixtures::duplicate_name_plugins(&sb.plugin_dir(), &second_dir);
    let list = sb.run(&["plugins", "list", "--json"]).json();
    assert_eq!(entry(&list, &first)["status"], "ok");
    let shadowed = entry(&list, &second);
    assert_eq!(shadowed["status"], "shadowed", "{shadowed:#}");
    assert_eq!(
        shadowed["shadowed_by"],
        std::fs::canonicalize(&first).unwrap().display().to_string()
    );
    let text = sb.run(&["plugins", "list"]).ok().to_string();
    assert!(
        text.contains("plugin vespene.fixtures.duplicate is also provided by"),
        "{text}"
    );
    // The earlier one is the one that answers.
    let listed = list["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "vespene.fixtures.duplicate" && e["status"] == "ok")
        .unwrap();
    assert_eq!(listed["description"], "first copy");
    good_plugins_still_work(&sb, &list);
}

#[test]
fn every_bad_file_at_once() {
    let sb = Sandbox::new();
    let dir = sb.plugin_dir();
    fixtures::good_c_plugin(&dir);
    let bad = [
        fixtures::text_file_so(&dir),
        fixtures::random_bytes_so(&dir),
        fixtures::truncated_plugin_4k(&dir),
        fixtures::not_a_plugin_so(&dir),
        fixtures::missing_dependency_plugin(&dir),
        fixtures::segfault_on_load_plugin(&dir),
        fixtures::abi_major_2_plugin(&dir),
        fixtures::install_as(&fixtures::other_interface_plugin(), &dir, "libother.so"),
    ];
    let list = sb.run(&["plugins", "list", "--json"]).json();
    for f in &bad {
        assert_eq!(entry(&list, f)["status"], "refused", "{}", f.display());
    }
    good_plugins_still_work(&sb, &list);
}
