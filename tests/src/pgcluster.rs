//! A throwaway PostgreSQL cluster of a test's own (initdb into a temporary
//! directory, its own port on 127.0.0.1, run as the `postgres` user), for
//! tests that restart the server. The shared test cluster is never
//! stopped or restarted: other tests use it at the same time.

use std::path::PathBuf;
use std::process::Command;

/// A running cluster, stopped and removed on drop.
pub struct ThrowawayCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local address").port()
}

impl ThrowawayCluster {
    /// Starts a fresh cluster, or says why it cannot (loudly; a failure in
    /// CI, where the test needs it).
    pub fn start() -> Option<ThrowawayCluster> {
        let why = if !nix::unistd::geteuid().is_root() {
            Some("it needs root (to run PostgreSQL as the postgres user)")
        } else if postgres_bin().is_none() {
            Some("PostgreSQL is not installed")
        } else if nix::unistd::User::from_name("postgres")
            .ok()
            .flatten()
            .is_none()
        {
            Some("there is no postgres user")
        } else {
            None
        };
        if let Some(why) = why {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("a throwaway PostgreSQL cluster cannot be started: {why}");
            }
            eprintln!("SKIPPED: a throwaway PostgreSQL cluster cannot be started: {why}");
            return None;
        }
        let bin = postgres_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("vespene-pg-")
            .tempdir()
            .expect("temporary directory");
        let pg = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        nix::unistd::chown(dir.path(), Some(pg.uid), Some(pg.gid)).expect("chown");
        let cluster = ThrowawayCluster {
            port: free_port(),
            dir,
            bin,
        };
        cluster.as_postgres(&[
            "initdb",
            "-D",
            &cluster.data().display().to_string(),
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
        ]);
        cluster.pg_ctl(&["start"]);
        Some(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn as_postgres(&self, args: &[&str]) {
        let program = self.bin.join(args[0]);
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(&args[1..])
            .current_dir(self.dir.path())
            .output()
            .expect("run as postgres");
        assert!(
            out.status.success(),
            "{} failed: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn pg_ctl(&self, action: &[&str]) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let mut args = vec!["pg_ctl", "-D", &data, "-l", &log, "-o", &options, "-w"];
        args.extend_from_slice(action);
        self.as_postgres(&args);
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Restarts the server, ending every connection (`pg_ctl restart -m
    /// fast`); returns once it accepts connections again.
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "fast", "restart"]);
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}
