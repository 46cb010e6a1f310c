//! Organization import end to end: `vespene import` and workers, the real
//! `libvespene_plugin_organizations_github.so` and git plugin, against a
//! loopback server started here that speaks GitHub's REST shapes (the
//! recorded repository objects of `testdata/forges/github-rest`, `Link`
//! pagination over three pages under a GitHub Enterprise `/api/v3`
//! prefix) and checks every request, with real git repositories on
//! file:// as the clone URLs.

use crate::bookkeeping::group;
use crate::scm_common::{commit, git};
use diesel::prelude::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::import::apply::NAME_TAKEN;
use vespene_core::ops::{OrganizationInput, ProjectInput, ServiceLoginInput, StageInput};
use vespene_e2e::engine::{Backend, EngineSandbox, backends, kill};

const TOKEN: &str = "ghp_organization-token-0123456789";
const ORG: &str = "codeforamerica";

/// One request the forge received.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HashMap<String, String>,
}

/// What the forge answers to a request target (path and query).
type Route = (u16, Vec<(String, String)>, String);

/// A loopback HTTP/1.1 server: answers from `routes`, or never answers
/// when `hang`.
struct Forge {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Forge {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/api/v3", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Seen> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Seen {
        method,
        target,
        headers,
    })
}

fn answer(mut stream: TcpStream, status: u16, headers: &[(String, String)], body: &str) {
    let mut text = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let _ = stream.write_all(text.as_bytes());
}

