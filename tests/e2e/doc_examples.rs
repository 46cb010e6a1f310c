//! Issue 9.7, docs that run: every fenced ```yaml block of docs/*.md and
//! README.md is applied with `vespene apply` on a fresh data directory
//! (and applied a second time, which must change nothing), and every
//! ```toml block is loaded by the settings loader. The blocks are found by
//! reading the files, so a new example is covered without touching this
//! test. A block that cannot stand alone says so in its info string
//! (```toml fragment: why); the test prints how many it skipped and why.

use std::path::PathBuf;
use vespene_core::settings::Settings;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::harness::repo_root;

/// What a block is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Yaml,
    Toml,
}

/// One fenced example: where it is, its language, its text, and the
/// reason given when it is marked a fragment.
#[derive(Debug)]
struct Example {
    at: String,
    lang: Lang,
    text: String,
    fragment: Option<String>,
}

/// The documents the examples are taken from.
fn documents() -> Vec<PathBuf> {
    let root = repo_root();
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.push(root.join("README.md"));
    docs
}

/// Every yaml/yml/toml fenced block of `text`.
fn examples(name: &str, text: &str) -> Vec<Example> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let mut words = info.splitn(2, char::is_whitespace);
        let lang = match words.next().unwrap_or("") {
            "yaml" | "yml" => Some(Lang::Yaml),
            "toml" => Some(Lang::Toml),
            _ => None,
        };
        let rest = words.next().unwrap_or("").trim();
        let mut body = String::new();
        for (_, l) in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        let Some(lang) = lang else { continue };
        let fragment = rest.strip_prefix("fragment").map(|why| {
            let why = why.trim_start_matches(':').trim();
            assert!(
                !why.is_empty(),
                "{name}:{}: a fragment says why it cannot stand alone (```toml fragment: why)",
                n + 1
            );
            why.to_string()
        });
        out.push(Example {
            at: format!("{name}:{}", n + 1),
            lang,
            text: body,
            fragment,
        });
    }
    out
}

/// A private key for `private_key_file` and a line for every other
/// secret file.
const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nZG9jdW1lbnRlZC1leGFtcGxlLWtleQ==\n-----END OPENSSH PRIVATE KEY-----\n";

/// The `FIELD_file: PATH` and `FIELD_env: NAME` an example reads its
/// secrets from.
fn secret_sources(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut files = Vec::new();
    let mut envs = Vec::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim();
        let Some((key, value)) = line.trim_start_matches("- ").split_once(':') else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'');
        if value.is_empty() {
            continue;
        }
        if let Some(field) = key.trim().strip_suffix("_file") {
            files.push((field.to_string(), value.to_string()));
        } else if key.trim().ends_with("_env") {
            envs.push(value.to_string());
        }
    }
    (files, envs)
}

/// Applies a YAML example twice on a fresh SQLite data directory: the
/// first creates everything, the second changes nothing.
fn apply_yaml(ex: &Example) -> Result<(), String> {
    let es = EngineSandbox::new(Backend::Sqlite, "").unwrap();
    es.vespene(&["secrets", "generate"]).ok();
    let dir = tempfile::tempdir().unwrap();
    let (files, envs) = secret_sources(&ex.text);
    for (field, path) in &files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        let content = if field == "private_key" {
            KEY.to_string()
        } else {
            format!("example-{field}\n")
        };
        std::fs::write(&full, content).unwrap();
    }
    let path = dir.path().join("example.yaml");
    std::fs::write(&path, &ex.text).unwrap();
    let run = |what: &str| -> Result<String, String> {
        let mut cmd = es.sb.command();
        cmd.arg("apply").arg(&path);
        for var in &envs {
            cmd.env(var, format!("example-{}", var.to_lowercase()));
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.code() != Some(0) {
            return Err(format!(
                "{what} apply: {}{stdout}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(stdout)
    };
    let first = run("first")?;
    if first.contains("no changes") {
        return Err(format!("the first apply created nothing: {first}"));
    }
    let second = run("second")?;
    if !second.contains("no changes") {
        return Err(format!("a second apply changed something: {second}"));
    }
    Ok(())
}

/// Loads a TOML example as the only settings file of a settings directory.
fn load_toml(ex: &Example) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("settings.toml"), &ex.text).unwrap();
    Settings::load_with_env(dir.path(), std::iter::empty())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn every_yaml_and_toml_example_of_the_docs_applies_or_loads() {
    let root = repo_root();
    let mut all = Vec::new();
    for doc in documents() {
        let name = doc
            .strip_prefix(&root)
            .unwrap_or(&doc)
            .display()
            .to_string();
        all.extend(examples(&name, &std::fs::read_to_string(&doc).unwrap()));
    }
    let mut failures = Vec::new();
    let (mut applied, mut loaded, mut skipped) = (0, 0, Vec::new());
    for ex in &all {
        if let Some(why) = &ex.fragment {
            skipped.push(format!("{} ({why})", ex.at));
            continue;
        }
        let result = match ex.lang {
            Lang::Yaml => apply_yaml(ex).map(|()| applied += 1),
            Lang::Toml => load_toml(ex).map(|()| loaded += 1),
        };
        if let Err(e) = result {
            failures.push(format!("{}: {e}", ex.at));
        }
    }
    eprintln!(
        "{applied} YAML examples applied, {loaded} TOML examples loaded, {} fragments skipped{}",
        skipped.len(),
        if skipped.is_empty() {
            String::new()
        } else {
            format!(": {}", skipped.join("; "))
        }
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        applied >= 2 && loaded >= 5,
        "{applied} applied, {loaded} loaded"
    );
}

/// The extractor itself: languages, fragments and their reasons, other
/// blocks ignored.
#[test]
fn examples_are_found_with_their_fragment_marks() {
    let text = "a\n```yaml\ngroups: []\n```\n```sh\nls\n```\n```toml fragment: a Cargo manifest\n[package]\n```\n```yml\nx: 1\n```\n";
    let found = examples("t.md", text);
    let got: Vec<(Lang, &str, Option<&str>)> = found
        .iter()
        .map(|e| (e.lang, e.text.as_str(), e.fragment.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Lang::Yaml, "groups: []\n", None),
            (Lang::Toml, "[package]\n", Some("a Cargo manifest")),
            (Lang::Yaml, "x: 1\n", None),
        ]
    );
    assert_eq!(found[1].at, "t.md:8");
    let (files, envs) = secret_sources(
        "ssh_keys:\n  - name: k\n    private_key_file: keys/k   # relative\n    unlock_password_env: PASS\n",
    );
    assert_eq!(files, [("private_key".to_string(), "keys/k".to_string())]);
    assert_eq!(envs, ["PASS"]);
}
