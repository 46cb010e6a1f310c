//! The notification triggers end to end: builds run by a real worker with
//! the real `.so` files of the slack, webhook and commit_status triggers,
//! against scripted HTTP servers on loopback (`vespene_e2e::stub_http`)
//! that check every request byte for byte and answer with the real
//! services' JSON (`tests/testdata/forges/slack/`, see its SOURCES.md):
//! successes, error answers, 429 with and without a usable `Retry-After`,
//! bodies that are not JSON, and a server that never answers.

use crate::scm_common::{Done, git, make_readable};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::finish;
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::stub_http::{Reply, StubServer};

/// Queues a build of each project, runs them all on one worker and reads
/// them once the worker is done, so the post triggers' messages are in.
pub(crate) fn run_builds(
    es: &EngineSandbox,
    app: &vespene_core::app::App,
    pool: &str,
    projects: &[i64],
) -> Vec<Done> {
    let ids: Vec<i64> = projects
        .iter()
        .map(|p| {
            start_project(app, &Actor::System, *p, &StartRequest::default())
                .unwrap()
                .build
                .id
        })
        .collect();
    let worker = es.worker(pool, &["--max-builds", &ids.len().to_string()]);
    finish(worker);
    ids.iter()
        .map(|id| Done {
            build: es.wait_build(app, *id, Duration::from_secs(5)),
            messages: es.output(app, *id, OutputStream::Messages),
            output: es.output(app, *id, OutputStream::Output),
        })
        .collect()
}

const TOKEN: &str = "xoxb-17-secret-token";