/// GitHub's recorded repository objects (2014, codeforamerica).
fn recorded_repos() -> Vec<Value> {
    let path = vespene_e2e::harness::repo_root()
        .join("tests/testdata/forges/github-rest/orgs-repos.page1.first2.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A recorded repository object pointing its `clone_url` at `url`.
fn repo_object(n: usize, url: &str) -> Value {
    let mut v = recorded_repos()[n % 2].clone();
    v["clone_url"] = Value::String(url.into());
    v
}

/// Bare repositories under a temporary directory.
struct Repos {
    dir: tempfile::TempDir,
}

impl Repos {
    fn new() -> Repos {
        Repos {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A bare repository `name.git` holding `files`; its file:// URL.
    fn make(&self, name: &str, files: &[(&str, &str)]) -> String {
        let work = self.dir.path().join(format!("{name}-work"));
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "-q"]);
        let mut all: Vec<(&str, &str)> = vec![("README", "hello\n")];
        all.extend_from_slice(files);
        commit(&work, &all, "first", "dev@example.com");
        let bare = self.dir.path().join(format!("{name}.git"));
        git(
            self.dir.path(),
            &[
                "clone",
                "-q",
                "--bare",
                work.to_str().unwrap(),
                bare.to_str().unwrap(),
            ],
        );
        format!("file://{}", bare.display())
    }

    /// Commits `files` to `name` and pushes them.
    fn update(&self, name: &str, files: &[(&str, &str)]) {
        let work = self.dir.path().join(format!("{name}-work"));
        commit(&work, files, "change", "dev@example.com");
        let bare = self.dir.path().join(format!("{name}.git"));
        git(&work, &["push", "-q", bare.to_str().unwrap(), "HEAD:main"]);
    }
}

/// Three pages of repositories under `/api/v3`, linked as GitHub links
/// them (the next pages under `/organizations/{id}/`).
fn three_pages(port: u16, pages: [Vec<Value>; 3]) -> HashMap<String, Route> {
    let base = format!("http://127.0.0.1:{port}/api/v3");
    let page_url = |n: u32| format!("{base}/organizations/337792/repos?page={n}");
    let link = |next: u32| {
        (
            "Link".to_string(),
            format!(
                "<{}>; rel=\"next\", <{}>; rel=\"last\"",
                page_url(next),
                page_url(3)
            ),
        )
    };
    let [p1, p2, p3] = pages;
    let mut routes = HashMap::new();
    routes.insert(
        format!("/api/v3/orgs/{ORG}/repos?type=all&per_page=100"),
        (200, vec![link(2)], Value::Array(p1).to_string()),
    );
    routes.insert(
        "/api/v3/organizations/337792/repos?page=2".into(),
        (200, vec![link(3)], Value::Array(p2).to_string()),
    );
    routes.insert(
        "/api/v3/organizations/337792/repos?page=3".into(),
        (
            200,
            vec![(
                "Link".into(),
                format!(
                    "<{}>; rel=\"prev\", <{}>; rel=\"first\"",
                    page_url(2),
                    page_url(1)
                ),
            )],
            Value::Array(p3).to_string(),
        ),
    );
    routes
}

fn sandbox(backend: Backend, plugin_params: &str) -> EngineSandbox {
    let es = EngineSandbox::new(
        backend,
        &format!(
            "[plugins.organizations]\ngithub = [\"vespene.plugins.organizations.github\", {plugin_params}]\n"
        ),
    )
    .expect("a sandbox");
    es.vespene(&["secrets", "generate"]).ok();
    es
}

/// An organization of `pool` on the forge at `base`, every flag as given.
fn organization(
    app: &App,
    pool: i64,
    base: &str,
    edit: impl FnOnce(&mut OrganizationInput),
) -> i64 {
    let login = app
        .ops
        .service_logins()
        .create(
            &Actor::System,
            &ServiceLoginInput {
                name: "github-token".into(),
                username: "importer".into(),
                password: Some(TOKEN.into()),
                ..ServiceLoginInput::default()
            },
        )
        .expect("service login")
        .service_login
        .id;
    let mut input = OrganizationInput {
        name: "cfa".into(),
        organization_identifier: ORG.into(),
        api_endpoint: base.into(),
        default_worker_pool_id: pool,
        worker_pool_id: pool,
        scm_login_id: Some(login),
        ..OrganizationInput::default()
    };
    edit(&mut input);
    app.ops
        .organizations()
        .create(&Actor::System, &input)
        .expect("organization")
        .organization
        .id
}

fn project_named(app: &App, name: &str) -> vespene_core::ops::ProjectDetail {
    let id = app
        .ops
        .projects()
        .id_by_name(&Actor::System, name)
        .unwrap_or_else(|e| panic!("no project '{name}': {e}"));
    app.ops.projects().get(&Actor::System, id).unwrap()
}

fn org_row(app: &App, id: i64) -> vespene_core::ops::Organization {
    app.ops
        .organizations()
        .get(&Actor::System, id)
        .unwrap()
        .organization
}

const EVERY_KEY: &str = "name: \"My Awesome Project\"\nscript: ci/build.sh\ntimeout: 90\n\
container_base_image: ubuntu:24.04\nrepo_branch: main\nwebhook_enabled: false\n\
variables:\n  asdf: 1234\n  luggage_code: '5150'\n  nested: {a: [1, 2]}\n\
launch_questions:\n  - {variable: target, type: radio, prompt: Where?, choices: [qa, prod]}\n\
worker_pool: other\npipeline: finance\npipeline_definition: [build, qa, release]\n\
stage: qa\nowner_groups: [devs, nosuch]\nlaunch_groups: [support]\nfrobnicate: 1\n";

const SCRIPT: &str = "#!/bin/sh\necho building {{ asdf }}\n";

#[test]
fn import_reads_every_key_over_three_pages_and_fails_only_the_bad_repositories() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        import_reads_every_key_over_three_pages_and_fails_only_the_bad_repositories_on(backend);
    }
}

