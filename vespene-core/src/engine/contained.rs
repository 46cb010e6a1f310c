//! Running builds in a runner child process (`vespene __run-build`), so
//! that a plugin call that crashes, calls `exit` or hangs fails that build
//! only (`[worker] contain_plugin_calls`, on by default).
//!
//! The worker claims the build, watches it (heartbeats, stop requests) and
//! hands it to its runner child, which leads a process group of its own.
//! The child runs the build as the worker would ([`runner::run_claimed`])
//! with two differences: every line of output and messages goes at once
//! through a pipe (descriptor 3) to the worker, which batches it into the
//! database, so nothing printed before a crash is lost; and every plugin
//! call is made inside a [`CallGuard`], so a crash, an `exit` or a passed
//! deadline is reported by call before the child dies (see [`call_guard`]).
//!
//! One child serves many builds, one at a time: it loads the settings,
//! the plugins and a database pool once. It is replaced by a fresh one
//! after it dies or is killed (a crash, a hung call, a stop that did not
//! end in time), after a build that was stopped (a call cut short by a
//! stop may leave its plugin in a state of its own), after a build whose
//! runner failed (`F`), and after [`BUILDS_PER_CHILD`] builds. What a
//! reused child keeps, and why that is safe, is in ARCHITECTURE.md.
//!
//! Child → worker, one message a line: `O<line>` / `M<line>` (output,
//! messages), `S` (store everything before the build is recorded as ended;
//! answered `synced` or `lost <why>` on the child's standard input),
//! `P<n>` (post trigger `n` starts; `P-` once they are done), `T<secs>` (the
//! script phase starts the project's timeout; `T-` it is over), `K<call>[\t<why>]`
//! (the call that is killing the child), `F<why>` (the child's own failure,
//! a message; the child exits after it), `D[<status>]` (this part of the
//! build is done, and after the whole build the status it recorded; the
//! child waits for its next `run` line). Log lines, `T-` and `P-` are held
//! back and written with the next message of another kind (fewer wake-ups
//! of the worker per build). A child that said nothing but `F`
//! never began the build, and another child is started for it. Worker →
//! child: `run\t…` lines (the claimed build itself, so the child need not
//! read it again), `stop\t<build>`, and the answers to `S`.
//!
//! The worker backs up the child's own limits: a child still running
//! [`STOP_BACKSTOP`] past the stop's grace, or [`TIMEOUT_BACKSTOP`] past the
//! project's timeout before it recorded the build's end (unless the script
//! phase was over in time), has its process group killed; the latter build
//! ends as a timed-out one.
//!
//! A child that dies before the build is recorded as ended: the worker
//! records FAILURE (ABORTED when stopped) with the reason, then a fresh
//! child runs the failure triggers. One that dies in a post trigger: a
//! fresh child runs the triggers after it and the pipeline.

#![allow(unsafe_code)]

use super::EngineError;
use super::call_guard::{self, STOP_GRACE};
use super::claim::Claimer;
use super::held::Held;
use super::log::{BuildLog, FilterChain, LogStore};
use super::runner::{self, Ending, RunnerIo};
use super::store::DbLogStore;
use super::wake::Listener;
use crate::app::App;
use crate::db::builds::{self, Build, BuildStatus};
use crate::plugins::scanner::signal_name;
use crate::process::CancelToken;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vespene_plugin_api::Stream;

/// The hidden subcommand of the runner child.
pub const SUBCOMMAND: &str = "__run-build";

/// The descriptor of the child's message pipe.
const PIPE_FD: i32 = 3;

/// The descriptor of the worker's control pipe to the child: `run` lines
/// and the answers to `S`, read by the child's main thread itself (through
/// standard input's reader thread they cost one more wake-up each).
const CONTROL_FD: i32 = 4;

/// How long the worker waits, after a stop, beyond the child's own grace.
const STOP_BACKSTOP: Duration = Duration::from_secs(5);

/// How long the worker lets a build run past its project's timeout before
/// it kills the runner child itself: beyond the child's own kill of the
/// script (TERM, KILL 3 s later, 2 s of output drain), its isolation's
/// clean-up, and the 30 s its `execute` call is given to answer.
const TIMEOUT_BACKSTOP: Duration = Duration::from_secs(40);

