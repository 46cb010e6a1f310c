//! Unit tests of the shell executor with a test host that records the
//! commands it is asked to run.

use super::*;
use serde_json::{Value as Json, json};
use std::sync::Mutex;
use vespene_plugin_api::testing::TestHost;

/// A host answering `run` with `outcome` and recording the requests.
fn host(outcome: RunOutcome) -> (TestHost, Arc<Mutex<Vec<RunRequest>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let th = TestHost::new(move |op, args| match op {
        "run" => {
            s.lock()
                .unwrap()
                .push(serde_json::from_str::<RunRequest>(args).unwrap());
            Ok(serde_json::to_string(&outcome).unwrap())
        }
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

fn executor(th: &TestHost, params: Json) -> Result<ShellExecutor, PluginError> {
    ShellExecutor::create(CreateContext {
        name: "shell",
        params,
        host: th.host(),
    })
}

fn request(command: &str, parameters: Json) -> ScaleRequest {
    let Json::Object(parameters) = parameters else {
        panic!("parameters must be an object")
    };
    ScaleRequest {
        worker_pool: WorkerPoolInfo {
            name: "general".into(),
            executor_command: command.into(),
            maximum: 12,
            ..WorkerPoolInfo::default()
        },
        parameters,
    }
}

fn stock_parameters() -> Json {
    json!({"worker_pool": "general", "size": 5, "queued_size": 2, "running": 3, "queued": 2})
}

#[test]
fn renders_the_command_and_runs_it_in_a_shell() {
    let (th, seen) = host(exit(0));
    let ex = executor(&th, Json::Null).unwrap();
    let req = request(
        "terraform apply plans/{{ worker_pool.name }}.tf -var 'size={{ size }}' \
         -var 'queued={{ queued_size }}' # {{ worker_pool }} max {{ worker_pool.maximum }}\n",
        stock_parameters(),
    );
    assert_eq!(ex.scale_worker_pool(&req).unwrap(), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].shell.as_deref(),
        Some("terraform apply plans/general.tf -var 'size=5' -var 'queued=2' # general max 12")
    );
    assert!(seen[0].argv.is_empty());
    assert_eq!(seen[0].stream, Stream::Messages);
    assert!(seen[0].log_command);
    assert_eq!(seen[0].timeout_secs, None);
}

#[test]
fn the_exit_status_becomes_the_pools_status() {
    let (th, _) = host(exit(3));
    let ex = executor(&th, Json::Null).unwrap();
    let req = request("scale {{ size }}", stock_parameters());
    assert_eq!(ex.scale_worker_pool(&req).unwrap(), 3);
    for killed in [
        RunOutcome {
            exit_code: None,
            signal: Some(9),
            ..RunOutcome::default()
        },
        RunOutcome {
            timed_out: true,
            ..exit(0)
        },
        RunOutcome {
            aborted: true,
            exit_code: None,
            ..RunOutcome::default()
        },
    ] {
        let (th, _) = host(killed.clone());
        let ex = executor(&th, Json::Null).unwrap();
        assert_eq!(ex.scale_worker_pool(&req).unwrap(), 1, "{killed:?}");
    }
}

#[test]
fn unknown_names_and_bad_templates_are_errors() {
    let (th, seen) = host(exit(0));
    let ex = executor(&th, Json::Null).unwrap();
    let err = ex
        .scale_worker_pool(&request("scale {{ sise }}", stock_parameters()))
        .unwrap_err();
    assert!(err.message.contains("worker pool 'general'"), "{err}");
    assert!(err.message.contains("could not be rendered"), "{err}");
    let err = ex
        .scale_worker_pool(&request("scale {{ worker_pool.nope }}", stock_parameters()))
        .unwrap_err();
    assert!(err.message.contains("could not be rendered"), "{err}");
    let err = ex
        .scale_worker_pool(&request("{% if size %}x", stock_parameters()))
        .unwrap_err();
    assert!(err.message.contains("not a valid template"), "{err}");
    let err = ex
        .scale_worker_pool(&request("   ", stock_parameters()))
        .unwrap_err();
    assert!(err.message.contains("no executor_command"), "{err}");
    let err = ex
        .scale_worker_pool(&request("{% if false %}x{% endif %}", stock_parameters()))
        .unwrap_err();
    assert!(err.message.contains("empty command"), "{err}");
    assert!(seen.lock().unwrap().is_empty(), "nothing ran");
}

#[test]
fn any_parameter_is_a_variable_and_nothing_is_escaped() {
    let (th, seen) = host(exit(0));
    let ex = executor(&th, json!({"timeout_secs": 120})).unwrap();
    let req = request(
        "echo '{{ region }}' {{ size * 2 }} {{ tags | join(',') }} && true > /dev/null",
        json!({"worker_pool": "general", "size": 4, "region": "<eu&west>", "tags": ["a", "b"]}),
    );
    assert_eq!(ex.scale_worker_pool(&req).unwrap(), 0);
    // Without a worker_pool parameter the pool itself is offered.
    let req = request("scale {{ worker_pool }} {{ worker_pool.name }}", json!({}));
    assert_eq!(ex.scale_worker_pool(&req).unwrap(), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen[0].shell.as_deref(),
        Some("echo '<eu&west>' 8 a,b && true > /dev/null")
    );
    assert_eq!(seen[0].timeout_secs, Some(120));
    assert_eq!(seen[1].shell.as_deref(), Some("scale general general"));
}

#[test]
fn a_host_that_cannot_run_it_is_an_error_and_params_are_checked() {
    let th = TestHost::unsupported();
    let ex = executor(&th, Json::Null).unwrap();
    let err = ex
        .scale_worker_pool(&request("scale {{ size }}", stock_parameters()))
        .unwrap_err();
    assert!(err.message.contains("could not run"), "{err}");
    assert!(executor(&th, json!({"timeout_secs": 0})).is_err());
    assert!(executor(&th, json!({"timeout": 5})).is_err());
}

#[test]
fn answers_through_the_boundary() {
    let (th, _) = host(exit(7));
    let adapter =
        vespene_plugin_api::kinds::autoscale_executor::Adapter(executor(&th, Json::Null).unwrap());
    let args = json!({
        "worker_pool": {"name": "general", "executor_command": "scale {{ size }}"},
        "parameters": {"worker_pool": "general", "size": 1, "queued_size": 1}
    });
    let out = vespene_plugin_api::export::Dispatch::call(
        &adapter,
        "scale_worker_pool",
        &args.to_string(),
    )
    .unwrap();
    assert_eq!(out, r#"{"status":7}"#);
}