fn import_reads_every_key_over_three_pages_and_fails_only_the_bad_repositories_on(
    backend: Backend,
) {
    let es = sandbox(backend, "{ timeout_seconds = 10, retries = 0 }");
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    let other = es.pool(&app, "other");
    let devs = group(&app, "devs");
    let support = group(&app, "support");
    let repos = Repos::new();
    let every = repos.make("every", &[(".vespene", EVERY_KEY), ("ci/build.sh", SCRIPT)]);
    let bare = repos.make("nodotfile", &[]);
    let malformed = repos.make("malformed", &[(".vespene", "timeout: [soon\n")]);
    let taken = repos.make("taken", &[(".vespene", "name: existing\n")]);
    let empty = repos.make("empty", &[(".vespene", "")]);
    // "existing" belongs to another repository: the import must not take it.
    es.project_with(
        &app,
        ProjectInput {
            name: "existing".into(),
            repo_url: "https://example.com/other.git".into(),
            worker_pool_id: pool,
            ..ProjectInput::default()
        },
    );
    let (listener, port) = portpicker();
    let forge = listener.start_with(three_pages(
        port,
        [
            vec![repo_object(0, &every), repo_object(1, &bare)],
            vec![repo_object(0, &malformed), repo_object(1, &taken)],
            vec![repo_object(0, &empty)],
        ],
    ));
    let org = organization(&app, pool, &format!("{}/", forge.base()), |_| {});

    let run = es.vespene(&["import", "cfa"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    for line in [
        "every.git: project 'My Awesome Project' created",
        "nodotfile.git: skipped (no .vespene file)",
        "malformed.git: FAILED: .vespene is malformed: not valid YAML",
        &format!("taken.git: FAILED: {NAME_TAKEN}"),
        "empty.git: project 'empty.git' created",
        "FAILURE (5 repositories, 2 failed)",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }

    // Every request: GET, the Enterprise prefix, the Link URLs as given,
    // the token as a bearer, GitHub's media type.
    let seen = forge.seen();
    let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(
        targets,
        [
            "/api/v3/orgs/codeforamerica/repos?type=all&per_page=100",
            "/api/v3/organizations/337792/repos?page=2",
            "/api/v3/organizations/337792/repos?page=3",
        ]
    );
    for s in &seen {
        assert_eq!(s.method, "GET");
        assert_eq!(s.headers["authorization"], format!("Bearer {TOKEN}"));
        assert_eq!(s.headers["accept"], "application/vnd.github+json");
        assert_eq!(s.headers["x-github-api-version"], "2022-11-28");
        assert!(s.headers["user-agent"].starts_with("vespene/"), "{s:?}");
    }

    // The import build, as the original recorded it.
    let o = org_row(&app, org);
    let build_id = o.last_build_id.expect("last build");
    let b = app.ops.builds().get(&Actor::System, build_id).unwrap();
    assert_eq!(b.status(), BuildStatus::Failure);
    assert_eq!(b.project_id, None);
    assert_eq!(b.organization_id, Some(org));
    assert_eq!(b.worker_pool_id, pool);
    assert_eq!(b.return_code, Some(2));
    assert!(b.end_time.is_some() && b.start_time.is_some());
    assert_eq!(o.active_build_id, None);
    assert_eq!(o.last_successful_build_id, None);
    assert!(!o.force_rescan);
    let messages = es.output(&app, build_id, OutputStream::Messages);
    for part in [
        "begin organizational import, scratch space: ",
        &format!("begin repo import: {every}"),
        ".vespene file is missing, skipping",
        ".vespene: ignoring unknown keys: frobnicate",
        "applying config: {",
        "owner_groups: no group named 'nosuch', ignored",
        NAME_TAKEN,
        "repo import failed: .vespene is malformed",
        "complete",
        "GitHub: page 3 of organization 'codeforamerica': 1 repositories",
    ] {
        assert!(messages.contains(part), "{part}\n{messages}");
    }
    assert!(!messages.contains(TOKEN), "{messages}");
    assert!(
        !es.build_root(build_id).exists(),
        "the scratch space is removed"
    );

    // Every key of the .vespene applied.
    let p = project_named(&app, "My Awesome Project");
    let pr = &p.project;
    assert_eq!(pr.repo_url, every);
    assert_eq!(pr.scm_type, "git");
    assert_eq!(pr.script, SCRIPT);
    assert_eq!(pr.timeout, 90);
    assert_eq!(pr.container_base_image.as_deref(), Some("ubuntu:24.04"));
    assert_eq!(pr.repo_branch, "main");
    assert!(!pr.webhook_enabled);
    let vars: Value = serde_json::from_str(&pr.variables).unwrap();
    assert_eq!(
        vars,
        serde_json::json!({"asdf": 1234, "luggage_code": "5150", "nested": {"a": [1, 2]}})
    );
    let questions: Value = serde_json::from_str(&pr.launch_questions).unwrap();
    assert_eq!(questions[0]["variable"], "target");
    assert_eq!(questions[0]["choices"], serde_json::json!(["qa", "prod"]));
    assert_eq!(pr.worker_pool_id, other);
    assert_eq!(pr.scm_login_id, o.scm_login_id);
    assert_eq!(p.owner_groups, [devs]);
    assert_eq!(p.launch_groups, [support]);
    let pipeline = app
        .ops
        .pipelines()
        .get(&Actor::System, pr.pipeline_id.expect("pipeline"))
        .unwrap();
    assert_eq!(pipeline.pipeline.name, "finance");
    assert!(pipeline.pipeline.enabled);
    let stage_names: Vec<String> = pipeline
        .all_stages()
        .iter()
        .map(|s| app.ops.stages().get(&Actor::System, *s).unwrap().stage.name)
        .collect();
    assert_eq!(stage_names, ["build", "qa", "release"]);
    let qa = app.ops.stages().id_by_name(&Actor::System, "qa").unwrap();
    assert_eq!(pr.stage_id, Some(qa));

    // The defaults under an empty file; nothing made for the others.
    let e = project_named(&app, "empty.git").project;
    assert!(e.webhook_enabled);
    assert_eq!(e.worker_pool_id, pool);
    assert_eq!(e.script, vespene_core::db::projects::DEFAULT_SCRIPT);
    assert_eq!(
        project_named(&app, "existing").project.repo_url,
        "https://example.com/other.git"
    );
    let names: Vec<String> = app
        .ops
        .projects()
        .list(&Actor::System, &Default::default(), Default::default())
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");

    // Importing again updates the same project, found by its repository
    // (a renamed .vespene renames it), and defines the pipeline anew.
    repos.update(
        "every",
        &[(
            ".vespene",
            "name: Renamed\ntimeout: 5\npipeline: finance\npipeline_definition: [build, release]\nstage: release\n",
        )],
    );
    let run = es.vespene(&["import", &org.to_string()]);
    assert!(
        run.stdout.contains("every.git: project 'Renamed' updated"),
        "{run:#?}"
    );
    let renamed = project_named(&app, "Renamed");
    assert_eq!(renamed.project.id, p.project.id);
    assert_eq!(renamed.project.timeout, 5);
    assert_eq!(renamed.project.script, SCRIPT, "no script key: kept");
    let pipeline = app
        .ops
        .pipelines()
        .get(&Actor::System, pipeline.pipeline.id)
        .unwrap();
    assert_eq!(pipeline.all_stages().len(), 2);
}

#[test]
fn policy_flags_off_keep_what_the_project_has_and_without_dotfile_imports_anyway() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        policy_flags_off_keep_what_the_project_has_and_without_dotfile_imports_anyway_on(backend);
    }
}