/// What a runner child is asked to do.
#[derive(Debug, Clone)]
pub struct ChildArgs {
    pub build_id: i64,
    pub claimed_by: String,
    pub worker_id: i64,
    pub build_root: std::path::PathBuf,
    /// What to run: the whole build, as the claim read it (the child need
    /// not read it again), or only what follows its end.
    pub part: Part,
}

/// The part of a build a runner child is handed.
#[derive(Debug, Clone)]
pub enum Part {
    /// From the start: the claimed build.
    Whole(Box<Build>),
    /// What follows the end, from this post trigger on.
    PostFrom(usize),
}

impl ChildArgs {
    /// The `run` line that hands the child its build: tab-separated words,
    /// the last one the claimed build as JSON (which escapes every tab and
    /// newline) or `post` and the first post trigger to run.
    fn to_line(&self) -> String {
        let mut a = vec![
            "run".to_string(),
            self.build_id.to_string(),
            self.claimed_by.clone(),
            self.worker_id.to_string(),
            self.build_root.display().to_string(),
        ];
        match &self.part {
            Part::Whole(build) => a.push(serde_json::to_string(build).unwrap_or_default()),
            Part::PostFrom(from) => a.push(format!("post{from}")),
        }
        a.join("\t") + "\n"
    }

    /// Parses the words of a `run` line after `run`.
    fn parse(args: &[String]) -> Result<ChildArgs, String> {
        let bad = || {
            "expected: run BUILD CLAIMED_BY WORKER ROOT (BUILD_JSON | postFROM), tab-separated"
                .to_string()
        };
        let [id, claimed_by, worker, root, part] = args else {
            return Err(bad());
        };
        let part = match part.strip_prefix("post") {
            Some(from) => Part::PostFrom(from.parse().map_err(|_| bad())?),
            None => Part::Whole(Box::new(
                serde_json::from_str(part).map_err(|e| format!("the claimed build: {e}"))?,
            )),
        };
        Ok(ChildArgs {
            build_id: id.parse().map_err(|_| bad())?,
            claimed_by: claimed_by.clone(),
            worker_id: worker.parse().map_err(|_| bad())?,
            build_root: root.clone().into(),
            part,
        })
    }
}

// ---------------------------------------------------------------- worker

/// How one runner child ended.
#[derive(Debug, Default)]
struct ChildEnd {
    done: bool,
    /// The call it reported (`K`), and why, if it said.
    call: Option<(String, Option<String>)>,
    /// The last post trigger it started; `Some(usize::MAX)` when they were
    /// all done.
    post: Option<usize>,
    status: Option<std::process::ExitStatus>,
    /// Why the worker killed it, if it did.
    killed: Option<String>,
    /// It could not be started.
    spawn_error: Option<String>,
    /// It said anything of the build (`F`, its own failure, does not
    /// count): a child that dies before that never ran any part of it.
    heard: bool,
    /// When the project's timeout runs out (`T`), and its minutes.
    deadline: Option<(Instant, i32)>,
    /// The worker killed it for running past that deadline.
    timed_out: bool,
    /// The status the child recorded for the build, which it says with
    /// `D` after running the whole build.
    recorded: Option<BuildStatus>,
}

impl ChildEnd {
    /// "trigger plugin 'x' (execute_hook) crashed with SIGSEGV".
    fn reason(&self) -> String {
        if let Some(e) = &self.spawn_error {
            return format!("cannot start the build's runner process: {e}");
        }
        let how = match (&self.call, &self.killed, self.status) {
            (Some((_, Some(why))), _, _) => why.clone(),
            (_, Some(why), _) => why.clone(),
            (_, _, Some(s)) => match (s.signal(), s.code()) {
                (Some(sig), _) => format!("crashed with {}", signal_name(sig)),
                (None, Some(code)) => format!("ended the process with exit status {code}"),
                _ => "ended the process".into(),
            },
            _ => "ended the process".into(),
        };
        match &self.call {
            Some((call, _)) => format!("{call} {how}"),
            None => format!("the build's runner process {how}"),
        }
    }
}

/// Everything the worker shares with its watcher for one build.
struct Supervisor<'a> {
    app: &'a App,
    who: &'a Claimer,
    build_id: i64,
    log: BuildLog<Box<dyn LogStore>>,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    stopped_at: Arc<Mutex<Option<Instant>>>,
}

