//! HTTP server benchmark: the real `vespene server` with every stock
//! plugin loaded, 100 projects and 100,000 builds in its database, on
//! SQLite and (when `VESPENE_TEST_POSTGRES_URL` is set) PostgreSQL, loaded
//! by `wrk` (2 threads) with an API token. Every figure has its baseline
//! from the same run and server: a request that reaches the server but
//! neither the database nor the authorization plugins (an unknown path,
//! answered with the JSON 404).
//!
//! * build list and project list as JSON (`/api/v1/builds`,
//!   `/api/v1/projects`, first page of 50): requests/s, p50, p99;
//! * the server's resident memory (and the private, anonymous part of
//!   it), idle after start (all stock plugins loaded) and idle again after
//!   the load.
//!
//! Release figures: `cargo build --release --workspace && cargo bench -p
//! vespene-e2e --bench http` (about a minute). Without `--bench` (as
//! `cargo test --benches` runs it) it runs each load for a second against
//! the debug build, to prove it works.

use diesel::connection::SimpleConnection;
use std::process::Command;
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_e2e::engine::{Backend, EngineSandbox, backends};
use vespene_e2e::http::Server;
use vespene_e2e::memory::{mem_mib, rss_parts};

const PROJECTS: usize = 100;
const BUILDS: usize = 100_000;

/// What one `wrk` run measured.
struct Load {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: bool,
}

fn parse_ms(text: &str) -> f64 {
    let t = text.trim();
    let (num, factor) = if let Some(n) = t.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e3)
    } else {
        (t, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}

fn wrk(url: &str, token: &str, seconds: u64, connections: u32) -> Load {
    wrk_with(
        url,
        &format!("Authorization: Bearer {token}"),
        seconds,
        connections,
    )
}

/// [`wrk`] sending `header` (a token, or a session cookie for the web UI).
fn wrk_with(url: &str, header: &str, seconds: u64, connections: u32) -> Load {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
        ])
        .args(["-H", header])
        .arg(url)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "wrk failed: {text}");
    let mut load = Load {
        requests_per_s: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        non_2xx: text.contains("Non-2xx"),
    };
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            load.requests_per_s = v.trim().parse().unwrap_or(0.0);
        } else if let Some(v) = line.strip_prefix("50%") {
            load.p50_ms = parse_ms(v);
        } else if let Some(v) = line.strip_prefix("99%") {
            load.p99_ms = parse_ms(v);
        }
    }
    load
}

/// 100 projects and 100,000 finished builds, written in bulk.
fn populate(es: &EngineSandbox) -> String {
    let app = es.app();
    let admin = vespene_core::accounts::create_user(&app.db, "bench", Some("pw"), true).unwrap();
    let token = vespene_core::accounts::create_token(&app.db, admin.id, "bench")
        .unwrap()
        .token;
    let pool = es.pool(&app, "bench");
    let mut first = 0;
    for i in 0..PROJECTS {
        let id = es.project(&app, &format!("project-{i:03}"), pool, "echo hi");
        if i == 0 {
            first = id;
        }
    }
    // Timestamps as each backend stores them: SQLite keeps the text diesel
    // writes (a CAST to TIMESTAMP, NUMERIC affinity there, would store the
    // number 2026 and every read would take diesel's slowest path).
    let at = |t: &str| match es.backend {
        Backend::Sqlite => format!("'2026-01-01 {t}.250000'"),
        Backend::Postgres => format!("CAST('2026-01-01 {t}.25' AS TIMESTAMP)"),
    };
    let sql = format!(
        "INSERT INTO builds (project_id, worker_pool_id, queued_time, start_time, end_time, \
         status, revision, return_code) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {BUILDS}) \
         SELECT (i % {PROJECTS}) + {first}, {pool}, {}, {}, {}, \
         CASE WHEN i % 10 = 0 THEN 'FAILURE' ELSE 'SUCCESS' END, 'abc1234', 0 FROM n",
        at("00:00:00"),
        at("00:00:01"),
        at("00:00:02"),
    );
    app.db
        .conn()
        .unwrap()
        .batch_execute(&sql)
        .expect("insert builds");
    if es.backend == Backend::Postgres {
        app.db.conn().unwrap().batch_execute("ANALYZE").unwrap();
    }
    let count = app
        .ops
        .builds()
        .list(
            &Actor::System,
            &Default::default(),
            vespene_core::ops::PageRequest {
                page: 1,
                size: Some(1),
            },
        )
        .unwrap();
    // The rows read back as the timestamps they were given.
    let first = count.items.first().expect("a build");
    assert_eq!(
        first.queued_time.to_string(),
        "2026-01-01 00:00:00.250",
        "stored timestamps"
    );
    token
}

