//! A sandbox per test: its own settings directory, data directory and
//! plugin directory, and the real `vespene` binary run against them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// `target/<profile>`: where cargo put the `vespene` binary and the stock
/// plugins. Test binaries live in `target/<profile>/deps`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    let dir = if deps.file_name().is_some_and(|n| n == "deps") {
        deps.parent().expect("profile dir")
    } else {
        deps
    };
    dir.to_path_buf()
}

/// The `vespene` binary under test.
pub fn vespene_bin() -> PathBuf {
    let p = bin_dir().join("vespene");
    assert!(
        p.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        p.display()
    );
    p
}

/// Whether builds can run in namespaces here, asked as `vespene up` asks
/// (the namespace isolation's `probe`): the product's own launcher
/// (`vespene-namespace-launcher`, built beside `vespene`) starts a sandbox
/// running `/bin/true`, as `nobody` when root, else in a user namespace.
/// False when the launcher is missing or the kernel refuses.
pub fn namespaces_work() -> bool {
    let launcher = bin_dir().join("vespene-namespace-launcher");
    let Ok(dir) = tempfile::Builder::new()
        .prefix("vespene-ns-probe-")
        .tempdir()
    else {
        return false;
    };
    let root = dir.path().join("root");
    if std::fs::create_dir(&root).is_err() {
        return false;
    }
    let mut cmd = Command::new(&launcher);
    if nix::unistd::geteuid().is_root() {
        let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
            return false;
        };
        if std::os::unix::fs::chown(&root, Some(nobody.uid.as_raw()), Some(nobody.gid.as_raw()))
            .is_err()
        {
            return false;
        }
        cmd.arg("--drop")
            .arg(format!("{}:{}", nobody.uid, nobody.gid));
    } else {
        cmd.arg("--user-ns");
    }
    cmd.arg("--root")
        .arg(&root)
        .args(["--", "/bin/true"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A stock plugin's file, by package directory name (`output-timestamp`).
pub fn stock_plugin(dir_name: &str) -> PathBuf {
    let file = format!("libvespene_plugin_{}.so", dir_name.replace('-', "_"));
    let p = bin_dir().join(file);
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// Every stock plugin crate under `plugins/`, as (directory name, dotted
/// plugin name declared in its `export_plugin!`).
pub fn stock_plugin_crates() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("plugins")).expect("plugins dir") {
        let dir = entry.expect("dir entry").path();
        if !dir.join("Cargo.toml").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let src = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap_or_default();
        let dotted = src
            .split("export_plugin!")
            .nth(1)
            .and_then(|rest| rest.split("name:").nth(1))
            .and_then(|rest| rest.split('"').nth(1))
            .map(str::to_string);
        if let Some(dotted) = dotted {
            out.push((name, dotted));
        }
    }
    out.sort();
    out
}

/// What a `vespene` run printed.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "vespene failed: {self:#?}");
        &self.stdout
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// A private settings/data/plugin directory set for one test.
pub struct Sandbox {
    dir: TempDir,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("vespene-e2e-")
            .tempdir()
            .expect("temp dir");
        let s = Sandbox { dir };
        std::fs::create_dir_all(s.settings_dir().join("settings.d")).unwrap();
        std::fs::create_dir_all(s.plugin_dir()).unwrap();
        vespene_core::private_data::create_private_dir(&s.data_dir()).unwrap();
        s.write_settings(
            "00-sandbox.toml",
            &format!(
                "data_dir = \"{}\"\nbuild_root = \"{}\"\nplugin_path = [\"{}\"]\n",
                s.data_dir().display(),
                s.root().join("buildroot").display(),
                s.plugin_dir().display()
            ),
        );
        s
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn settings_dir(&self) -> PathBuf {
        self.root().join("etc")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root().join("data")
    }

    /// A directory on this sandbox's plugin path (before the stock ones).
    pub fn plugin_dir(&self) -> PathBuf {
        self.root().join("plugins")
    }

    /// Writes `settings.d/<name>`.
    pub fn write_settings(&self, name: &str, text: &str) -> PathBuf {
        let p = self.settings_dir().join("settings.d").join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Copies a file into the sandbox's plugin directory under `name`.
    pub fn add_plugin(&self, from: &Path, name: &str) -> PathBuf {
        let to = self.plugin_dir().join(name);
        std::fs::copy(from, &to)
            .unwrap_or_else(|e| panic!("copy {} → {}: {e}", from.display(), to.display()));
        to
    }

    /// `vespene --settings-dir <sandbox> ARGS`, with a clean environment.
    pub fn command(&self) -> Command {
        let mut c = Command::new(vespene_bin());
        c.arg("--settings-dir").arg(self.settings_dir());
        for (k, _) in std::env::vars() {
            if k.starts_with("VESPENE_") {
                c.env_remove(k);
            }
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command().args(args).output().expect("run vespene"))
    }

    /// Runs with `stdin` as standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command()
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn vespene");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        Run::from(child.wait_with_output().expect("wait vespene"))
    }
}