impl Supervisor<'_> {
    /// Hands one part of the build to the worker's runner child (a fresh
    /// one when there is none alive) and relays its log until it is done
    /// or dies. A child that is done and safe to reuse is kept for the
    /// next build.
    fn supervise(&mut self, part: Part) -> ChildEnd {
        let mut end = ChildEnd::default();
        let args = ChildArgs {
            build_id: self.build_id,
            claimed_by: self.who.claimed_by.clone(),
            worker_id: self.who.worker_id,
            build_root: self.who.build_root.clone(),
            part,
        };
        let kept = RUNNER
            .lock()
            .unwrap()
            .take()
            .filter(|r| r.builds < BUILDS_PER_CHILD)
            .and_then(|mut r| {
                let alive = r.child.try_wait().is_ok_and(|s| s.is_none());
                if !alive {
                    retire(r);
                    return None;
                }
                Some(r)
            });
        let mut runner = match kept.map_or_else(|| spawn(self.app), Ok) {
            Ok(r) => r,
            Err(e) => {
                end.spawn_error = Some(e.to_string());
                return end;
            }
        };
        runner.builds += 1;
        let pgid = runner.child.id() as i32;
        let _ = runner.control.write_all(args.to_line().as_bytes());
        *self.stdin.lock().unwrap() = runner.child.stdin.take();
        if self.stopped_at.lock().unwrap().is_some() {
            self.tell_stop();
        }
        let mut exited_at: Option<Instant> = None;
        loop {
            match runner.read(Duration::from_millis(100)) {
                Heard::Lines(lines) => {
                    // Checked as UTF-8 once per chunk, not once per line.
                    let text = String::from_utf8_lossy(&lines);
                    for line in text.strip_suffix('\n').unwrap_or(&text).split('\n') {
                        self.handle(line, &mut end, &mut runner.control);
                        if end.done {
                            break;
                        }
                    }
                    if end.done {
                        break;
                    }
                    self.log.tick();
                }
                Heard::Closed => break,
                Heard::Quiet => self.log.tick(),
            }
            // Whether the child is still there: once per read (a chunk of
            // lines) or quiet 100 ms.
            if exited_at.is_none()
                && let Ok(Some(status)) = runner.child.try_wait()
            {
                end.status = Some(status);
                exited_at = Some(Instant::now());
            }
            // Something the child started keeps the pipe open: its group
            // goes, and what is left is read no longer.
            if exited_at.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
                kill_group(pgid);
                break;
            }
            let stop_overdue = self
                .stopped_at
                .lock()
                .unwrap()
                .is_some_and(|t| t.elapsed() > STOP_GRACE + STOP_BACKSTOP);
            if exited_at.is_none() && stop_overdue && end.killed.is_none() {
                end.killed = Some(format!(
                    "did not end within {} s of the stop and was killed",
                    (STOP_GRACE + STOP_BACKSTOP).as_secs()
                ));
                kill_group(pgid);
            }
            // The project's timeout, should the child's own enforcement of
            // it stall: until the build is recorded as ended (`P`), which
            // the child does right after it kills the script.
            let timeout_overdue = end
                .deadline
                .is_some_and(|(at, _)| Instant::now() > at + TIMEOUT_BACKSTOP);
            if exited_at.is_none() && timeout_overdue && end.post.is_none() && end.killed.is_none()
            {
                end.timed_out = true;
                end.killed = Some(format!(
                    "was still running {} s after the project's timeout and was killed",
                    TIMEOUT_BACKSTOP.as_secs()
                ));
                kill_group(pgid);
            }
        }
        // No stop reaches the child from here on; one that did before
        // was noted first (see `run_build`'s `on_stop`).
        runner.child.stdin = self.stdin.lock().unwrap().take();
        let stopped = self.stopped_at.lock().unwrap().is_some();
        if end.done && !stopped && end.status.is_none() && end.killed.is_none() {
            *RUNNER.lock().unwrap() = Some(runner);
        } else {
            if end.status.is_none() && !end.done {
                // It died (its pipe closed): how.
                kill_group(pgid);
                end.status = runner.child.wait().ok();
            }
            retire(runner);
        }
        end
    }

    /// One message of the child; an answer goes back on `control`.
    fn handle(&mut self, line: &str, end: &mut ChildEnd, control: &mut std::fs::File) {
        // The tag is one ASCII byte: the rest starts on a char boundary.
        let text = line.get(1..).unwrap_or_default();
        end.heard |= line.as_bytes().first() != Some(&b'F');
        match line.as_bytes().first() {
            Some(b'F') => self.log.relayed(Stream::Messages, text),
            Some(b'O') => self.log.relayed(Stream::Output, text),
            Some(b'M') => self.log.relayed(Stream::Messages, text),
            Some(b'S') => {
                let answer = match self.log.sync() {
                    Ok(()) => "synced\n".to_string(),
                    Err(e) => format!("lost {}\n", e.replace('\n', " ")),
                };
                let _ = control.write_all(answer.as_bytes());
            }
            Some(b'P') => end.post = Some(text.parse().unwrap_or(usize::MAX)),
            Some(b'K') => {
                let (call, why) = match text.split_once('\t') {
                    Some((c, w)) => (c.to_string(), Some(w.to_string())),
                    None => (text.to_string(), None),
                };
                end.call = Some((call, why));
            }
            Some(b'D') => {
                end.done = true;
                end.recorded = BuildStatus::parse(text);
            }
            // The script phase is over in time: what follows is bounded by
            // the call deadlines and the orphan deadline, not the timeout
            // (a slow database must not turn a success into a timeout).
            Some(b'T') if text == "-" => {
                end.deadline = end.deadline.filter(|(at, _)| Instant::now() >= *at);
            }
            Some(b'T') => {
                let secs: u64 = text.parse().unwrap_or(0);
                let minutes = i32::try_from(secs / 60).unwrap_or(i32::MAX);
                end.deadline = Some((Instant::now() + Duration::from_secs(secs), minutes));
            }
            _ => {}
        }
    }

    fn tell_stop(&self) {
        if let Some(stdin) = self.stdin.lock().unwrap().as_mut() {
            let _ = stdin.write_all(format!("stop\t{}\n", self.build_id).as_bytes());
        }
    }

    fn message(&mut self, text: &str) {
        for line in text.lines() {
            self.log.relayed(Stream::Messages, line);
        }
    }
}