fn policy_flags_off_keep_what_the_project_has_and_without_dotfile_imports_anyway_on(
    backend: Backend,
) {
    let es = sandbox(backend, "{ timeout_seconds = 10 }");
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    es.pool(&app, "other");
    group(&app, "devs");
    let kept_stage = app
        .ops
        .stages()
        .create(
            &Actor::System,
            &StageInput {
                name: "kept".into(),
                ..StageInput::default()
            },
        )
        .unwrap()
        .stage
        .id;
    let repos = Repos::new();
    let every = repos.make("every", &[(".vespene", EVERY_KEY), ("ci/build.sh", SCRIPT)]);
    let fresh = repos.make("fresh", &[(".vespene", "name: fresh-name\ntimeout: 7\n")]);
    let bare = repos.make("nodotfile", &[]);
    let before = es.project_with(
        &app,
        ProjectInput {
            name: "kept-name".into(),
            repo_url: every.clone(),
            script: "#!/bin/sh\necho kept\n".into(),
            timeout: 33,
            worker_pool_id: pool,
            stage_id: Some(kept_stage),
            ..ProjectInput::default()
        },
    );
    let (listener, port) = portpicker();
    let forge = listener.start_with(three_pages(
        port,
        [
            vec![repo_object(0, &every)],
            vec![repo_object(1, &fresh)],
            vec![repo_object(0, &bare)],
        ],
    ));
    let org = organization(&app, pool, &forge.base(), |o| {
        o.import_without_dotfile = true;
        o.overwrite_project_name = false;
        o.overwrite_project_script = false;
        o.overwrite_configurations = false;
        o.allow_pipeline_definition = false;
        o.allow_worker_pool_assignment = false;
    });
    let run = es.vespene(&["import", "cfa"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout.contains("SUCCESS (3 repositories, 0 failed)"),
        "{}",
        run.stdout
    );

    let p = app.ops.projects().get(&Actor::System, before).unwrap();
    assert_eq!(p.project.name, "kept-name", "overwrite_project_name off");
    assert_eq!(
        p.project.script, "#!/bin/sh\necho kept\n",
        "overwrite_project_script off"
    );
    assert_eq!(
        p.project.worker_pool_id, pool,
        "allow_worker_pool_assignment off"
    );
    assert_eq!(p.project.timeout, 33, "overwrite_configurations off");
    assert_eq!(p.project.container_base_image, None);
    assert_eq!(p.project.variables, "{}");
    assert_eq!(p.project.stage_id, Some(kept_stage));
    assert_eq!(p.project.pipeline_id, None);
    assert!(p.owner_groups.is_empty());
    assert!(
        app.ops
            .pipelines()
            .id_by_name(&Actor::System, "finance")
            .is_err(),
        "allow_pipeline_definition off"
    );
    // A new project takes its .vespene name whatever the flags (the
    // original's behaviour), and the organization's pool and login.
    let f = project_named(&app, "fresh-name").project;
    assert_eq!(f.timeout, 60, "overwrite_configurations off");
    assert_eq!(f.worker_pool_id, pool);
    assert_eq!(f.scm_login_id, org_row(&app, org).scm_login_id);
    assert!(!f.webhook_enabled, "the webhook default is a configuration");
    // import_without_dotfile: a project named after the repository.
    let n = project_named(&app, "nodotfile.git").project;
    assert_eq!(n.repo_url, bare);
    let o = org_row(&app, org);
    assert_eq!(o.last_successful_build_id, o.last_build_id);
    let b = app
        .ops
        .builds()
        .get(&Actor::System, o.last_build_id.unwrap())
        .unwrap();
    assert_eq!(b.status(), BuildStatus::Success);
    assert_eq!(b.return_code, Some(0));
}

fn import_builds(app: &App, org: i64) -> Vec<vespene_core::ops::BuildSummary> {
    app.ops
        .builds()
        .list(
            &Actor::System,
            &vespene_core::ops::BuildFilter {
                organization_id: Some(org),
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap()
        .items
}

fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not after {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn workers_import_when_due_after_refresh_minutes_and_on_force_rescan() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        workers_import_when_due_after_refresh_minutes_and_on_force_rescan_on(backend);
    }
}

fn workers_import_when_due_after_refresh_minutes_and_on_force_rescan_on(backend: Backend) {
    let es = sandbox(backend, "{ timeout_seconds = 10 }");
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    let repos = Repos::new();
    let url = repos.make("svc", &[(".vespene", "name: svc\ntimeout: 11\n")]);
    let (listener, port) = portpicker();
    let _forge = listener.start_with(three_pages(
        port,
        [vec![repo_object(0, &url)], vec![], vec![]],
    ));
    let org = organization(&app, pool, &_forge.base(), |o| o.refresh_minutes = 1);
    let worker = es.worker("import-pool", &[]);
    let done = |n: usize| {
        let b = import_builds(&app, org);
        b.len() >= n && b.iter().all(|b| b.status().is_complete())
    };
    wait_for("the first import", Duration::from_secs(60), || done(1));
    assert_eq!(project_named(&app, "svc").project.timeout, 11);

    // Not due again within refresh_minutes.
    repos.update("svc", &[(".vespene", "name: svc\ntimeout: 22\n")]);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(import_builds(&app, org).len(), 1);

    // refresh_minutes later (the last import made older), due again.
    {
        use vespene_core::db::schema::builds as b;
        let mut conn = app.db.conn().unwrap();
        let last = org_row(&app, org).last_build_id.unwrap();
        diesel::update(b::table.find(last))
            .set(b::end_time.eq(Some(vespene_core::db::now() - chrono::Duration::minutes(2))))
            .execute(&mut *conn)
            .unwrap();
    }
    wait_for("the refresh import", Duration::from_secs(60), || done(2));
    assert_eq!(project_named(&app, "svc").project.timeout, 22);

    // force_rescan: imported at once, then reset.
    repos.update("svc", &[(".vespene", "name: svc\ntimeout: 33\n")]);
    let mut input =
        OrganizationInput::from(&app.ops.organizations().get(&Actor::System, org).unwrap());
    input.force_rescan = true;
    app.ops
        .organizations()
        .update(&Actor::System, org, &input)
        .unwrap();
    wait_for("the forced import", Duration::from_secs(60), || done(3));
    assert_eq!(project_named(&app, "svc").project.timeout, 33);
    assert!(!org_row(&app, org).force_rescan);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(import_builds(&app, org).len(), 3, "force_rescan is reset");
    kill(worker);
}

#[test]
fn a_forge_that_never_answers_is_bounded_by_the_timeout_and_blocks_no_build() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        a_forge_that_never_answers_is_bounded_by_the_timeout_and_blocks_no_build_on(backend);
    }
}

