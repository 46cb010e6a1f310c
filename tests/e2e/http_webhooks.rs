//! `POST /webhooks` over real HTTP against `vespene server`, with the real
//! GitHub, GitLab and Gitea deliveries of `tests/testdata/forges/` sent
//! byte for byte with their recorded headers (see its SOURCES.md), and with
//! wrong signatures and tokens, other branches, a branch containing `/`,
//! deletions, malformed JSON and unknown events. Each case says the status
//! and which project gained a build; nothing else may be queued.

use diesel::prelude::*;
use serde_json::Value;
use std::path::PathBuf;
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::ops::ProjectInput;
use vespene_core::ops::webhooks::settings::{SettingsChange, set};
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

fn forges() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/forges")
}

/// A recorded body, exactly as stored.
fn body(file: &str) -> String {
    let bytes = std::fs::read(forges().join(file)).unwrap();
    String::from_utf8(bytes).expect("the payloads are UTF-8")
}

/// A recorded header map, without Content-Type (sent with the body).
fn headers(file: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(forges().join(file)).unwrap();
    let map: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    map.into_iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
        .map(|(k, v)| (k, v.as_str().unwrap().to_string()))
        .collect()
}

fn with(mut h: Vec<(String, String)>, name: &str, value: Option<&str>) -> Vec<(String, String)> {
    h.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
    if let Some(v) = value {
        h.push((name.to_string(), v.to_string()));
    }
    h
}

struct Hooked {
    name: &'static str,
    repo: &'static str,
    branch: &'static str,
    token: &'static str,
    secret: &'static str,
    build_pushed: bool,
}

const PROJECTS: &[Hooked] = &[
    // GitHub's push-branch.json and push-tag.json (secret from SOURCES.md).
    Hooked {
        name: "gh",
        repo: "https://github.com/Codertocat/Hello-World.git",
        branch: "master",
        token: "",
        secret: "topsecret",
        build_pushed: false,
    },
    Hooked {
        name: "gh-tags",
        repo: "git@github.com:bradrydzewski/drone-test-go.git",
        branch: "",
        token: "",
        secret: "topsecret",
        build_pushed: false,
    },
    // GitLab's push-hook.json (ssh URL) and tag-push-hook.json (http URL).
    Hooked {
        name: "gl",
        repo: "git@example.com:mike/diaspora.git",
        branch: "master",
        token: "",
        secret: "topsecret",
        build_pushed: false,
    },
    Hooked {
        name: "gl-tags",
        repo: "http://example.com/jsmith/example.git",
        branch: "v1.0.0",
        token: "",
        secret: "topsecret",
        build_pushed: false,
    },
    // Gitea's push.json, built at the pushed commit.
    Hooked {
        name: "gitea",
        repo: "http://127.0.0.1:3000/Test-CI/multi-line-secrets.git",
        branch: "main",
        token: "",
        secret: "71295b197fa25f4356d2fb9965df3f2379d903d7",
        build_pushed: true,
    },
    // Constructed pushes: a branch with '/', the original's ?token=.
    Hooked {
        name: "slash",
        repo: "https://forge.test/team/slash.git",
        branch: "feature/login-form",
        token: "",
        secret: "",
        build_pushed: false,
    },
    Hooked {
        name: "tokened",
        repo: "https://forge.test/team/tokened.git",
        branch: "",
        token: "t0k&en",
        secret: "",
        build_pushed: false,
    },
];

fn builds_of(app: &App, project: i64) -> i64 {
    use vespene_core::db::schema::builds::dsl as b;
    let mut conn = app.db.conn().unwrap();
    b::builds
        .filter(b::project_id.eq(project))
        .count()
        .get_result(&mut *conn)
        .unwrap()
}

fn push(repo: &str, git_ref: &str, deleted: bool) -> String {
    serde_json::json!({
        "ref": git_ref,
        "after": if deleted { "0000000000000000000000000000000000000000" } else { "9bc1a0b3a1c6d1e0f4b5c6d7e8f9a0b1c2d3e4f5" },
        "deleted": deleted,
        "repository": {"clone_url": repo},
    })
    .to_string()
}

fn github_push() -> Vec<(String, String)> {
    vec![("X-GitHub-Event".into(), "push".into())]
}

struct Case {
    what: &'static str,
    path: &'static str,
    body: String,
    headers: Vec<(String, String)>,
    status: u16,
    /// The project that gains one build, if any.
    queued: Option<&'static str>,
    /// A fragment of the one-line answer.
    says: &'static str,
}