fn kill_group(pgid: i32) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(pgid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// A runner child and the pipe of the messages it sends.
struct Runner {
    child: std::process::Child,
    /// The read end of its message pipe, read by the supervising thread
    /// itself (a reader thread in between cost a wake-up per message).
    pipe: std::fs::File,
    /// Read, not yet handled: at most one partial line between reads.
    carry: Vec<u8>,
    /// Where each read lands first.
    chunk: Box<[u8]>,
    /// The write end of its control pipe (`run` lines, answers).
    control: std::fs::File,
    /// Builds (or parts of one) it was handed.
    builds: u32,
}

/// A child that served this many builds is replaced: whatever a plugin
/// leaks per call stays bounded.
const BUILDS_PER_CHILD: u32 = 1000;

/// The worker's runner child between builds, waiting for its next `run`
/// line (it exits at the end of its control pipe, with the worker).
/// Only the worker loop's thread starts runners (see [`spawn`]).
static RUNNER: Mutex<Option<Runner>> = Mutex::new(None);

/// Ends a runner child and everything in its process group.
fn retire(mut runner: Runner) {
    kill_group(runner.child.id() as i32);
    drop(runner.child.stdin.take());
    let _ = runner.child.wait();
}

/// Starts a runner child; its messages arrive on [`Runner::pipe`]. It
/// waits for its `run` line.
fn spawn(app: &App) -> std::io::Result<Runner> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let (control_read, control) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // The ends the child keeps, moved above 4, so neither `dup2` below
    // overwrites the other's source.
    let above = |fd: OwnedFd| -> std::io::Result<OwnedFd> {
        let high = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(10))?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor of our own.
        Ok(unsafe { OwnedFd::from_raw_fd(high) })
    };
    let (write, control_read) = (above(write)?, above(control_read)?);
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--settings-dir")
        .arg(&app.settings.settings_dir)
        .arg(SUBCOMMAND)
        .stdin(Stdio::piped())
        .process_group(0);
    let raw = write.as_raw_fd();
    let raw_control = control_read.as_raw_fd();
    let worker = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: dup2, prctl and getppid are async-signal-safe; the new
    // descriptors 3 and 4 are not close-on-exec, so the child keeps them.
    // The child
    // dies with its worker (the worker loop's thread, which lives as long
    // as the worker): a SIGKILLed worker's build is the sweep's to orphan,
    // and no runner may go on recording it behind the sweep's back.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, PIPE_FD) < 0 || libc::dup2(raw_control, CONTROL_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::getppid() != worker {
                // The worker died before the line above took effect.
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop((write, control_read));
    Ok(Runner {
        child,
        pipe: std::fs::File::from(read),
        carry: Vec::new(),
        chunk: vec![0u8; 64 * 1024].into_boxed_slice(),
        control: std::fs::File::from(control),
        builds: 0,
    })
}

