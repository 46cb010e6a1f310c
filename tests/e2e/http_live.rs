//! Live build output over HTTP, on SQLite and PostgreSQL: a build printing
//! a line every 100 ms followed over server-sent events from start to end
//! (every line once, in order, the final status last), a reconnect with
//! `Last-Event-ID` (header and query) that misses and repeats nothing, and
//! ranged reads of the stored log (tail, middle, past the end).

use std::time::Duration;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::{Client, Event};

const LINES: usize = 30;

/// The output text of a run of events, and checks on their order: ids
/// only grow, `end` comes last and only once.
fn output_of(events: &[Event]) -> String {
    let mut text = String::new();
    let mut last = (0i64, 0i64);
    for (i, e) in events.iter().enumerate() {
        if e.name == "end" {
            assert_eq!(i, events.len() - 1, "end is the last event: {events:?}");
        }
        if !e.id.is_empty() {
            let (o, m) = e.id.split_once(':').expect("id O:M");
            let id = (o.parse::<i64>().unwrap(), m.parse::<i64>().unwrap());
            assert!(
                id.0 >= last.0 && id.1 >= last.1,
                "ids only grow: {events:?}"
            );
            if e.name == "output" || e.name == "messages" {
                assert!(id != last, "each chunk moves a cursor: {e:?}");
            }
            last = id;
        }
        if e.name == "output" {
            let chunk = e.json()["text"].as_str().unwrap().to_string();
            assert!(chunk.ends_with('\n'), "{chunk:?}");
            text.push_str(&chunk);
        }
    }
    text
}

/// The script's lines (after the timestamp column of the output).
fn ticks(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once("| tick ").map(|(_, n)| format!("tick {n}")))
        .collect()
}

fn live_output(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let app = es.app();
    vespene_core::accounts::create_user(&app.db, "alice", Some("alice-pw"), true).unwrap();
    vespene_core::accounts::create_user(&app.db, "bob", Some("bob-pw"), false).unwrap();
    let pool = es.pool(&app, "live");
    es.project(
        &app,
        "ticker",
        pool,
        &format!("#!/bin/sh\nfor i in $(seq 1 {LINES}); do echo \"tick $i\"; sleep 0.1; done\n"),
    );
    let server = vespene_e2e::http::Server::start(&es);
    let alice = server.login("alice", "alice-pw");
    let bob = server.login("bob", "bob-pw");

    // Refusals come before any stream: no user, a build bob may not see,
    // no such build, a malformed Last-Event-ID.
    assert_eq!(
        server
            .client()
            .events("/api/v1/builds/1/events", &[])
            .status,
        401
    );
    es.vespene(&["project", "start", "ticker"]).ok();
    assert_eq!(bob.events("/api/v1/builds/1/events", &[]).status, 404);
    assert_eq!(alice.events("/api/v1/builds/99/events", &[]).status, 404);
    let bad = alice.events("/api/v1/builds/1/events", &[("Last-Event-ID", "x:1")]);
    assert_eq!(bad.status, 400);

    // Two followers from the start while the build is still queued; one
    // leaves a few lines in and comes back with its Last-Event-ID.
    let whole = alice.events("/api/v1/builds/1/events", &[]);
    assert_eq!(whole.status, 200);
    let mut partial = alice.events("/api/v1/builds/1/events", &[]);
    let mut worker = es.worker("live", &[]);
    let reader = std::thread::spawn(move || whole.collect::<Vec<Event>>());

    let mut first_part = Vec::new();
    for e in partial.by_ref() {
        let done = e.name == "output" && e.json()["text"].as_str().unwrap().contains("| tick 5\n");
        first_part.push(e);
        if done {
            break;
        }
    }
    drop(partial);
    let resume_at = first_part
        .iter()
        .rev()
        .find(|e| !e.id.is_empty())
        .unwrap()
        .id
        .clone();
    std::thread::sleep(Duration::from_millis(300));
    let second_part: Vec<Event> = alice
        .events(
            "/api/v1/builds/1/events",
            &[("Last-Event-ID", resume_at.as_str())],
        )
        .collect();

    let all = reader.join().unwrap();
    let b = es.wait_build(&app, 1, Duration::from_secs(60));
    assert_eq!(b.status().as_str(), "SUCCESS");
    let stored = es.output(&app, 1, vespene_core::db::output::OutputStream::Output);

    // The whole follow: a status first (QUEUED or RUNNING at connect),
    // every line once and in order, the final status at the end.
    assert_eq!(all[0].name, "status", "{all:?}");
    let end = all.last().unwrap();
    assert_eq!(end.name, "end", "{all:?}");
    assert_eq!(end.json()["status"], "SUCCESS");
    let text = output_of(&all);
    assert_eq!(text, stored);
    let expected: Vec<String> = (1..=LINES).map(|i| format!("tick {i}")).collect();
    assert_eq!(ticks(&text), expected, "{text:?}");
    assert!(
        all.iter()
            .any(|e| e.name == "status" && e.json()["status"] == "RUNNING"),
        "{all:?}"
    );
    assert!(all.iter().any(|e| e.name == "messages"), "{all:?}");
    // The lines came as they were printed, not all at the end.
    let output_events = all.iter().filter(|e| e.name == "output").count();
    assert!(output_events >= LINES / 3, "{output_events} output events");

    // The reconnect: nothing missed, nothing twice.
    assert_eq!(second_part.last().unwrap().name, "end");
    let rejoined = format!("{}{}", output_of(&first_part), output_of(&second_part));
    assert_eq!(rejoined, stored);

    // Resuming after the end (the query form): the rest, then end.
    let mid = all
        .iter()
        .filter(|e| e.name == "output")
        .nth(10)
        .unwrap()
        .clone();
    let rest: Vec<Event> = alice
        .events(
            &format!("/api/v1/builds/1/events?last_event_id={}", mid.id),
            &[],
        )
        .collect();
    let upto = all.iter().position(|e| e.id == mid.id).unwrap();
    assert_eq!(
        format!("{}{}", output_of(&all[..=upto]), output_of(&rest)),
        stored
    );
    assert_eq!(rest[0].name, "status");
    assert_eq!(rest.last().unwrap().json()["status"], "SUCCESS");

    ranged_log(&alice, &stored);
    let _ = worker.kill();
    let _ = worker.wait();
}

