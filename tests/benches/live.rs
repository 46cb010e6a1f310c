//! Live output benchmark: the real `vespene server` and a real `vespene
//! worker` on SQLite and (when `VESPENE_TEST_POSTGRES_URL` is set)
//! PostgreSQL. Every figure has its baseline from the same run and server.
//!
//! * memory under SSE churn: the server's resident memory idle, right after
//!   10 s of clients connecting to a running build's event stream and
//!   dropping at random points (some at once, some after a few events,
//!   some resuming from a `Last-Event-ID`), and again after settling;
//!   target: flat within 2 MiB of idle. The followers gauge of `/metrics`
//!   must be back at 0. Each figure is also given by mapping (binary,
//!   plugins, libraries, anonymous; threads), and the churn is run a
//!   second time on the same server, which tells a one-time warm-up of
//!   bounded pools from growth that repeats.
//! * the longest HTTP stall while a build logs: one client issues small
//!   requests back to back (`/healthz`, then the first page of the build
//!   list, alternately) while a `seq 1000000` build is being stored;
//!   maximum and p99 latency, against the same client with no build
//!   running; target ≤ 10 ms.
//! * print → SSE client latency: a build prints a line with its
//!   CLOCK_REALTIME (`date +%s%N`, the same machine's clock) every 50 ms;
//!   an SSE client takes the arrival time of each line minus its print
//!   time (p50, p99). The worker batches lines before storing them (at
//!   most 200 ms, `vespene-core/src/engine/log.rs`), which bounds the
//!   figure from below for a line printed right after a flush.
//!
//! Release figures: `cargo build --release --workspace && cargo bench -p
//! vespene-e2e --bench live` (about 2 minutes). Without `--bench` (as
//! `cargo test --benches` runs it) it runs each part briefly against the
//! debug build (`seq 100000`, 2 s of churn), to prove it works.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::engine::queue::{StartRequest, start_project, stop_build};
use vespene_e2e::engine::{EngineSandbox, backends, kill};
use vespene_e2e::http::{Client, Server};
use vespene_e2e::memory::{rss, rss_parts};

/// The sizes of one run (full or quick).
struct Sizes {
    churn: Duration,
    churn_clients: usize,
    settle: Duration,
    seq_lines: usize,
    clock_lines: usize,
}

