//! Container isolation (`vespene.plugins.isolation.basic_container`)
//! against the real Docker engine of the machine, with a test image made
//! from scratch (busybox-static; see tests/services/docker.sh): real
//! workers, real builds. After every test no container of the test's
//! builds, and no image or volume with the plugin's label, is left.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::{Build, BuildStatus};
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project, stop_build};
use vespene_core::ops::ProjectInput;
use vespene_e2e::docker::{containers_under, labelled_images_and_volumes, test_image};
use vespene_e2e::engine::{Backend, EngineSandbox, finish, kill};

const WAIT: Duration = Duration::from_secs(90);
const PLUGIN: &str = "vespene.plugins.isolation.basic_container";

/// A SQLite sandbox whose settings add isolation entries `entries`
/// (`(name, extra parameters)`, each with the test image as its default
/// image) and keep build roots; `None` when there is no engine (outside CI).
fn sandbox(entries: &[(&str, &str)]) -> Option<(EngineSandbox, String)> {
    let image = test_image()?;
    let mut settings = String::from("keep_build_roots = true\n\n[plugins.isolation]\n");
    for (name, extra) in entries {
        settings.push_str(&format!(
            "{name} = [\"{PLUGIN}\", {{ default_image = \"{image}\"{sep}{extra} }}]\n",
            sep = if extra.is_empty() { "" } else { ", " }
        ));
    }
    let es = EngineSandbox::new(Backend::Sqlite, &settings)?;
    Some((es, image))
}

/// Nothing of the sandbox's builds is left on the engine, and nothing
/// with the plugin's label that is not a container.
fn assert_nothing_left(es: &EngineSandbox) {
    let root = es.settings().build_root;
    let left = containers_under(&root);
    assert!(left.is_empty(), "containers left: {left:?}");
    let other = labelled_images_and_volumes();
    assert!(
        other.is_empty(),
        "labelled images or volumes left: {other:?}"
    );
}

fn project(es: &EngineSandbox, app: &App, name: &str, pool: i64, script: &str) -> i64 {
    es.project_with(
        app,
        ProjectInput {
            name: name.into(),
            worker_pool_id: pool,
            script: script.into(),
            ..ProjectInput::default()
        },
    )
}

fn start(app: &App, project: i64) -> i64 {
    start_project(app, &Actor::System, project, &StartRequest::default())
        .unwrap()
        .build
        .id
}

/// Runs `script` once in a pool using isolation `isolation` (optionally
/// with `image` as the project's base image): the build, its output and
/// messages.
fn build_once(
    es: &EngineSandbox,
    isolation: &str,
    image: Option<&str>,
    script: &str,
) -> (Build, String, String) {
    let app = es.app();
    let pool = es.pool_with(&app, isolation, isolation, "nobody");
    let project = es.project_with(
        &app,
        ProjectInput {
            name: format!("{isolation}-project"),
            worker_pool_id: pool,
            script: script.into(),
            container_base_image: image.map(Into::into),
            ..ProjectInput::default()
        },
    );
    let worker = es.worker(isolation, &["--max-builds", "1"]);
    let id = start(&app, project);
    let b = es.wait_build(&app, id, WAIT);
    finish(worker);
    let out = es.output(&app, id, OutputStream::Output);
    let messages = es.output(&app, id, OutputStream::Messages);
    (b, out, messages)
}

fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn a_container_build_succeeds_and_leaves_its_files_to_the_worker() {
    let Some((es, image)) = sandbox(&[("container", "")]) else {
        return;
    };
    let script = "#!/bin/sh\necho \"hello from uid $(id -u)\"\ntest -f vespene.json && echo has-variables\npwd\necho made > made.txt\nmkdir -p out/deep && echo x > out/deep/file\necho 'vespene/set colour blue'\n";
    let (b, out, messages) = build_once(&es, "container", None, script);
    assert_eq!(b.status(), BuildStatus::Success, "{out}\n{messages}");
    assert!(out.contains("hello from uid 65534"), "{out}");
    assert!(out.contains("has-variables"), "{out}");
    assert!(out.contains("/tmp/buildroot"), "{out}");
    assert!(
        b.output_variables.contains("blue"),
        "{}",
        b.output_variables
    );
    assert!(
        messages.contains(&format!(
            "using container base image: {image} (user nobody, network on)"
        )),
        "{messages}"
    );
    let root = es.build_root(b.id);
    let me = nix::unistd::geteuid().as_raw();
    for made in ["made.txt", "out", "out/deep/file"] {
        let meta = std::fs::symlink_metadata(root.join(made)).unwrap();
        assert_eq!(meta.uid(), me, "{made} belongs to the worker's user");
    }
    assert_eq!(
        std::fs::read_to_string(root.join("made.txt")).unwrap(),
        "made\n"
    );
    std::fs::remove_dir_all(&root).unwrap();
    assert_nothing_left(&es);
}