fn a_forge_that_never_answers_is_bounded_by_the_timeout_and_blocks_no_build_on(backend: Backend) {
    let es = sandbox(
        backend,
        "{ timeout_seconds = 2, retries = 1, backoff_ms = 100 }",
    );
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    let (listener, _) = portpicker();
    let forge = listener.start_hanging();
    let org = organization(&app, pool, &forge.base(), |_| {});
    let project = es.project(&app, "quick", pool, "#!/bin/sh\necho quick\n");
    let worker = es.worker("import-pool", &[]);
    wait_for("the import to start", Duration::from_secs(30), || {
        !import_builds(&app, org).is_empty()
    });
    // While the import waits on the forge, the worker builds.
    let started = Instant::now();
    let build = vespene_core::engine::queue::start_project(
        &app,
        &Actor::System,
        project,
        &vespene_core::engine::queue::StartRequest::default(),
    )
    .expect("queue")
    .build
    .id;
    let b = es.wait_build(&app, build, Duration::from_secs(60));
    assert_eq!(b.status(), BuildStatus::Success);
    let import = import_builds(&app, org)[0].id;
    let ended = es.wait_build(&app, import, Duration::from_secs(30));
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(ended.status(), BuildStatus::Failure);
    assert_eq!(ended.return_code, Some(-1));
    let messages = es.output(&app, import, OutputStream::Messages);
    assert!(
        messages.contains("no answer within timeout_seconds = 2 (gave up after 2 attempts)"),
        "{messages}"
    );
    assert_eq!(forge.seen().len(), 2, "one retry");
    kill(worker);
}

