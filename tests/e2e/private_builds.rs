//! Containment of builds (issue 9, item 1 and 2): the server's files are
//! private, build roots are private and removed, and what a build can reach
//! under each isolation is what docs/security.md says, checked by running
//! the probes as builds.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::db::output::OutputStream;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{Backend, EngineSandbox, backends, finish};

const WAIT: Duration = Duration::from_secs(60);

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Whether a program is installed; in CI a missing one fails the test.
fn need(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(!in_ci(), "{what} is needed in CI");
        eprintln!("SKIPPED: {what}");
    }
    ok
}

fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn namespaces_work() -> bool {
    need(
        "namespaces (vespene-namespace-launcher starting a sandbox)",
        vespene_e2e::harness::namespaces_work(),
    )
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .mode()
        & 0o7777
}

fn run_one(es: &EngineSandbox, pool: &str, project: i64) -> vespene_core::db::builds::Build {
    let app = es.app();
    let worker = es.worker(pool, &["--max-builds", "1"]);
    let id = start_project(&app, &Actor::System, project, &StartRequest::default())
        .unwrap()
        .build
        .id;
    let b = es.wait_build(&app, id, WAIT);
    finish(worker);
    b
}

#[test]
fn the_data_directory_database_and_key_are_private_and_tightened() {
    let Some(es) = EngineSandbox::new(Backend::Sqlite, "") else {
        return;
    };
    let s = es.settings();
    vespene_core::secrets::generate_key_file(&s.secrets_key_file).unwrap();
    // As an older version left them: readable by everyone.
    std::fs::set_permissions(&s.data_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let db = s.data_dir.join("vespene.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&s.secrets_key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = es.app();
    let pool = es.pool(&app, "main");
    let project = es.project(&app, "p", pool, "#!/bin/sh\necho hi\n");
    // A worker holds the database open (with -wal and -shm) meanwhile.
    let b = run_one(&es, "main", project);
    assert_eq!(b.status(), BuildStatus::Success);
    assert_eq!(mode(&s.data_dir), 0o700);
    for suffix in ["", "-wal", "-shm"] {
        let f = PathBuf::from(format!("{}{suffix}", db.display()));
        if f.exists() {
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        } else {
            assert_ne!(suffix, "", "the database exists");
        }
    }
    assert_eq!(mode(&s.secrets_key_file), 0o600);

    // A new database is created private from the start (SQLite gives
    // -wal and -shm the database file's mode).
    let fresh = es.sb.root().join("fresh/data");
    let url = format!("sqlite://{}", fresh.join("new.db").display());
    vespene_core::db::migrate(&url).unwrap();
    assert_eq!(mode(&fresh), 0o700);
    for entry in std::fs::read_dir(&fresh).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

#[test]
fn build_roots_are_private_outside_the_data_dir_and_removed() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        let app = es.app();
        let pool = es.pool(&app, "main");
        let base = es.settings().build_root;
        let project = es.project(
            &app,
            "p",
            pool,
            "#!/bin/sh\nstat -c '%a' . \npwd\necho data > artefact\nmkdir -p ro/sub && chmod 500 ro/sub ro\n",
        );
        let b = run_one(&es, "main", project);
        let out = es.output(&app, b.id, OutputStream::Output);
        assert_eq!(b.status(), BuildStatus::Success, "{out}");
        assert!(out.contains("| 700\n"), "{backend:?}: {out}");
        let root = base.join(b.id.to_string());
        assert!(out.contains(&format!("| {}\n", root.display())), "{out}");
        assert!(!root.starts_with(&es.settings().data_dir));
        assert!(!root.exists(), "{backend:?}: the root was not removed");
        assert_eq!(mode(&base), 0o711);

        // Kept when the setting says so, still 0700.
        es.sb
            .write_settings("40-keep.toml", "keep_build_roots = true\n");
        let b = run_one(&es, "main", project);
        let root = base.join(b.id.to_string());
        assert_eq!(mode(&root), 0o700);
        assert_eq!(
            std::fs::read_to_string(root.join("artefact")).unwrap(),
            "data\n"
        );
    }
}

/// One probe: its shell test, true when the build could do it.
fn probes(ctx: &ProbeContext) -> Vec<(&'static str, String)> {
    vec![
        ("db", format!("cat '{}/vespene.db'", ctx.data_dir.display())),
        ("key", format!("cat '{}'", ctx.key.display())),
        (
            "settings",
            format!("ls '{}/settings.d'", ctx.settings_dir.display()),
        ),
        (
            "other_root",
            format!("cat '{}'", ctx.other_root_file.display()),
        ),
        ("own_root", "echo x > ./own-root-probe".into()),
        ("host_tmp", format!("cat '{}'", ctx.host_tmp_file.display())),
        (
            "system",
            format!("touch '{0}' && rm -f '{0}'", ctx.system_file.display()),
        ),
        (
            "worker_process",
            format!("test -d /proc/{}", ctx.worker_pid),
        ),
        (
            "network",
            format!("exec 3<>/dev/tcp/127.0.0.1/{}", ctx.port),
        ),
    ]
}

struct ProbeContext {
    data_dir: PathBuf,
    key: PathBuf,
    settings_dir: PathBuf,
    other_root_file: PathBuf,
    host_tmp_file: PathBuf,
    system_file: PathBuf,
    worker_pid: u32,
    port: u16,
}

/// docs/security.md's table: probe → isolation → expected.
fn documented() -> (Vec<String>, BTreeMap<String, BTreeMap<String, bool>>) {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/security.md"))
            .unwrap();
    let mut columns: Vec<String> = Vec::new();
    let mut rows = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        if cells.first() == Some(&"what the build tries") {
            columns = cells[1..].iter().map(|s| s.to_string()).collect();
            continue;
        }
        if columns.is_empty() || !cells[0].starts_with('`') {
            continue;
        }
        let probe = cells[0].split('`').nth(1).unwrap().to_string();
        let row = columns
            .iter()
            .zip(&cells[1..])
            .map(|(c, v)| {
                assert!(matches!(*v, "yes" | "no"), "{probe}: cell '{v}'");
                (c.clone(), *v == "yes")
            })
            .collect();
        rows.insert(probe, row);
    }
    assert!(rows.len() >= 10, "the table was not found: {rows:?}");
    (columns, rows)
}

