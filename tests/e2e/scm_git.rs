//! The git plugin end to end: real builds through the real `vespene` worker
//! and `libvespene_plugin_scm_git.so`, against a file:// fixture, `git
//! daemon`, the smart-HTTP server (nginx + fcgiwrap + git http-backend) and
//! sshd started by tests/services/. Every failure is read from the build's
//! own messages.

use crate::scm_common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{Backend, EngineSandbox, backends, finish};

/// A sandbox whose git plugin checks host keys against `known_hosts`
/// (or takes `params` verbatim), with a secrets key for keys and logins.
fn sandbox(backend: Backend, params: &str) -> Option<EngineSandbox> {
    let es = EngineSandbox::new(
        backend,
        // Roots are kept: the tests read the checkouts.
        &format!(
            "keep_build_roots = true\n[plugins.scm]\ngit = [\"vespene.plugins.scm.git\", {params}]\n"
        ),
    )?;
    vespene_core::secrets::generate_key_file(&es.settings().secrets_key_file).unwrap();
    Some(es)
}

fn known_hosts_params(file: &Path) -> String {
    format!("{{ known_hosts_files = [\"{}\"] }}", file.display())
}

struct Ssh {
    port: String,
    dir: PathBuf,
}

fn sshd() -> Option<Ssh> {
    let port = service("VESPENE_TEST_SSHD_PORT", "sshd.sh")?;
    let dir = PathBuf::from(service("VESPENE_TEST_SSHD_DIR", "sshd.sh")?);
    Some(Ssh { port, dir })
}

impl Ssh {
    /// A bare repository served over SSH; returns its URL.
    fn repo(&self, name: &str, from: &Path) -> String {
        let to = self
            .dir
            .join("repos")
            .join(format!("{name}-{}.git", std::process::id()));
        let _ = std::fs::remove_dir_all(&to);
        git(
            from.parent().unwrap(),
            &[
                "clone",
                "-q",
                "--bare",
                from.to_str().unwrap(),
                to.to_str().unwrap(),
            ],
        );
        make_readable(&to);
        format!("ssh://vespene-git@127.0.0.1:{}{}", self.port, to.display())
    }
    fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }
}

struct Http {
    port: String,
    dir: PathBuf,
}

fn http() -> Option<Http> {
    let port = service("VESPENE_TEST_GIT_HTTP_PORT", "git-http.sh")?;
    let dir = PathBuf::from(service("VESPENE_TEST_GIT_HTTP_DIR", "git-http.sh")?);
    Some(Http { port, dir })
}

impl Http {
    /// Serves `from` under the server's repositories; returns its name.
    fn repo(&self, name: &str, from: &Path) -> String {
        let name = format!("{name}-{}.git", std::process::id());
        let to = self.dir.join("repos").join(&name);
        let _ = std::fs::remove_dir_all(&to);
        git(
            from.parent().unwrap(),
            &[
                "clone",
                "-q",
                "--bare",
                from.to_str().unwrap(),
                to.to_str().unwrap(),
            ],
        );
        name
    }
    fn url(&self, area: &str, name: &str) -> String {
        format!("http://127.0.0.1:{}/{area}/{name}", self.port)
    }
    fn password(&self) -> String {
        std::fs::read_to_string(self.dir.join("password"))
            .unwrap()
            .trim()
            .to_string()
    }
}

fn assert_failed(done: &Done, part: &str) {
    assert_eq!(done.build.status(), BuildStatus::Failure, "{done:?}");
    assert!(
        done.messages.contains(part),
        "expected {part:?} in the messages: {done:?}"
    );
}