#[test]
fn github_error_answers_and_a_missing_organization_plugin_are_named() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        github_error_answers_and_a_missing_organization_plugin_are_named_on(backend);
    }
}

fn github_error_answers_and_a_missing_organization_plugin_are_named_on(backend: Backend) {
    let es = sandbox(backend, "{ timeout_seconds = 5, retries = 0 }");
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    let (listener, _) = portpicker();
    let mut routes = HashMap::new();
    routes.insert(
        format!("/api/v3/orgs/{ORG}/repos?type=all&per_page=100"),
        (
            401,
            vec![],
            r#"{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}"#
                .to_string(),
        ),
    );
    let forge = listener.start_with(routes);
    organization(&app, pool, &forge.base(), |_| {});
    let run = es.vespene(&["import", "cfa"]);
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr
            .contains("listing the repositories failed: GitHub answered 401 Unauthorized to GET")
            && run
                .stderr
                .contains("Bad credentials (https://docs.github.com/rest)"),
        "{run:#?}"
    );
    assert!(!run.stderr.contains(TOKEN));
    let run = es.vespene(&["import", "no-such-org"]);
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("no-such-org"), "{run:#?}");
}

/// A bound listener not yet serving, so routes can name its port.
struct Unstarted(TcpListener);

fn portpicker() -> (Unstarted, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    (Unstarted(l), port)
}

