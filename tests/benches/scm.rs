//! Checkout benchmark: the git plugin (libgit2 in its `.so`, called through
//! the plugin host as the worker calls it) against the `git` command line doing the same clone,
//! shallow single-branch and full, from a generated repository served by
//! `git daemon` on loopback (and the shallow branch over `file://`, which
//! the plugin copies itself); and the svn plugin against a bare
//! `svn checkout` of a generated repository. Medians of alternating runs,
//! printed as ratios; every figure comes from this one run.
//!
//! Release figures: `cargo build --release --workspace && cargo bench -p
//! vespene-e2e --bench scm` (10,000 files, 1,000 commits; about 5
//! minutes, medians of 5; every checkout stays on disk until the end,
//! about 2 GB). Without `--bench` (as `cargo test --benches` runs it) a
//! 200-file, 20-commit repository and one run each, to prove it works.
//! `VESPENE_BENCH_SCM_ONLY=file://` (any part of a case's
//! name) runs only the matching cases.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vespene_core::plugins::{HostServices, Instance, Library};
use vespene_e2e::harness::stock_plugin;
use vespene_plugin_api::kinds::scm::CheckoutRequest;
use vespene_plugin_api::{LogLevel, PluginError, ProjectInfo, RunOutcome, RunRequest, serde_json};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A repository of `files` files and `commits` commits made with
/// `git fast-import`: the first commit adds every file, each later one
/// changes ten of them.
fn generate_git(dir: &Path, files: usize, commits: usize) -> PathBuf {
    let repo = dir.join("big.git");
    run(Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(&repo));
    let mut fi = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(&repo)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut w = std::io::BufWriter::new(fi.stdin.take().unwrap());
        let blob = |w: &mut dyn Write, text: &str| {
            write!(w, "data {}\n{}\n", text.len(), text).unwrap();
        };
        for c in 0..commits {
            let msg = format!("commit {c}");
            write!(
                w,
                "commit refs/heads/main\ncommitter Bench <bench{c}@example.com> {} +0000\n",
                1_700_000_000 + c
            )
            .unwrap();
            blob(&mut w, &msg);
            let changed: Vec<usize> = if c == 0 {
                (0..files).collect()
            } else {
                (0..10).map(|k| (c * 10 + k) % files).collect()
            };
            for f in changed {
                let text = format!(
                    "file {f}, version {c}\n{}\n",
                    "some source text for the benchmark repository ".repeat(4)
                );
                writeln!(w, "M 100644 inline dir{:03}/file{f:05}.txt", f / 100).unwrap();
                blob(&mut w, &text);
            }
        }
    }
    assert!(fi.wait().unwrap().success());
    repo
}

/// `git daemon` on a free loopback port; killed on drop.
struct Daemon(std::process::Child, u16);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn daemon(base: &Path) -> Daemon {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "git daemon did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Daemon(child, port)
}

/// A host that runs commands directly (the svn plugin's `run`) and drops
/// messages.
struct BenchHost;

impl HostServices for BenchHost {
    fn call(&self, _plugin: &str, op: &str, args: &str) -> Result<String, PluginError> {
        match op {
            "append" => Ok("{}".into()),
            "status" => Ok("{\"stopped\":false}".into()),
            "run" => {
                let req: RunRequest = serde_json::from_str(args).unwrap();
                let mut child = Command::new(&req.argv[0])
                    .args(&req.argv[1..])
                    .envs(&req.env)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| PluginError::failed(e.to_string()))?;
                let input = req.stdin.unwrap_or_default();
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(input.as_bytes())
                    .unwrap();
                let out = child.wait_with_output().unwrap();
                let mut tail = String::from_utf8_lossy(&out.stdout).into_owned();
                tail.push_str(&String::from_utf8_lossy(&out.stderr));
                Ok(serde_json::to_string(&RunOutcome {
                    exit_code: out.status.code(),
                    tail,
                    ..RunOutcome::default()
                })
                .unwrap())
            }
            other => Err(PluginError::unsupported(other)),
        }
    }

    fn log(&self, _plugin: &str, _level: LogLevel, _message: &str) {}
}

/// The stock plugin in `dir` (`scm-git`), loaded from its `.so`.
fn load(dir: &str) -> Instance {
    Library::open(&stock_plugin(dir))
        .unwrap()
        .create(
            "bench",
            &serde_json::Value::Null,
            std::sync::Arc::new(BenchHost),
        )
        .unwrap()
}

fn checkout(plugin: &Instance, req: &CheckoutRequest) {
    plugin
        .call("checkout", &serde_json::to_string(req).unwrap())
        .unwrap();
}

/// `git clone --depth 1 -b main --single-branch URL DIR`: what the plugin
/// does for a named branch.
fn git_shallow(url: &str, dir: &Path) {
    run(Command::new("git")
        .args([
            "clone",
            "-q",
            "--depth",
            "1",
            "-b",
            "main",
            "--single-branch",
            url,
        ])
        .arg(dir));
}

