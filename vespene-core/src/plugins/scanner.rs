//! The plugin scanner: candidate files are opened first in a child process
//! (the `vespene` binary re-executed with a hidden subcommand, as
//! GStreamer's gst-plugin-scanner does), because a truncated or corrupt
//! `.so` kills whatever process `dlopen`s it.
//!
//! Protocol: the parent writes one path per line on the child's stdin; the
//! child answers each, in order, with one line on stdout:
//! `<nonce> {"path": "...", "manifest": {...}}` or
//! `<nonce> {"path": "...", "error": "..."}`. Lines without the nonce (a
//! plugin printing during load) are ignored. When the child dies, the first
//! path without an answer is the one that killed it: it is reported with
//! the signal, and a new child takes the remaining paths.

use super::loader::Library;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use vespene_plugin_api::Manifest;

/// The hidden subcommand of the `vespene` binary that runs [`child_main`].
pub const SCAN_SUBCOMMAND: &str = "__scan-plugins";

/// How long one file may take to open before the child is killed.
pub const PER_FILE_TIMEOUT: Duration = Duration::from_secs(10);

/// One answer of the scanner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanAnswer {
    pub path: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<Manifest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `rust` or `c`, for usable plugins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door: Option<String>,
}

impl ScanAnswer {
    pub fn refused(path: PathBuf, reason: String) -> ScanAnswer {
        ScanAnswer {
            path,
            manifest: None,
            error: Some(reason),
            door: None,
        }
    }

    pub fn result(&self) -> Result<&Manifest, &str> {
        match (&self.manifest, &self.error) {
            (Some(m), None) => Ok(m),
            (_, Some(e)) => Err(e),
            (None, None) => Err("the scanner gave no answer"),
        }
    }
}

/// The scanner child's main loop: answers every path read from stdin.
pub fn child_main(nonce: &str) -> std::io::Result<()> {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let path = PathBuf::from(line?);
        let answer = match Library::open(&path) {
            Ok(lib) => ScanAnswer {
                path,
                manifest: Some(lib.manifest.clone()),
                error: None,
                door: Some(lib.door_name().to_string()),
            },
            Err(e) => ScanAnswer::refused(path, e),
        };
        let json = serde_json::to_string(&answer).map_err(std::io::Error::other)?;
        writeln!(out, "{nonce} {json}")?;
        out.flush()?;
    }
    Ok(())
}

/// How to start the scanner child.
#[derive(Debug, Clone)]
pub struct Scanner {
    program: PathBuf,
    args: Vec<String>,
}

impl Scanner {
    /// The running executable with [`SCAN_SUBCOMMAND`] (the `vespene`
    /// binary).
    pub fn current_exe() -> std::io::Result<Scanner> {
        Ok(Scanner {
            program: std::env::current_exe()?,
            args: vec![SCAN_SUBCOMMAND.to_string()],
        })
    }

    /// Another program speaking the protocol (it receives the nonce as its
    /// last argument).
    pub fn new(program: impl Into<PathBuf>, args: Vec<String>) -> Scanner {
        Scanner {
            program: program.into(),
            args,
        }
    }

    /// Scans `paths` in child processes; one answer per path, in order.
    pub fn scan(&self, paths: &[PathBuf]) -> Vec<ScanAnswer> {
        let mut answers = Vec::with_capacity(paths.len());
        let mut rest: &[PathBuf] = paths;
        while !rest.is_empty() {
            match self.scan_batch(rest) {
                Ok(batch) => {
                    let done = batch.len();
                    answers.extend(batch);
                    rest = &rest[done.min(rest.len())..];
                }
                Err(reason) => {
                    // The child could not even start: every file gets the reason.
                    answers.extend(
                        rest.iter()
                            .map(|p| ScanAnswer::refused(p.clone(), reason.clone())),
                    );
                    break;
                }
            }
        }
        answers
    }

