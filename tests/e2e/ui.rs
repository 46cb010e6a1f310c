//! The web UI in headless Chromium against the real server and a real
//! worker: login, forms (with errors next to their fields), live build
//! output, stop, launch questions, the pipeline map, what a
//! non-superuser may see, and the phone layout. Screenshots of the key
//! pages at 1280 and 360 px go to target/screenshots/.

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::ops::*;
use vespene_e2e::browser::{self, Browser};
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots")
}

fn shot(b: &Browser, name: &str, width: u32) {
    b.screenshot(&shots().join(format!("{name}-{width}.png")));
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
fn web_ui_in_a_browser() {
    if !browser::available() {
        return;
    }
    let es = EngineSandbox::new(Backend::Sqlite, "").unwrap();
    let app = es.app();
    vespene_core::accounts::create_user(&app.db, "admin", Some("pw"), true).unwrap();
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

    // The pipeline map while the pipeline runs.
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
    let (s1, s2) = (stage("build"), stage("deploy"));
    let pipeline = app
        .ops
        .pipelines()
        .create(
            &Actor::System,
            &PipelineInput {
                name: "release".into(),
                stages: vec![Some(s1), Some(s2)],
                ..PipelineInput::default()
            },
        )
        .unwrap()
        .pipeline
        .id;
    for (name, stage, script) in [
        ("compile", s1, "#!/bin/sh\nsleep 4\n"),
        ("test", s1, "#!/bin/sh\nsleep 4\n"),
        ("ship", s2, "#!/bin/sh\necho shipped\n"),
    ] {
        es.project_with(
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
    }
    let compile = app
        .ops
        .projects()
        .id_by_name(&Actor::System, "compile")
        .unwrap();
    b.goto(&url(&format!("/ui/pipelines/{pipeline}/map")));
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
    b.goto(&url(&format!("/ui/pipelines/{pipeline}/map")));
    b.wait_for(
        "a running stage on the map",
        "return /RUNNING|QUEUED/.test(document.querySelector('.map').textContent);",
        LONG,
    );
    assert_eq!(b.count(".stage"), 2);
    shot(&b, "pipeline-map", 1280);
    b.wait_for(
        "the map to show compile's SUCCESS without a reload",
        "return /SUCCESS/.test(document.querySelector('.map').textContent);",
        LONG,
    );

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

    // A non-superuser: no buttons they may not use; 403/404 on URLs.
    let mut bob_c = server.login("bob", "pw");
    for path in [
        format!("/ui/projects/{web}/edit"),
        format!("/ui/users/{}/edit", 1),
        format!("/ui/projects/{web}/start_prompt"),
    ] {
        let r = bob_c.get(&path);
        assert!(
            matches!(r.status, 403 | 404),
            "{path}: {} {}",
            r.status,
            r.text
        );
    }
    b.set_width(1280);
    b.goto(&url("/ui/projects"));
    b.accept_confirms();
    b.press("form.logout button");
    b.fill("#username", "bob");
    b.fill("#password", "pw");
    b.press("button[type=submit]");
    b.find("h1");
    b.goto(&url("/ui/projects"));
    assert_eq!(
        b.count("form[action$='/start'] button"),
        0,
        "bob may start nothing"
    );
    let r = bob_c.get(&format!("/ui/users/{}/detail", bob.id));
    assert_eq!(r.status, 200, "bob sees himself");
    b.goto(&url(&format!("/ui/users/{}/detail", bob.id)));
    assert_eq!(
        b.count("form[action$='/delete']"),
        0,
        "bob may not delete himself"
    );
    shot(&b, "bob-projects", 1280);
    vespene_e2e::engine::kill(worker);
}
