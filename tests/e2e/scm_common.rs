//! Shared by the scm tests: the loopback servers started by
//! `tests/services/{sshd,git-http,svnserve}.sh`, fixture repositories made
//! with the git command line, and one-build runs through a real worker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::Build;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::ops::{ProjectInput, ServiceLoginInput, SshKeyInput};
use vespene_e2e::engine::{EngineSandbox, finish};

pub const WAIT: Duration = Duration::from_secs(120);

/// A test server's settings from the environment `tests/run` exports:
/// `None` (and SKIPPED) outside CI when it is missing; a failure in CI.
pub fn service(var: &str, script: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("{var} is not set: run tests/services/{script}")
        }
        _ => {
            eprintln!("SKIPPED: {var} is not set (run tests/services/{script})");
            None
        }
    }
}

/// Runs `git ARGS` in `dir` with a fixed identity; panics on failure.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_as(dir, args, "Tester", "tester@example.com")
}

pub fn git_as(dir: &Path, args: &[&str], name: &str, email: &str) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "protocol.file.allow=always",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `files` and commits them as `email`.
pub fn commit(dir: &Path, files: &[(&str, &str)], message: &str, email: &str) -> String {
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    git(dir, &["add", "-A"]);
    git_as(dir, &["commit", "-q", "-m", message], "Author", email);
    git(dir, &["rev-parse", "HEAD"])
}

/// The fixture: a bare repository `NAME.git` under `parent` with
/// - `main`: three commits, the last by alice@example.com, a submodule
///   `sub` (its own repository, file://) and a tag `v1` on the first;
/// - `feature/slash`: one more commit by bob@example.com;
/// - `other`: a commit of its own.
///
/// Returns the bare repository's path and main's tip.
pub fn fixture(parent: &Path, name: &str) -> (PathBuf, String) {
    let work = parent.join(format!("{name}-work"));
    let sub = parent.join(format!("{name}-sub"));
    for d in [&work, &sub] {
        std::fs::create_dir_all(d).unwrap();
        git(d, &["init", "-q", "-b", "main"]);
    }
    commit(
        &sub,
        &[("inside.txt", "from the submodule\n")],
        "sub",
        "sub@example.com",
    );
    commit(&work, &[("README", "one\n")], "first", "first@example.com");
    git(&work, &["tag", "v1"]);
    git(
        &work,
        &[
            "submodule",
            "add",
            "-q",
            &format!("file://{}", sub.display()),
            "sub",
        ],
    );
    commit(
        &work,
        &[("README", "one\ntwo\n")],
        "second",
        "second@example.com",
    );
    let main_tip = commit(
        &work,
        &[("main.txt", "main\n")],
        "third",
        "alice@example.com",
    );
    git(&work, &["checkout", "-q", "-b", "feature/slash"]);
    commit(
        &work,
        &[("feature.txt", "feature\n")],
        "feature",
        "bob@example.com",
    );
    git(&work, &["checkout", "-q", "-b", "other", "v1"]);
    commit(
        &work,
        &[("other.txt", "other\n")],
        "other",
        "carol@example.com",
    );
    git(&work, &["checkout", "-q", "main"]);
    let bare = parent.join(format!("{name}.git"));
    git(
        parent,
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    make_readable(&bare);
    (bare, main_tip)
}

/// Lets the test servers' accounts read what the tests (root) made.
pub fn make_readable(path: &Path) {
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(path)
        .status();
}

/// The short id git gives `rev` in `repo`.
pub fn short(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", "--short", rev])
}

/// An SSH key stored for the sandbox.
pub fn ssh_key(app: &App, name: &str, private_key: &str, unlock: &str) -> i64 {
    app.ops
        .ssh_keys()
        .create(
            &Actor::System,
            &SshKeyInput {
                name: name.into(),
                private_key: Some(private_key.into()),
                unlock_password: Some(unlock.into()),
                ..Default::default()
            },
        )
        .expect("create SSH key")
        .ssh_key
        .id
}

/// A service login stored for the sandbox.
pub fn login(app: &App, name: &str, username: &str, password: &str) -> i64 {
    app.ops
        .service_logins()
        .create(
            &Actor::System,
            &ServiceLoginInput {
                name: name.into(),
                username: username.into(),
                password: Some(password.into()),
                ..Default::default()
            },
        )
        .expect("create service login")
        .service_login
        .id
}

/// A project checking `url` out with `scm_type`.
pub fn scm_project(
    app: &App,
    name: &str,
    pool: i64,
    scm_type: &str,
    url: &str,
    branch: &str,
    more: impl FnOnce(&mut ProjectInput),
) -> i64 {
    let mut input = ProjectInput {
        name: name.into(),
        worker_pool_id: pool,
        scm_type: scm_type.into(),
        repo_url: url.into(),
        repo_branch: branch.into(),
        recursive: true,
        script: "#!/bin/sh\necho built\n".into(),
        ..ProjectInput::default()
    };
    more(&mut input);
    app.ops
        .projects()
        .create(&Actor::System, &input)
        .expect("create project")
        .project
        .id
}

/// Every file under `dir`.
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => out.push(e.path()),
                _ => {}
            }
        }
    }
    out
}

/// Every file under `dir` whose bytes contain one of `secrets`.
pub fn files_containing(dir: &Path, secrets: &[&str]) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p).is_ok_and(|b| {
                let text = String::from_utf8_lossy(&b);
                secrets.iter().any(|s| text.contains(s))
            })
        })
        .collect()
}

/// Collects every `ps` command line until the returned flag is set.
pub fn watch_ps() -> (
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::thread::JoinHandle<String>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut seen = String::new();
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(o) = Command::new("ps").args(["-eo", "args"]).output() {
                seen.push_str(&String::from_utf8_lossy(&o.stdout));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        seen
    });
    (stop, handle)
}

/// A finished build with its messages and output.
pub struct Done {
    pub build: Build,
    pub messages: String,
    pub output: String,
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "build {} {} rev={:?} user={:?}\n--- messages\n{}\n--- output\n{}",
            self.build.id,
            self.build.status(),
            self.build.revision,
            self.build.revision_username,
            self.messages,
            self.output
        )
    }
}

/// Queues every project in turn, runs them on one worker and returns the
/// finished builds in the same order.
pub fn run_builds(es: &EngineSandbox, app: &App, pool: &str, projects: &[i64]) -> Vec<Done> {
    let n = projects.len().to_string();
    let worker = es.worker(pool, &["--max-builds", &n]);
    let mut done = Vec::new();
    for p in projects {
        let id = start_project(app, &Actor::System, *p, &StartRequest::default())
            .unwrap()
            .build
            .id;
        let build = es.wait_build(app, id, WAIT);
        done.push(Done {
            messages: es.output(app, id, OutputStream::Messages),
            output: es.output(app, id, OutputStream::Output),
            build,
        });
    }
    finish(worker);
    done
}
