//! The plugin in-process against file:// repositories made with the git
//! command line: an exact commit (a webhook's push) checked out, a branch
//! override, a stop seen through the host's `status` service, and bad URLs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use vespene_plugin_api::kinds::scm::{CheckoutRequest, SshAccess, SshKey};
use vespene_plugin_api::testing::TestHost;
use vespene_plugin_api::{CreateContext, Plugin, PluginError, ProjectInfo, ScmPlugin, serde_json};
use vespene_plugin_scm_git::GitScm;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@example.com")
        .env("GIT_COMMITTER_NAME", "A")
        .env("GIT_COMMITTER_EMAIL", "a@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

struct Fixture {
    _dir: tempfile_dir::Dir,
    repo: PathBuf,
    commits: Vec<String>,
}

mod tempfile_dir {
    /// A directory removed on drop (no dev-dependency needed).
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn fixture(tag: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("scm-git-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let mut commits = Vec::new();
    for i in 0..3 {
        std::fs::write(repo.join("n.txt"), format!("{i}\n")).unwrap();
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", &format!("c{i}")]);
        commits.push(git(&repo, &["rev-parse", "HEAD"]));
    }
    git(&repo, &["branch", "release/1", &commits[0]]);
    Fixture {
        _dir: tempfile_dir::Dir(dir),
        repo,
        commits,
    }
}

type Messages = Arc<Mutex<Vec<String>>>;

fn host(stopped: Arc<AtomicBool>) -> (TestHost, Messages) {
    let messages: Messages = Arc::default();
    let m = messages.clone();
    let th = TestHost::new(move |op, args| match op {
        "append" => {
            let v: serde_json::Value = serde_json::from_str(args).unwrap();
            m.lock()
                .unwrap()
                .push(v["text"].as_str().unwrap_or_default().to_string());
            Ok("{}".into())
        }
        "status" => Ok(format!(
            "{{\"stopped\":{}}}",
            stopped.load(Ordering::SeqCst)
        )),
        other => Err(PluginError::unsupported(other)),
    });
    (th, messages)
}

fn plugin(th: &TestHost) -> GitScm {
    GitScm::create(CreateContext {
        name: "git",
        params: serde_json::Value::Null,
        host: th.host(),
    })
    .unwrap()
}

fn request(url: &str, branch: &str, root: &Path) -> CheckoutRequest {
    std::fs::create_dir_all(root).unwrap();
    CheckoutRequest {
        project: ProjectInfo {
            repo_url: url.into(),
            repo_branch: branch.into(),
            ..ProjectInfo::default()
        },
        build_root: root.display().to_string(),
        timeout_secs: Some(60),
        ..CheckoutRequest::default()
    }
}

#[test]
fn an_exact_commit_is_checked_out_even_behind_the_tip() {
    let f = fixture("commit");
    let (th, messages) = host(Arc::default());
    let url = format!("file://{}", f.repo.display());
    for (branch, commit) in [("main", &f.commits[1]), ("", &f.commits[0])] {
        let root = f.repo.parent().unwrap().join(format!("root-{branch}"));
        let mut req = request(&url, branch, &root);
        req.commit = Some(commit[..10].to_string());
        let got = plugin(&th).checkout(&req).unwrap();
        assert_eq!(
            got.revision,
            git(&f.repo, &["rev-parse", "--short", commit])
        );
        assert_eq!(git(&root, &["rev-parse", "HEAD"]), *commit);
        assert_eq!(got.revision_username, "a@example.com");
    }
    assert!(
        messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.contains("commit "))
    );

    // A commit that is not on the branch is named.
    let root = f.repo.parent().unwrap().join("root-bad");
    let mut req = request(&url, "release/1", &root);
    req.commit = Some(f.commits[2].clone());
    let err = plugin(&th).checkout(&req).unwrap_err();
    assert!(
        err.message.contains("is not on branch 'release/1'"),
        "{err}"
    );
}

#[test]
fn the_requested_branch_overrides_the_projects() {
    let f = fixture("branch");
    let (th, _) = host(Arc::default());
    let root = f.repo.parent().unwrap().join("root");
    let mut req = request(&format!("file://{}", f.repo.display()), "main", &root);
    req.branch = Some("release/1".into());
    let got = plugin(&th).checkout(&req).unwrap();
    assert_eq!(
        got.revision,
        git(&f.repo, &["rev-parse", "--short", &f.commits[0]])
    );
}

#[test]
fn a_stopped_build_abandons_the_clone() {
    let f = fixture("stop");
    let (th, _) = host(Arc::new(AtomicBool::new(true)));
    let root = f.repo.parent().unwrap().join("root");
    // file:// clones report progress while indexing the pack.
    let req = request(&format!("file://{}", f.repo.display()), "", &root);
    let err = plugin(&th).checkout(&req).unwrap_err();
    assert_eq!(err.message, "checkout stopped by request");
}

#[test]
fn urls_and_keys_that_cannot_work_are_refused_before_connecting() {
    let (th, _) = host(Arc::default());
    let root = std::env::temp_dir().join(format!("scm-git-refuse-{}", std::process::id()));
    let cases: Vec<(CheckoutRequest, &str)> = vec![
        (
            request("ftp://h/r.git", "", &root),
            "which git cannot clone from",
        ),
        (
            request("git@h.invalid:r.git", "", &root),
            vespene_plugin_scm_git::NO_KEYS,
        ),
        (
            CheckoutRequest {
                ssh: SshAccess {
                    keys: vec![SshKey {
                        name: "k".into(),
                        private_key: "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                            .into(),
                        unlock_password: String::new(),
                    }],
                    ..SshAccess::default()
                },
                ..request("ssh://h.invalid/r.git", "", &root)
            },
            "SSH key 'k' is protected by a passphrase, but has no unlock password",
        ),
    ];
    for (req, want) in cases {
        let err = plugin(&th).checkout(&req).unwrap_err();
        assert!(
            err.message.contains(want),
            "{}: {err}",
            req.project.repo_url
        );
    }
    let _ = std::fs::remove_dir_all(&root);
}
