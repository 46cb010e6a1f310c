//! What a build records survives what it prints: NUL bytes and invalid
//! UTF-8 are stored the same way on both backends (as U+FFFD), and
//! `vespene/set` is capped by the settings with a message.

use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{EngineSandbox, backends, finish};

const WAIT: Duration = Duration::from_secs(60);

/// Runs `script` as one build under `extra_settings` on each backend and
/// hands the build's status, output, messages and output variables to
/// `check`.
fn each_backend_build(
    extra_settings: &str,
    script: &str,
    check: impl Fn(BuildStatus, &str, &str, &serde_json::Value),
) {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, extra_settings) else {
            continue;
        };
        eprintln!("-- {backend:?}");
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = es.project(&app, "printer", pool, script);
        let worker = es.worker("main", &["--max-builds", "1"]);
        let id = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let b = es.wait_build(&app, id, WAIT);
        finish(worker);
        let vars: serde_json::Value = serde_json::from_str(&b.output_variables).unwrap();
        // Without the stock timestamp filter's "  0.00m | " prefix.
        let out: String = es
            .output(&app, id, OutputStream::Output)
            .lines()
            .map(|l| l.split_once(" | ").map_or(l, |(_, text)| text).to_string() + "\n")
            .collect();
        check(
            b.status(),
            &out,
            &es.output(&app, id, OutputStream::Messages),
            &vars,
        );
    }
}

#[test]
fn nul_bytes_and_invalid_utf8_are_stored_alike_on_both_backends() {
    each_backend_build(
        "",
        "#!/bin/bash\necho before\nprintf 'a\\0b\\n'\nprintf 'c\\377d\\n'\nprintf 'vespene/set v x\\0y\\n'\necho after\n",
        |status, out, messages, vars| {
            assert_eq!(status, BuildStatus::Success, "{out}\n{messages}");
            assert_eq!(
                out,
                "before\na\u{FFFD}b\nc\u{FFFD}d\nvespene/set v x\u{FFFD}y\nafter\n"
            );
            assert_eq!(vars["v"], "x\u{FFFD}y");
        },
    );
}

#[test]
fn output_variables_are_capped_with_a_message() {
    each_backend_build(
        "[worker]\nmax_output_variables = 5\nmax_output_variable_bytes = 4096\n",
        "#!/bin/bash\nfor i in $(seq 1 5000); do echo \"vespene/set v$i value-$i\"; done\necho done\n",
        |status, out, messages, vars| {
            assert_eq!(status, BuildStatus::Success, "{messages}");
            assert_eq!(vars.as_object().unwrap().len(), 5, "{vars}");
            assert_eq!(vars["v5"], "value-5");
            assert!(out.ends_with("vespene/set v5000 value-5000\ndone\n"));
            assert_eq!(
                messages.matches("more than 5 output variables").count(),
                1,
                "{messages}"
            );
        },
    );
}
