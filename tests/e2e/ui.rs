//! The web UI in headless Chromium against the real server and a real
//! worker, on SQLite and on PostgreSQL (one browser session per backend):
//! login, forms (with errors next to their fields), live build output,
//! stop, launch questions, the pipeline map with its fan-out and fan-in,
//! what a non-superuser may see and open (page by page), and the phone
//! layout. Screenshots of the key pages at 1280 and 360 px go to
//! target/screenshots/ (SQLite) and target/screenshots/postgres/.

use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::ops::*;
use vespene_e2e::browser::{self, Browser};
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

fn shots(backend: Backend) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    match backend {
        Backend::Sqlite => dir,
        Backend::Postgres => dir.join("postgres"),
    }
}

/// Waits for the flash message of the page an action led to.
fn wait_flash(b: &Browser, text: &str) {
    b.wait_for(
        &format!("a flash message with '{text}'"),
        &format!(
            "var f = document.querySelector('.flash'); return !!f && f.textContent.indexOf({}) >= 0;",
            json!(text)
        ),
        Duration::from_secs(10),
    );
}

const LONG: Duration = Duration::from_secs(60);

#[test]
fn web_ui_in_a_browser_on_sqlite() {
    web_ui_in_a_browser(Backend::Sqlite);
}

#[test]
fn web_ui_in_a_browser_on_postgres() {
    web_ui_in_a_browser(Backend::Postgres);
}

