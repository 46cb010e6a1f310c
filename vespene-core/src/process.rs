//! The one way Vespene runs a command: a working directory, a cleaned
//! environment, its own process group (so stop and timeout kill the whole
//! tree), stdout and stderr merged into one stream read line by line, and a
//! timeout.
//!
//! The output is read on the calling thread (output filters run inline
//! there, as the design asks); a watcher thread waits for the child. When
//! the command's main process exits, whatever it left running in its
//! process group is killed too, so a build cannot leave daemons behind
//! holding its output open.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines longer than this are split (a binary blob without newlines must
/// not grow without bound).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// How much of the end of the output an [`Outcome`] keeps.
pub const TAIL_BYTES: usize = 64 * 1024;
/// The PATH of a cleaned environment when the host has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Between SIGTERM and SIGKILL when a command is stopped.
const KILL_GRACE: Duration = Duration::from_secs(3);
/// After the main process exits, how long to wait for the output to close
/// before giving up on processes that left its process group.
const DRAIN_GRACE: Duration = Duration::from_secs(2);
const POLL_INTERVAL_MS: u16 = 100;

/// Variables kept from the host's environment in a cleaned environment.
const KEPT_ENV: &[&str] = &[
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SHELL",
];

/// A stop request shared between whoever stops a build and the command
/// running for it.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct CommandSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// Added to the cleaned environment.
    pub env: BTreeMap<String, String>,
    pub stdin: Option<String>,
    pub timeout: Option<Duration>,
    pub cancel: Option<CancelToken>,
}

impl CommandSpec {
    /// `/bin/sh -c COMMAND`.
    pub fn shell(command: &str) -> CommandSpec {
        CommandSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), command.into()],
            ..CommandSpec::default()
        }
    }

    /// The command a plugin asked for through the `run` host service.
    /// `default_cwd` applies when the request names none.
    pub fn from_request(
        request: &vespene_plugin_api::RunRequest,
        default_cwd: Option<&std::path::Path>,
    ) -> Result<CommandSpec, RunError> {
        let mut spec = match (&request.shell, request.argv.is_empty()) {
            (Some(cmd), true) => CommandSpec::shell(cmd),
            (None, false) => CommandSpec::argv(request.argv.iter().cloned()),
            (Some(_), false) => return Err(RunError::Ambiguous),
            (None, true) => return Err(RunError::Empty),
        };
        spec.cwd = request
            .cwd
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| default_cwd.map(std::path::Path::to_path_buf));
        spec.env = request.env.clone();
        spec.stdin = request.stdin.clone();
        spec.timeout = request.timeout_secs.map(Duration::from_secs);
        Ok(spec)
    }

    /// The command as shown in logs: the argv joined with spaces, or the
    /// shell command line.
    pub fn display(&self) -> String {
        match self.argv.as_slice() {
            [sh, c, cmd] if sh == "/bin/sh" && c == "-c" => cmd.clone(),
            argv => shell_words::join(argv),
        }
    }

    pub fn argv<I, S>(args: I) -> CommandSpec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CommandSpec {
            argv: args.into_iter().map(Into::into).collect(),
            ..CommandSpec::default()
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub aborted: bool,
    pub last_line: String,
    pub tail: String,
    /// Output stopped being read because processes that left the process
    /// group kept it open after the command ended.
    pub output_abandoned: bool,
}

impl Outcome {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.aborted
    }
}

impl From<Outcome> for vespene_plugin_api::RunOutcome {
    fn from(o: Outcome) -> Self {
        vespene_plugin_api::RunOutcome {
            exit_code: o.exit_code,
            signal: o.signal,
            timed_out: o.timed_out,
            aborted: o.aborted,
            last_line: o.last_line,
            tail: o.tail,
        }
    }
}

/// Why a command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no command given")]
    Empty,
    #[error("give either argv or shell, not both")]
    Ambiguous,
    #[error("cannot run '{program}': {err}")]
    Spawn {
        program: String,
        #[source]
        err: std::io::Error,
    },
    #[error("reading the output of '{program}': {err}")]
    Io {
        program: String,
        #[source]
        err: std::io::Error,
    },
}

/// The cleaned base environment: a few variables of the host's.
pub fn clean_env() -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = KEPT_ENV
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    env.entry("PATH".into())
        .or_insert_with(|| DEFAULT_PATH.into());
    env
}