fn row(name: &str, load: &Load, base: &Load, target: &str) {
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.2}× | {target} |",
        load.requests_per_s,
        load.p50_ms,
        load.p99_ms,
        load.requests_per_s / base.requests_per_s,
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (seconds, connections) = if full { (10, 16) } else { (1, 4) };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "\n## HTTP server ({} build, {cores} cores, wrk -t2 -c{connections} -d{seconds}s)\n",
        if full { "release" } else { "debug, quick mode" }
    );
    for backend in backends() {
        let es = EngineSandbox::new(backend, "").expect("sandbox");
        eprintln!("{backend:?}: writing {PROJECTS} projects and {BUILDS} builds");
        let token = populate(&es);
        let server = Server::start(&es);
        std::thread::sleep(Duration::from_secs(1));
        let idle = (
            mem_mib(server.pid(), "VmRSS:"),
            mem_mib(server.pid(), "RssAnon:"),
        );
        let idle_parts = rss_parts(server.pid());
        let url = |p: &str| format!("{}{p}", server.url);
        // Warm up (connections, caches).
        wrk(&url("/api/v1/builds"), &token, 1, 2);
        let base = wrk(&url("/api/v1/no-such-route"), &token, seconds, connections);
        let builds = wrk(&url("/api/v1/builds"), &token, seconds, connections);
        let projects = wrk(&url("/api/v1/projects"), &token, seconds, connections);
        assert!(!builds.non_2xx && !projects.non_2xx, "errors under load");
        // The web UI's HTML lists, with a login session's cookie.
        let session = server
            .login("bench", "pw")
            .session
            .expect("a session cookie");
        let cookie = format!("Cookie: vespene_session={session}");
        let html_builds = wrk_with(&url("/ui/builds"), &cookie, seconds, connections);
        let html_projects = wrk_with(&url("/ui/projects"), &cookie, seconds, connections);
        assert!(
            !html_builds.non_2xx && !html_projects.non_2xx,
            "web UI errors under load"
        );
        std::thread::sleep(Duration::from_secs(1));
        let after = (
            mem_mib(server.pid(), "VmRSS:"),
            mem_mib(server.pid(), "RssAnon:"),
        );
        let after_parts = rss_parts(server.pid());
        println!("### {backend:?}\n");
        println!("| request | req/s | p50 ms | p99 ms | vs baseline (req/s) | target |");
        println!("|---|---|---|---|---|---|");
        row(
            "baseline: unknown path (JSON 404, no database)",
            &base,
            &base,
            "—",
        );
        row(
            "build list JSON (50 of 100,000)",
            &builds,
            &base,
            "≥ 10,000 req/s, p50 ≤ 2 ms",
        );
        row(
            "project list JSON (50 of 100)",
            &projects,
            &base,
            "≥ 10,000 req/s, p50 ≤ 2 ms",
        );
        row(
            "build list HTML /ui/builds (50 of 100,000)",
            &html_builds,
            &base,
            "≥ 5,000 req/s, p50 ≤ 2 ms",
        );
        row(
            "project list HTML /ui/projects (50 of 100, status icons)",
            &html_projects,
            &base,
            "≥ 5,000 req/s, p50 ≤ 2 ms",
        );
        big_build_page(&es, &server);
        println!(
            "\nServer RSS: {:.1} MiB idle after start with every stock plugin loaded \
             (target ≤ 16 MiB), of which {:.1} MiB private (anonymous) and the rest \
             mapped files (the binary, the plugins, shared with other processes); \
             {:.1} MiB ({:.1} MiB private) idle after the load.\n\n\
             Resident memory by mapping: idle {idle_parts}; after the load {after_parts}.\n",
            idle.0, idle.1, after.0, after.1
        );
    }
}

/// The build page of a 1,000,000-line build: bytes sent (the tail first,
/// the rest on demand), time to the first byte and to the whole page,
/// and, when chromium is installed, the browser's first contentful paint.
fn big_build_page(es: &EngineSandbox, server: &Server) {
    use vespene_core::ops::OutputStream;
    const LINES: usize = 1_000_000;
    let app = es.app();
    let pool = app
        .ops
        .worker_pools()
        .id_by_name(&Actor::System, "bench")
        .unwrap();
    let project = app
        .ops
        .projects()
        .id_by_name(&Actor::System, "project-000")
        .unwrap();
    let mut conn = app.db.conn().unwrap();
    let id = vespene_core::db::builds::insert_queued(
        &mut conn,
        &vespene_core::db::builds::NewBuild::queued(project, pool),
    )
    .unwrap();
    let lines: Vec<String> = (0..1000)
        .map(|i| format!("line {i:07} of a long build log"))
        .collect();
    for _ in 0..LINES / 1000 {
        vespene_core::db::output::append_output(&mut conn, id, OutputStream::Output, &lines)
            .unwrap();
    }
    let mut c = server.login("bench", "pw");
    let path = format!("/ui/builds/{id}/detail");
    c.get(&path);
    let start = std::time::Instant::now();
    let r = c.get(&path);
    let whole = start.elapsed();
    assert_eq!(r.status, 200);
    // Time to first byte: a raw request, timed to its first byte.
    let addr = server.url.trim_start_matches("http://").to_string();
    let ttfb = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let t = std::time::Instant::now();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: vespene_session={}\r\nConnection: close\r\n\r\n",
            c.session.clone().unwrap_or_default()
        )
        .unwrap();
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).unwrap();
        t.elapsed()
    };
    let paint = if vespene_e2e::browser::available() {
        let b = vespene_e2e::browser::Browser::start(1280);
        b.goto(&format!("{}/ui/login", server.url));
        b.fill("#username", "bench");
        b.fill("#password", "pw");
        b.press("button[type=submit]");
        b.find("h1");
        b.goto(&format!("{}{path}", server.url));
        b.find("#log-output");
        b.script(
            "var p = performance.getEntriesByType('paint').filter(function (e) { return e.name === 'first-contentful-paint'; })[0]; return p ? p.startTime : null;",
            serde_json::json!([]),
        )
        .as_f64()
        .map(|ms| format!("{ms:.0} ms"))
        .unwrap_or_else(|| "not reported".into())
    } else {
        "not measured (no chromium)".into()
    };
    println!(
        "\nBuild page of a {LINES}-line build (/ui/builds/ID/detail): {} KiB sent \
         (the last 2,000 lines; the rest on demand), first byte after {:.1} ms, \
         whole page {:.1} ms, first contentful paint in Chromium {paint} \
         (target: opens fast, tail first).",
        r.text.len() / 1024,
        ttfb.as_secs_f64() * 1e3,
        whole.as_secs_f64() * 1e3,
    );
}