fn ranged_get(client: &mut Client, range: Option<&str>) -> vespene_e2e::http::Reply {
    client.extra_headers.clear();
    if let Some(r) = range {
        client.extra_headers.push(("Range".into(), r.into()));
    }
    let reply = client.get("/api/v1/builds/1/log");
    client.extra_headers.clear();
    reply
}

fn ranged_log(alice: &Client, stored: &str) {
    let mut c = Client::new(&alice.base);
    c.session = alice.session.clone();
    let total = stored.len();

    let whole = ranged_get(&mut c, None);
    assert_eq!(whole.status, 200);
    assert_eq!(whole.text, stored);
    assert_eq!(whole.header_all("accept-ranges"), ["bytes"]);
    assert_eq!(
        whole.header_all("content-length"),
        [total.to_string().as_str()]
    );
    let etag = whole.header_all("etag")[0].to_string();

    // The tail.
    let tail = ranged_get(&mut c, Some("bytes=-20"));
    assert_eq!(tail.status, 206);
    assert_eq!(tail.text, stored[total - 20..]);
    assert_eq!(
        tail.header_all("content-range"),
        [format!("bytes {}-{}/{total}", total - 20, total - 1).as_str()]
    );
    // The middle, and a range running past the end (cut to the end).
    let mid = ranged_get(&mut c, Some("bytes=10-29"));
    assert_eq!(mid.status, 206);
    assert_eq!(mid.text, stored[10..30]);
    let over = ranged_get(
        &mut c,
        Some(&format!("bytes={}-{}", total - 5, total + 100)),
    );
    assert_eq!(over.status, 206);
    assert_eq!(over.text, stored[total - 5..]);
    let from = ranged_get(&mut c, Some("bytes=7-"));
    assert_eq!(from.text, stored[7..]);
    // Past the end: 416 with the size.
    let past = ranged_get(&mut c, Some(&format!("bytes={total}-")));
    assert_eq!(past.status, 416);
    assert_eq!(
        past.header_all("content-range"),
        [format!("bytes */{total}").as_str()]
    );
    // Unchanged since: 304.
    c.extra_headers.push(("If-None-Match".into(), etag.clone()));
    let same = c.get("/api/v1/builds/1/log");
    c.extra_headers.clear();
    assert_eq!(same.status, 304);
    // The messages stream, and a bad stream name.
    let messages = c.get("/api/v1/builds/1/log?stream=messages");
    assert_eq!(messages.status, 200);
    assert!(
        messages.text.contains("build 1 running on"),
        "{}",
        messages.text
    );
    let bad = c.get("/api/v1/builds/1/log?stream=nope");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.code(), "bad_request");
}

#[test]
fn live_output_on_sqlite() {
    live_output(Backend::Sqlite);
}

#[test]
fn live_output_on_postgres() {
    live_output(Backend::Postgres);
}