impl Unstarted {
    fn start_with(self, routes: HashMap<String, Route>) -> Forge {
        Forge::serve(self.0, routes, false)
    }
    fn start_hanging(self) -> Forge {
        Forge::serve(self.0, HashMap::new(), true)
    }
}

impl Forge {
    /// Serves `listener` on a thread: answers from `routes`, or holds
    /// every connection unanswered when `hang`.
    fn serve(listener: TcpListener, routes: HashMap<String, Route>, hang: bool) -> Forge {
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                let Some(req) = read_request(&stream) else {
                    continue;
                };
                s.lock().unwrap().push(req.clone());
                if hang {
                    held.push(stream);
                    continue;
                }
                let (status, headers, body) = routes.get(&req.target).cloned().unwrap_or((
                    404,
                    vec![],
                    r#"{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}"#
                        .into(),
                ));
                answer(stream, status, &headers, &body);
            }
        });
        Forge { port, seen }
    }
}

/// GitHub's rate limit answer (403 with `X-RateLimit-Remaining: 0`, then a
/// secondary limit's 429 with `Retry-After`) is waited out within
/// `max_wait_seconds` and the import goes on; a limit asking for longer
/// fails the import at once with a line naming the limit and the bound.
#[test]
fn rate_limits_are_waited_out_within_max_wait_seconds_or_named() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        rate_limits_are_waited_out_within_max_wait_seconds_or_named_on(backend);
    }
}