fn web_ui_in_a_browser(backend: Backend) {
    if !browser::available() {
        return;
    }
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let shot = |b: &Browser, name: &str, width: u32| {
        b.screenshot(&shots(backend).join(format!("{name}-{width}.png")));
    };
    let app = es.app();
    let admin = vespene_core::accounts::create_user(&app.db, "admin", Some("pw"), true).unwrap();
    let bob = vespene_core::accounts::create_user(&app.db, "bob", Some("pw"), false).unwrap();
    let server = Server::start(&es);
    let url = |p: &str| format!("{}{p}", server.url);
    let b = Browser::start(1280);

    // Log in: anonymous visitors land on the login page, then come back.
    b.goto(&url("/ui/projects"));
    b.find("#username");
    shot(&b, "login", 1280);
    b.fill("#username", "admin");
    b.fill("#password", "wrong");
    b.press("button[type=submit]");
    assert!(b.text("#login-error").contains("wrong user name"));
    b.fill("#password", "pw");
    b.press("button[type=submit]");
    b.find("h1");
    assert!(b.url().ends_with("/ui/projects"), "{}", b.url());

    // A worker pool through its form.
    b.goto(&url("/ui/worker_pools/new"));
    shot(&b, "pool-new", 1280);
    b.fill("#f-name", "pool1");
    b.press(".form-actions button[type=submit]");
    // Required: its error is shown at the field, in its tab.
    b.find(".field.has-error #f-isolation_method");
    shot(&b, "pool-errors", 1280);
    assert_eq!(b.value("#f-name"), "pool1");
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "root".into());
    b.fill("#f-isolation_method", "sudo");
    b.fill("#f-sudo_user", &me);
    b.press(".form-actions button[type=submit]");
    wait_flash(&b, "created");
    let worker = es.worker("pool1", &[]);

    // A project: errors next to their fields, values kept.
    b.goto(&url("/ui/projects/new"));
    b.fill("#f-name", "web");
    b.press("button[data-tab=tab-variables]");
    b.fill("#f-variables", "{\"a\": 1,");
    b.press("button[data-tab=tab-schedule]");
    b.fill("#f-weekday_start_hours", "25");
    b.press(".form-actions button[type=submit]");
    b.find("#form-error");
    assert!(b.count(".has-error") >= 1);
    assert_eq!(b.value("#f-name"), "web");
    assert_eq!(b.value("#f-weekday_start_hours"), "25");
    shot(&b, "project-errors", 1280);
    b.set_value("#f-variables", "{}");
    b.set_value("#f-weekday_start_hours", "");
    b.script(
        "var s=document.querySelector('#f-worker_pool_id'); s.value=s.options[1].value;",
        json!([]),
    );
    b.set_value(
        "#f-script",
        "#!/bin/sh\nfor i in 1 2 3 4 5 6; do printf '\\033[32mline %s\\033[0m\\n' $i; sleep 1; done\n",
    );
    b.press(".form-actions button[type=submit]");
    wait_flash(&b, "created");
    shot(&b, "project-detail", 1280);

    // A name already taken: the error is at the name.
    b.goto(&url("/ui/projects/new"));
    b.fill("#f-name", "web");
    b.script(
        "var s=document.querySelector('#f-worker_pool_id'); s.value=s.options[1].value;",
        json!([]),
    );
    b.press(".form-actions button[type=submit]");
    b.find(".field.has-error #f-name");

    // Start it from the list; output appears live, without a reload.
    b.goto(&url("/ui/projects"));
    shot(&b, "projects", 1280);
    b.press("form[action$='/start'] button");
    b.find("#log-output");
    b.script("window.__same_page = true;", json!([]));
    b.wait_for(
        "live output",
        "return document.querySelector('#log-output').textContent.indexOf('line 3') >= 0;",
        LONG,
    );
    assert_eq!(
        b.script("return window.__same_page === true;", json!([])),
        json!(true)
    );
    shot(&b, "build-live", 1280);
    b.wait_for(
        "SUCCESS",
        "return document.querySelector('[data-status] .st-text').textContent === 'SUCCESS';",
        LONG,
    );
    shot(&b, "build-done", 1280);

    // Stop a long build: it ends ABORTED.
    let pool = app
        .ops
        .worker_pools()
        .id_by_name(&Actor::System, "pool1")
        .unwrap();
    es.project(&app, "long", pool, "#!/bin/sh\necho started\nsleep 300\n");
    let long = app
        .ops
        .projects()
        .id_by_name(&Actor::System, "long")
        .unwrap();
    b.goto(&url("/ui/projects?name=long"));
    b.press(&format!("form[action='/ui/projects/{long}/start'] button"));
    b.wait_for(
        "started",
        "return document.querySelector('#log-output').textContent.indexOf('started') >= 0;",
        LONG,
    );
    b.accept_confirms();
    b.press("#stop-form button");
    b.wait_for(
        "ABORTED",
        "return document.querySelector('[data-status] .st-text').textContent === 'ABORTED';",
        LONG,
    );

    // Launch questions: radio, multi, text.
    let questions = r#"[{"variable":"color","type":"radio","choices":["red","blue"]},
        {"variable":"tags","type":"multi","choices":["a","b"]},{"variable":"msg","prompt":"Message"}]"#;
    let ask = es.project_with(
        &app,
        ProjectInput {
            name: "ask".into(),
            worker_pool_id: pool,
            script:
                "#!/bin/sh\necho 'color={{ color }} tags={{ tags|join(\",\") }} msg={{ msg }}'\n"
                    .into(),
            launch_questions: questions.into(),
            ..ProjectInput::default()
        },
    );
    b.goto(&url("/ui/projects?name=ask"));
    b.press(&format!("a[href='/ui/projects/{ask}/start_prompt']"));
    b.fill("#q-msg", "hello");
    b.press(".form-actions button[type=submit]");
    b.find("#form-error");
    assert_eq!(b.value("#q-msg"), "hello", "answers kept");
    shot(&b, "start-prompt", 1280);
    b.press("input[name=q_color][value=blue]");
    b.press("input[name=q_tags][value=a]");
    b.press("input[name=q_tags][value=b]");
    b.press(".form-actions button[type=submit]");
    b.wait_for(
        "answers in the output",
        "return document.querySelector('#log-output').textContent.indexOf('color=blue tags=a,b msg=hello') >= 0;",
        LONG,
    );

    // The pipeline map while the pipeline runs: one project, then two
    // (fan-out), then one again (fan-in).
    let stage = |name: &str| {
        app.ops
            .stages()
            .create(
                &Actor::System,
                &StageInput {
                    name: name.into(),
                    ..StageInput::default()
                },
            )
            .unwrap()
            .stage
            .id
    };
    let (s1, s2, s3) = (stage("build"), stage("check"), stage("deploy"));
    let pipeline = app
        .ops
        .pipelines()
        .create(
            &Actor::System,
            &PipelineInput {
                name: "release".into(),
                stages: vec![Some(s1), Some(s2), Some(s3)],
                ..PipelineInput::default()
            },
        )
        .unwrap()
        .pipeline
        .id;
    let mut ids = std::collections::BTreeMap::new();
    for (name, stage, script) in [
        ("compile", s1, "#!/bin/sh\nsleep 3\n"),
        ("lint", s2, "#!/bin/sh\necho linted\n"),
        ("unit", s2, "#!/bin/sh\nsleep 1\n"),
        ("ship", s3, "#!/bin/sh\necho shipped\n"),
    ] {
        let id = es.project_with(
            &app,
            ProjectInput {
                name: name.into(),
                worker_pool_id: pool,
                script: script.into(),
                pipeline_id: Some(pipeline),
                stage_id: Some(stage),
                ..ProjectInput::default()
            },
        );
        ids.insert(name, id);
    }
    let compile = ids["compile"];
    let map = url(&format!("/ui/pipelines/{pipeline}/map"));
    b.goto(&map);
    // Every project of one stage joined to every project of the next, in
    // the picture's DOM (the desktop drawing: left to right).
    let edges = |b: &Browser| -> Vec<(i64, i64)> {
        let v = b.script(
            "return Array.prototype.map.call(document.querySelectorAll('svg.fan-h line.edge'), \
             function (l) { return [Number(l.getAttribute('data-from')), Number(l.getAttribute('data-to'))]; });",
            json!([]),
        );
        serde_json::from_value(v).unwrap()
    };
    let fan = vec![
        (ids["compile"], ids["lint"]),
        (ids["compile"], ids["unit"]),
        (ids["lint"], ids["ship"]),
        (ids["unit"], ids["ship"]),
    ];
    assert_eq!(edges(&b), fan, "the fan-out and fan-in edges of the map");
    assert_eq!(
        b.count("svg.fan-v line.edge"),
        4,
        "the phone drawing's edges"
    );
    b.press(&format!(
        "form[action='/ui/projects/{compile}/start'] button"
    ));
    // The start lands on the new build's page; only then back to the map
    // (a map opened while the start's answer is on its way is replaced by it).
    b.wait_for(
        "the started build's page",
        "return location.pathname.indexOf('/ui/builds/') === 0;",
        LONG,
    );
    b.goto(&map);
    b.script("window.__same_page = true;", json!([]));
    b.wait_for(
        "a running stage on the map",
        "return /RUNNING|QUEUED/.test(document.querySelector('#stage-1').textContent);",
        LONG,
    );
    assert_eq!(b.count(".stage"), 3);
    shot(&b, "pipeline-map-running", 1280);
    // The second stage starts only once the first has succeeded, the third
    // once both projects of the second have: seen without a reload.
    b.wait_for(
        "the fan-out's builds on the map",
        "return /RUNNING|QUEUED|SUCCESS/.test(document.querySelector('#stage-2').textContent);",
        LONG,
    );
    b.wait_for(
        "ship's SUCCESS (after the fan-in) without a reload",
        "return /SUCCESS/.test(document.querySelector('#stage-3').textContent);",
        LONG,
    );
    assert_eq!(
        b.script(
            "return window.__same_page === true && window.__map_redraws > 0;",
            json!([])
        ),
        json!(true),
        "the map changed by redrawing itself, not by a reload"
    );
    assert_eq!(edges(&b), fan);
    // Once every build of the pipeline succeeded, all edges show the way it went.
    b.wait_for(
        "every edge marked as passed",
        "return document.querySelectorAll('svg.fan-h line.edge.ok').length === 4;",
        LONG,
    );
    shot(&b, "pipeline-map", 1280);

    // The other pages, at both widths; no sideways scroll on a phone.
    let last_build = app
        .ops
        .builds()
        .list(
            &Actor::System,
            &BuildFilter::default(),
            PageRequest::default(),
        )
        .unwrap()
        .items[0]
        .id;
    let web = app
        .ops
        .projects()
        .id_by_name(&Actor::System, "web")
        .unwrap();
    let pages = [
        ("dashboard", "/ui/".to_string()),
        ("projects", "/ui/projects".to_string()),
        ("builds", "/ui/builds".to_string()),
        ("project-edit", format!("/ui/projects/{web}/edit")),
        ("build", format!("/ui/builds/{}/detail", last_build)),
        ("pipeline-map", format!("/ui/pipelines/{pipeline}/map")),
        ("worker-pools", "/ui/worker_pools".to_string()),
        ("users", "/ui/users".to_string()),
    ];
    for (name, path) in &pages {
        b.goto(&url(path));
        b.find("h1");
        shot(&b, name, 1280);
    }
    b.set_width(360);
    for (name, path) in &pages {
        b.goto(&url(path));
        b.find("h1");
        assert!(!b.scrolls_sideways(), "{name} scrolls sideways at 360 px");
        shot(&b, name, 360);
    }
    // On a phone the stages stack and the fan runs downwards: the second
    // stage's two projects side by side, joined to the stages around them.
    b.goto(&url(&format!("/ui/pipelines/{pipeline}/map")));
    b.find("#stage-2");
    let fan_v = b.script(
        "var s = document.querySelector('svg.fan-v').getBoundingClientRect(); \
         return [s.width, s.height, getComputedStyle(document.querySelector('svg.fan-h')).display];",
        json!([]),
    );
    assert_eq!(fan_v[2], "none", "the desktop drawing is hidden on a phone");
    assert!(
        fan_v[0].as_f64() > Some(200.0) && fan_v[1].as_f64() < Some(60.0),
        "the phone's fan is a band across the screen: {fan_v}"
    );
    b.script(
        "document.querySelector('#stage-2').scrollIntoView({block: 'center'});",
        json!([]),
    );
    shot(&b, "pipeline-map-fan", 360);

    // A non-superuser: no buttons they may not use; 403/404 on URLs.
    b.set_width(1280);
    b.goto(&url("/ui/projects"));
    b.accept_confirms();
    b.press("form.logout button");
    b.fill("#username", "bob");
    b.fill("#password", "pw");
    b.press("button[type=submit]");
    b.find("h1");
    let others = Others {
        admin: admin.id,
        project: web,
        build: last_build,
        pipeline,
        stage: s1,
        pool,
    };
    non_superuser(&b, &server, &es, &others, bob.id);
    shot(&b, "bob-projects", 1280);
    // Organizations are listed to him, not linked (their pages are not his).
    b.goto(&url("/ui/organizations"));
    b.find("h1");
    shot(&b, "bob-organizations", 1280);
    b.set_width(360);
    assert!(!b.scrolls_sideways(), "bob's organizations scroll sideways");
    shot(&b, "bob-organizations", 360);
    b.set_width(1280);
    // The map of a pipeline he may see, whose projects he may not.
    b.goto(&url(&format!("/ui/pipelines/{pipeline}/map")));
    b.find("#stage-3");
    assert_eq!(b.count(".map-project"), 0, "no project of the map is his");
    shot(&b, "bob-pipeline-map", 1280);
    vespene_e2e::engine::kill(worker);
}