#[test]
fn a_failing_script_fails_the_build_with_its_exit_code() {
    let Some((es, _)) = sandbox(&[("container", "")]) else {
        return;
    };
    let (b, out, _) = build_once(&es, "container", None, "#!/bin/sh\necho before\nexit 3\n");
    assert_eq!(b.status(), BuildStatus::Failure, "{out}");
    assert_eq!(b.return_code, Some(3));
    assert!(out.contains("before"), "{out}");
    assert!(out.contains("build failed with exit code 3"), "{out}");
    assert_nothing_left(&es);
}

#[test]
fn output_is_stored_live_and_in_order() {
    let Some((es, _)) = sandbox(&[("container", "")]) else {
        return;
    };
    let app = es.app();
    let pool = es.pool_with(&app, "live", "container", "nobody");
    let p = project(
        &es,
        &app,
        "live",
        pool,
        "#!/bin/sh\necho one\necho two >&2\necho three\nsleep 4\necho four >&2\necho five\n",
    );
    let worker = es.worker("live", &["--max-builds", "1"]);
    let id = start(&app, p);
    // "three" is printed before the sleep: it must be stored while the
    // build still runs.
    let mut seen_while_running = false;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let out = es.output(&app, id, OutputStream::Output);
        let running = !app
            .ops
            .builds()
            .get(&Actor::System, id)
            .unwrap()
            .status()
            .is_complete();
        if out.contains("three") {
            seen_while_running = running && !out.contains("four");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let b = es.wait_build(&app, id, WAIT);
    finish(worker);
    let out = es.output(&app, id, OutputStream::Output);
    assert_eq!(b.status(), BuildStatus::Success, "{out}");
    assert!(
        seen_while_running,
        "the line before the sleep was not stored while the build ran"
    );
    let order: Vec<usize> = ["one", "two", "three", "four", "five"]
        .iter()
        .map(|w| out.find(&format!("| {w}\n")).unwrap_or(usize::MAX))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]) && order[4] != usize::MAX,
        "stdout and stderr out of order: {out}"
    );
    assert_nothing_left(&es);
}

#[test]
fn the_project_timeout_ends_the_container_and_fails_the_build() {
    let Some((es, _)) = sandbox(&[("container", "")]) else {
        return;
    };
    let app = es.app();
    let pool = es.pool_with(&app, "slow", "container", "nobody");
    let p = es.project_with(
        &app,
        ProjectInput {
            name: "slow".into(),
            worker_pool_id: pool,
            timeout: 1,
            script: "#!/bin/sh\necho started\nsleep 1000\n".into(),
            ..ProjectInput::default()
        },
    );
    let worker = es.worker("slow", &["--max-builds", "1"]);
    let id = start(&app, p);
    let b = es.wait_build(&app, id, Duration::from_secs(150));
    finish(worker);
    let out = es.output(&app, id, OutputStream::Output);
    assert_eq!(b.status(), BuildStatus::Failure, "{out}");
    assert_eq!(b.return_code, Some(124));
    assert!(out.contains("started"), "{out}");
    assert!(out.contains("build timed out after 1 minute"), "{out}");
    assert_nothing_left(&es);
}

#[test]
fn a_stop_removes_the_container_within_seconds() {
    let Some((es, _)) = sandbox(&[("container", "")]) else {
        return;
    };
    let app = es.app();
    let pool = es.pool_with(&app, "stoppable", "container", "nobody");
    let p = project(
        &es,
        &app,
        "stoppable",
        pool,
        "#!/bin/sh\ntrap '' TERM\necho started\nsleep 1000\n",
    );
    let worker = es.worker("stoppable", &["--max-builds", "1"]);
    let id = start(&app, p);
    wait_for("the build to start", WAIT, || {
        es.output(&app, id, OutputStream::Output)
            .contains("started")
    });
    let root = es.settings().build_root;
    assert_eq!(containers_under(&root).len(), 1);
    let stopped = Instant::now();
    stop_build(&app, &Actor::System, id).unwrap();
    wait_for("the container to go", Duration::from_secs(5), || {
        containers_under(&root).is_empty()
    });
    let gone_after = stopped.elapsed();
    let b = es.wait_build(&app, id, WAIT);
    finish(worker);
    assert_eq!(b.status(), BuildStatus::Aborted);
    assert!(gone_after < Duration::from_secs(5), "{gone_after:?}");
    assert_nothing_left(&es);
}

