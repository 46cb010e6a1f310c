//! The svn plugin end to end: real builds through the real `vespene` worker
//! and `libvespene_plugin_scm_svn.so` against svnserve (started by
//! tests/services/svnserve.sh): anonymous and password-protected
//! repositories, branch paths, the revision and author recorded, and
//! failures named in the build's messages.

use crate::scm_common::*;
use std::path::PathBuf;
use vespene_core::db::builds::BuildStatus;
use vespene_e2e::engine::{Backend, EngineSandbox, backends};

struct Svn {
    port: String,
    dir: PathBuf,
}

fn svnserve() -> Option<Svn> {
    let port = service("VESPENE_TEST_SVNSERVE_PORT", "svnserve.sh")?;
    let dir = PathBuf::from(service("VESPENE_TEST_SVNSERVE_DIR", "svnserve.sh")?);
    Some(Svn { port, dir })
}

impl Svn {
    fn url(&self, path: &str) -> String {
        format!("svn://127.0.0.1:{}/{path}", self.port)
    }
    fn password(&self) -> String {
        std::fs::read_to_string(self.dir.join("password"))
            .unwrap()
            .trim()
            .to_string()
    }
}

fn sandbox(backend: Backend) -> Option<EngineSandbox> {
    // Roots are kept: the tests read the checkouts.
    let es = EngineSandbox::new(backend, "keep_build_roots = true\n")?;
    vespene_core::secrets::generate_key_file(&es.settings().secrets_key_file).unwrap();
    Some(es)
}

fn failed(d: &Done, part: &str) {
    assert_eq!(d.build.status(), BuildStatus::Failure, "{d:?}");
    assert!(d.messages.contains(part), "expected {part:?}: {d:?}");
}

#[test]
fn anonymous_and_password_checkouts_record_revision_and_author() {
    let Some(svn) = svnserve() else { return };
    for backend in backends() {
        let Some(es) = sandbox(backend) else { continue };
        eprintln!("-- {backend:?}");
        let app = es.app();
        let pool = es.pool(&app, "main");
        let reader = login(&app, "svn-reader", "builder", &svn.password());
        let script = "#!/bin/sh\ncat README\nenv\n";
        let projects = [
            scm_project(
                &app,
                "trunk",
                pool,
                "svn",
                &svn.url("public/trunk"),
                "",
                |p| p.script = script.into(),
            ),
            scm_project(
                &app,
                "branch",
                pool,
                "svn",
                &svn.url("public"),
                "branches/stable",
                |p| p.script = script.into(),
            ),
            scm_project(
                &app,
                "private",
                pool,
                "svn",
                &svn.url("private"),
                "trunk",
                |p| {
                    p.scm_login_id = Some(reader);
                    p.script = script.into();
                },
            ),
        ];
        let (stop, ps) = watch_ps();
        let done = run_builds(&es, &app, "main", &projects);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let ps = ps.join().unwrap();
        for d in &done {
            assert_eq!(d.build.status(), BuildStatus::Success, "{d:?}");
        }
        assert_eq!(
            (
                done[0].build.revision.as_str(),
                done[0].build.revision_username.as_str()
            ),
            ("2", "bob")
        );
        assert!(done[0].output.contains("second line"), "{:?}", done[0]);
        assert_eq!(
            (
                done[1].build.revision.as_str(),
                done[1].build.revision_username.as_str()
            ),
            ("1", "alice")
        );
        assert!(done[1].output.contains("stable of public"), "{:?}", done[1]);
        assert_eq!(done[2].build.revision, "2");
        assert!(done[2].output.contains("trunk of private"), "{:?}", done[2]);
        assert!(
            done[2].messages.contains("--password-from-stdin"),
            "{:?}",
            done[2]
        );
        assert!(
            done[2].messages.contains("--no-auth-cache")
                && done[2].messages.contains("--non-interactive")
        );
        // The password is never on a command line, in the messages or the
        // output, nor cached anywhere on disk.
        let password = svn.password();
        assert!(
            !ps.contains(&password),
            "the password was on a command line"
        );
        for d in &done {
            assert!(
                !d.messages.contains(&password) && !d.output.contains(&password),
                "{d:?}"
            );
        }
        let root = PathBuf::from(&done[2].build.working_dir);
        let mut leaks = files_containing(&root, &[&password]);
        leaks.extend(files_containing(es.sb.root(), &[&password]));
        assert!(leaks.is_empty(), "{leaks:?}");
        if let Some(home) = std::env::var_os("HOME") {
            let auth = PathBuf::from(home).join(".subversion/auth");
            let cached: Vec<_> = walk(&auth)
                .into_iter()
                .filter(|p| {
                    std::fs::read(p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(&password))
                })
                .collect();
            assert!(cached.is_empty(), "{cached:?}");
        }
    }
}

#[test]
fn svn_failures_name_the_cause() {
    let Some(svn) = svnserve() else { return };
    let Some(es) = sandbox(Backend::Sqlite) else {
        return;
    };
    let app = es.app();
    let pool = es.pool(&app, "main");
    let wrong = login(&app, "wrong", "builder", "not-the-password");
    let projects = [
        scm_project(
            &app,
            "no-login",
            pool,
            "svn",
            &svn.url("private/trunk"),
            "",
            |_| {},
        ),
        scm_project(
            &app,
            "wrong-password",
            pool,
            "svn",
            &svn.url("private/trunk"),
            "",
            |p| p.scm_login_id = Some(wrong),
        ),
        scm_project(
            &app,
            "no-repo",
            pool,
            "svn",
            &svn.url("nope/trunk"),
            "",
            |_| {},
        ),
        scm_project(
            &app,
            "no-path",
            pool,
            "svn",
            &svn.url("public"),
            "branches/gone",
            |_| {},
        ),
        scm_project(
            &app,
            "unreachable",
            pool,
            "svn",
            "svn://127.0.0.1:9/r",
            "",
            |_| {},
        ),
    ];
    let done = run_builds(&es, &app, "main", &projects);
    failed(&done[0], "authentication to svn://");
    failed(&done[1], "authentication to svn://");
    failed(&done[2], "does not exist");
    failed(&done[3], "does not exist");
    failed(
        &done[4],
        "cannot reach the repository host of svn://127.0.0.1:9/r",
    );
    assert!(
        !done[1].messages.contains("not-the-password"),
        "{:?}",
        done[1]
    );
}