fn request(url: &str, branch: &str, root: &Path) -> CheckoutRequest {
    std::fs::create_dir_all(root).unwrap();
    CheckoutRequest {
        project: ProjectInfo {
            repo_url: url.into(),
            repo_branch: branch.into(),
            recursive: false,
            ..ProjectInfo::default()
        },
        build_root: root.display().to_string(),
        timeout_secs: Some(3600),
        ..CheckoutRequest::default()
    }
}

fn print(c: &Case) {
    println!(
        "| {} | {:.0} ms | {:.0} ms | {:.2}× |",
        c.name,
        c.plugin.as_secs_f64() * 1e3,
        c.cli.as_secs_f64() * 1e3,
        c.plugin.as_secs_f64() / c.cli.as_secs_f64()
    );
}

struct Case {
    name: &'static str,
    plugin: Duration,
    cli: Duration,
}

/// Whether the case named `name` runs (`VESPENE_BENCH_SCM_ONLY`).
fn wanted(name: &str) -> bool {
    std::env::var("VESPENE_BENCH_SCM_ONLY").map_or(true, |only| name.contains(&only))
}

fn compare(
    name: &'static str,
    runs: usize,
    scratch: &Path,
    mut plugin: impl FnMut(&Path),
    mut cli: impl FnMut(&Path),
) -> Option<Case> {
    if !wanted(name) {
        return None;
    }
    let (mut p, mut c) = (Vec::new(), Vec::new());
    for i in 0..runs {
        // Alternate which goes first, so neither always has the warmer cache.
        for first in [i % 2 == 0, i % 2 != 0] {
            let dir = scratch.join(format!("{name}-{i}-{first}"));
            let t = Instant::now();
            if first {
                plugin(&dir);
                p.push(t.elapsed());
            } else {
                cli(&dir);
                c.push(t.elapsed());
            }
            // Kept until the whole run ends (`scratch` goes then): ext4
            // skips inodes freed in the last minute, so deleting 10,000
            // files before the next run made both sides mostly time that
            // search (perf: about 70 % of either side's samples).
        }
    }
    let case = Case {
        name,
        plugin: median(p),
        cli: median(c),
    };
    // Printed as soon as measured, so a later failure loses nothing.
    print(&case);
    Some(case)
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (files, commits, runs) = if full {
        (10_000, 1_000, 5)
    } else {
        (200, 20, 1)
    };
    let scratch = std::env::temp_dir().join(format!("vespene-bench-scm-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let t = Instant::now();
    let repo = generate_git(&scratch, files, commits);
    println!(
        "generated a git repository of {files} files and {commits} commits in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let d = daemon(&scratch);
    let url = format!("git://127.0.0.1:{}/big.git", d.1);
    let git_plugin = load("scm-git");
    let svn_plugin = load("scm-svn");
    let file_url = format!("file://{}", repo.display());
    let cases = vec![
        compare(
            "git shallow branch",
            runs,
            &scratch,
            |dir| {
                checkout(&git_plugin, &request(&url, "main", dir));
            },
            |dir| git_shallow(&url, dir),
        ),
        compare(
            "git full clone",
            runs,
            &scratch,
            |dir| {
                checkout(&git_plugin, &request(&url, "", dir));
            },
            |dir| {
                run(Command::new("git").args(["clone", "-q", &url]).arg(dir));
            },
        ),
        compare(
            "git shallow branch, file://",
            runs,
            &scratch,
            |dir| {
                checkout(&git_plugin, &request(&file_url, "main", dir));
            },
            |dir| git_shallow(&file_url, dir),
        ),
    ];
    drop(d);
    let mut cases: Vec<Case> = cases.into_iter().flatten().collect();

    // svn: the same files in one repository, checked out over file://.
    if wanted("svn checkout") {
        svn_case(&scratch, &svn_plugin, files, runs, &mut cases);
    }
    let _ = std::fs::remove_dir_all(&scratch);

    println!(
        "\n{} ({files} files, {commits} commits, median of {runs}):",
        if full {
            "checkout"
        } else {
            "checkout, quick mode (figures mean nothing)"
        }
    );
    println!("| case | plugin | command line | ratio |");
    println!("|---|---|---|---|");
    for c in &cases {
        print(c);
    }
}

/// svn: the same files in one repository, checked out over file://, the
/// plugin against `svn checkout`.
fn svn_case(
    scratch: &Path,
    svn_plugin: &Instance,
    files: usize,
    runs: usize,
    cases: &mut Vec<Case>,
) {
    let svn_repo = scratch.join("svnrepo");
    run(Command::new("svnadmin").arg("create").arg(&svn_repo));
    let tree = scratch.join("svn-import");
    for f in 0..files {
        let p = tree.join(format!("dir{:03}/file{f:05}.txt", f / 100));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("file {f}\n")).unwrap();
    }
    let svn_url = format!("file://{}", svn_repo.display());
    run(Command::new("svn")
        .args(["import", "-q", "-m", "import"])
        .arg(&tree)
        .arg(&svn_url));
    cases.extend(compare(
        "svn checkout",
        runs,
        scratch,
        |dir| {
            checkout(svn_plugin, &request(&svn_url, "", dir));
        },
        |dir| {
            run(Command::new("svn")
                .args(["checkout", "--quiet", "--non-interactive", &svn_url])
                .arg(dir));
        },
    ));
}