#[test]
fn file_repository_branches_slash_tags_submodules_and_revision() {
    for backend in backends() {
        let Some(es) = sandbox(backend, "{}") else {
            continue;
        };
        eprintln!("-- {backend:?}");
        let (bare, main_tip) = fixture(es.sb.root(), "fixture");
        let url = format!("file://{}", bare.display());
        let app = es.app();
        let pool = es.pool(&app, "main");
        let default = scm_project(&app, "default", pool, "git", &url, "", |_| {});
        let slash = scm_project(&app, "slash", pool, "git", &url, "feature/slash", |p| {
            p.script = "#!/bin/sh\necho commits=$(git rev-list --count HEAD)\ngit status --porcelain\necho status=$?\n".into()
        });
        let flat = scm_project(&app, "flat", pool, "git", &url, "main", |p| {
            p.recursive = false
        });
        let deep = scm_project(&app, "deep", pool, "git", &url, "main", |_| {});
        let done = run_builds(&es, &app, "main", &[default, slash, flat, deep]);

        // Blank branch: a full clone of the default branch, with tags and
        // the submodule.
        let d = &done[0];
        assert_eq!(d.build.status(), BuildStatus::Success, "{d:?}");
        assert_eq!(d.build.revision, short(&bare, &main_tip), "{d:?}");
        assert_eq!(d.build.revision_username, "alice@example.com");
        let root = PathBuf::from(&d.build.working_dir);
        assert_eq!(
            std::fs::read_to_string(root.join("main.txt")).unwrap(),
            "main\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("sub/inside.txt")).unwrap(),
            "from the submodule\n"
        );
        assert!(!root.join(".git/shallow").exists(), "a full clone");
        assert_eq!(git(&root, &["rev-list", "--count", "HEAD"]), "3");
        assert_eq!(git(&root, &["tag", "--list"]), "v1");
        assert_eq!(git(&root, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
        let remotes = git(&root, &["branch", "-r"]);
        assert!(
            remotes.contains("origin/other") && remotes.contains("origin/feature/slash"),
            "{remotes}"
        );
        assert!(d.messages.contains("Cloning repository..."), "{d:?}");
        assert!(
            d.messages
                .contains(&format!("git clone {url}: branch main, full clone")),
            "{d:?}"
        );
        assert!(d.output.contains("built"), "{d:?}");

        // A branch whose name has a slash: alone and shallow, copied from
        // the source repository (libgit2's local transport cannot fetch
        // shallow); git and libgit2 read the result.
        let s = &done[1];
        assert_eq!(s.build.status(), BuildStatus::Success, "{s:?}");
        assert_eq!(s.build.revision_username, "bob@example.com");
        assert_eq!(s.build.revision, short(&bare, "feature/slash"));
        let root = PathBuf::from(&s.build.working_dir);
        assert!(root.join("feature.txt").is_file());
        assert!(root.join(".git/shallow").is_file(), "{s:?}");
        assert_eq!(git(&root, &["branch", "-r"]), "origin/feature/slash");
        assert_eq!(
            git(&root, &["rev-parse", "--abbrev-ref", "HEAD"]),
            "feature/slash"
        );
        assert_eq!(git(&root, &["log", "--format=%ae"]), "bob@example.com");
        assert_eq!(git(&root, &["fsck", "--connectivity-only"]), "");
        // From the build script: one commit, a clean working tree (the
        // build's own files aside).
        assert!(s.output.contains("commits=1\n"), "{s:?}");
        assert!(s.output.contains("status=0"), "{s:?}");
        let dirty: Vec<&str> = s
            .output
            .lines()
            .filter(|l| l.starts_with(" M") || l.starts_with(" D"))
            .collect();
        assert!(dirty.is_empty(), "{s:?}");
        assert!(
            s.messages.contains(
                "git clone {url}: branch feature/slash, shallow (depth 1), single branch"
                    .replace("{url}", &url)
                    .as_str()
            ),
            "{s:?}"
        );
        assert_eq!(
            git(&root, &["rev-parse", "--is-shallow-repository"]),
            "true"
        );

        // recursive off: the submodule stays empty.
        let f = &done[2];
        assert_eq!(f.build.status(), BuildStatus::Success, "{f:?}");
        let root = PathBuf::from(&f.build.working_dir);
        assert!(!root.join("sub/inside.txt").exists());
        assert!(root.join(".git/shallow").is_file());

        // A named branch, shallow, with its submodule (recursive on).
        let m = &done[3];
        assert_eq!(m.build.status(), BuildStatus::Success, "{m:?}");
        assert_eq!(m.build.revision, short(&bare, &main_tip), "{m:?}");
        let root = PathBuf::from(&m.build.working_dir);
        assert_eq!(git(&root, &["rev-list", "--count", "HEAD"]), "1");
        assert_eq!(
            std::fs::read_to_string(root.join("sub/inside.txt")).unwrap(),
            "from the submodule\n"
        );

        // What `build show` reports is what was recorded.
        let shown: serde_json::Value = serde_json::from_str(
            es.vespene(&["build", "show", &d.build.id.to_string(), "--json"])
                .ok(),
        )
        .unwrap();
        assert_eq!(shown["revision"], d.build.revision.as_str());
        assert_eq!(shown["revision_username"], "alice@example.com");
    }
}

trait Running {
    /// `true` while build `id` is not yet running.
    fn wait_running(&self, app: &vespene_core::app::App, id: i64) -> bool;
}

impl Running for EngineSandbox {
    fn wait_running(&self, app: &vespene_core::app::App, id: i64) -> bool {
        app.ops.builds().get(&Actor::System, id).unwrap().status() != BuildStatus::Running
    }
}

/// `git daemon` on a free loopback port, serving `base`; killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn public_repositories_over_git_and_http_and_failures_that_name_the_cause() {
    let Some(http) = http() else { return };
    let Some(es) = sandbox(Backend::Sqlite, "{}") else {
        return;
    };
    let (bare, main_tip) = fixture(es.sb.root(), "pub");
    let port = free_port();
    let daemon = Daemon(
        Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", es.sb.root().display()))
            .arg(es.sb.root())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "git daemon did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let served = http.repo("pub", &bare);
    let app = es.app();
    let pool = es.pool(&app, "main");
    let file_url = format!("file://{}", bare.display());
    let projects = [
        scm_project(
            &app,
            "git-daemon",
            pool,
            "git",
            &format!("git://127.0.0.1:{port}/pub.git"),
            "main",
            |_| {},
        ),
        scm_project(
            &app,
            "http",
            pool,
            "git",
            &http.url("public", &served),
            "",
            |_| {},
        ),
        scm_project(
            &app,
            "missing-branch",
            pool,
            "git",
            &file_url,
            "no-such-branch",
            |_| {},
        ),
        scm_project(
            &app,
            "missing-repo-file",
            pool,
            "git",
            &format!("file://{}/nope.git", es.sb.root().display()),
            "",
            |_| {},
        ),
        scm_project(
            &app,
            "missing-repo-http",
            pool,
            "git",
            &http.url("public", "nope.git"),
            "",
            |_| {},
        ),
        scm_project(
            &app,
            "unreachable",
            pool,
            "git",
            "http://127.0.0.1:9/r.git",
            "main",
            |_| {},
        ),
        scm_project(
            &app,
            "unreachable-git",
            pool,
            "git",
            "git://127.0.0.1:9/r.git",
            "",
            |_| {},
        ),
    ];
    let done = run_builds(&es, &app, "main", &projects);
    drop(daemon);
    for d in &done[..2] {
        assert_eq!(d.build.status(), BuildStatus::Success, "{d:?}");
        assert_eq!(d.build.revision, short(&bare, &main_tip), "{d:?}");
        assert_eq!(d.build.revision_username, "alice@example.com");
    }
    assert_failed(&done[2], "branch 'no-such-branch' does not exist in");
    assert!(
        done[2].messages.contains("feature/slash"),
        "lists the branches: {:?}",
        done[2]
    );
    assert_failed(&done[3], "does not exist");
    assert_failed(&done[4], "does not exist");
    assert_failed(
        &done[5],
        "cannot reach the repository host of http://127.0.0.1:9/r.git",
    );
    assert_failed(
        &done[6],
        "cannot reach the repository host of git://127.0.0.1:9/r.git",
    );
}

#[test]
fn private_repositories_over_https_login_and_ssh_keys() {
    let (Some(http), Some(ssh)) = (http(), sshd()) else {
        return;
    };
    for backend in backends() {
        let Some(es) = sandbox(backend, &known_hosts_params(&ssh.dir.join("known_hosts"))) else {
            continue;
        };
        eprintln!("-- {backend:?}");
        let (bare, main_tip) = fixture(es.sb.root(), "priv");
        let served = http.repo("priv", &bare);
        let ssh_url = ssh.repo("priv", &bare);
        let app = es.app();
        let pool = es.pool(&app, "main");
        let good = login(&app, "reader", "builder", &http.password());
        let plain = ssh_key(&app, "plain", &ssh.key("client_key"), "");
        let pass = std::fs::read_to_string(ssh.dir.join("client_key_pass.passphrase")).unwrap();
        let locked = ssh_key(&app, "locked", &ssh.key("client_key_pass"), pass.trim());
        let private = http.url("private", &served);
        let projects = [
            scm_project(&app, "https-login", pool, "git", &private, "main", |p| {
                p.scm_login_id = Some(good)
            }),
            scm_project(&app, "ssh-plain", pool, "git", &ssh_url, "", |p| {
                p.ssh_keys = vec![plain]
            }),
            scm_project(
                &app,
                "ssh-passphrase",
                pool,
                "git",
                &ssh_url,
                "feature/slash",
                |p| p.ssh_keys = vec![locked],
            ),
        ];
        let done = run_builds(&es, &app, "main", &projects);
        for d in &done {
            assert_eq!(d.build.status(), BuildStatus::Success, "{d:?}");
        }
        assert_eq!(done[0].build.revision, short(&bare, &main_tip));
        assert_eq!(done[1].build.revision_username, "alice@example.com");
        assert_eq!(done[2].build.revision_username, "bob@example.com");
        assert!(
            !done[0].messages.contains(&http.password()),
            "{:?}",
            done[0]
        );
        // A named branch over HTTP or SSH: alone and shallow.
        for d in [&done[0], &done[2]] {
            let root = PathBuf::from(&d.build.working_dir);
            assert!(
                root.join(".git/shallow").is_file(),
                "a shallow clone: {d:?}"
            );
            assert_eq!(git(&root, &["rev-list", "--count", "HEAD"]), "1");
            assert_eq!(git(&root, &["branch", "-r"]).lines().count(), 1);
            assert!(
                d.messages.contains("shallow (depth 1), single branch"),
                "{d:?}"
            );
        }
        // A blank branch: the full history of the default branch.
        let root = PathBuf::from(&done[1].build.working_dir);
        assert_eq!(git(&root, &["rev-list", "--count", "HEAD"]), "3");
        assert!(
            root.join("sub/inside.txt").is_file(),
            "the submodule came along"
        );
    }
}

#[test]
fn private_repository_failures_name_the_cause() {
    let (Some(http), Some(ssh)) = (http(), sshd()) else {
        return;
    };
    let Some(es) = sandbox(
        Backend::Sqlite,
        &known_hosts_params(&ssh.dir.join("known_hosts")),
    ) else {
        return;
    };
    let (bare, _) = fixture(es.sb.root(), "fail");
    let served = http.repo("fail", &bare);
    let ssh_url = ssh.repo("fail", &bare);
    let private = http.url("private", &served);
    // A key the server does not accept, and known_hosts files that do not
    // list the server or list another key for it.
    let stranger = es.sb.root().join("stranger");
    assert!(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&stranger)
            .status()
            .unwrap()
            .success()
    );
    let stranger = std::fs::read_to_string(&stranger).unwrap();
    let app = es.app();
    let pool = es.pool(&app, "main");
    let wrong = login(&app, "wrong", "builder", "not-the-password");
    let plain = ssh_key(&app, "plain", &ssh.key("client_key"), "");
    let outsider = ssh_key(&app, "outsider", &stranger, "");
    let no_unlock = ssh_key(&app, "no-unlock", &ssh.key("client_key_pass"), "");
    let bad_unlock = ssh_key(
        &app,
        "bad-unlock",
        &ssh.key("client_key_pass"),
        "not the passphrase",
    );
    let missing = ssh_url.replace(".git", "-missing.git");
    let unreachable = format!("ssh://vespene-git@127.0.0.1:9{}", bare.display());
    let projects = [
        scm_project(&app, "wrong-password", pool, "git", &private, "main", |p| {
            p.scm_login_id = Some(wrong)
        }),
        scm_project(&app, "no-login", pool, "git", &private, "main", |_| {}),
        scm_project(&app, "no-key", pool, "git", &ssh_url, "main", |_| {}),
        scm_project(&app, "wrong-key", pool, "git", &ssh_url, "main", |p| {
            p.ssh_keys = vec![outsider]
        }),
        scm_project(&app, "no-unlock", pool, "git", &ssh_url, "main", |p| {
            p.ssh_keys = vec![no_unlock]
        }),
        scm_project(&app, "bad-unlock", pool, "git", &ssh_url, "main", |p| {
            p.ssh_keys = vec![bad_unlock]
        }),
        scm_project(
            &app,
            "missing-repo-ssh",
            pool,
            "git",
            &missing,
            "main",
            |p| p.ssh_keys = vec![plain],
        ),
        scm_project(
            &app,
            "unreachable-ssh",
            pool,
            "git",
            &unreachable,
            "main",
            |p| p.ssh_keys = vec![plain],
        ),
        scm_project(
            &app,
            "missing-branch-ssh",
            pool,
            "git",
            &ssh_url,
            "gone",
            |p| p.ssh_keys = vec![plain],
        ),
    ];
    let done = run_builds(&es, &app, "main", &projects);
    assert_failed(
        &done[0],
        "the server refused service login 'wrong' (user 'builder'): wrong username or password",
    );
    assert_failed(
        &done[1],
        "asks for a username and password: attach a service login to the project",
    );
    assert_failed(
        &done[2],
        "add one or more SSH keys to the project or use a http:// or https:// URL",
    );
    assert_failed(&done[3], "the server refused the project's key 'outsider'");
    assert_failed(
        &done[4],
        "SSH key 'no-unlock' is protected by a passphrase, but has no unlock password",
    );
    assert_failed(
        &done[5],
        "SSH key 'bad-unlock' could not be unlocked: its unlock password is wrong",
    );
    assert_failed(&done[6], "does not exist");
    assert_failed(
        &done[7],
        "cannot reach the repository host of ssh://vespene-git@127.0.0.1:9",
    );
    assert_failed(&done[8], "branch 'gone' does not exist");
    for d in &done {
        assert!(!d.messages.contains("not-the-password"), "{d:?}");
    }

    // Host keys: another key listed for the server, the server not listed,
    // and the original's "accept any" chosen explicitly.
    let other = es.sb.root().join("other_known_hosts");
    let stranger_pub = std::fs::read_to_string(es.sb.root().join("stranger.pub")).unwrap();
    std::fs::write(&other, format!("[127.0.0.1]:{} {}", ssh.port, stranger_pub)).unwrap();
    let empty = es.sb.root().join("empty_known_hosts");
    std::fs::write(&empty, "").unwrap();
    let cases = [
        (
            known_hosts_params(&other),
            "does not match the one listed in",
        ),
        (known_hosts_params(&empty), "is not listed in"),
        ("{ host_keys = \"accept_any\" }".to_string(), ""),
    ];
    for (params, expect) in cases {
        let es2 = sandbox(Backend::Sqlite, &params).unwrap();
        let app = es2.app();
        let pool = es2.pool(&app, "main");
        let key = ssh_key(&app, "plain", &ssh.key("client_key"), "");
        let p = scm_project(&app, "hostkey", pool, "git", &ssh_url, "main", |p| {
            p.ssh_keys = vec![key]
        });
        let done = run_builds(&es2, &app, "main", &[p]);
        if expect.is_empty() {
            assert_eq!(
                done[0].build.status(),
                BuildStatus::Success,
                "{:?}",
                done[0]
            );
        } else {
            assert_failed(&done[0], expect);
            assert!(
                done[0]
                    .messages
                    .contains(&format!("[127.0.0.1]:{}", ssh.port)),
                "{:?}",
                done[0]
            );
        }
    }
}

#[test]
fn credentials_stay_in_memory_and_with_their_project() {
    let (Some(http), Some(ssh)) = (http(), sshd()) else {
        return;
    };
    let Some(es) = sandbox(
        Backend::Sqlite,
        &known_hosts_params(&ssh.dir.join("known_hosts")),
    ) else {
        return;
    };
    let (bare, _) = fixture(es.sb.root(), "sec");
    let served = http.repo("sec", &bare);
    let ssh_url = ssh.repo("sec", &bare);
    let private = http.url("private", &served);
    let app = es.app();
    let pool = es.pool(&app, "main");
    let password = http.password();
    let passphrase = std::fs::read_to_string(ssh.dir.join("client_key_pass.passphrase")).unwrap();
    let passphrase = passphrase.trim();
    let key_text = ssh.key("client_key_pass");
    let key_body = key_text.lines().nth(2).unwrap().to_string();
    let good = login(&app, "reader", "builder", &password);
    let key = ssh_key(&app, "locked", &key_text, passphrase);
    let env_script = "#!/bin/sh\nenv\ncat .git/config\n";
    let first_http = scm_project(&app, "first-http", pool, "git", &private, "main", |p| {
        p.scm_login_id = Some(good);
        p.script = env_script.into();
    });
    let first_ssh = scm_project(&app, "first-ssh", pool, "git", &ssh_url, "main", |p| {
        p.ssh_keys = vec![key];
        p.script = env_script.into();
    });
    let second_http = scm_project(&app, "second-http", pool, "git", &private, "main", |_| {});
    let second_ssh = scm_project(&app, "second-ssh", pool, "git", &ssh_url, "main", |_| {});

    let (stop, ps) = watch_ps();
    let done = run_builds(
        &es,
        &app,
        "main",
        &[first_http, first_ssh, second_http, second_ssh],
    );
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let ps = ps.join().unwrap();

    assert_eq!(
        done[0].build.status(),
        BuildStatus::Success,
        "{:?}",
        done[0]
    );
    assert_eq!(
        done[1].build.status(),
        BuildStatus::Success,
        "{:?}",
        done[1]
    );
    // The next projects' builds, on the same worker, cannot use them.
    assert_failed(&done[2], "asks for a username and password");
    assert_failed(&done[3], "add one or more SSH keys to the project");

    let secrets = [password.as_str(), passphrase, key_body.as_str()];
    for d in &done {
        for s in secrets {
            assert!(
                !d.messages.contains(s) && !d.output.contains(s),
                "a secret leaked into build {}: {d:?}",
                d.build.id
            );
        }
        // The build script's environment names no helper.
        for var in ["GIT_ASKPASS", "SSH_ASKPASS", "GIT_SSH_COMMAND", "GIT_SSH="] {
            assert!(
                !d.output.contains(var),
                "{var} in the script's environment: {d:?}"
            );
        }
    }
    for s in secrets {
        assert!(
            !ps.contains(s),
            "a secret was on a command line during the clone"
        );
    }
    // Nothing written anywhere under the sandbox (build roots, data, run
    // directory) or the services' directories holds them.
    assert_eq!(
        files_containing(es.sb.root(), &secrets),
        Vec::<PathBuf>::new()
    );
    assert!(
        !es.sb
            .data_dir()
            .join("run/ssh")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    let tmp_leaks: Vec<PathBuf> = files_containing(&std::env::temp_dir(), &[&password])
        .into_iter()
        .filter(|p| !p.starts_with(&http.dir) && !p.starts_with(&ssh.dir))
        .collect();
    assert!(tmp_leaks.is_empty(), "{tmp_leaks:?}");
}

#[test]
fn stop_and_timeout_interrupt_a_clone_in_progress() {
    let Some(http) = http() else { return };
    let Some(es) = sandbox(Backend::Sqlite, "{}") else {
        return;
    };
    // About 2 MiB of incompressible data, sent at 32 KiB/s: a minute.
    let work = es.sb.root().join("big");
    std::fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let mut data = vec![0u8; 2 << 20];
    getrandom::fill(&mut data).unwrap();
    std::fs::write(work.join("blob.bin"), &data).unwrap();
    commit(&work, &[("README", "big\n")], "big", "big@example.com");
    let served = http.repo("big", &work.join(".git"));
    let url = http.url("slow", &served);
    let app = es.app();
    let pool = es.pool(&app, "main");
    let p = scm_project(&app, "slow", pool, "git", &url, "main", |_| {});
    let worker = es.worker("main", &["--max-builds", "1"]);
    let id = start_project(&app, &Actor::System, p, &StartRequest::default())
        .unwrap()
        .build
        .id;
    // The transfer takes a minute; the clone's messages (its URL, then
    // progress every few seconds) are stored while it runs.
    let deadline = Instant::now() + WAIT;
    while es.wait_running(&app, id) {
        assert!(Instant::now() < deadline, "the build never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let live = |part: &str| {
        let until = Instant::now() + Duration::from_secs(15);
        loop {
            let m = es.output(&app, id, vespene_core::db::output::OutputStream::Messages);
            if m.contains(part) {
                return m;
            }
            assert!(
                Instant::now() < until,
                "{part:?} not in the messages during the clone: {m}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    live(&format!("git clone {url}: branch main, shallow"));
    let m = live("received ");
    assert!(!m.contains("checked out"), "{m}");
    assert_eq!(
        app.ops.builds().get(&Actor::System, id).unwrap().status(),
        BuildStatus::Running,
        "{m}"
    );
    let t = Instant::now();
    es.vespene(&["build", "stop", &id.to_string()]).ok();
    let b = es.wait_build(&app, id, WAIT);
    let took = t.elapsed();
    finish(worker);
    let messages = es.output(&app, id, vespene_core::db::output::OutputStream::Messages);
    assert_eq!(b.status(), BuildStatus::Aborted, "{messages}");
    assert!(
        took < Duration::from_secs(10),
        "stop took {took:?}: {messages}"
    );

    // The plugin's own clone timeout.
    let es = sandbox(Backend::Sqlite, "{ timeout_seconds = 2 }").unwrap();
    let app = es.app();
    let pool = es.pool(&app, "main");
    let p = scm_project(&app, "slow", pool, "git", &url, "main", |_| {});
    let t = Instant::now();
    let done = run_builds(&es, &app, "main", &[p]);
    assert_failed(&done[0], &format!("the clone of {url} timed out after 2 s"));
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
}
