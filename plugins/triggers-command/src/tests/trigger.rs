//! The trigger end to end inside the process: create, render, run through
//! a host that executes the command, and report failures.

use super::host::ShellHost;
use crate::CommandTrigger;
use vespene_plugin_api::export::Dispatch;
use vespene_plugin_api::kinds::trigger::{Adapter, Event, HookRequest};
use vespene_plugin_api::serde_json::{self, Value, json};
use vespene_plugin_api::testing::TestHost;
use vespene_plugin_api::{
    BuildInfo, CreateContext, ErrorCode, Plugin, PluginError, ProjectInfo, Stream, TriggerPlugin,
};

fn make(host: &TestHost, params: Value) -> Result<CommandTrigger, PluginError> {
    CommandTrigger::create(CreateContext {
        name: "publish",
        params,
        host: host.host(),
    })
}

fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "vespene-triggers-command-{tag}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn request(event: Event, working_dir: &str) -> HookRequest {
    HookRequest::new(
        event,
        BuildInfo {
            id: 42,
            status: "SUCCESS".into(),
            working_dir: working_dir.into(),
            ..Default::default()
        },
        ProjectInfo {
            name: "demo".into(),
            ..Default::default()
        },
    )
}

#[test]
fn renders_the_context_and_runs_the_command_into_messages() {
    let dir = scratch_dir("ok");
    let sh = ShellHost::new();
    let trigger = make(
        &sh.host,
        json!("echo '{{ hook }} {{ event }} {{ build.id }} {{ project.name }}[{{ nope }}]' > {{ build.working_dir }}/out.txt && echo copied"),
    )
    .unwrap();
    trigger
        .execute_hook(&request(Event::Success, &dir.display().to_string()))
        .unwrap();
    let written = std::fs::read_to_string(dir.join("out.txt")).unwrap();
    assert_eq!(written, "post success 42 demo[]\n");

    let seen = sh.seen();
    assert_eq!(seen.requests.len(), 1);
    let req = &seen.requests[0];
    let want_command = format!(
        "echo 'post success 42 demo[]' > {}/out.txt && echo copied",
        dir.display()
    );
    assert_eq!(req.shell.as_deref(), Some(want_command.as_str()));
    assert_eq!(req.stream, Stream::Messages);
    assert!(req.log_command);
    assert_eq!(req.timeout_secs, None);
    assert!(req.argv.is_empty());
    assert_eq!(
        seen.messages,
        vec![format!("$ {want_command}"), "copied".to_string()]
    );
    drop(seen);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn commands_render_as_jinja2_does() {
    let sh = ShellHost::new();
    let trigger = make(
        &sh.host,
        json!("echo {{ build.id > 1 }} {{ project.name.replace('d', 'D') }}{{ nope }} {{ [build.id, 0.5, none] }}\n"),
    )
    .unwrap();
    trigger.execute_hook(&request(Event::Pre, "/tmp")).unwrap();
    assert_eq!(
        sh.seen().requests[0].shell.as_deref(),
        Some("echo True Demo '[42, 0.5, None]'")
    );
}

/// Issue 9.5: on the old main this trigger ran `touch PWNED` (the name was
/// substituted into the shell command as it was).
#[test]
fn substituted_values_cannot_add_shell_syntax() {
    let dir = scratch_dir("inject");
    let sh = ShellHost::new();
    let trigger = make(
        &sh.host,
        json!("cd {{ build.working_dir }} && echo finished {{ project.name }}"),
    )
    .unwrap();
    let mut req = request(Event::Success, &dir.display().to_string());
    req.project.name = "x;touch${IFS}PWNED".into();
    trigger.execute_hook(&req).unwrap();
    assert!(!dir.join("PWNED").exists(), "the project name ran as shell");
    assert_eq!(
        sh.seen().messages.last().map(String::as_str),
        Some("finished x;touch${IFS}PWNED")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_line_joins_trimmed_lines() {
    assert_eq!(crate::one_line("a\n  b  \n\nc"), "a; b; c");
    assert_eq!(crate::one_line("  \n"), "");
}

#[test]
fn the_original_publish_example_works() {
    let dir = scratch_dir("publish");
    std::fs::write(dir.join("artifact.txt"), "built").unwrap();
    let dest = scratch_dir("publish-dest").join("copy");
    let sh = ShellHost::new();
    let command = format!("cp -a {{{{ build.working_dir }}}} {}", dest.display());
    let trigger = make(&sh.host, json!(command)).unwrap();
    trigger
        .execute_hook(&request(Event::Pre, &dir.display().to_string()))
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.join("artifact.txt")).unwrap(),
        "built"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(dest.parent().unwrap()).unwrap();
}

#[test]
fn a_failing_command_fails_with_exit_code_command_and_last_line() {
    let sh = ShellHost::new();
    let trigger = make(
        &sh.host,
        json!({"command": "echo partial; echo 'no such host {{ project.name }}' >&2; exit 3"}),
    )
    .unwrap();
    let err = trigger
        .execute_hook(&request(Event::Failure, "/tmp"))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(!err.message.contains('\n'), "{}", err.message);
    assert_eq!(
        err.message,
        "trigger 'publish': command `echo partial; echo 'no such host demo' >&2; exit 3` \
         failed with exit code 3; last output: no such host demo"
    );
    // The output itself went to the build's messages.
    assert!(sh.seen().messages.contains(&"partial".to_string()));
}

#[test]
fn a_timeout_is_passed_to_the_host_and_reported() {
    let sh = ShellHost::new();
    let trigger = make(
        &sh.host,
        json!({"command": "echo started; sleep 5", "timeout_secs": 1}),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let err = trigger
        .execute_hook(&request(Event::Pre, "/tmp"))
        .unwrap_err();
    assert!(started.elapsed() < std::time::Duration::from_secs(4));
    assert_eq!(err.code, ErrorCode::Failed);
    assert_eq!(
        err.message,
        "trigger 'publish': command `echo started; sleep 5` timed out; last output: started"
    );
    assert_eq!(sh.seen().requests[0].timeout_secs, Some(1));
}

#[test]
fn a_multi_line_command_is_reported_on_one_line() {
    let sh = ShellHost::new();
    let trigger = make(&sh.host, json!("true\nfalse\n")).unwrap();
    let err = trigger
        .execute_hook(&request(Event::Pre, "/tmp"))
        .unwrap_err();
    assert_eq!(
        err.message,
        "trigger 'publish': command `true; false` failed with exit code 1"
    );
    // Jinja2 drops the single trailing newline before the shell sees it.
    assert_eq!(sh.seen().requests[0].shell.as_deref(), Some("true\nfalse"));
}

#[test]
fn render_errors_and_hosts_that_cannot_run_fail_cleanly() {
    let sh = ShellHost::new();
    let err = make(&sh.host, json!("echo {{ missing.attr }}"))
        .unwrap()
        .execute_hook(&request(Event::Pre, "/tmp"))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(
        err.message
            .starts_with("trigger 'publish': cannot render its command: ")
    );
    assert!(!err.message.contains('\n'));
    assert!(sh.seen().requests.is_empty(), "nothing may run");

    let th = TestHost::unsupported();
    let err = make(&th, json!("true"))
        .unwrap()
        .execute_hook(&request(Event::Pre, "/tmp"))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(
        err.message
            .starts_with("trigger 'publish': could not run command `true`: "),
        "{}",
        err.message
    );
}

#[test]
fn answers_through_the_json_door() {
    let sh = ShellHost::new();
    let adapter = Adapter(make(&sh.host, json!("test {{ build.id }} = 42")).unwrap());
    let args = serde_json::to_string(&request(Event::Success, "/tmp")).unwrap();
    assert_eq!(adapter.call("execute_hook", &args).unwrap(), "{}");
    let err = adapter
        .call("execute_hook", r#"{"build":{"id":7}}"#)
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Failed);
    assert!(
        err.message
            .contains("`test 7 = 42` failed with exit code 1")
    );
    assert_eq!(
        adapter.call("notify", "{}").unwrap_err().to_json(),
        r#"{"code":"unsupported","message":"operation 'notify' is not supported"}"#
    );
}