/// A small xorshift generator, seeded from the OS (no dependency).
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).expect("random");
        Rng(u64::from_le_bytes(b) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn start(app: &App, name: &str) -> i64 {
    let project = app
        .ops
        .projects()
        .id_by_name(&Actor::System, name)
        .expect("project");
    let started = start_project(app, &Actor::System, project, &StartRequest::default())
        .expect("start a project");
    assert_eq!(started.failed, None);
    started.build.id
}

/// Waits until build `id` has left the queue (the worker claimed it).
fn wait_running(app: &App, id: i64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let b = app.ops.builds().get(&Actor::System, id).expect("build");
        if b.status() != BuildStatus::Queued {
            return;
        }
        assert!(Instant::now() < deadline, "build {id} never started");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn followers(server: &Server) -> f64 {
    let text = server.client().get("/metrics").text;
    text.lines()
        .find_map(|l| l.strip_prefix("vespene_live_followers "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// One churn client: connects to the event stream, reads a random amount
/// (nothing, the headers, a few events) for a random time, and drops the
/// connection without a word.
fn churn_once(addr: &str, path: &str, token: &str, rng: &mut Rng) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let resume = if rng.below(4) == 0 {
        format!("Last-Event-ID: {}:0\r\n", rng.below(50))
    } else {
        String::new()
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{resume}\r\n"
    );
    if s.write_all(request.as_bytes()).is_err() {
        return;
    }
    match rng.below(3) {
        // Gone before reading anything.
        0 => {}
        // A few reads, then gone.
        1 => {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let mut buf = [0u8; 4096];
            for _ in 0..=rng.below(5) {
                if !matches!(s.read(&mut buf), Ok(n) if n > 0) {
                    break;
                }
            }
        }
        // Stays a while without reading, then gone.
        _ => std::thread::sleep(Duration::from_millis(rng.below(300))),
    }
}

struct Churn {
    idle: (f64, f64),
    after: (f64, f64),
    settled: (f64, f64),
    /// [`rss_parts`] at idle, after the churn and settled.
    parts: [String; 3],
    connections: usize,
    followers_after: f64,
}

impl Churn {
    /// The target's figure: the larger of after and settled, over idle.
    fn grown(&self) -> f64 {
        (self.after.0 - self.idle.0).max(self.settled.0 - self.idle.0)
    }
}

fn churn(app: &App, server: &Server, token: &str, sizes: &Sizes) -> Churn {
    let pid = server.pid();
    std::thread::sleep(Duration::from_secs(1));
    // Warm the server up (its threads, pools and caches) with one follower
    // of a finished build, as idle includes what the first request builds.
    let warm = start(app, "hello");
    let mut c = server.with_token(token);
    let events: Vec<_> = c
        .events(&format!("/api/v1/builds/{warm}/events"), &[])
        .collect();
    assert_eq!(events.last().map(|e| e.name.as_str()), Some("end"));
    c.get("/api/v1/builds");
    std::thread::sleep(Duration::from_secs(1));
    let idle = rss(pid);
    let idle_parts = rss_parts(pid);

    let id = start(app, "ticker");
    wait_running(app, id);
    let addr = server.url.trim_start_matches("http://").to_string();
    let path = format!("/api/v1/builds/{id}/events");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..sizes.churn_clients)
        .map(|_| {
            let (addr, path, token) = (addr.clone(), path.clone(), token.to_string());
            let (stop, count) = (stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut rng = Rng::new();
                while !stop.load(Ordering::Relaxed) {
                    churn_once(&addr, &path, &token, &mut rng);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(sizes.churn);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let after = rss(pid);
    let after_parts = rss_parts(pid);
    stop_build(app, &Actor::System, id).expect("stop the ticker");
    std::thread::sleep(sizes.settle);
    let settled = rss(pid);
    Churn {
        idle,
        after,
        settled,
        parts: [idle_parts, after_parts, rss_parts(pid)],
        connections: count.load(Ordering::Relaxed),
        followers_after: followers(server),
    }
}

/// Latencies (ms, sorted) of back-to-back small requests until `until`
/// says stop.
fn request_loop(server: &Server, token: &str, mut until: impl FnMut() -> bool) -> Vec<f64> {
    let mut c: Client = server.with_token(token);
    let mut out = Vec::new();
    let mut i = 0u64;
    while !until() {
        let path = if i.is_multiple_of(2) {
            "/healthz"
        } else {
            "/api/v1/builds?page_size=10"
        };
        i += 1;
        let t = Instant::now();
        let r = c.get(path);
        out.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    out.sort_by(f64::total_cmp);
    out
}

struct Stall {
    base: Vec<f64>,
    during: Vec<f64>,
    build_seconds: f64,
}

fn stall(app: &App, server: &Server, token: &str) -> Stall {
    let id = start(app, "seq");
    wait_running(app, id);
    let t = Instant::now();
    let done = || {
        app.ops
            .builds()
            .get(&Actor::System, id)
            .expect("build")
            .status()
            .is_complete()
    };
    let mut polls = 0u32;
    let during = request_loop(server, token, || {
        // Looking at the build every request would add to the load.
        polls += 1;
        polls.is_multiple_of(50) && done()
    });
    let build_seconds = t.elapsed().as_secs_f64();
    while !done() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = app.ops.builds().get(&Actor::System, id).unwrap();
    assert_eq!(b.status(), BuildStatus::Success, "the seq build");
    // The baseline: the same client, as long, with no build running.
    let until = Instant::now() + Duration::from_secs_f64(build_seconds);
    let base = request_loop(server, token, || Instant::now() >= until);
    Stall {
        base,
        during,
        build_seconds,
    }
}

/// Print → arrival of each clock line, in ms (sorted).
fn latency(app: &App, server: &Server, token: &str, lines: usize) -> Vec<f64> {
    let id = start(app, "clock");
    let c = server.with_token(token);
    let mut seen = Vec::new();
    let (mut first_arrival, mut last_print) = (None, 0i128);
    for e in c.events(&format!("/api/v1/builds/{id}/events"), &[]) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i128;
        if e.name == "end" {
            assert_eq!(e.json()["status"], "SUCCESS");
            break;
        }
        if e.name != "output" {
            continue;
        }
        let text = e.json()["text"].as_str().unwrap_or_default().to_string();
        for line in text.lines() {
            if let Some((_, ns)) = line.split_once("clock ")
                && let Ok(ns) = ns.trim().parse::<i128>()
            {
                seen.push((now - ns) as f64 / 1e6);
                first_arrival.get_or_insert(now);
                last_print = last_print.max(ns);
            }
        }
    }
    assert_eq!(seen.len(), lines, "every clock line arrives once");
    // Lines stored as they come reach the client while the build still
    // prints; a build's output in one burst at its end is a failure.
    let first_arrival = first_arrival.unwrap_or(i128::MAX);
    assert!(
        first_arrival < last_print,
        "the first line arrived {:.0} ms after the last one was printed: the output came in one \
         burst at the build's end",
        (first_arrival - last_print) as f64 / 1e6
    );
    seen.sort_by(f64::total_cmp);
    seen
}

fn setup(es: &EngineSandbox, app: &App, sizes: &Sizes) -> String {
    let admin = vespene_core::accounts::create_user(&app.db, "bench", Some("pw"), true).unwrap();
    let token = vespene_core::accounts::create_token(&app.db, admin.id, "bench")
        .unwrap()
        .token;
    let pool = es.pool(app, "live");
    es.project(app, "hello", pool, "echo hello");
    // Outlives the churn; stopped after it.
    es.project(
        app,
        "ticker",
        pool,
        "#!/bin/sh\nfor i in $(seq 1 100000); do echo \"tick $i\"; sleep 0.05; done\n",
    );
    es.project(app, "seq", pool, &format!("seq {}", sizes.seq_lines));
    es.project(
        app,
        "clock",
        pool,
        &format!(
            "#!/bin/sh\nfor i in $(seq 1 {}); do echo \"clock $(date +%s%N)\"; sleep 0.05; done\n",
            sizes.clock_lines
        ),
    );
    token
}

fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full {
        Sizes {
            churn: Duration::from_secs(10),
            churn_clients: 32,
            settle: Duration::from_secs(5),
            seq_lines: 1_000_000,
            clock_lines: 200,
        }
    } else {
        Sizes {
            churn: Duration::from_secs(2),
            churn_clients: 8,
            settle: Duration::from_secs(2),
            seq_lines: 100_000,
            clock_lines: 20,
        }
    };
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    println!(
        "\n## Live output ({} build, {cores} cores)\n",
        if full { "release" } else { "debug, quick mode" }
    );
    for backend in backends() {
        let es = EngineSandbox::new(backend, "").expect("sandbox");
        let app = es.app();
        let token = setup(&es, &app, &sizes);
        let server = Server::start(&es);
        let worker = es.worker("live", &[]);
        eprintln!("{backend:?}: SSE churn");
        let load_churn = load_average();
        let m = churn(&app, &server, &token, &sizes);
        // The same again on the same server: what a first round grows by
        // once (threads and database connections up to their bounds) does
        // not grow again; what leaks does.
        let m2 = churn(&app, &server, &token, &sizes);
        eprintln!("{backend:?}: HTTP stall while seq {} logs", sizes.seq_lines);
        let load_stall = load_average();
        let s = stall(&app, &server, &token);
        eprintln!("{backend:?}: print → SSE latency");
        let load_latency = load_average();
        let l = latency(&app, &server, &token, sizes.clock_lines);
        kill(worker);

        println!("### {backend:?}\n");
        let grown = m.grown();
        println!(
            "Server RSS under SSE churn ({} connections by {} clients in {:?} to a running \
             build's events, dropped at random points; load {load_churn}): idle {:.1} MiB \
             ({:.1} MiB private), after the churn {:.1} MiB ({:.1}), settled {:.1} MiB ({:.1}); \
             followers left: {}; growth {:+.1} MiB, target flat within 2 MiB: {}.\n",
            m.connections,
            sizes.churn_clients,
            sizes.churn,
            m.idle.0,
            m.idle.1,
            m.after.0,
            m.after.1,
            m.settled.0,
            m.settled.1,
            m.followers_after,
            grown,
            if grown <= 2.0 { "met" } else { "NOT met" },
        );
        println!(
            "By mapping: idle {}; after the churn {}; settled {}.\n",
            m.parts[0], m.parts[1], m.parts[2]
        );
        println!(
            "A second churn on the same server ({} connections): idle {:.1} MiB ({:.1}), after \
             {:.1} MiB ({:.1}), settled {:.1} MiB ({:.1}); growth {:+.1} MiB; settled {}.\n",
            m2.connections,
            m2.idle.0,
            m2.idle.1,
            m2.after.0,
            m2.after.1,
            m2.settled.0,
            m2.settled.1,
            m2.grown(),
            m2.parts[2],
        );
        let worst = s.during.last().copied().unwrap_or(f64::NAN);
        println!(
            "| requests back to back (/healthz, build list page) | requests | p50 | p99 | max | target |"
        );
        println!("|---|---|---|---|---|---|");
        println!(
            "| baseline: no build running | {} | {} | {} | {} | — |",
            s.base.len(),
            ms(percentile(&s.base, 0.5)),
            ms(percentile(&s.base, 0.99)),
            ms(s.base.last().copied().unwrap_or(f64::NAN)),
        );
        println!(
            "| while `seq {}` logs ({:.1} s; load {load_stall}) | {} | {} | {} | {} | max ≤ 10 ms: {} |",
            sizes.seq_lines,
            s.build_seconds,
            s.during.len(),
            ms(percentile(&s.during, 0.5)),
            ms(percentile(&s.during, 0.99)),
            ms(worst),
            if worst <= 10.0 { "met" } else { "NOT met" },
        );
        println!(
            "\nPrint → SSE client latency of one output line ({} lines, one every 50 ms; \
             load {load_latency}): p50 {}, p99 {}, max {} (the worker stores lines at most \
             200 ms after they are printed).\n",
            l.len(),
            ms(percentile(&l, 0.5)),
            ms(percentile(&l, 0.99)),
            ms(l.last().copied().unwrap_or(f64::NAN)),
        );
    }
}