/// What the superuser made, for the non-superuser's checks.
struct Others {
    admin: i64,
    project: i64,
    build: i64,
    pipeline: i64,
    stage: i64,
    pool: i64,
}

/// One kind of object seen by bob (not a superuser, in no group), for
/// an object someone else made: whether he may see it (else it is as if
/// it did not exist: 404, absent from the list) and whether he may create
/// one (the list's New button, the new page). He may change none of them
/// (reference §7.2: not his, not his group's, or superuser-only).
struct Rule {
    path: &'static str,
    id: i64,
    name: String,
    visible: bool,
    /// Listed (the ownership plugin lists every organization to everyone
    /// but shows one only to superusers).
    listed: bool,
    may_create: bool,
}

/// How many Edit links and Delete forms the page has for object `id`.
fn buttons(b: &Browser, path: &str, id: i64) -> (usize, usize) {
    (
        b.count(&format!("a[href='/ui/{path}/{id}/edit']")),
        b.count(&format!("form[action='/ui/{path}/{id}/delete']")),
    )
}

/// A form post with the session's CSRF token (so a refusal is the
/// authorization's, never the token's).
fn post_form(c: &mut vespene_e2e::http::Client, path: &str) -> vespene_e2e::http::Reply {
    let body = format!("csrf_token={}", c.csrf.clone().unwrap_or_default());
    c.send(
        "POST",
        path,
        Some(body),
        "application/x-www-form-urlencoded",
    )
}