/// What [`Runner::read`] found.
enum Heard {
    /// Whole lines (each ending in `\n`), as many as had arrived.
    Lines(Vec<u8>),
    /// Nothing within the wait.
    Quiet,
    /// The end of the pipe: the child and all it started are gone.
    Closed,
}

impl Runner {
    /// Waits up to `wait` for messages from the child.
    fn read(&mut self, wait: Duration) -> Heard {
        let mut fds = [PollFd::new(self.pipe.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(wait.as_millis()).unwrap_or(u16::MAX);
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Heard::Quiet,
            Ok(_) => {}
            Err(_) => return Heard::Closed,
        }
        let n = match self.pipe.read(&mut self.chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Heard::Quiet,
            Err(_) => 0,
        };
        if n == 0 {
            // A last line without its newline still counts.
            if self.carry.is_empty() {
                return Heard::Closed;
            }
            let mut last = std::mem::take(&mut self.carry);
            last.push(b'\n');
            return Heard::Lines(last);
        }
        self.carry.extend_from_slice(&self.chunk[..n]);
        match memchr::memrchr(b'\n', &self.carry) {
            Some(end) => {
                let rest = self.carry.split_off(end + 1);
                Heard::Lines(std::mem::replace(&mut self.carry, rest))
            }
            None => Heard::Quiet,
        }
    }
}

/// Runs claimed build `build` in runner children and records it whatever
/// they do. The worker's wake-up listener serves the build's watcher
/// meanwhile and is handed back.
pub fn run_build(
    app: &App,
    who: &Claimer,
    build: Build,
    listener: Box<dyn Listener>,
) -> (Result<BuildStatus, EngineError>, Box<dyn Listener>) {
    let Some(project_id) = build.project_id else {
        // Nothing of a plugin's runs for it.
        return runner::run_build(app, who, build, listener);
    };
    let id = build.id;
    let stdin: Arc<Mutex<Option<ChildStdin>>> = Arc::default();
    let stopped_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    let on_stop: Arc<dyn Fn() + Send + Sync> = {
        let stdin = stdin.clone();
        let stopped_at = stopped_at.clone();
        Arc::new(move || {
            stopped_at.lock().unwrap().get_or_insert_with(Instant::now);
            // Noted before it is sent: a child that heard of a stop is
            // never reused (see `Supervisor::supervise`).
            if let Some(s) = stdin.lock().unwrap().as_mut() {
                let _ = s.write_all(format!("stop\t{id}\n").as_bytes());
            }
        })
    };
    let finish_watch = runner::watch(app, id, listener, CancelToken::new(), on_stop);
    let patience = Duration::from_secs(app.settings.worker.orphan_after_seconds.max(1));
    let store: Box<dyn LogStore> = Box::new(DbLogStore::spawn(&app.db, &app.waker, id, patience));
    let mut sup = Supervisor {
        app,
        who,
        build_id: id,
        log: BuildLog::new(FilterChain::new(Vec::new()), store),
        stdin,
        stopped_at,
    };
    let result = contain(&mut sup, project_id, build);
    let (mut store, _) = sup.log.finish();
    if let Err(e) = store.close() {
        tracing::error!("build {id}: part of its output could not be stored: {e}");
    }
    // A child that could not be kept is replaced now, so the next build
    // finds one ready (after the leftovers were killed: it is a child too).
    let mut kept = RUNNER.lock().unwrap();
    if kept.is_none() {
        match spawn(app) {
            Ok(fresh) => *kept = Some(fresh),
            Err(e) => tracing::warn!("cannot start a runner process: {e}"),
        }
    }
    drop(kept);
    (result, finish_watch())
}

fn contain(
    sup: &mut Supervisor<'_>,
    project_id: i64,
    build: Build,
) -> Result<BuildStatus, EngineError> {
    let app = sup.app;
    let id = sup.build_id;
    let mut end = sup.supervise(Part::Whole(Box::new(build.clone())));
    // A child that died before it began the build (the database was away
    // while it started, say) ran nothing of it: another one tries, until
    // the orphan deadline, unless the build is being stopped.
    let patience =
        Instant::now() + Duration::from_secs(app.settings.worker.orphan_after_seconds.max(1));
    let mut pause = Duration::from_millis(200);
    while !end.done
        && !end.heard
        && end.spawn_error.is_none()
        && sup.stopped_at.lock().unwrap().is_none()
        && Instant::now() + pause < patience
    {
        tracing::warn!(
            "build {id}: not begun ({}); starting another runner",
            end.reason()
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(5));
        end = sup.supervise(Part::Whole(Box::new(build.clone())));
    }
    if let (true, Some(status)) = (end.done, end.recorded) {
        return Ok(status);
    }
    if !end.done {
        let reason = end.reason();
        tracing::warn!("build {id}: {reason}");
        let mut conn = app.db.conn()?;
        let status = builds::status_of(&mut conn, id)?;
        drop(conn);
        let mut next = Some(0);
        if matches!(status, BuildStatus::Running | BuildStatus::Aborting) {
            let stopped =
                status == BuildStatus::Aborting || sup.stopped_at.lock().unwrap().is_some();
            // The output says why as the child's own endings do: a stop
            // says "build stopped by request" however the child ended.
            let (ending, said) = match end.deadline {
                _ if stopped => {
                    let said = format!("build stopped by request: {reason}");
                    (Ending::aborted(said.clone()), said)
                }
                // As the child would have ended it, and why it did not.
                Some((_, minutes)) if end.timed_out => (
                    runner::timed_out(minutes),
                    format!("{}; {reason}", runner::timeout_text(minutes)),
                ),
                _ => (Ending::failure(reason.clone(), -1), reason.clone()),
            };
            sup.log.relayed(Stream::Output, &said);
            sup.message(&said);
            let lost = sup
                .log
                .sync()
                .err()
                .map(|e| format!("part of the build's output could not be stored: {e}"));
            runner::record_ending(app, id, project_id, ending, lost, "{}", &Default::default())?;
        } else {
            sup.message(&reason);
            // Go on after the post trigger that died; not again into a
            // pipeline evaluation that did.
            next = match end.post {
                Some(usize::MAX) => None,
                Some(i) => Some(i + 1),
                None => Some(0),
            };
        }
        kill_leftovers(sup);
        while let Some(from) = next {
            let end = sup.supervise(Part::PostFrom(from));
            if end.done {
                break;
            }
            let reason = end.reason();
            sup.message(&reason);
            next = match end.post {
                Some(i) if i != usize::MAX && i >= from => Some(i + 1),
                _ => None,
            };
        }
        kill_leftovers(sup);
        if !app.settings.keep_build_roots {
            let _ = super::buildroot::remove(&sup.who.working_dir(id));
        }
    }
    let mut conn = app.db.conn()?;
    Ok(builds::status_of(&mut conn, id)?)
}

/// Kills what dead runner children left behind; the kept runner, a child
/// of the worker too, goes first (a fresh one replaces it).
fn kill_leftovers(sup: &mut Supervisor<'_>) {
    if let Some(runner) = RUNNER.lock().unwrap().take() {
        retire(runner);
    }
    let left = crate::process::reaper::kill_leftovers();
    if left.killed > 0 {
        sup.message(&format!(
            "[vespene] killed {} process{} the build left behind",
            left.killed,
            if left.killed == 1 { "" } else { "es" }
        ));
    }
}

// ----------------------------------------------------------------- child

/// The child's end of the message pipe. Log lines are held back (see
/// [`super::held`]) and written together at each [`LogStore::idle`]; every
/// other message first writes the lines held before it.
struct PipeWriter {
    file: std::fs::File,
    held: Held,
}

/// How many bytes of log lines a runner child holds back at most (a
/// pipe's whole buffer).
const HELD_BYTES: usize = 64 * 1024;

impl PipeWriter {
    /// One line of the stream `tag` names.
    fn line(&mut self, tag: u8, line: &[u8]) -> std::io::Result<()> {
        let end: &[u8] = if line.ends_with(b"\n") { b"" } else { b"\n" };
        self.hold(&[&[tag], line, end])
    }