pub(crate) fn slack_data(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/forges/slack")
        .join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The 429 answers the Slack SDKs test against
/// (`ratelimited.429.scenarios.json`), by id.
fn slack_429(id: &str) -> Reply {
    let all: serde_json::Value =
        serde_json::from_slice(&slack_data("ratelimited.429.scenarios.json")).unwrap();
    let s = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no scenario {id}"));
    let headers: Vec<(String, String)> = s["headers"]
        .as_object()
        .unwrap()
        .iter()
        // The stub server closes every connection itself.
        .filter(|(k, _)| *k != "connection")
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    Reply {
        status: 429,
        headers,
        body: s["body"].as_str().unwrap().as_bytes().to_vec(),
        hang: false,
    }
}

/// The bytes a request must have: request line, our headers in order,
/// then those the client adds (`content-length`, `accept: */*` unless we
/// gave one, `host`), blank line, body.
pub(crate) fn request(line: &str, headers: &[(&str, &str)], host: &str, body: &str) -> String {
    let mut text = format!("{line} HTTP/1.1\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("content-length: {}\r\n", body.len()));
    if !headers.iter().any(|(k, _)| *k == "accept") {
        text.push_str("accept: */*\r\n");
    }
    text.push_str(&format!("host: {host}\r\n\r\n{body}"));
    text
}

/// What `chat.postMessage` must receive for `text`.
fn slack_request(stub: &StubServer, text: &str) -> String {
    let body = serde_json::json!({"channel": "general", "text": text}).to_string();
    request(
        "POST /api/chat.postMessage",
        &[
            ("content-type", "application/json; charset=utf-8"),
            ("authorization", &format!("Bearer {TOKEN}")),
            ("user-agent", "Vespene"),
        ],
        stub.authority(),
        &body,
    )
}

/// A sandbox with `entry` as the slack trigger's parameters in `sections`.
fn sandbox_with(plugin: &str, params: &str, sections: &[&str]) -> EngineSandbox {
    let mut settings = String::new();
    for s in sections {
        settings.push_str(&format!(
            "[plugins.{s}]\nnotify = [\"{plugin}\", {params}]\n\n"
        ));
    }
    EngineSandbox::new(Backend::Sqlite, &settings).expect("a SQLite sandbox")
}

fn slack_sandbox(stub: &StubServer, more: &str, sections: &[&str]) -> EngineSandbox {
    sandbox_with(
        "vespene.plugins.triggers.slack",
        &format!(
            "{{ channel = \"general\", token = \"{TOKEN}\", base_url = \"{}/api\"{more} }}",
            stub.base()
        ),
        sections,
    )
}

const ALL: &[&str] = &["pre_triggers", "success_triggers", "failure_triggers"];

fn projects(
    es: &EngineSandbox,
    app: &vespene_core::app::App,
    scripts: &[(&str, &str)],
) -> Vec<i64> {
    let pool = es.pool(app, "main");
    scripts
        .iter()
        .map(|(name, script)| es.project(app, name, pool, script))
        .collect()
}

fn assert_status(d: &Done, status: BuildStatus) {
    assert_eq!(d.build.status(), status, "{d:?}");
}

fn assert_says(d: &Done, part: &str) {
    assert!(
        d.messages.contains(part),
        "expected {part:?} in the messages: {d:?}"
    );
}

fn assert_no_token(done: &[Done]) {
    for d in done {
        assert!(
            !d.messages.contains(TOKEN) && !d.output.contains(TOKEN),
            "the token leaked: {d:?}"
        );
    }
}

#[test]
fn slack_posts_the_originals_texts_byte_for_byte() {
    let ok = slack_data("chat.postMessage.ok.json");
    let stub = StubServer::start("127.0.0.1", vec![Reply::json(200, &ok); 4]);
    let es = slack_sandbox(&stub, "", ALL);
    let app = es.app();
    let ids = projects(
        &es,
        &app,
        &[
            ("good", "#!/bin/sh\necho fine\n"),
            ("bad", "#!/bin/sh\nexit 3\n"),
        ],
    );
    let done = run_builds(&es, &app, "main", &ids);
    assert_status(&done[0], BuildStatus::Success);
    assert_status(&done[1], BuildStatus::Failure);
    let (g, b) = (done[0].build.id, done[1].build.id);
    let texts = [
        format!("Vespene Build {g} for project \"good\" started"),
        format!("Vespene Build {g} for project \"good\" succeeded"),
        format!("Vespene Build {b} for project \"bad\" started"),
        format!("Vespene Build {b} for project \"bad\" failed"),
    ];
    let expected: Vec<String> = texts.iter().map(|t| slack_request(&stub, t)).collect();
    assert_eq!(stub.requests(), expected);
    assert_says(
        &done[0],
        &format!("slack trigger 'notify': posted to general: {}", texts[0]),
    );
    assert_says(
        &done[0],
        &format!("slack trigger 'notify': posted to general: {}", texts[1]),
    );
    assert_says(
        &done[1],
        &format!("slack trigger 'notify': posted to general: {}", texts[3]),
    );
    assert_no_token(&done);
}

#[test]
fn slack_errors_rate_limits_and_malformed_answers_are_reported_and_never_fail_a_build() {
    let script = vec![
        // Build 1, pre: rate limited for 1 s, then posted.
        slack_429("python-slack-sdk-mock"),
        Reply::json(200, &slack_data("chat.postMessage.ok.json")),
        // Build 1, success: an error code with HTTP 200, as Slack does.
        Reply::json(
            200,
            &slack_data("chat.postMessage.error.channel_not_found.json"),
        ),
        // Build 2, pre: the documented error example (pretty-printed).
        Reply::json(
            200,
            &slack_data("chat.postMessage.error.too_many_attachments.json"),
        ),
        // Build 2, success: a body cut short.
        Reply::json(200, br#"{"ok":tr"#),
        // Build 3, pre: 429 with an unreadable, a missing and a zero
        // Retry-After: three attempts, then given up.
        slack_429("node-sdk-invalid-retry-after"),
        slack_429("node-sdk-missing-retry-after"),
        slack_429("node-sdk-zero"),
        // Build 3, success: asked to wait longer than the bound.
        Reply::raw(
            429,
            &[("retry-after", "5")],
            &slack_data("ratelimited.429.body.json"),
        ),
    ];
    let stub = StubServer::start("127.0.0.1", script);
    let es = slack_sandbox(&stub, ", retries = 2, max_retry_after_secs = 1", ALL);
    let app = es.app();
    let script = "#!/bin/sh\necho fine\n";
    let ids = projects(
        &es,
        &app,
        &[("one", script), ("two", script), ("three", script)],
    );
    let started = Instant::now();
    let done = run_builds(&es, &app, "main", &ids);
    for d in &done {
        assert_status(d, BuildStatus::Success);
    }
    let [d1, d2, d3] = [&done[0], &done[1], &done[2]];
    let who = "slack trigger 'notify'";
    assert_says(
        d1,
        &format!(
            "{who}: rate limited (HTTP 429, Retry-After 1 s); retrying in 1 s (attempt 2 of 3)"
        ),
    );
    assert_says(
        d1,
        &format!(
            "{who}: posted to general: Vespene Build {} for project \"one\" started",
            d1.build.id
        ),
    );
    assert_says(
        d1,
        &format!(
            "{who}: could not post to general: Slack refused the message: channel_not_found (HTTP 200)"
        ),
    );
    assert_says(
        d2,
        &format!(
            "{who}: could not post to general: Slack refused the message: too_many_attachments (HTTP 200)"
        ),
    );
    assert_says(
        d2,
        &format!(
            "{who}: could not post to general: Slack answered HTTP 200 with a body that is not a JSON object: {{\"ok\":tr"
        ),
    );
    assert_says(
        d3,
        &format!(
            "{who}: rate limited (HTTP 429, no usable Retry-After); retrying in 1 s (attempt 2 of 3)"
        ),
    );
    assert_says(
        d3,
        &format!(
            "{who}: rate limited (HTTP 429, no usable Retry-After); retrying in 2 s (attempt 3 of 3)"
        ),
    );
    assert_says(
        d3,
        &format!(
            "{who}: could not post to general: rate limited (HTTP 429, Retry-After 0 s) (3 attempts)"
        ),
    );
    assert_says(
        d3,
        &format!(
            "{who}: could not post to general: rate limited (HTTP 429, Retry-After 5 s): longer than max_retry_after_secs, given up (1 attempt)"
        ),
    );
    // 1 s + 1 s + 2 s of waiting, not the 5 s asked for.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    // Every attempt was the same request.
    let mut expected = Vec::new();
    for (d, name, n_pre, n_post) in [(d1, "one", 2, 1), (d2, "two", 1, 1), (d3, "three", 3, 1)] {
        for _ in 0..n_pre {
            expected.push(slack_request(
                &stub,
                &format!(
                    "Vespene Build {} for project \"{name}\" started",
                    d.build.id
                ),
            ));
        }
        for _ in 0..n_post {
            expected.push(slack_request(
                &stub,
                &format!(
                    "Vespene Build {} for project \"{name}\" succeeded",
                    d.build.id
                ),
            ));
        }
    }
    assert_eq!(stub.requests(), expected);
    assert_no_token(&done);
}

#[test]
fn a_server_that_never_answers_holds_a_build_no_longer_than_its_timeout() {
    let stub = StubServer::start("127.0.0.1", vec![Reply::hang(); 4]);
    // Two attempts of 1 s with 1 s between them: at most about 3 s a build.
    let es = slack_sandbox(&stub, ", timeout_secs = 1, retries = 1", &["pre_triggers"]);
    let app = es.app();
    let script = "#!/bin/sh\necho fine\n";
    let ids = projects(&es, &app, &[("first", script), ("second", script)]);
    let started = Instant::now();
    let done = run_builds(&es, &app, "main", &ids);
    let took = started.elapsed();
    for d in &done {
        assert_status(d, BuildStatus::Success);
        assert_says(
            d,
            "slack trigger 'notify': no answer within 1 s (timeout_secs); retrying in 1 s (attempt 2 of 2)",
        );
        assert_says(
            d,
            "slack trigger 'notify': could not post to general: no answer within 1 s (timeout_secs) (2 attempts)",
        );
        // The script ran after the trigger gave up.
        assert!(d.output.contains("fine"), "{d:?}");
    }
    assert_eq!(stub.requests().len(), 4);
    assert!(took >= Duration::from_secs(6), "{took:?}");
    assert!(
        took < Duration::from_secs(40),
        "the worker was held up: {took:?}"
    );
}

#[test]
fn webhook_posts_its_template_with_headers_byte_for_byte() {
    let stub = StubServer::start(
        "127.0.0.1",
        vec![
            // Mattermost answers a delivered message with a plain "ok".
            Reply::raw(200, &[("content-type", "text/plain")], b"ok"),
            // Constructed: a refusal in the common {"message": ...} shape.
            Reply::raw(400, &[("content-type", "application/json")], br#"{"id":"web.incoming_webhook.parse.app_error","message":"Unable to parse incoming data"}"#),
        ],
    );
    let body = r#"{"text": "{{ message }}", "id": {{ build.id }}, "status": "{{ build.status }}", "project": "{{ project.name }}", "link": "{{ build_url }}", "ok": {{ event == 'success' }}, "commit": {{ commit }}}"#;
    let es = sandbox_with(
        "vespene.plugins.triggers.webhook",
        &format!(
            "{{ url = \"{}/hooks/s3cr3t\", public_url = \"https://ci.example.com\", headers = {{ Authorization = \"Bearer {TOKEN}\" }}, body = \'\'\'{body}\'\'\' }}",
            stub.base()
        ),
        &["success_triggers", "failure_triggers"],
    );
    let app = es.app();
    let ids = projects(
        &es,
        &app,
        &[
            ("good", "#!/bin/sh\necho fine\n"),
            ("bad", "#!/bin/sh\nexit 3\n"),
        ],
    );
    let done = run_builds(&es, &app, "main", &ids);
    let (g, b) = (done[0].build.id, done[1].build.id);
    let expected = |id: i64, name: &str, status: &str, verb: &str, ok: bool| {
        request(
            "POST /hooks/s3cr3t",
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {TOKEN}")),
            ],
            stub.authority(),
            &format!(
                r#"{{"text": "Vespene Build {id} for project \"{name}\" {verb}", "id": {id}, "status": "{status}", "project": "{name}", "link": "https://ci.example.com/ui/build/{id}", "ok": {ok}, "commit": null}}"#
            ),
        )
    };
    assert_eq!(
        stub.requests(),
        vec![
            expected(g, "good", "SUCCESS", "succeeded", true),
            expected(b, "bad", "FAILURE", "failed", false),
        ]
    );
    let host = stub.base();
    assert_status(&done[0], BuildStatus::Success);
    assert_says(
        &done[0],
        &format!("webhook trigger 'notify': delivered to {host} (HTTP 200)"),
    );
    assert_status(&done[1], BuildStatus::Failure);
    assert_says(
        &done[1],
        &format!(
            "webhook trigger 'notify': {host} refused the notification: HTTP 400: {{\"id\":\"web.incoming_webhook.parse.app_error\",\"message\":\"Unable to parse incoming data\"}}"
        ),
    );
    for d in &done {
        assert!(
            !d.messages.contains("s3cr3t"),
            "the URL's secret leaked: {d:?}"
        );
    }
    assert_no_token(&done);
}

/// `git daemon` serving `base` on 127.0.0.1, .2 and .3; killed on drop.
pub(crate) struct Daemon(Child, pub(crate) u16);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn git_daemon(base: &Path) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .args(["daemon", "--reuseaddr", "--export-all"])
        .args([
            "--listen=127.0.0.1",
            "--listen=127.0.0.2",
            "--listen=127.0.0.3",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon");
    let deadline = Instant::now() + Duration::from_secs(10);
    for ip in ["127.0.0.1", "127.0.0.2", "127.0.0.3"] {
        while std::net::TcpStream::connect((ip, port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Daemon(child, port)
}

/// A bare repository `base/o/r.git` with one commit; its full id.
pub(crate) fn repository(base: &Path) -> String {
    let work = base.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let sha =
        crate::scm_common::commit(&work, &[("README", "hello\n")], "first", "dev@example.com");
    std::fs::create_dir_all(base.join("o")).unwrap();
    git(
        base,
        &["clone", "-q", "--bare", work.to_str().unwrap(), "o/r.git"],
    );
    make_readable(base);
    sha
}

#[test]
fn commit_status_reports_pending_then_the_result_on_github_gitlab_and_gitea() {
    // Constructed in the forges' documented shapes (no recorded answer of
    // these endpoints is in testdata/forges): a created status, and
    // GitHub's, GitLab's and Gitea's error bodies.
    let created = |state: &str| {
        Reply::raw(
            201,
            &[("content-type", "application/json; charset=utf-8")],
            format!(r#"{{"id":1,"state":"{state}","description":"d","context":"vespene"}}"#)
                .as_bytes(),
        )
    };
    let github = StubServer::start(
        "127.0.0.1",
        vec![
            Reply::raw(422, &[("content-type", "application/json; charset=utf-8")], br#"{"message":"Validation Failed","errors":[{"resource":"Status","code":"custom","field":"sha"}],"documentation_url":"https://docs.github.com/rest/commits/statuses"}"#),
            created("success"),
        ],
    );
    let gitlab = StubServer::start(
        "127.0.0.2",
        vec![
            created("pending"),
            Reply::raw(
                401,
                &[("content-type", "application/json")],
                br#"{"message":"401 Unauthorized"}"#,
            ),
        ],
    );
    let gitea = StubServer::start("127.0.0.3", vec![created("pending"), created("failure")]);
    let base = tempfile::tempdir().unwrap();
    let sha = repository(base.path());
    let daemon = git_daemon(base.path());
    let forges = format!(
        "forges = [{{ type = \"github\", url = \"{}\", token = \"{TOKEN}-gh\" }}, {{ type = \"gitlab\", url = \"{}\", token = \"{TOKEN}-gl\" }}, {{ type = \"gitea\", url = \"{}\", token = \"{TOKEN}-gt\" }}]",
        github.base(),
        gitlab.base(),
        gitea.base()
    );
    let es = sandbox_with(
        "vespene.plugins.triggers.commit_status",
        &format!("{{ public_url = \"https://ci.example.com/\", {forges} }}"),
        ALL,
    );
    let app = es.app();
    let pool = es.pool(&app, "main");
    let project = |name: &str, ip: &str, script: &str| {
        crate::scm_common::scm_project(
            &app,
            name,
            pool,
            "git",
            &format!("git://{ip}:{}/o/r.git", daemon.1),
            "main",
            |p| p.script = script.into(),
        )
    };
    let ids = [
        project("on-github", "127.0.0.1", "#!/bin/sh\necho fine\n"),
        project("on-gitlab", "127.0.0.2", "#!/bin/sh\necho fine\n"),
        project("on-gitea", "127.0.0.3", "#!/bin/sh\nexit 1\n"),
        // A repository on no configured forge: nothing is sent.
        es.project(&app, "no-repo", pool, "#!/bin/sh\necho fine\n"),
    ];
    let done = run_builds(&es, &app, "main", &ids);
    drop(daemon);
    let [gh, gl, gt, none] = [&done[0], &done[1], &done[2], &done[3]];
    assert_status(gh, BuildStatus::Success);
    assert_status(gl, BuildStatus::Success);
    assert_status(gt, BuildStatus::Failure);
    assert_status(none, BuildStatus::Success);
    let json = |state: &str, id: i64, what: &str, name_key: &str| {
        format!(
            r#"{{"state":"{state}","target_url":"https://ci.example.com/ui/build/{id}","description":"Vespene build {id} {what}","{name_key}":"vespene"}}"#
        )
    };
    let github_request = |state: &str, id: i64, what: &str| {
        request(
            &format!("POST /api/v3/repos/o/r/statuses/{sha}"),
            &[
                ("accept", "application/vnd.github+json"),
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {TOKEN}-gh")),
                ("user-agent", "Vespene"),
                ("x-github-api-version", "2022-11-28"),
            ],
            github.authority(),
            &json(state, id, what, "context"),
        )
    };
    let gitlab_request = |state: &str, id: i64, what: &str| {
        request(
            &format!("POST /api/v4/projects/o%2Fr/statuses/{sha}"),
            &[
                ("content-type", "application/json"),
                ("private-token", &format!("{TOKEN}-gl")),
                ("user-agent", "Vespene"),
            ],
            gitlab.authority(),
            &json(state, id, what, "name"),
        )
    };
    let gitea_request = |state: &str, id: i64, what: &str| {
        request(
            &format!("POST /api/v1/repos/o/r/statuses/{sha}"),
            &[
                ("content-type", "application/json"),
                ("authorization", &format!("token {TOKEN}-gt")),
                ("user-agent", "Vespene"),
            ],
            gitea.authority(),
            &json(state, id, what, "context"),
        )
    };
    let (a, b, c) = (gh.build.id, gl.build.id, gt.build.id);
    assert_eq!(
        github.requests(),
        vec![
            github_request("pending", a, "is running"),
            github_request("success", a, "succeeded")
        ]
    );
    assert_eq!(
        gitlab.requests(),
        vec![
            gitlab_request("pending", b, "is running"),
            gitlab_request("success", b, "succeeded")
        ]
    );
    assert_eq!(
        gitea.requests(),
        vec![
            gitea_request("pending", c, "is running"),
            gitea_request("failure", c, "failed")
        ]
    );
    let who = "commit_status trigger 'notify'";
    let at = format!("o/r@{}", &sha[..12]);
    assert_says(
        gh,
        &format!(
            "{who}: the forge refused the status for {at}: HTTP 422: Validation Failed [{{\"resource\":\"Status\",\"code\":\"custom\",\"field\":\"sha\"}}]"
        ),
    );
    assert_says(gh, &format!("{who}: status 'success' reported on {at}"));
    assert_says(gl, &format!("{who}: status 'pending' reported on {at}"));
    assert_says(
        gl,
        &format!("{who}: the forge refused the status for {at}: HTTP 401: 401 Unauthorized"),
    );
    assert_says(gt, &format!("{who}: status 'pending' reported on {at}"));
    assert_says(gt, &format!("{who}: status 'failure' reported on {at}"));
    assert!(!none.messages.contains(who), "{none:?}");
    assert_no_token(&done);
}
