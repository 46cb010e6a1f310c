//! The plugin host through the real binary: discovery of the stock plugins,
//! settings problems, and configured triggers running in order.

use serde_json::Value;
use std::sync::{Arc, Mutex};
use vespene_core::plugins::{CallScope, PluginHost, Scanner};
use vespene_core::process::{self, CommandSpec};
use vespene_core::settings::{Section, Settings};
use vespene_e2e::harness::{Sandbox, bin_dir, stock_plugin_crates, vespene_bin};
use vespene_plugin_api::kinds::trigger::{Event, HookRequest};
use vespene_plugin_api::{BuildInfo, PluginError, ProjectInfo, RunOutcome, RunRequest, Stream};

fn listed(list: &Value) -> Vec<Value> {
    list["plugins"].as_array().cloned().unwrap_or_default()
}

fn problems(list: &Value) -> Vec<String> {
    list["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_stock_plugin_is_found_with_its_kind_and_version() {
    let sb = Sandbox::new();
    let list = sb.run(&["plugins", "list", "--json"]).json();
    let crates = stock_plugin_crates();
    assert!(crates.len() >= 3, "{crates:?}");
    for (dir, dotted) in crates {
        let file = bin_dir().join(format!("libvespene_plugin_{}.so", dir.replace('-', "_")));
        let entry = listed(&list)
            .into_iter()
            .find(|e| e["name"] == dotted)
            .unwrap_or_else(|| panic!("{dotted} ({dir}) not listed: {list:#}"));
        assert_eq!(entry["status"], "ok", "{entry:#}");
        assert_eq!(entry["door"], "rust");
        assert_eq!(entry["file"], file.display().to_string());
        assert!(!entry["kind"].as_str().unwrap().is_empty());
        assert!(entry["version"].as_str().unwrap().contains('.'));
    }
    // The human listing says the same.
    let text = sb.run(&["plugins", "list"]).ok().to_string();
    assert!(text.contains("vespene.plugins.output.timestamp"), "{text}");
    assert!(text.contains("[plugins.output] timestamp = vespene.plugins.output.timestamp  ok"));
}

#[test]
fn a_warm_start_answers_from_the_cache() {
    let sb = Sandbox::new();
    sb.run(&["plugins", "list"]).ok();
    let cache = sb.data_dir().join("plugin-cache.json");
    let text = std::fs::read_to_string(&cache).expect("cache written");
    assert!(text.contains("vespene.plugins.output.timestamp"));
    let second = sb.run(&["plugins", "list", "--json"]).json();
    assert!(
        listed(&second)
            .iter()
            .any(|e| e["name"] == "vespene.plugins.output.timestamp" && e["status"] == "ok")
    );
}

#[test]
fn a_setting_naming_a_missing_plugin_is_reported_with_file_section_and_entry() {
    let sb = Sandbox::new();
    let file = sb.write_settings(
        "50-plugins.toml",
        "[plugins.scm]\ngit = \"vespene.plugins.scm.nosuchthing\"\n",
    );
    let list = sb.run(&["plugins", "list", "--json"]).json();
    let problems = problems(&list);
    assert_eq!(problems.len(), 1, "{problems:?}");
    let p = &problems[0];
    assert!(p.starts_with(&file.display().to_string()), "{p}");
    assert!(p.contains("section [plugins.scm], entry 'git'"), "{p}");
    assert!(
        p.contains("no plugin named vespene.plugins.scm.nosuchthing"),
        "{p}"
    );
    assert!(p.lines().count() <= 2, "{p}");
    // The good entries beside it are fine.
    let configured = list["configured"].as_array().unwrap();
    let ts = configured
        .iter()
        .find(|c| c["name"] == "timestamp")
        .unwrap();
    assert_eq!(ts["status"], "ok");
}

#[test]
fn parameters_a_plugin_rejects_and_wrong_kinds_are_reported() {
    let sb = Sandbox::new();
    let file = sb.write_settings(
        "50-plugins.toml",
        r#"
[plugins.output]
timestamp = ["vespene.plugins.output.timestamp", { mode = "sideways" }]

[plugins.scm]
odd = "vespene.plugins.output.timestamp"
"#,
    );
    let run = sb.run(&["plugins", "list"]);
    let text = run.ok();
    let bad_params = text
        .lines()
        .find(|l| l.contains("entry 'timestamp'") && l.contains(&file.display().to_string()))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        bad_params.contains("section [plugins.output]"),
        "{bad_params}"
    );
    assert!(
        bad_params.contains("refused its parameters: unknown timestamp mode 'sideways'"),
        "{bad_params}"
    );
    let wrong_kind = text
        .lines()
        .find(|l| l.contains("entry 'odd'"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        wrong_kind.contains("is a output plugin, but [plugins.scm] takes scm plugins"),
        "{wrong_kind}"
    );
}

#[test]
fn a_broken_settings_file_is_one_clear_error() {
    let sb = Sandbox::new();
    let file = sb.write_settings("60-typo.toml", "biuld_root = \"/x\"\n");
    let run = sb.run(&["plugins", "list"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains(&file.display().to_string()), "{run:#?}");
    assert!(run.stderr.contains("biuld_root"), "{run:#?}");
}

/// What a build's scope would receive: every line, with its stream.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<(Stream, String)>>,
}

struct RecordingScope(Arc<Recorder>);

impl CallScope for RecordingScope {
    fn run(&self, request: &RunRequest) -> Result<RunOutcome, PluginError> {
        let spec = CommandSpec::from_request(request, None)
            .map_err(|e| PluginError::invalid_request(e.to_string()))?;
        if request.log_command {
            self.0
                .lines
                .lock()
                .unwrap()
                .push((Stream::Messages, spec.display()));
        }
        let outcome = process::run(&spec, |l| {
            self.0
                .lines
                .lock()
                .unwrap()
                .push((request.stream, l.to_string()))
        })
        .map_err(|e| PluginError::failed(e.to_string()))?;
        Ok(outcome.into())
    }

    fn append(&self, stream: Stream, text: &str) -> Result<(), PluginError> {
        self.0
            .lines
            .lock()
            .unwrap()
            .push((stream, text.to_string()));
        Ok(())
    }
}

fn host_for(sb: &Sandbox) -> PluginHost {
    let env: Vec<(String, String)> = Vec::new();
    let settings = Settings::load_with_env(&sb.settings_dir(), env).unwrap();
    let scanner = Scanner::new(
        vespene_bin(),
        vec![vespene_core::plugins::scanner::SCAN_SUBCOMMAND.to_string()],
    );
    PluginHost::start(&settings, scanner)
}

fn hook(event: Event) -> HookRequest {
    HookRequest::new(
        event,
        BuildInfo {
            id: 42,
            working_dir: "/tmp/vespene/buildroot/42".into(),
            ..Default::default()
        },
        ProjectInfo {
            name: "demo".into(),
            ..Default::default()
        },
    )
}

#[test]
fn two_command_triggers_run_in_the_order_written() {
    let sb = Sandbox::new();
    let out = sb.root().join("order.txt");
    sb.write_settings(
        "50-triggers.toml",
        &format!(
            r#"
[plugins.success_triggers]
second_written_first = ["vespene.plugins.triggers.command", "echo first {{{{ build.id }}}} >> {out}"]
first_written_second = ["vespene.plugins.triggers.command", {{ command = "echo second {{{{ project.name }}}}[{{{{ nothing }}}}] >> {out}" }}]
"#,
            out = out.display()
        ),
    );
    let host = host_for(&sb);
    assert!(host.problems.is_empty(), "{:?}", host.problems);
    let recorder = Arc::new(Recorder::default());
    let scope: Box<dyn CallScope> = Box::new(RecordingScope(recorder.clone()));
    let results = vespene_core::engine::triggers::run_section(
        &host.registry,
        Section::SuccessTriggers,
        &hook(Event::Success),
        &scope,
        &vespene_core::engine::triggers::CallLimits::default(),
        0,
    );
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["second_written_first", "first_written_second"]);
    assert!(results.iter().all(|r| r.result.is_ok()), "{results:?}");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "first 42\nsecond demo[]\n"
    );
    // The commands were logged to the build's messages, in order.
    let logged: Vec<String> = recorder
        .lines
        .lock()
        .unwrap()
        .iter()
        .filter(|(s, _)| *s == Stream::Messages)
        .map(|(_, l)| l.clone())
        .collect();
    assert!(logged[0].starts_with("echo first 42 >>"), "{logged:?}");
    assert!(logged[1].starts_with("echo second demo[] >>"), "{logged:?}");
}