#[test]
fn a_worker_killed_mid_build_leaves_nothing_once_a_worker_starts_again() {
    let Some((es, _)) = sandbox(&[("container", "")]) else {
        return;
    };
    let app = es.app();
    let pool = es.pool_with(&app, "doomed", "container", "nobody");
    let p = project(
        &es,
        &app,
        "doomed",
        pool,
        "#!/bin/sh\necho started\nsleep 1000\n",
    );
    let worker = es.worker("doomed", &[]);
    let id = start(&app, p);
    wait_for("the build to start", WAIT, || {
        es.output(&app, id, OutputStream::Output)
            .contains("started")
    });
    let root = es.settings().build_root;
    kill(worker); // SIGKILL: the worker cannot clean up.
    // The engine keeps the container running without its worker (any
    // process loading the plugin may sweep it from now on).
    let running = docker_running(&containers_under(&root));
    eprintln!("after the kill: {running:?}");
    let restarted = es.worker("doomed", &[]);
    wait_for(
        "the restarted worker to remove the container",
        Duration::from_secs(30),
        || containers_under(&root).is_empty(),
    );
    // The dead worker's build is not left running either.
    let b = es.wait_build(&app, id, WAIT);
    kill(restarted);
    assert_ne!(b.status(), BuildStatus::Success);
    assert_nothing_left(&es);
}

/// The names of the containers in `lines` (`name root`) that run.
fn docker_running(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split(' ').next())
        .filter(|name| {
            vespene_e2e::docker::docker(&["inspect", "-f", "{{.State.Running}}", name]) == "true"
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_memory_limit_is_enforced() {
    let Some((es, _)) = sandbox(&[("container", ""), ("container_small", "memory = \"32m\"")])
    else {
        return;
    };
    // `tail` keeps the last line, here 200 MiB without a line end.
    let script = "#!/bin/sh\nset -e\nhead -c 200m /dev/zero | tail > /dev/null\necho finished\n";
    let (b, out, messages) = build_once(&es, "container_small", None, script);
    assert_eq!(b.status(), BuildStatus::Failure, "{out}");
    assert_ne!(b.return_code, Some(0));
    assert!(!out.contains("finished"), "{out}");
    assert!(messages.contains("memory 32 MiB"), "{messages}");
    // The same script without the limit: it is the limit that failed it.
    let (b, out, _) = build_once(&es, "container", None, script);
    assert_eq!(b.status(), BuildStatus::Success, "{out}");
    assert!(out.contains("finished"), "{out}");
    assert_nothing_left(&es);
}

#[test]
fn network_off_leaves_only_loopback() {
    let Some((es, _)) = sandbox(&[("container", ""), ("container_offline", "network = false")])
    else {
        return;
    };
    let script = "#!/bin/sh\ncat /proc/net/dev\n";
    let (b, out, messages) = build_once(&es, "container_offline", None, script);
    assert_eq!(b.status(), BuildStatus::Success, "{out}");
    assert!(out.contains("lo:"), "{out}");
    assert!(!out.contains("eth0"), "{out}");
    assert!(messages.contains("network off"), "{messages}");
    let (b, out, _) = build_once(&es, "container", None, script);
    assert_eq!(b.status(), BuildStatus::Success, "{out}");
    assert!(out.contains("eth0"), "with the network on: {out}");
    assert_nothing_left(&es);
}

#[test]
fn the_allow_list_refuses_other_images() {
    let Some((es, image)) = sandbox(&[(
        "container_strict",
        "allowed_images = [\"vespene-test/busybox:1\"]",
    )]) else {
        return;
    };
    assert_eq!(image, "vespene-test/busybox:1");
    let (b, out, messages) = build_once(
        &es,
        "container_strict",
        Some("vespene-test/other:1"),
        "#!/bin/sh\necho ran\n",
    );
    assert_eq!(b.status(), BuildStatus::Failure, "{out}");
    assert!(!out.contains("| ran"), "{out}");
    assert!(
        messages.contains(
            "the container base image 'vespene-test/other:1' of project 'container_strict-project' is not allowed by isolation 'container_strict'"
        ),
        "{messages}"
    );
    assert_nothing_left(&es);
}

#[test]
fn a_missing_image_fails_the_build_saying_it_must_be_present_or_pullable() {
    let Some((es, _)) = sandbox(&[("container", "")]) else {
        return;
    };
    let (b, out, messages) = build_once(
        &es,
        "container",
        Some("vespene-test/missing:1"),
        "#!/bin/sh\necho ran\n",
    );
    assert_eq!(b.status(), BuildStatus::Failure, "{out}");
    assert!(
        messages.contains("the container base image 'vespene-test/missing:1' is not on the Docker engine at unix:///var/run/docker.sock"),
        "{messages}"
    );
    assert!(
        messages.contains("must be present on the engine or pullable"),
        "{messages}"
    );
    assert_nothing_left(&es);
}

#[test]
fn an_unreachable_engine_fails_the_build_naming_the_socket() {
    let Some((es, _)) = sandbox(&[(
        "container_nowhere",
        "socket = \"/nonexistent/vespene-test/docker.sock\"",
    )]) else {
        return;
    };
    let (b, out, messages) = build_once(&es, "container_nowhere", None, "#!/bin/sh\necho ran\n");
    assert_eq!(b.status(), BuildStatus::Failure, "{out}");
    assert!(
        messages.contains(
            "cannot reach the Docker engine at unix:///nonexistent/vespene-test/docker.sock"
        ),
        "{messages}"
    );
    assert_nothing_left(&es);
}