fn rate_limits_are_waited_out_within_max_wait_seconds_or_named_on(backend: Backend) {
    use vespene_e2e::stub_http::{Reply, StubServer};
    let es = sandbox(
        backend,
        "{ timeout_seconds = 5, retries = 0, max_wait_seconds = 4 }",
    );
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    let repos = Repos::new();
    let url = repos.make("limited", &[(".vespene", "name: limited\n")]);
    let page = Value::Array(vec![repo_object(0, &url)]).to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let json = ("content-type", "application/json; charset=utf-8");
    let reset = (now + 1).to_string();
    let primary = br#"{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}"#;
    let secondary = br#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"}"#;
    let stub = StubServer::start(
        "127.0.0.1",
        vec![
            Reply::raw(
                403,
                &[
                    json,
                    ("x-ratelimit-limit", "5000"),
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", reset.as_str()),
                    ("x-ratelimit-resource", "core"),
                ],
                primary,
            ),
            Reply::raw(429, &[json, ("retry-after", "1")], secondary),
            Reply::raw(200, &[json], page.as_bytes()),
            // The next import: a wait past max_wait_seconds.
            Reply::raw(429, &[json, ("retry-after", "120")], secondary),
        ],
    );
    let org = organization(&app, pool, &format!("{}/api/v3", stub.base()), |_| {});
    let run = es.vespene(&["import", "cfa"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    let first = format!("GET /api/v3/orgs/{ORG}/repos?type=all&per_page=100 HTTP/1.1\r\n");
    let seen = stub.requests();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for r in &seen {
        assert!(r.starts_with(&first), "{r}");
        assert!(
            r.contains(&format!("authorization: Bearer {TOKEN}\r\n")),
            "{r}"
        );
    }
    let import = import_builds(&app, org)[0].id;
    let messages = es.output(&app, import, OutputStream::Messages);
    let on = format!(
        "GitHub: rate limited on GET {}/api/v3/orgs/{ORG}/repos?type=all&per_page=100: ",
        stub.base()
    );
    assert!(
        messages.contains(&format!(
            "{on}GitHub's 'core' rate limit of 5000 requests is used up (X-RateLimit-Remaining: 0); it resets in "
        )),
        "{messages}"
    );
    assert!(
        messages.contains(&format!(
            "{on}GitHub's rate limit asks to wait (Retry-After: 1); waiting 1 s"
        )),
        "{messages}"
    );
    project_named(&app, "limited");

    let started = Instant::now();
    let run = es.vespene(&["import", "cfa"]);
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stderr.contains("GitHub answered 429 Too Many Requests to GET")
            && run.stderr.contains(
                "GitHub's rate limit asks to wait (Retry-After: 120); waiting 120 s more (after 0 s) is past max_wait_seconds = 4: try again once the limit has reset"
            ),
        "{run:#?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(stub.requests().len(), 4);
    assert!(!run.stderr.contains(TOKEN));
}

/// `POST /api/v1/organizations/{id}/import` over real HTTP: refused to a
/// user who may not see the organization (nothing asked of the forge),
/// run for one who may, answering with the import's build and
/// repositories; `vespene import ORG --server URL` goes through it.
#[test]
fn import_over_the_rest_api_and_the_cli_through_a_server() {
    for backend in backends() {
        eprintln!("-- {backend:?}");
        import_over_the_rest_api_and_the_cli_through_a_server_on(backend);
    }
}

fn import_over_the_rest_api_and_the_cli_through_a_server_on(backend: Backend) {
    use vespene_e2e::http::Server;
    use vespene_e2e::stub_http::{Reply, StubServer};
    let es = sandbox(backend, "{ timeout_seconds = 10, retries = 0 }");
    let app = es.app();
    let pool = es.pool(&app, "import-pool");
    let repos = Repos::new();
    let url = repos.make("web", &[(".vespene", "name: over-http\n")]);
    let page = Value::Array(vec![repo_object(0, &url)]).to_string();
    let json = ("content-type", "application/json; charset=utf-8");
    let stub = StubServer::start(
        "127.0.0.1",
        vec![
            Reply::raw(200, &[json], page.as_bytes()),
            Reply::raw(200, &[json], page.as_bytes()),
        ],
    );
    let org = organization(&app, pool, &format!("{}/api/v3", stub.base()), |_| {});
    let token = |name: &str, superuser: bool| {
        let user =
            vespene_core::accounts::create_user(&app.db, name, Some("pw"), superuser).unwrap();
        vespene_core::accounts::create_token(&app.db, user.id, "t")
            .unwrap()
            .token
    };
    let (admin, pat) = (token("admin", true), token("pat", false));
    let server = Server::start(&es);
    let path = format!("/api/v1/organizations/{org}/import");

    // A user who may not see the organization: as if it did not exist
    // (one who sees it but may not edit it gets 403, the ops' rule).
    let r = server.with_token(&pat).post(&path, &serde_json::json!({}));
    assert_eq!(r.status, 404, "{}", r.text);
    assert!(
        r.text
            .contains(&format!("organization #{org} does not exist")),
        "{}",
        r.text
    );
    assert!(stub.requests().is_empty());

    let r = server
        .with_token(&admin)
        .post(&path, &serde_json::json!({}));
    assert_eq!(r.status, 200, "{}", r.text);
    let body = r.json();
    assert_eq!(body["status"], "SUCCESS", "{body}");
    assert_eq!(body["failures"], 0);
    assert_eq!(
        body["repositories"],
        serde_json::json!([{"url": url, "outcome": "created", "project": "over-http", "error": null}])
    );
    let build = body["build_id"].as_i64().unwrap();
    assert_eq!(import_builds(&app, org)[0].id, build);
    project_named(&app, "over-http");
    let r = server.with_token(&admin).post(
        "/api/v1/organizations/999999/import",
        &serde_json::json!({}),
    );
    assert_eq!(r.status, 404, "{}", r.text);

    // The command line through the server: the same operation, by name.
    let out = es
        .sb
        .command()
        .env("VESPENE_SERVER", &server.url)
        .env("VESPENE_TOKEN", &admin)
        .args(["import", "cfa"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{url}: project 'over-http' updated")),
        "{stdout}"
    );
    assert!(
        stdout.contains("SUCCESS (1 repositories, 0 failed)"),
        "{stdout}"
    );
    assert_eq!(stub.requests().len(), 2);
    let out = es
        .sb
        .command()
        .env("VESPENE_SERVER", &server.url)
        .env("VESPENE_TOKEN", &pat)
        .args(["import", &org.to_string()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not exist"),
        "{out:?}"
    );
}