    /// Runs one child over `paths` until it finishes or dies. Returns the
    /// answers it gave plus, if it died, an answer blaming the file it was
    /// on. Always makes progress by at least one path.
    fn scan_batch(&self, paths: &[PathBuf]) -> Result<Vec<ScanAnswer>, String> {
        let nonce = nonce();
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .arg(&nonce)
            .env("VESPENE_INTERNAL_SCANNER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: whatever a plugin's constructor forks
            // there is killed with it (see `end_group`).
            .process_group(0)
            .spawn()
            .map_err(|e| {
                format!(
                    "could not start the plugin scanner {}: {e}",
                    self.program.display()
                )
            })?;

        let mut stdin = child.stdin.take().expect("piped");
        let input: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });

        // Read on a thread that reports through a channel: a helper that
        // left the group may hold the pipe open for as long as it lives,
        // and the scan does not wait for it (see `STDERR_GRACE`).
        let stderr = child.stderr.take().expect("piped");
        let (err_tx, err_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = err_tx.send(last_lines(stderr, 3));
        });

        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped");
        let prefix = format!("{nonce} ");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(json) = line.strip_prefix(&prefix)
                    && let Ok(answer) = serde_json::from_str::<ScanAnswer>(json)
                    && tx.send(answer).is_err()
                {
                    break;
                }
            }
        });

        let mut answers = Vec::new();
        let mut timed_out = false;
        let mut last_answer = Instant::now();
        while answers.len() < paths.len() {
            match rx.recv_timeout(ANSWER_SLICE) {
                Ok(answer) => {
                    answers.push(answer);
                    last_answer = Instant::now();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    // A helper it forked may keep its output open after it
                    // died: its exit, not the pipe's end, ends the batch.
                    if matches!(child.try_wait(), Ok(Some(_))) {
                        while let Ok(answer) = rx.recv_timeout(STDERR_GRACE) {
                            answers.push(answer);
                        }
                        break;
                    }
                    if last_answer.elapsed() >= PER_FILE_TIMEOUT {
                        timed_out = true;
                        let _ = child.kill();
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = writer.join();
        let status = wait_briefly(&mut child);
        end_group(child.id());
        let stderr_tail = err_rx.recv_timeout(STDERR_GRACE).unwrap_or_default();

        if answers.len() < paths.len() {
            let culprit = &paths[answers.len()];
            let how = if timed_out {
                format!(
                    "opening it hung for more than {} s",
                    PER_FILE_TIMEOUT.as_secs()
                )
            } else {
                match status {
                    Some(s) if s.signal().is_some() => format!(
                        "opening it killed the scanner process with {}",
                        signal_name(s.signal().unwrap_or(0))
                    ),
                    Some(s) => format!(
                        "opening it made the scanner process exit with status {}",
                        s.code().unwrap_or(-1)
                    ),
                    None => "the scanner process stopped answering".to_string(),
                }
            };
            let detail = if stderr_tail.is_empty() {
                String::new()
            } else {
                format!(" ({})", stderr_tail.join(" / "))
            };
            answers.push(ScanAnswer::refused(
                culprit.clone(),
                format!("{how}{detail}"),
            ));
        }
        Ok(answers)
    }
}

/// How often the scan looks whether the child is still alive.
const ANSWER_SLICE: Duration = Duration::from_millis(100);

/// How long the scan waits for the end of the child's error output once
/// the child is gone and its group killed.
const STDERR_GRACE: Duration = Duration::from_millis(500);

/// Kills the scanner child's process group: helpers a constructor forked
/// must not outlive the scan (nor hold its pipes).
fn end_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

fn wait_briefly(child: &mut Child) -> Option<std::process::ExitStatus> {
    for _ in 0..200 {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().ok()
}

fn last_lines(r: impl std::io::Read, n: usize) -> Vec<String> {
    let mut lines: std::collections::VecDeque<String> = Default::default();
    for line in BufReader::new(r).lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if lines.len() == n {
            lines.pop_front();
        }
        lines.push_back(line.chars().take(200).collect());
    }
    lines.into()
}

fn nonce() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("VESPENE-SCAN-{:x}-{:x}", std::process::id(), t)
}

/// `SIGSEGV` for 11, and so on.
pub fn signal_name(sig: i32) -> String {
    nix::sys::signal::Signal::try_from(sig)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {sig}"))
}

/// True when `path` looks like a plugin candidate (`*.so`).
pub fn is_candidate(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "so") && path.is_file()
}
