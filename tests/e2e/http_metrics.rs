//! `/metrics` of a running server on SQLite and PostgreSQL: every line is
//! valid Prometheus text exposition, and the numbers are the data's
//! (builds by status, queue depth per pool, durations, workers, plugins,
//! live followers, which drop back to zero when a client leaves).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use vespene_e2e::engine::{Backend, EngineSandbox};

/// Parses exposition text into `name{labels}` → value, checking each line.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap(), parts.next().unwrap_or_default());
            assert!(matches!(kw, "HELP" | "TYPE"), "{line}");
            assert!(valid_name(name), "{line}");
            if kw == "TYPE" {
                let kind = parts.next().unwrap_or_default();
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                typed.push(name.to_string());
            }
            continue;
        }
        assert!(!line.is_empty(), "no blank lines");
        let (series, value) = line.rsplit_once(' ').expect("a value");
        let value: f64 = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().unwrap_or_else(|_| panic!("value of {line}"))
        };
        let name = series.split('{').next().unwrap();
        assert!(valid_name(name), "{line}");
        assert!(
            typed.iter().any(|t| name == t
                || name
                    .strip_prefix(t.as_str())
                    .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))),
            "a sample of a declared family: {line}"
        );
        let labels = &series[name.len()..];
        if !labels.is_empty() {
            let inner = labels
                .strip_prefix('{')
                .and_then(|l| l.strip_suffix('}'))
                .expect("{labels}");
            for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                let (k, _) = pair.split_once("=\"").expect("label=\"value\"");
                assert!(valid_name(k), "{line}");
            }
        }
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "repeated: {line}"
        );
    }
    samples
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn metrics(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let app = es.app();
    vespene_core::accounts::create_user(&app.db, "alice", Some("alice-pw"), true).unwrap();
    let busy = es.pool(&app, "busy");
    let idle = es.pool(&app, "idle \"quoted\"");
    es.project(&app, "ok", busy, "#!/bin/sh\necho fine\n");
    es.project(&app, "bad", busy, "#!/bin/sh\nexit 3\n");
    es.project(&app, "waits", idle, "#!/bin/sh\necho never\n");
    for p in ["ok", "bad", "waits"] {
        es.vespene(&["project", "start", p]).ok();
    }
    let mut worker = es.worker("busy", &[]);
    es.wait_build(&app, 1, Duration::from_secs(60));
    es.wait_build(&app, 2, Duration::from_secs(60));
    let server = vespene_e2e::http::Server::start(&es);

    let mut anyone = server.client();
    let r = anyone.get("/metrics");
    assert_eq!(r.status, 200, "no login needed");
    assert!(r.header_all("content-type")[0].starts_with("text/plain; version=0.0.4"));
    let m = parse(&r.text);
    assert_eq!(m["vespene_builds{status=\"SUCCESS\"}"], 1.0);
    assert_eq!(m["vespene_builds{status=\"FAILURE\"}"], 1.0);
    assert_eq!(m["vespene_builds{status=\"QUEUED\"}"], 1.0);
    assert_eq!(m["vespene_builds{status=\"RUNNING\"}"], 0.0);
    assert_eq!(m["vespene_queue_depth{pool=\"busy\"}"], 0.0);
    assert_eq!(m["vespene_queue_depth{pool=\"idle \\\"quoted\\\"\"}"], 1.0);
    assert_eq!(m["vespene_build_duration_seconds_count"], 2.0);
    assert_eq!(m["vespene_build_duration_seconds_bucket{le=\"+Inf\"}"], 2.0);
    assert_eq!(m["vespene_build_duration_seconds_bucket{le=\"3600\"}"], 2.0);
    assert!(m["vespene_build_duration_seconds_sum"] >= 0.0);
    assert_eq!(m["vespene_workers"], 1.0);
    assert_eq!(m["vespene_workers_alive"], 1.0);
    assert_eq!(m["vespene_live_followers"], 0.0);
    // Every configured plugin has its counters.
    let plugins: Vec<&String> = m
        .keys()
        .filter(|k| k.starts_with("vespene_plugin_calls_total{"))
        .collect();
    assert!(!plugins.is_empty(), "{}", r.text);
    for k in &plugins {
        let failures = k.replace("calls_total", "call_failures_total");
        assert!(m.contains_key(&failures), "{failures}");
    }

    // A live follower counts while connected and not after it leaves.
    let alice = server.login("alice", "alice-pw");
    let stream = alice.events("/api/v1/builds/3/events", &[]);
    assert_eq!(stream.status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        parse(&anyone.get("/metrics").text)["vespene_live_followers"],
        1.0
    );
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = parse(&anyone.get("/metrics").text)["vespene_live_followers"];
        if n == 0.0 {
            break;
        }
        assert!(Instant::now() < deadline, "a closed stream still follows");
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = worker.kill();
    let _ = worker.wait();
}

#[test]
fn metrics_on_sqlite() {
    metrics(Backend::Sqlite);
}

#[test]
fn metrics_on_postgres() {
    metrics(Backend::Postgres);
}

#[test]
fn metrics_turned_off() {
    let Some(es) = EngineSandbox::new(Backend::Sqlite, "[server]\nmetrics = false\n") else {
        return;
    };
    let server = vespene_e2e::http::Server::start(&es);
    assert_eq!(server.client().get("/metrics").status, 404);
}