    /// Holds the concatenation of `parts` (whole lines) after the lines
    /// held before it; when it does not fit, those are written first, and
    /// what is larger than the whole buffer is written at once.
    fn hold(&mut self, parts: &[&[u8]]) -> std::io::Result<()> {
        if self.held.push(parts) {
            return Ok(());
        }
        self.send_held()?;
        if !self.held.push(parts) {
            self.file.write_all(&parts.concat())?;
        }
        Ok(())
    }

    fn send_held(&mut self) -> std::io::Result<()> {
        let file = &mut self.file;
        self.held.drain(|bytes| file.write_all(bytes))
    }

    /// A message of its own (`S`, `P`, `T`, `D`, `F`), after the held
    /// lines: in the same write when it fits (one wake-up of the worker).
    fn message(&mut self, text: &[u8]) -> std::io::Result<()> {
        self.hold(&[text])?;
        self.send_held()
    }
}

fn pipe_error(e: std::io::Error) -> String {
    format!("the worker no longer reads the build's log: {e}")
}

/// The child's end of the control pipe: `run` lines and the answers to
/// `S`, read by the thread that runs the builds.
type Control = Arc<Mutex<std::io::BufReader<std::fs::File>>>;

/// The next line on the control pipe, without its newline; `None` at its
/// end (the worker is gone).
fn next_line(control: &Control) -> Option<String> {
    let mut line = String::new();
    match control.lock().unwrap().read_line(&mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            line.truncate(line.trim_end_matches('\n').len());
            Some(line)
        }
    }
}