#[test]
fn a_failing_command_trigger_fails_with_its_output_kept() {
    let sb = Sandbox::new();
    let marker = sb.root().join("after.txt");
    sb.write_settings(
        "50-triggers.toml",
        &format!(
            r#"
[plugins.failure_triggers]
broken = ["vespene.plugins.triggers.command", "echo about to fail; echo on stderr >&2; exit 7"]
after = ["vespene.plugins.triggers.command", "touch {}"]

[plugins.pre_triggers]
gate = ["vespene.plugins.triggers.command", "exit 3"]
never = ["vespene.plugins.triggers.command", "touch {}.pre"]
"#,
            marker.display(),
            marker.display()
        ),
    );
    let host = host_for(&sb);
    assert!(host.problems.is_empty(), "{:?}", host.problems);
    let recorder = Arc::new(Recorder::default());
    let scope: Box<dyn CallScope> = Box::new(RecordingScope(recorder.clone()));
    let results = vespene_core::engine::triggers::run_section(
        &host.registry,
        Section::FailureTriggers,
        &hook(Event::Failure),
        &scope,
        &vespene_core::engine::triggers::CallLimits::default(),
        0,
    );
    assert_eq!(results.len(), 2);
    let err = results[0].result.as_ref().unwrap_err();
    assert!(err.message.contains('7'), "{err}");
    assert!(results[1].result.is_ok());
    assert!(marker.exists(), "the trigger after a failing one still ran");
    let lines: Vec<String> = recorder
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|(_, l)| l.clone())
        .collect();
    assert!(lines.contains(&"about to fail".to_string()), "{lines:?}");
    assert!(lines.contains(&"on stderr".to_string()), "{lines:?}");

    // A failing pre trigger stops the pre triggers.
    let results = vespene_core::engine::triggers::run_section(
        &host.registry,
        Section::PreTriggers,
        &hook(Event::Pre),
        &scope,
        &vespene_core::engine::triggers::CallLimits::default(),
        0,
    );
    assert_eq!(results.len(), 1);
    assert!(results[0].result.is_err());
    assert!(!sb.root().join("after.txt.pre").exists());
}