fn cases() -> Vec<Case> {
    let gh = headers("github/push-branch.headers.json");
    let bad_sig = "sha256=e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32958";
    let gitea = headers("gitea/push.headers.json");
    let c = |what, path, body: String, headers, status, queued, says| Case {
        what,
        path,
        body,
        headers,
        status,
        queued,
        says,
    };
    vec![
        c(
            "GitHub push, right signature",
            "/webhooks",
            body("github/push-branch.json"),
            gh.clone(),
            200,
            Some("gh"),
            "queued build",
        ),
        c(
            "GitHub push, wrong signature",
            "/webhooks",
            body("github/push-branch.json"),
            with(gh.clone(), "X-Hub-Signature-256", Some(bad_sig)),
            403,
            None,
            "X-Hub-Signature-256 does not match",
        ),
        c(
            "GitHub push, no signature",
            "/webhooks",
            body("github/push-branch.json"),
            with(gh.clone(), "X-Hub-Signature-256", None),
            403,
            None,
            "no X-Hub-Signature-256",
        ),
        c(
            "GitHub push, signature without sha256=",
            "/webhooks",
            body("github/push-branch.json"),
            with(
                gh.clone(),
                "X-Hub-Signature-256",
                Some("e3bfe744d4e2e29ed990bde8acfb8255ca51ef65f99657767989fb6349f32957"),
            ),
            403,
            None,
            "does not start with 'sha256='",
        ),
        c(
            "GitHub push, body changed by one byte",
            "/webhooks",
            body("github/push-branch.json") + " ",
            gh.clone(),
            403,
            None,
            "does not match",
        ),
        c(
            "GitHub tag push",
            "/webhooks",
            body("github/push-tag.json"),
            headers("github/push-tag.headers.json"),
            200,
            Some("gh-tags"),
            "queued build",
        ),
        c(
            "GitHub ping",
            "/webhooks",
            body("github/ping.json"),
            headers("github/ping.headers.json"),
            200,
            None,
            "pong",
        ),
        c(
            "GitLab push, right token",
            "/webhooks",
            body("gitlab/push-hook.json"),
            headers("gitlab/push-hook.headers.json"),
            200,
            Some("gl"),
            "queued build",
        ),
        c(
            "GitLab push, wrong token",
            "/webhooks",
            body("gitlab/push-hook.json"),
            with(
                headers("gitlab/push-hook.headers.json"),
                "X-Gitlab-Token",
                Some("topsecreT"),
            ),
            403,
            None,
            "X-Gitlab-Token does not match",
        ),
        c(
            "GitLab push, no token",
            "/webhooks",
            body("gitlab/push-hook.json"),
            with(
                headers("gitlab/push-hook.headers.json"),
                "X-Gitlab-Token",
                None,
            ),
            403,
            None,
            "no X-Gitlab-Token",
        ),
        c(
            "GitLab tag push",
            "/webhooks",
            body("gitlab/tag-push-hook.json"),
            headers("gitlab/tag-push-hook.headers.json"),
            200,
            Some("gl-tags"),
            "queued build",
        ),
        c(
            "Gitea push, right signature",
            "/webhooks",
            body("gitea/push.json"),
            gitea.clone(),
            200,
            Some("gitea"),
            "queued build",
        ),
        c(
            "Gitea push, wrong signature",
            "/webhooks",
            body("gitea/push.json"),
            with(
                with(gitea.clone(), "X-Gitea-Signature", Some("00")),
                "X-Gogs-Signature",
                None,
            ),
            403,
            None,
            "X-Gitea-Signature does not match",
        ),
        c(
            "malformed JSON",
            "/webhooks",
            "{\"ref\": \"refs/heads/master\",".into(),
            gh.clone(),
            400,
            None,
            "not valid JSON",
        ),
        c(
            "JSON that is not an object",
            "/webhooks",
            "[1, 2]".into(),
            github_push(),
            400,
            None,
            "not a JSON object",
        ),
        c(
            "push without ref",
            "/webhooks",
            "{}".into(),
            github_push(),
            400,
            None,
            "no 'ref'",
        ),
        c(
            "unknown GitHub event",
            "/webhooks",
            body("github/push-branch.json"),
            with(gh.clone(), "X-GitHub-Event", Some("issues")),
            400,
            None,
            "'issues' is not handled",
        ),
        c(
            "unknown GitLab event",
            "/webhooks",
            body("gitlab/push-hook.json"),
            with(
                headers("gitlab/push-hook.headers.json"),
                "X-Gitlab-Event",
                Some("Note Hook"),
            ),
            400,
            None,
            "'Note Hook' is not handled",
        ),
        c(
            "no event header",
            "/webhooks",
            body("github/push-branch.json"),
            vec![],
            400,
            None,
            "no X-GitHub-Event",
        ),
        c(
            "branch with '/'",
            "/webhooks",
            push(
                "https://forge.test/team/slash.git",
                "refs/heads/feature/login-form",
                false,
            ),
            github_push(),
            200,
            Some("slash"),
            "queued build",
        ),
        c(
            "other branch, same last segment",
            "/webhooks",
            push(
                "https://forge.test/team/slash.git",
                "refs/heads/other/login-form",
                false,
            ),
            github_push(),
            200,
            None,
            "is not its branch 'feature/login-form'",
        ),
        c(
            "wrong branch",
            "/webhooks",
            push(
                "https://forge.test/team/slash.git",
                "refs/heads/main",
                false,
            ),
            github_push(),
            200,
            None,
            "pushed branch 'main' is not its branch",
        ),
        c(
            "deleted branch",
            "/webhooks",
            push(
                "https://forge.test/team/slash.git",
                "refs/heads/feature/login-form",
                true,
            ),
            github_push(),
            200,
            None,
            "was deleted",
        ),
        c(
            "unknown repository",
            "/webhooks",
            push(
                "https://forge.test/team/nobody.git",
                "refs/heads/main",
                false,
            ),
            github_push(),
            200,
            None,
            "no webhook-enabled project",
        ),
        c(
            "?token= missing",
            "/webhooks",
            push(
                "https://forge.test/team/tokened.git",
                "refs/heads/main",
                false,
            ),
            github_push(),
            403,
            None,
            "needs ?token=",
        ),
        c(
            "?token= wrong",
            "/webhooks?token=t0k",
            push(
                "https://forge.test/team/tokened.git",
                "refs/heads/main",
                false,
            ),
            github_push(),
            403,
            None,
            "does not match the project's webhook token",
        ),
        c(
            "?token= right",
            "/webhooks?token=t0k%26en",
            push(
                "https://forge.test/team/tokened.git",
                "refs/heads/main",
                false,
            ),
            github_push(),
            200,
            Some("tokened"),
            "queued build",
        ),
    ]
}