/// A bare program name found on `path`. The standard library would look
/// it up itself, but only after falling back from `posix_spawn` to a full
/// `fork` of the (large) worker process whenever the child's PATH differs
/// from ours: resolving first keeps every start on the cheap path.
fn resolve(program: &str, path: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return PathBuf::from(program);
    }
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| PathBuf::from(program))
}

fn signal_group(pgid: i32, sig: Signal) {
    // ESRCH (the group is gone) is the normal case after it exited.
    let _ = killpg(Pid::from_raw(pgid), sig);
}

struct WaitState {
    status: Option<std::process::ExitStatus>,
    ended_at: Option<Instant>,
}

/// Receives a command's output as it runs.
pub trait OutputHandler {
    /// One line of the merged output, without its line ending.
    fn line(&mut self, line: &str);
    /// Called after every read of output and when no output arrived for a
    /// moment (about every 100 ms while the command is silent), so
    /// buffered lines can be flushed by age.
    fn idle(&mut self) {}
}

impl<F: FnMut(&str)> OutputHandler for F {
    fn line(&mut self, line: &str) {
        self(line)
    }
}

/// Runs `spec`, calling `on_line` for every line of its merged output (no
/// line ending). Returns how it ended; `Err` only when it could not run.
pub fn run(spec: &CommandSpec, on_line: impl FnMut(&str)) -> Result<Outcome, RunError> {
    run_with(spec, on_line)
}

/// Like [`run`], with a handler that is also told when output is idle.
pub fn run_with(spec: &CommandSpec, mut handler: impl OutputHandler) -> Result<Outcome, RunError> {
    let program = spec.argv.first().ok_or(RunError::Empty)?.clone();
    let io_err = |err| RunError::Io {
        program: program.clone(),
        err,
    };
    let (mut reader, writer) = std::io::pipe().map_err(io_err)?;
    let env = clean_env();
    let path = spec
        .env
        .get("PATH")
        .or_else(|| env.get("PATH"))
        .cloned()
        .unwrap_or_default();
    let mut cmd = Command::new(resolve(&program, &path));
    cmd.args(&spec.argv[1..])
        .env_clear()
        .envs(env)
        .envs(&spec.env)
        .stdin(if spec.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(writer.try_clone().map_err(io_err)?)
        .stderr(writer)
        .process_group(0);
    if let Some(cwd) = &spec.cwd {
        cmd.current_dir(cwd);
    }
    let mut child = cmd.spawn().map_err(|err| RunError::Spawn {
        program: program.clone(),
        err,
    })?;
    // Drop our copies of the pipe's write end (held by `cmd`), so EOF comes
    // when the child's tree closes it.
    drop(cmd);
    let pgid = child.id() as i32;

    if let (Some(text), Some(mut stdin)) = (spec.stdin.clone(), child.stdin.take()) {
        std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }

    let wait = Arc::new(Mutex::new(WaitState {
        status: None,
        ended_at: None,
    }));
    let waiter = {
        let wait = wait.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            // Whatever the command left in its group goes with it.
            signal_group(pgid, Signal::SIGKILL);
            let mut w = wait.lock().unwrap();
            w.status = status.ok();
            w.ended_at = Some(Instant::now());
        })
    };

    let started = Instant::now();
    let deadline = spec.timeout.map(|t| started + t);
    let mut timed_out = false;
    let mut aborted = false;
    let mut kill_at: Option<Instant> = None;
    let mut abandoned = false;

    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Stop and timeout: TERM the group, KILL it after a grace period.
        let now = Instant::now();
        if kill_at.is_none() {
            let cancelled = spec.cancel.as_ref().is_some_and(CancelToken::is_cancelled);
            let expired = deadline.is_some_and(|d| now >= d);
            if cancelled || expired {
                aborted = cancelled;
                timed_out = !cancelled && expired;
                signal_group(pgid, Signal::SIGTERM);
                kill_at = Some(now + KILL_GRACE);
            }
        } else if kill_at.is_some_and(|k| now >= k) {
            signal_group(pgid, Signal::SIGKILL);
        }

        let ready = {
            let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::from(POLL_INTERVAL_MS)) {
                Ok(n) => n > 0,
                Err(nix::errno::Errno::EINTR) => false,
                Err(e) => return Err(io_err(std::io::Error::from(e))),
            }
        };
        if ready {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err(e)),
            };
            if n == 0 {
                break;
            }
            splitter.push(&buf[..n], &mut handler);
            handler.idle();
        } else {
            handler.idle();
            if let Some(ended) = wait.lock().unwrap().ended_at
                && ended.elapsed() > DRAIN_GRACE
            {
                abandoned = true;
                break;
            }
        }
    }
    splitter.finish(&mut handler);
    let _ = waiter.join();

    let status = wait.lock().unwrap().status;
    let (exit_code, signal) = match status {
        Some(s) => (s.code(), s.signal()),
        None => (None, None),
    };
    Ok(Outcome {
        exit_code,
        signal,
        timed_out,
        aborted,
        last_line: splitter.last_line(),
        tail: splitter.tail_string(),
        output_abandoned: abandoned,
    })
}