fn non_superuser(b: &Browser, server: &Server, es: &EngineSandbox, o: &Others, bob: i64) {
    let app = es.app();
    let ops = &app.ops;
    let sys = &Actor::System;
    let url = |p: &str| format!("{}{p}", server.url);
    // Someone else's objects, made through the API by the superuser.
    let mut admin = server.login("admin", "pw");
    let mut make = |path: &str, body: Value| -> i64 {
        let r = admin.post(&format!("/api/v1/{path}"), &body);
        assert!(matches!(r.status, 200 | 201), "create {path}: {}", r.text);
        let v = r.json();
        let nested = v
            .as_object()
            .and_then(|o| o.values().find_map(|x| x["id"].as_i64()));
        v["id"].as_i64().or(nested).expect("the new object's id")
    };
    let snippet = make("snippets", json!({"name": "admin-snippet", "text": "x"}));
    let vars = make("variable_sets", json!({"name": "admin-vars"}));
    let key = make("ssh_keys", json!({"name": "admin-key"}));
    let login = make(
        "service_logins",
        json!({"name": "admin-login", "username": "u"}),
    );
    let org = make(
        "organizations",
        json!({"name": "admin-org", "organization_identifier": "acme",
               "worker_pool_id": o.pool, "default_worker_pool_id": o.pool}),
    );
    let group = make("groups", json!({"name": "admins"}));
    let name = |path: &str, id: i64| -> String {
        let mut c = server.login("admin", "pw");
        let r = c.get(&format!("/api/v1/{path}/{id}"));
        assert_eq!(r.status, 200, "{path} {id}: {}", r.text);
        let v = r.json();
        v["name"]
            .as_str()
            .or(v["username"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let rule =
        |path: &'static str, id: i64, (listed, visible): (bool, bool), may_create: bool| Rule {
            path,
            id,
            name: name(path, id),
            visible,
            listed,
            may_create,
        };
    const SEEN: (bool, bool) = (true, true);
    const HIDDEN: (bool, bool) = (false, false);
    const LISTED_ONLY: (bool, bool) = (true, false);
    // Reference §7.2, the ownership table, for objects bob does not own.
    let rules = [
        rule("projects", o.project, HIDDEN, true),
        rule("pipelines", o.pipeline, SEEN, true),
        rule("stages", o.stage, SEEN, true),
        rule("snippets", snippet, SEEN, true),
        rule("variable_sets", vars, SEEN, true),
        rule("ssh_keys", key, HIDDEN, true),
        rule("service_logins", login, HIDDEN, true),
        rule("worker_pools", o.pool, SEEN, false),
        rule("organizations", org, LISTED_ONLY, false),
        rule("users", o.admin, HIDDEN, false),
        rule("groups", group, SEEN, false),
    ];
    let mut c = server.login("bob", "pw");
    let denied = |s: u16| matches!(s, 403 | 404);
    for r in &rules {
        let (path, id) = (r.path, r.id);
        let here = format!("{path} #{id} ({})", r.name);
        // The list: the object only if visible, New only if allowed.
        b.goto(&url(&format!("/ui/{path}")));
        b.find("h1");
        let new_buttons = b.count(&format!("a[href='/ui/{path}/new']"));
        assert_eq!(
            new_buttons > 0,
            r.may_create,
            "{here}: the list's New button"
        );
        let names = b.script(
            "return Array.from(document.querySelectorAll('td[data-label=Name]')).map(e => e.textContent.trim());",
            json!([]),
        );
        let listed = names
            .as_array()
            .is_some_and(|n| n.iter().any(|n| n.as_str() == Some(r.name.as_str())));
        assert_eq!(listed, r.listed, "{here}: listed to bob: {names}");
        // Linked only where bob may open it (no link to a 404).
        let linked = b.count(&format!("a[href='/ui/{path}/{id}/detail']"));
        assert_eq!(linked > 0, r.visible, "{here}: linked to its detail page");
        assert_eq!(
            buttons(b, path, id),
            (0, 0),
            "{here}: Edit/Delete in the list"
        );
        // The new page, typed directly.
        let new = c.get(&format!("/ui/{path}/new"));
        if r.may_create {
            assert_eq!(new.status, 200, "{here}: new page: {}", new.text);
        } else {
            assert!(
                denied(new.status),
                "{here}: new page answered {}",
                new.status
            );
        }
        // The detail page: as the API answers the same object.
        let detail = c.get(&format!("/ui/{path}/{id}/detail"));
        let api = c.get(&format!("/api/v1/{path}/{id}"));
        assert_eq!(
            detail.status,
            if r.visible { 200 } else { 404 },
            "{here}: detail"
        );
        assert_eq!(
            api.status, detail.status,
            "{here}: the API and the page agree"
        );
        if r.visible {
            b.goto(&url(&format!("/ui/{path}/{id}/detail")));
            b.find("h1");
            assert_eq!(buttons(b, path, id), (0, 0), "{here}: Edit/Delete buttons");
            assert_eq!(
                b.count("form[action$='/start'], form[action$='/stop']"),
                0,
                "{here}: Start/Stop"
            );
        }
        // Edit and delete, typed or posted directly: refused, nothing changed.
        let edit = c.get(&format!("/ui/{path}/{id}/edit"));
        let post_edit = post_form(&mut c, &format!("/ui/{path}/{id}/edit"));
        let delete = post_form(&mut c, &format!("/ui/{path}/{id}/delete"));
        let api_delete = c.delete(&format!("/api/v1/{path}/{id}"));
        for (what, status) in [("edit page", edit.status), ("edit post", post_edit.status)] {
            assert!(denied(status), "{here}: {what} answered {status}");
            if !r.visible {
                assert_eq!(status, 404, "{here}: {what} of a hidden object");
            }
        }
        // A hidden object does not exist for bob, whatever the action; the
        // page says what the API says.
        assert!(
            denied(delete.status),
            "{here}: delete answered {}",
            delete.status
        );
        if !r.visible {
            assert_eq!(delete.status, 404, "{here}: delete of a hidden object");
        }
        assert_eq!(
            delete.status, api_delete.status,
            "{here}: delete as the API answers it"
        );
        assert_eq!(name(path, id), r.name, "{here}: still there, unchanged");
    }

    // Projects and builds: no Start or Stop anywhere; typed, refused.
    for page in [
        "/ui/projects".to_string(),
        "/ui/builds".to_string(),
        format!("/ui/pipelines/{}/map", o.pipeline),
        "/ui/".to_string(),
    ] {
        b.goto(&url(&page));
        b.find("h1");
        assert_eq!(
            b.count("form[action$='/start'], form[action$='/stop'], a[href$='/start_prompt']"),
            0,
            "{page}: Start/Stop"
        );
    }
    for (path, post) in [
        (format!("/ui/projects/{}/start", o.project), true),
        (format!("/ui/projects/{}/start_prompt", o.project), false),
        (format!("/ui/projects/{}/stop", o.project), true),
        (format!("/ui/builds/{}/stop", o.build), true),
        (format!("/ui/builds/{}/detail", o.build), false),
    ] {
        let r = if post {
            post_form(&mut c, &path)
        } else {
            c.get(&path)
        };
        assert_eq!(r.status, 404, "{path}: {} {}", r.status, r.text);
    }
    let builds = c.get(&format!("/api/v1/builds/{}", o.build));
    assert_eq!(builds.status, 404, "the API hides the build too");

    // What is his: himself (Edit, no Delete) and a snippet he makes.
    b.goto(&url(&format!("/ui/users/{bob}/detail")));
    b.find("h1");
    assert_eq!(
        buttons(b, "users", bob),
        (1, 0),
        "bob edits, not deletes, himself"
    );
    b.goto(&url("/ui/snippets/new"));
    b.fill("#f-name", "bobs-snippet");
    b.press(".form-actions button[type=submit]");
    b.find(".flash");
    let mine = ops.snippets().id_by_name(sys, "bobs-snippet").unwrap();
    b.goto(&url(&format!("/ui/snippets/{mine}/detail")));
    b.find("h1");
    assert_eq!(
        buttons(b, "snippets", mine),
        (1, 1),
        "Edit and Delete on his own"
    );
    // The same form post that was refused above deletes his own.
    let r = post_form(&mut c, &format!("/ui/snippets/{mine}/delete"));
    assert!(
        matches!(r.status, 200 | 303),
        "deleting his own snippet: {} {}",
        r.status,
        r.text
    );
    assert!(
        ops.snippets().id_by_name(sys, "bobs-snippet").is_err(),
        "his snippet is gone"
    );
    b.goto(&url("/ui/projects"));
    b.find("h1");
}