fn webhooks(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "") else {
        return;
    };
    let keys = es.vespene(&["secrets", "generate"]);
    assert_eq!(keys.code, Some(0), "{keys:?}");
    let app = es.app();
    let pool = es.pool(&app, "hooks");
    let mut ids = std::collections::HashMap::new();
    for p in PROJECTS {
        let id = es.project_with(
            &app,
            ProjectInput {
                name: p.name.into(),
                worker_pool_id: pool,
                script: "true".into(),
                repo_url: p.repo.into(),
                repo_branch: p.branch.into(),
                webhook_enabled: true,
                webhook_token: p.token.into(),
                ..ProjectInput::default()
            },
        );
        if !p.secret.is_empty() || p.build_pushed {
            let change = SettingsChange {
                secret: Some(p.secret.into()),
                build_pushed: Some(p.build_pushed),
            };
            set(&app, &Actor::System, id, &change).expect("webhook settings");
        }
        ids.insert(p.name, id);
    }
    // A project with webhooks off is never started.
    let off = es.project_with(
        &app,
        ProjectInput {
            name: "off".into(),
            worker_pool_id: pool,
            repo_url: "https://github.com/Codertocat/Hello-World.git".into(),
            ..ProjectInput::default()
        },
    );
    // Secrets are cloaked at rest.
    {
        let mut conn = app.db.conn().unwrap();
        let (stored, _) = vespene_core::db::webhooks::settings(&mut conn, ids["gh"]).unwrap();
        assert!(
            stored.starts_with("[VESPENE-CLOAK]"),
            "stored in the clear: {stored}"
        );
    }

    let server = Server::start(&es);
    for case in cases() {
        let before: Vec<i64> = PROJECTS
            .iter()
            .map(|p| builds_of(&app, ids[p.name]))
            .collect();
        let mut client = server.client();
        client.extra_headers = case.headers.clone();
        let r = client.send(
            "POST",
            case.path,
            Some(case.body.clone()),
            "application/json",
        );
        assert_eq!(r.status, case.status, "{}: {}", case.what, r.text);
        assert!(r.text.contains(case.says), "{}: {}", case.what, r.text);
        assert_eq!(
            r.text.trim_end().lines().count(),
            1,
            "{}: not one line: {}",
            case.what,
            r.text
        );
        for (p, was) in PROJECTS.iter().zip(before) {
            let expected = was + i64::from(case.queued == Some(p.name));
            assert_eq!(
                builds_of(&app, ids[p.name]),
                expected,
                "{}: builds of '{}'",
                case.what,
                p.name
            );
        }
    }
    assert_eq!(builds_of(&app, off), 0);

    // The Gitea project builds the pushed branch and commit; the others
    // build their branch tip.
    let mut conn = app.db.conn().unwrap();
    let last = |conn: &mut vespene_core::db::DbConn, project: i64| -> i64 {
        use vespene_core::db::schema::builds::dsl as b;
        b::builds
            .filter(b::project_id.eq(project))
            .select(b::id)
            .order(b::id.desc())
            .first(conn)
            .unwrap()
    };
    let gitea_build = last(&mut conn, ids["gitea"]);
    let requested = vespene_core::db::webhooks::request(&mut conn, gitea_build).unwrap();
    let head: Value = serde_json::from_str(&body("gitea/push.json")).unwrap();
    assert_eq!(
        requested,
        Some((
            "main".to_string(),
            head["after"].as_str().unwrap().to_string()
        ))
    );
    let gh_build = last(&mut conn, ids["gh"]);
    assert_eq!(
        vespene_core::db::webhooks::request(&mut conn, gh_build).unwrap(),
        None
    );
    drop(conn);

    // `vespene webhook set` and `vespene webhook test`: the sample push is
    // signed and carries the token, so it starts the project.
    let mut set_cmd = es.sb.command();
    set_cmd.args([
        "webhook",
        "set",
        "tokened",
        "--secret-stdin",
        "--build-pushed",
        "no",
    ]);
    set_cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = set_cmd.spawn().unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"s3cr\xc3\xa9t\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("secret:       set"));
    let before = builds_of(&app, ids["tokened"]);
    let run = es.vespene(&["webhook", "test", "tokened", "--url", &server.url]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.starts_with("200 ok: queued build"), "{run:?}");
    assert_eq!(builds_of(&app, ids["tokened"]), before + 1);
    // Unsigned, the same push is refused now that the project has a secret.
    let mut client = server.client();
    client.extra_headers = github_push();
    let r = client.send(
        "POST",
        "/webhooks?token=t0k%26en",
        Some(push(
            "https://forge.test/team/tokened.git",
            "refs/heads/main",
            false,
        )),
        "application/json",
    );
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(builds_of(&app, ids["tokened"]), before + 1);

    // Deleting a project deletes its webhook settings and build requests.
    app.ops
        .projects()
        .delete(&Actor::System, ids["gitea"])
        .unwrap();
    let mut conn = app.db.conn().unwrap();
    assert_eq!(
        vespene_core::db::webhooks::settings(&mut conn, ids["gitea"]).unwrap(),
        (String::new(), false)
    );
    assert_eq!(
        vespene_core::db::webhooks::request(&mut conn, gitea_build).unwrap(),
        None
    );
}