/// Splits a byte stream into lines, remembering the last line and a tail.
///
/// The tail is the raw stream, appended once per read rather than once per
/// line, and the last line is copied only for the last line of each read:
/// a build printing a million short lines pays for neither per line.
#[derive(Default)]
struct LineSplitter {
    partial: Vec<u8>,
    /// The last line, as raw bytes (decoded once, at the end).
    last: Vec<u8>,
    /// The end of the raw output; trimmed to [`TAIL_BYTES`] only when it
    /// has grown to twice that. Normalised by [`LineSplitter::tail_string`].
    tail: Vec<u8>,
}

impl LineSplitter {
    /// Passes one line on; `remember` keeps it (its last piece) as the last
    /// line.
    fn emit(&mut self, bytes: &[u8], remember: bool, on_line: &mut impl OutputHandler) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let mut last = bytes;
        if bytes.len() <= MAX_LINE_BYTES {
            Self::emit_one(bytes, on_line);
        } else {
            for piece in bytes.chunks(MAX_LINE_BYTES) {
                Self::emit_one(piece, on_line);
                last = piece;
            }
        }
        if remember {
            self.last.clear();
            self.last.extend_from_slice(last);
        }
    }

    fn emit_one(bytes: &[u8], on_line: &mut impl OutputHandler) {
        // Valid UTF-8 without NUL (nearly every line) is passed as is;
        // invalid sequences and NUL bytes become U+FFFD, so filters,
        // `vespene/set` and both database backends see the same text.
        match std::str::from_utf8(bytes) {
            Ok(line) if memchr::memchr(0, bytes).is_none() => on_line.line(line),
            Ok(line) => on_line.line(&crate::db::output::storable(line)),
            Err(_) => on_line.line(&crate::db::output::storable(&String::from_utf8_lossy(
                bytes,
            ))),
        }
    }

    fn push(&mut self, data: &[u8], on_line: &mut impl OutputHandler) {
        self.tail.extend_from_slice(data);
        if self.tail.len() > 2 * TAIL_BYTES {
            self.tail.drain(..self.tail.len() - TAIL_BYTES);
        }
        // The line ending at the read's last newline is the one to remember.
        let last_end = memchr::memrchr(b'\n', data);
        let mut rest = data;
        let mut offset = 0;
        while let Some(pos) = memchr::memchr(b'\n', rest) {
            let remember = last_end == Some(offset + pos);
            if self.partial.is_empty() {
                self.emit(&rest[..pos], remember, on_line);
            } else {
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&rest[..pos]);
                self.emit(&line, remember, on_line);
                line.clear();
                self.partial = line;
            }
            rest = &rest[pos + 1..];
            offset += pos + 1;
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() >= MAX_LINE_BYTES {
            let rest = self.partial.split_off(MAX_LINE_BYTES);
            let line = std::mem::replace(&mut self.partial, rest);
            self.emit(&line, true, on_line);
        }
    }

    fn finish(&mut self, on_line: &mut impl OutputHandler) {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.emit(&line, true, on_line);
        }
    }

    /// The end of the output as lines: `\r\n` read as `\n`, and a final
    /// line without a newline given one.
    fn tail_string(&self) -> String {
        let from = self.tail.len().saturating_sub(TAIL_BYTES);
        let mut text = String::from_utf8_lossy(&self.tail[from..]).replace("\r\n", "\n");
        if !text.is_empty() && !text.ends_with('\n') {
            if text.ends_with('\r') {
                text.pop();
            }
            text.push('\n');
        }
        // Replacement characters may have made it longer than the budget.
        let mut start = text.len().saturating_sub(TAIL_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text.split_off(start)
    }

    fn last_line(&self) -> String {
        String::from_utf8_lossy(&self.last).into_owned()
    }
}

pub mod reaper;

#[cfg(test)]
mod tests;