/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .collect()
}

/// Runs every probe as a build under `isolation` (a pool `sudo_user` of
/// `user`) and returns probe → could.
fn probe_as_build(isolation: &str, user: &str) -> BTreeMap<String, bool> {
    let es = EngineSandbox::new(Backend::Sqlite, "").unwrap();
    // Traversable to the build roots, as an install is (the sandbox's
    // temporary directory is 0700).
    std::fs::set_permissions(es.sb.root(), std::fs::Permissions::from_mode(0o711)).unwrap();
    // The settings directory as a package installs it (0750).
    std::fs::set_permissions(es.sb.settings_dir(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let s = es.settings();
    vespene_core::secrets::generate_key_file(&s.secrets_key_file).unwrap();
    let app = es.app();
    let pool = es.pool_with(&app, "probe", isolation, user);

    // Another build's root, ended and kept: as the engine leaves it.
    let other = vespene_core::engine::buildroot::create(&s.build_root, 999_999).unwrap();
    let other_root_file = other.join("vespene.json");
    std::fs::write(&other_root_file, "{\"secret\": 1}").unwrap();
    let host_tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::set_permissions(host_tmp.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten().take(4) {
            let _ = c.read(&mut [0u8; 1]);
        }
    });
    let marker = format!("vespene-survivor-{}-{port}", std::process::id());
    let worker = es.worker("probe", &["--max-builds", "1"]);
    let ctx = ProbeContext {
        data_dir: s.data_dir.clone(),
        key: s.secrets_key_file.clone(),
        settings_dir: es.sb.settings_dir(),
        other_root_file,
        host_tmp_file: host_tmp.path().to_path_buf(),
        system_file: PathBuf::from(format!("/usr/local/vespene-probe-{port}")),
        worker_pid: worker.id(),
        port,
    };
    let mut script = String::from("#!/bin/bash\n");
    for (name, test) in probes(&ctx) {
        script.push_str(&format!(
            "if ( {test} ) >/dev/null 2>&1; then echo \"PROBE {name} yes\"; else echo \"PROBE {name} no\"; fi\n"
        ));
    }
    script.push_str(&format!(
        "setsid sh -c 'sleep 60; :' {marker} >/dev/null 2>&1 < /dev/null &\nsleep 0.2\n"
    ));
    let project = es.project(&app, "probes", pool, &script);
    let id = start_project(&app, &Actor::System, project, &StartRequest::default())
        .unwrap()
        .build
        .id;
    let b = es.wait_build(&app, id, WAIT);
    finish(worker);
    let out = es.output(&app, id, OutputStream::Output);
    assert_eq!(
        b.status(),
        BuildStatus::Success,
        "{isolation}: {out}\n{}",
        es.output(&app, id, OutputStream::Messages)
    );
    let mut found: BTreeMap<String, bool> = out
        .lines()
        .filter_map(|l| l.split_once("PROBE ").map(|(_, p)| p))
        .map(|p| {
            let (name, answer) = p.split_once(' ').unwrap();
            (name.to_string(), answer == "yes")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let survivors = processes_with(&marker);
    found.insert("survivor".into(), !survivors.is_empty());
    for pid in survivors {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    found
}

#[test]
fn what_a_build_can_reach_is_what_docs_security_md_says() {
    let (columns, rows) = documented();
    let root = nix::unistd::geteuid().is_root();
    let me = nix::unistd::User::from_uid(nix::unistd::geteuid())
        .unwrap()
        .unwrap()
        .name;
    if !need("root (the table is for a worker running as root)", root) {
        return;
    }
    let mut checked = 0;
    for column in &columns {
        let (isolation, user) = match column.as_str() {
            "none" => ("sudo", me.as_str()),
            "sudo" => {
                if !need("sudo (apt-get install sudo)", have("sudo")) {
                    continue;
                }
                ("sudo", "nobody")
            }
            "namespace" | "namespace_offline" => {
                if !namespaces_work() {
                    continue;
                }
                (column.as_str(), "nobody")
            }
            other => panic!("unknown column {other}"),
        };
        let found = probe_as_build(isolation, user);
        for (probe, by_column) in &rows {
            let want = by_column[column];
            let got = *found
                .get(probe)
                .unwrap_or_else(|| panic!("probe '{probe}' has no test"));
            assert_eq!(
                got, want,
                "{column}: `{probe}` (docs/security.md says {want})"
            );
            checked += 1;
        }
    }
    assert!(checked > 0);
}

/// Escapes from a process group: a new session, a double fork, job
/// control, a loop ignoring SIGTERM. Each keeps `MARK` in its command line.
fn escapes(mark: &str, then: &str) -> String {
    format!(
        "#!/bin/bash\n\
         setsid sh -c 'sleep 300; :' {mark} </dev/null >/dev/null 2>&1 &\n\
         ( ( sh -c 'sleep 300; :' {mark} </dev/null >/dev/null 2>&1 & ) & )\n\
         set -m\n\
         sh -c 'sleep 300; :' {mark} </dev/null >/dev/null 2>&1 &\n\
         bash -c \"trap '' TERM; sleep 300; :\" {mark} </dev/null >/dev/null 2>&1 &\n\
         echo started\n{then}"
    )
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !f() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Under namespace isolation no process outlives its build: at the
/// script's end, on `build stop`, and on the project's timeout.
#[test]
fn under_namespace_isolation_no_process_outlives_end_stop_or_timeout() {
    if !namespaces_work() {
        return;
    }
    let es = EngineSandbox::new(Backend::Sqlite, "").unwrap();
    let app = es.app();
    let pool = es.pool_with(&app, "ns", "namespace", "nobody");
    let tag = format!("vespene-escape-{}", std::process::id());
    let cases = [
        ("end", escapes(&format!("{tag}-end"), "exit 0\n"), 60),
        (
            "stop",
            escapes(&format!("{tag}-stop"), "trap '' TERM\nsleep 300\n"),
            60,
        ),
        (
            "timeout",
            escapes(&format!("{tag}-timeout"), "sleep 300\n"),
            1,
        ),
    ];
    let worker = es.worker("ns", &["--max-builds", "3"]);
    for (case, script, timeout) in cases {
        let mark = format!("{tag}-{case}");
        let project = es.project_with(
            &app,
            vespene_core::ops::ProjectInput {
                name: case.into(),
                worker_pool_id: pool,
                timeout,
                script,
                ..Default::default()
            },
        );
        let id = start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id;
        if case == "stop" {
            wait_for("the escapes to start", WAIT, || {
                processes_with(&mark).len() >= 4
            });
            es.vespene(&["build", "stop", &id.to_string()]).ok();
        }
        let b = es.wait_build(&app, id, Duration::from_secs(120));
        let expected = match case {
            "end" => BuildStatus::Success,
            "stop" => BuildStatus::Aborted,
            _ => BuildStatus::Failure,
        };
        assert_eq!(
            b.status(),
            expected,
            "{case}: {}",
            es.output(&app, id, OutputStream::Output)
        );
        assert!(
            es.output(&app, id, OutputStream::Output)
                .contains("started")
        );
        std::thread::sleep(Duration::from_millis(300));
        let left = processes_with(&mark);
        for pid in &left {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert_eq!(left, Vec::<i32>::new(), "{case}: processes left");
    }
    finish(worker);
}