/// The child's end of the message pipe, as a log store.
struct PipeStore {
    pipe: Arc<Mutex<PipeWriter>>,
    control: Control,
}

impl LogStore for PipeStore {
    fn append(&mut self, stream: Stream, text: &mut String) -> Result<(), String> {
        let tag = match stream {
            Stream::Output => b'O',
            Stream::Messages => b'M',
            Stream::None => {
                text.clear();
                return Ok(());
            }
        };
        let mut pipe = self.pipe.lock().unwrap();
        // Whole lines, each ending in `\n` (see `LogStore::append`).
        for line in text.as_bytes().split_inclusive(|b| *b == b'\n') {
            pipe.line(tag, line).map_err(pipe_error)?;
        }
        text.clear();
        Ok(())
    }

    fn idle(&mut self) -> Result<(), String> {
        self.pipe.lock().unwrap().send_held().map_err(pipe_error)
    }

    fn sync(&mut self) -> Result<(), String> {
        self.pipe
            .lock()
            .unwrap()
            .message(b"S\n")
            .map_err(pipe_error)?;
        match next_line(&self.control) {
            Some(a) if a == "synced" => Ok(()),
            Some(a) => Err(a.strip_prefix("lost ").unwrap_or(&a).to_string()),
            None => Err("the worker stopped answering".into()),
        }
    }
}

/// The build a runner child is running, for its standard input's reader.
struct Current {
    build_id: i64,
    cancel: CancelToken,
    on_stop: Arc<dyn Fn() + Send + Sync>,
    stopping: bool,
}

/// Reads the worker's stops on standard input: `stop\t<build>` stops that
/// build if it is the current one (a late stop never reaches another
/// build).
fn read_stops(current: Arc<Mutex<Option<Current>>>) -> Result<(), EngineError> {
    std::thread::Builder::new()
        .name("runner-stdin".into())
        .spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("stop\t") {
                    let mut current = current.lock().unwrap();
                    if let Some(c) = current.as_mut()
                        && c.build_id.to_string() == id
                        && !c.stopping
                    {
                        c.stopping = true;
                        call_guard::note_stop();
                        c.cancel.cancel();
                        let on_stop = c.on_stop.clone();
                        drop(current);
                        on_stop();
                    }
                }
            }
        })
        .map_err(|e| EngineError::Worker(e.to_string()))?;
    Ok(())
}

