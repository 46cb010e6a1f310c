//! A [`TestHost`] whose `run` service really runs the command with
//! `/bin/sh -c`, honours `timeout_secs`, and "streams" the command line and
//! its output into a list of messages, as the real host does.

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use vespene_plugin_api::serde_json;
use vespene_plugin_api::testing::TestHost;
use vespene_plugin_api::{PluginError, RunOutcome, RunRequest, Stream};

/// What the host saw: the requests it served and the build's messages.
#[derive(Debug, Default)]
pub struct Seen {
    pub requests: Vec<RunRequest>,
    pub messages: Vec<String>,
}

pub struct ShellHost {
    pub host: TestHost,
    seen: Arc<Mutex<Seen>>,
}

impl ShellHost {
    pub fn new() -> ShellHost {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let served = seen.clone();
        // The handler runs inside an `extern "C"` callback: it must not
        // panic, so every failure is returned as an error.
        let host = TestHost::new(move |op, args| serve(&served, op, args));
        ShellHost { host, seen }
    }

    pub fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn serve(seen: &Mutex<Seen>, op: &str, args: &str) -> Result<String, PluginError> {
    if op != "run" {
        return Err(PluginError::unsupported(op));
    }
    let request: RunRequest =
        serde_json::from_str(args).map_err(|e| PluginError::invalid_request(e.to_string()))?;
    let shell = request
        .shell
        .clone()
        .ok_or_else(|| PluginError::invalid_request("this test host runs shell commands only"))?;
    let outcome = run_shell(&shell, request.timeout_secs)
        .map_err(|e| PluginError::failed(format!("cannot run /bin/sh: {e}")))?;
    let mut seen = seen.lock().unwrap_or_else(|e| e.into_inner());
    if request.log_command {
        seen.messages.push(format!("$ {shell}"));
    }
    if request.stream == Stream::Messages {
        seen.messages
            .extend(outcome.tail.lines().map(str::to_string));
    }
    seen.requests.push(request);
    Ok(serde_json::to_string(&outcome)?)
}

/// Runs `command` with `/bin/sh -c`, output and errors into one log, and
/// kills it after `timeout_secs`.
fn run_shell(command: &str, timeout_secs: Option<u64>) -> std::io::Result<RunOutcome> {
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let log_path = std::env::temp_dir().join(format!(
        "vespene-triggers-command-{}-{}.log",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    ));
    let log = File::create(&log_path)?;
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    let deadline = timeout_secs.map(|s| Instant::now() + Duration::from_secs(s));
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            child.kill()?;
            child.wait()?;
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let tail = std::fs::read_to_string(&log_path)?;
    std::fs::remove_file(&log_path)?;
    Ok(RunOutcome {
        exit_code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| s.signal()),
        timed_out: status.is_none(),
        aborted: false,
        last_line: tail.lines().last().unwrap_or_default().to_string(),
        tail,
    })
}
