//! Unit tests of what needs no engine: parameters, the allow-list, lines,
//! owners, users and the container's description. The engine itself is
//! exercised by tests/e2e/container.rs.

use super::*;
use vespene_plugin_api::serde_json::{Value, json};
use vespene_plugin_api::testing::TestHost;
use vespene_plugin_api::{BuildInfo, ErrorCode, ProjectInfo};

fn make(host: &TestHost, params: Value) -> Result<ContainerIsolation, PluginError> {
    // A socket that is not there: create's sweep is skipped.
    let mut params = params;
    if let Value::Object(m) = &mut params {
        m.entry("socket")
            .or_insert(json!("/nonexistent/vespene-test/docker.sock"));
    }
    ContainerIsolation::create(CreateContext {
        name: "basic_container",
        params,
        host: host.host(),
    })
}

fn request(image: Option<&str>) -> IsolationRequest {
    IsolationRequest {
        build: BuildInfo {
            id: 42,
            ..Default::default()
        },
        project: ProjectInfo {
            name: "web".into(),
            container_base_image: image.map(Into::into),
            ..Default::default()
        },
        build_root: "/srv/builds/42".into(),
        script_path: "/srv/builds/42/vespene_launch.sh".into(),
        variables_path: "/srv/builds/42/vespene.json".into(),
        timeout_secs: Some(60),
        ..Default::default()
    }
}

#[test]
fn memory_sizes_read_like_the_docker_command_line() {
    assert_eq!(parse_memory("512m").unwrap(), 512 << 20);
    assert_eq!(parse_memory("2G").unwrap(), 2 << 30);
    assert_eq!(parse_memory("1.5g").unwrap(), 3 << 29);
    assert_eq!(parse_memory("64MiB").unwrap(), 64 << 20);
    assert_eq!(parse_memory("10485760").unwrap(), 10 << 20);
    for bad in ["", "m", "12 parsecs", "1k", "-5m", "5x"] {
        assert!(parse_memory(bad).is_err(), "{bad}");
    }
}

#[test]
fn the_allow_list_matches_tags_and_prefixes() {
    let allowed = vec![
        "debian".to_string(),
        "registry.example:5000/ci/*".into(),
        "alpine:*".into(),
        "vespene-test/busybox:1".into(),
    ];
    for ok in [
        "debian",
        "debian:latest",
        "registry.example:5000/ci/rust:1.88",
        "alpine:3.20",
        "vespene-test/busybox:1",
    ] {
        assert!(image_allowed(&allowed, ok), "{ok}");
    }
    for refused in [
        "debian:12",
        "ubuntu",
        "registry.example:5000/other/x",
        "alpine",
        "vespene-test/busybox:2",
    ] {
        assert!(!image_allowed(&allowed, refused), "{refused}");
    }
    assert!(image_allowed(&[], "anything:at-all"));
    assert_eq!(with_tag("registry:5000/x"), "registry:5000/x:latest");
    assert_eq!(with_tag("x@sha256:abc"), "x@sha256:abc");
}

#[test]
fn bad_parameters_are_refused_with_the_reason() {
    let host = TestHost::unsupported();
    for (params, says) in [
        (json!({"memory": "lots"}), "memory"),
        (json!({"cpus": -1.0}), "cpus"),
        (json!({"socket": "docker.sock"}), "socket"),
        (json!({"workdir": "relative"}), "workdir"),
        (json!({"colour": "blue"}), "colour"),
        (
            json!({"allowed_images": ["a:1"], "default_image": "b:1"}),
            "default_image",
        ),
    ] {
        let e = make(&host, params.clone()).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidParams, "{params}");
        assert!(e.message.contains(says), "{params}: {}", e.message);
    }
    let ok = make(
        &host,
        json!({"memory": "256m", "cpus": 0.5, "network": false}),
    )
    .unwrap();
    assert_eq!(ok.config.memory_bytes, Some(256 << 20));
    assert_eq!(ok.config.nano_cpus, Some(500_000_000));
}

#[test]
fn the_image_is_the_projects_else_the_default_and_must_be_allowed() {
    let host = TestHost::unsupported();
    let plain = make(&host, json!({})).unwrap();
    let e = plain.plan(&request(None)).unwrap_err();
    assert!(
        e.message.contains("container base image is not set"),
        "{}",
        e.message
    );
    let with_default = make(
        &host,
        json!({"default_image": "vespene-test/busybox:1", "allowed_images": ["vespene-test/*"]}),
    )
    .unwrap();
    assert_eq!(
        with_default.plan(&request(Some(" "))).unwrap().image,
        "vespene-test/busybox:1"
    );
    assert_eq!(
        with_default
            .plan(&request(Some("vespene-test/other:2")))
            .unwrap()
            .image,
        "vespene-test/other:2"
    );
    let e = with_default.plan(&request(Some("debian:12"))).unwrap_err();
    assert!(e.message.contains("'debian:12'"), "{}", e.message);
    assert!(e.message.contains("not allowed"), "{}", e.message);
}