/// The runner child: serves `run` lines, one build (or part of one) at a
/// time, saying `D` after each. The end of its control pipe: exits
/// quietly (its worker stopped). A build whose runner failed: says `F`
/// and exits (the worker starts another child).
pub fn child_main(app: &App) -> Result<(), EngineError> {
    let fd = inherited(PIPE_FD, "runner pipe")?;
    let control: Control = Arc::new(Mutex::new(std::io::BufReader::new(std::fs::File::from(
        inherited(CONTROL_FD, "runner control pipe")?,
    ))));
    let held = Held::once(HELD_BYTES)
        .ok_or_else(|| EngineError::Worker("runner child started twice".into()))?;
    let pipe = Arc::new(Mutex::new(PipeWriter {
        file: std::fs::File::from(fd),
        held,
    }));
    call_guard::install(PIPE_FD);
    if let Err(e) = crate::process::reaper::become_subreaper() {
        tracing::warn!("cannot become a child subreaper ({e})");
    }
    let current: Arc<Mutex<Option<Current>>> = Arc::default();
    read_stops(current.clone())?;
    let mut result = Ok(());
    while let Some(line) = next_line(&control) {
        // Anything else is an answer no `S` waits for any more.
        let Some(line) = line.strip_prefix("run\t") else {
            continue;
        };
        let words: Vec<String> = line.split('\t').map(String::from).collect();
        let args = ChildArgs::parse(&words).map_err(EngineError::Worker);
        let served = args.and_then(|args| serve(app, args, &pipe, &current, &control));
        *current.lock().unwrap() = None;
        let mut pipe = pipe.lock().unwrap();
        match served {
            Ok(status) => {
                let word = status.map_or("", BuildStatus::as_str);
                let _ = pipe.message(format!("D{word}\n").as_bytes());
            }
            Err(e) => {
                let _ = pipe.message(format!("Fthe build's runner failed: {e}\n").as_bytes());
                result = Err(e);
                break;
            }
        }
    }
    call_guard::quiet();
    result
}

/// Descriptor `fd`, which the worker set up for this process alone, taken
/// over and closed on exec (no command of a build inherits it).
fn inherited(fd: i32, what: &str) -> Result<OwnedFd, EngineError> {
    // SAFETY: the worker's `spawn` made `fd` this process's, and it is
    // taken once, here.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    nix::fcntl::fcntl(
        &fd,
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .map_err(|e| EngineError::Worker(format!("{what}: {e}")))?;
    Ok(fd)
}

/// Runs one part of a build in a runner child; for the whole build, the
/// status it recorded. Nothing of one build is left for the next: its
/// cancel token, stop and log are its own, and the call guard starts
/// afresh.
fn serve(
    app: &App,
    args: ChildArgs,
    pipe: &Arc<Mutex<PipeWriter>>,
    current: &Arc<Mutex<Option<Current>>>,
    control: &Control,
) -> Result<Option<BuildStatus>, EngineError> {
    call_guard::begin_build();
    let cancel = CancelToken::new();
    let isolation_request: Arc<Mutex<Option<String>>> = Arc::default();
    // Only what follows the end: the build as it ended, read here.
    let (build, post_from) = match args.part {
        Part::Whole(build) => (*build, None),
        Part::PostFrom(from) => {
            let mut conn = app.db.conn()?;
            (builds::get(&mut conn, args.build_id)?, Some(from))
        }
    };
    let on_stop = runner::isolation_abort(app, build.worker_pool_id, isolation_request.clone());
    *current.lock().unwrap() = Some(Current {
        build_id: args.build_id,
        cancel: cancel.clone(),
        on_stop,
        stopping: false,
    });
    let progress_pipe = pipe.clone();
    let io = RunnerIo {
        store: Box::new(PipeStore {
            pipe: pipe.clone(),
            control: control.clone(),
        }),
        unbatched: true,
        // A trigger's start is said at once (a fresh child must not run it
        // again); their end waits for the next message (`D`, or a crash
        // report, which writes what is held first).
        progress: Box::new(move |i| {
            let mut pipe = progress_pipe.lock().unwrap();
            let _ = if i == usize::MAX {
                pipe.line(b'P', b"-")
            } else {
                pipe.message(format!("P{i}\n").as_bytes())
            };
        }),
        // The script phase's start is said at once (the worker's timeout
        // backstop counts from it); its end waits for the `S` that follows.
        timer: {
            let pipe = pipe.clone();
            Box::new(move |secs: Option<u64>| {
                let mut pipe = pipe.lock().unwrap();
                let _ = match secs {
                    Some(s) => pipe.message(format!("T{s}\n").as_bytes()),
                    None => pipe.line(b'T', b"-"),
                };
            })
        },
    };
    let who = Claimer {
        claimed_by: args.claimed_by.clone(),
        worker_id: args.worker_id,
        build_root: args.build_root.clone(),
    };
    match post_from {
        None => runner::run_claimed(app, &who, build, cancel, isolation_request, io).map(Some),
        Some(from) => runner::run_post(app, &who, build, from, io).map(|_| None),
    }
}