/// The guide's C example and its Rust twin answer every call identically,
/// through the real binary: same bytes out, same exit status.
#[test]
fn the_c_plugin_and_its_rust_twin_give_identical_results() {
    let sb = Sandbox::new();
    let c = vespene_e2e::fixtures::c_redact_plugin(&sb.plugin_dir());
    let rust = vespene_e2e::fixtures::rust_redact_plugin();
    let params = r#"{"word":"hunter2","mask":"****"}"#;
    let calls: &[(&str, &str, &str)] = &[
        (
            params,
            "filter",
            r#"{"line":"password is hunter2, again hunter2!"}"#,
        ),
        (params, "filter", r#"{"line":"nothing to hide"}"#),
        (params, "filter", r#"{"line":"é \"quoted\" hunter2\ttab"}"#),
        (params, "begin", r#"{"build":{"id":1}}"#),
        (params, "no_such_op", "{}"),
        (r#"{"word":""}"#, "filter", r#"{"line":"x"}"#),
        (r#"{"mask":"x"}"#, "filter", r#"{"line":"x"}"#),
    ];
    for (p, op, args) in calls {
        let run = |file: &std::path::Path| {
            sb.run(&[
                "plugins",
                "call",
                &file.display().to_string(),
                "--params",
                p,
                op,
                args,
            ])
        };
        let (a, b) = (run(&c), run(&rust));
        assert_eq!((a.code, &a.stdout), (b.code, &b.stdout), "{p} {op} {args}");
        if a.code == Some(1) {
            // Errors: the same JSON; only the plugin's name in the
            // "refused its parameters" prefix differs.
            let tail = |s: &str| s.rsplit_once(": ").map(|x| x.1.to_string());
            assert_eq!(tail(&a.stderr), tail(&b.stderr), "{p} {op}: {a:?} {b:?}");
        }
    }
    let input = "a hunter2 line\nclean line\n\nhunter2hunter2\n";
    let filter = |file: &std::path::Path| {
        sb.run_with_stdin(
            &[
                "plugins",
                "filter",
                &file.display().to_string(),
                "--params",
                params,
            ],
            input,
        )
    };
    let (a, b) = (filter(&c), filter(&rust));
    assert_eq!(a.ok(), b.ok());
    assert_eq!(a.stdout, "a **** line\nclean line\n\n********\n");
}