#[test]
fn the_container_is_never_privileged_and_follows_the_parameters() {
    let host = TestHost::unsupported();
    let iso = make(
        &host,
        json!({"default_image": "img:1", "memory": "64m", "cpus": 1.5, "network": false, "user": "4242:4343"}),
    );
    // A non-root worker cannot hand the root to another uid.
    if !nix::unistd::geteuid().is_root() {
        let e = iso.unwrap().plan(&request(None)).unwrap_err();
        assert!(
            e.message.contains("needs a worker running as root"),
            "{}",
            e.message
        );
        return;
    }
    let plan = iso.unwrap().plan(&request(None)).unwrap();
    assert_eq!(plan.spec.user, "4242:4343");
    assert_eq!(plan.run_as.give_back, Some(owner::worker_ids()));
    assert_eq!(plan.spec.script, "/tmp/buildroot/vespene_launch.sh");
    let body = plan.spec.body();
    let hc = body.host_config.unwrap();
    assert_eq!(hc.privileged, Some(false));
    assert_eq!(hc.memory, Some(64 << 20));
    assert_eq!(hc.memory_swap, Some(64 << 20));
    assert_eq!(hc.nano_cpus, Some(1_500_000_000));
    assert_eq!(hc.network_mode.as_deref(), Some("none"));
    assert_eq!(hc.cap_drop, Some(vec!["ALL".to_string()]));
    assert_eq!(
        hc.binds.unwrap(),
        vec![
            "/srv/builds/42:/tmp/buildroot:rw".to_string(),
            "/srv/builds/42:/srv/builds/42:rw".to_string()
        ]
    );
    let labels = body.labels.unwrap();
    assert_eq!(labels[LABEL_BUILD], "42");
    assert_eq!(labels[LABEL_PLUGIN], PLUGIN_NAME);
    assert_eq!(labels[LABEL_ROOT], "/srv/builds/42");
    assert!(plan.spec.name().starts_with("vespene-build-42-"));
    assert_ne!(
        container_name(42, "/srv/builds/42"),
        container_name(42, "/other/42")
    );
    assert_eq!(Owner::parse(&labels[LABEL_OWNER]), Some(Owner::current()));
    assert_eq!(body.working_dir.as_deref(), Some("/tmp/buildroot"));
}

#[test]
fn root_is_refused_unless_allowed() {
    let e = resolve_user("0", (0, 0), false).unwrap_err();
    assert!(e.contains("refusing to run builds as root"), "{e}");
    let root = resolve_user("0:0", (0, 0), true).unwrap();
    assert_eq!((root.uid, root.gid, root.give_back), (0, 0, None));
    // A root worker's default build user is nobody.
    if nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .is_some()
    {
        let nobody = resolve_user("", (0, 0), false).unwrap();
        assert_eq!(nobody.shown, "nobody");
        assert_ne!(nobody.uid, 0);
        assert_eq!(nobody.give_back, Some((0, 0)));
    }
    // A non-root worker runs builds as itself, with nothing to hand over.
    let me = resolve_user("", (1234, 1234), false).unwrap();
    assert_eq!((me.uid, me.gid, me.give_back), (1234, 1234, None));
    let e = resolve_user("4321", (1234, 1234), false).unwrap_err();
    assert!(e.contains("needs a worker running as root"), "{e}");
}

#[test]
fn lines_wait_for_their_end() {
    let mut l = Lines::default();
    l.push(b"one\ntw");
    assert_eq!(l.take_complete().as_deref(), Some("one\n"));
    assert_eq!(l.take_complete(), None);
    l.push(b"o\nthree\nfo");
    assert_eq!(l.take_complete().as_deref(), Some("two\nthree\n"));
    l.push(b"ur \xff");
    assert_eq!(l.take_all().as_deref(), Some("four \u{fffd}\n"));
    assert_eq!(l.take_all(), None);
    let long = vec![b'x'; lines::MAX_LINE_BYTES + 1];
    l.push(&long);
    assert_eq!(l.take_complete().map(|t| t.len()), Some(long.len() + 1));
}

#[test]
fn owners_are_alive_while_their_process_is() {
    let me = Owner::current();
    assert!(me.start > 0);
    assert_eq!(Owner::parse(&me.label()), Some(me.clone()));
    assert!(!me.is_dead_on(&me.host));
    let reused = Owner {
        start: me.start + 1,
        ..me.clone()
    };
    assert!(
        reused.is_dead_on(&me.host),
        "a pid reused by another process"
    );
    let gone = Owner {
        pid: i32::MAX,
        ..me.clone()
    };
    assert!(gone.is_dead_on(&me.host));
    assert!(
        !gone.is_dead_on("another-host"),
        "other hosts are left alone"
    );
    assert_eq!(
        Owner::parse("host/with/slashes/12/34").map(|o| (o.host, o.pid, o.start)),
        Some(("host/with/slashes".into(), 12, 34))
    );
}

#[test]
fn an_unreachable_engine_is_named_in_the_error() {
    let host = TestHost::unsupported();
    let iso = make(&host, json!({"default_image": "img:1"})).unwrap();
    let e = iso.begin(&request(None)).unwrap_err();
    assert!(
        e.message.contains(
            "cannot reach the Docker engine at unix:///nonexistent/vespene-test/docker.sock"
        ),
        "{}",
        e.message
    );
    assert!(iso.probe().is_err());
}
