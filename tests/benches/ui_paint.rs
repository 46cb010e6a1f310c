//! The build page of a 1,000,000-line build in headless Chromium, against
//! the page of a 20-line build in the same run and server: bytes sent
//! (the HTML, as the browser received it), the server's time to the
//! first byte, and the browser's first contentful paint (Paint Timing,
//! `performance.getEntriesByType('paint')`, measured from the start of
//! the navigation). The page sends the last 2,000 lines of a long log and
//! the rest on demand, so the long build's page should paint about as
//! soon as the short one's.
//!
//! `cargo bench -p vespene-e2e --bench ui_paint` (release build: `cargo
//! build --release --workspace` first) opens each page 15 times; without
//! `--bench` (as `cargo test --benches` runs it) 3 times, against the
//! debug build. Needs chromium and chromedriver (with CI=true, fails
//! without them).

use serde_json::{Value, json};
use vespene_core::db::builds::{self, BuildChanges, NewBuild};
use vespene_core::ops::{BuildStatus, OutputStream};
use vespene_e2e::browser::{self, Browser};
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

const BIG: usize = 1_000_000;
const SMALL: usize = 20;

/// A finished build of the project with `lines` lines of output.
fn build_with(es: &EngineSandbox, project: i64, pool: i64, lines: usize) -> i64 {
    let app = es.app();
    let mut conn = app.db.conn().unwrap();
    let id = builds::insert_queued(&mut conn, &NewBuild::queued(project, pool)).unwrap();
    for start in (0..lines).step_by(1000) {
        let chunk: Vec<String> = (start..lines.min(start + 1000))
            .map(|i| format!("line {i:07} of a long build log"))
            .collect();
        vespene_core::db::output::append_output(&mut conn, id, OutputStream::Output, &chunk)
            .unwrap();
    }
    let now = chrono::Utc::now().naive_utc();
    let changes = BuildChanges {
        start_time: Some(Some(now)),
        end_time: Some(Some(now)),
        return_code: Some(Some(0)),
        ..BuildChanges::default()
    }
    .status(BuildStatus::Success);
    builds::update(&mut conn, id, &changes).unwrap();
    id
}

/// What one opening of a page measured.
struct Open {
    bytes: f64,
    first_byte_ms: f64,
    paint_ms: f64,
}

/// Opens `url` from a blank page and reads the browser's timings.
fn open(b: &Browser, url: &str) -> Open {
    b.goto("about:blank");
    b.goto(url);
    b.find("#log-output");
    // The paint may come after the load event WebDriver waited for.
    b.wait_for(
        "the first contentful paint",
        "return performance.getEntriesByName('first-contentful-paint').length > 0;",
        std::time::Duration::from_secs(10),
    );
    let v: Value = b.script(
        "var n = performance.getEntriesByType('navigation')[0];
         var p = performance.getEntriesByName('first-contentful-paint')[0];
         return {bytes: n.encodedBodySize, first_byte: n.responseStart, paint: p ? p.startTime : null};",
        json!([]),
    );
    Open {
        bytes: v["bytes"].as_f64().unwrap_or(f64::NAN),
        first_byte_ms: v["first_byte"].as_f64().unwrap_or(f64::NAN),
        paint_ms: v["paint"].as_f64().unwrap_or(f64::NAN),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let runs = if full { 15 } else { 3 };
    if !browser::available() {
        println!("ui_paint: not measured (no chromium or chromedriver)");
        return;
    }
    let es = EngineSandbox::new(Backend::Sqlite, "").expect("sandbox");
    let app = es.app();
    vespene_core::accounts::create_user(&app.db, "bench", Some("pw"), true).unwrap();
    let pool = es.pool(&app, "bench");
    let project = es.project(&app, "paint", pool, "echo hi");
    let t = std::time::Instant::now();
    let big = build_with(&es, project, pool, BIG);
    eprintln!("wrote {BIG} lines in {:.1} s", t.elapsed().as_secs_f64());
    let small = build_with(&es, project, pool, SMALL);
    let server = Server::start(&es);
    let b = Browser::start(1280);
    b.goto(&format!("{}/ui/login", server.url));
    b.fill("#username", "bench");
    b.fill("#password", "pw");
    b.press("button[type=submit]");
    b.find("h1");
    let page = |id: i64| format!("{}/ui/builds/{id}/detail", server.url);
    // The long page has the log's tail, not its head.
    let html = server
        .login("bench", "pw")
        .get(&format!("/ui/builds/{big}/detail"))
        .text;
    let last = format!("line {:07} ", BIG - 1);
    assert!(
        html.contains(&last) && !html.contains("line 0000000 "),
        "the tail of the long log"
    );
    // Warm up: the server's caches and the browser's copy of the CSS/JS.
    open(&b, &page(small));
    open(&b, &page(big));
    let mut figures = Vec::new();
    for (what, id, lines) in [("small", small, SMALL), ("big", big, BIG)] {
        let opens: Vec<Open> = (0..runs).map(|_| open(&b, &page(id))).collect();
        let paint = median(opens.iter().map(|o| o.paint_ms).collect());
        assert!(
            paint.is_finite(),
            "Chromium reported no first contentful paint for the {what} build's page"
        );
        figures.push((
            what,
            lines,
            median(opens.iter().map(|o| o.bytes).collect()),
            median(opens.iter().map(|o| o.first_byte_ms).collect()),
            paint,
        ));
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\n## Build page paint ({} build, SQLite, headless Chromium, median of {runs}; load {})\n",
        if full { "release" } else { "debug, quick mode" },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("| build | lines | HTML KiB | first byte ms | first contentful paint ms |");
    println!("|---|---|---|---|---|");
    for (what, lines, bytes, first_byte, paint) in &figures {
        println!(
            "| {what} | {lines} | {:.1} | {first_byte:.1} | {paint:.1} |",
            bytes / 1024.0
        );
    }
    let (s, g) = (figures[0].4, figures[1].4);
    println!(
        "\nFirst contentful paint of the {BIG}-line build's page: {:.2}× the {SMALL}-line build's.",
        g / s
    );
}