#[test]
fn webhooks_on_sqlite() {
    webhooks(Backend::Sqlite);
}

#[test]
fn webhooks_on_postgres() {
    webhooks(Backend::Postgres);
}

/// With `--build-pushed yes`, a push builds the pushed branch at the pushed
/// commit through the real git plugin, not the project's branch tip.
fn pushed_commit_is_built(backend: Backend) {
    use crate::scm_common::{fixture, scm_project, short};
    let Some(es) = EngineSandbox::new(
        backend,
        "[plugins.scm]\ngit = [\"vespene.plugins.scm.git\", {}]\n",
    ) else {
        return;
    };
    vespene_core::secrets::generate_key_file(&es.settings().secrets_key_file).unwrap();
    let (bare, _) = fixture(es.sb.root(), "fixture");
    let url = format!("file://{}", bare.display());
    let app = es.app();
    let pool = es.pool(&app, "main");
    let project = scm_project(&app, "pushed", pool, "git", &url, "other", |p| {
        p.webhook_enabled = true
    });
    let change = SettingsChange {
        secret: None,
        build_pushed: Some(true),
    };
    set(&app, &Actor::System, project, &change).unwrap();
    let commit = crate::scm_common::git(&bare, &["rev-parse", "main~1"]);
    let server = Server::start(&es);
    let mut c = server.client();
    c.extra_headers = github_push();
    let body = serde_json::json!({
        "ref": "refs/heads/main", "after": commit, "deleted": false,
        "repository": {"clone_url": url},
    });
    let r = c.send(
        "POST",
        "/webhooks",
        Some(body.to_string()),
        "application/json",
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let worker = es.worker("main", &["--max-builds", "1"]);
    use vespene_core::db::schema::builds::dsl as b;
    let id: i64 = {
        let mut conn = app.db.conn().unwrap();
        b::builds
            .filter(b::project_id.eq(project))
            .select(b::id)
            .first(&mut *conn)
            .unwrap()
    };
    let build = es.wait_build(&app, id, std::time::Duration::from_secs(120));
    vespene_e2e::engine::finish(worker);
    let messages = es.output(&app, id, vespene_core::ops::OutputStream::Messages);
    assert_eq!(
        build.status(),
        vespene_core::ops::BuildStatus::Success,
        "{messages}"
    );
    assert_eq!(build.revision, short(&bare, &commit), "{messages}");
}

#[test]
fn pushed_commit_is_built_on_sqlite() {
    pushed_commit_is_built(Backend::Sqlite);
}

#[test]
fn pushed_commit_is_built_on_postgres() {
    pushed_commit_is_built(Backend::Postgres);
}
