//! `vespene plugins check` of the configured plugins: each entry's
//! `create`, with its configured parameters, runs in a child process of
//! its own (`vespene __check-plugin SECTION NAME`, its own process group)
//! under `[worker] create_call_seconds`, so that one that crashes, calls
//! `exit` or loops is reported and every other entry is still checked.

use super::catalog::Catalog;
use super::host::{HostServices, StandardHost};
use super::registry::{Registry, create_limit};
use super::scanner::{PER_FILE_TIMEOUT, Scanner, signal_name};
use super::{CACHE_FILE, ScanCache, host_info};
use crate::settings::{Section, Settings};
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// The hidden subcommand of the checking child.
pub const CHECK_SUBCOMMAND: &str = "__check-plugin";

/// The child's exit status when `create` answered with an error (the
/// error is its standard output).
const REFUSED: i32 = 2;

/// The exit status of a command whose plugin call passed its deadline
/// (see `call_guard`).
const DEADLINE_EXIT: i32 = 70;

/// What `plugins check` found for one configured entry.
#[derive(Debug, Clone)]
pub struct EntryCheck {
    pub section: Section,
    pub name: String,
    pub plugin: String,
    /// The plugin's file, when it is on the plugin path.
    pub file: Option<PathBuf>,
    /// Why it is bad; `None`: its `create` accepted the parameters.
    pub problem: Option<String>,
}

impl EntryCheck {
    /// "plugin P (entry 'E' of [plugins.S], file F)".
    pub fn subject(&self) -> String {
        format!(
            "plugin {} (entry '{}' of [plugins.{}], file {})",
            self.plugin,
            self.name,
            self.section,
            self.file
                .as_ref()
                .map_or_else(|| "not found".to_string(), |f| f.display().to_string())
        )
    }
}

/// In the child: makes the one instance; 0 when it was made, [`REFUSED`]
/// with the reason on standard output when not. A crash, an `exit` or a
/// passed deadline ends the process (the parent reads how).
pub fn child_main(settings: &Settings, section: &str, name: &str) -> i32 {
    let Some(section) = Section::parse(section) else {
        println!("no plugin section [plugins.{section}]");
        return REFUSED;
    };
    let scanner = match Scanner::current_exe() {
        Ok(s) => s,
        Err(e) => {
            println!("cannot find the vespene executable to run the plugin scanner: {e}");
            return REFUSED;
        }
    };
    let mut cache = ScanCache::load(&settings.data_dir.join(CACHE_FILE));
    let catalog = Catalog::discover(&settings.plugin_dirs(), &mut cache, &scanner);
    let services: Arc<dyn HostServices> = Arc::new(StandardHost {
        info: host_info(settings),
    });
    match Registry::check_entry(settings, section, name, &catalog, &scanner, services) {
        Ok(()) => 0,
        Err(message) => {
            println!("{message}");
            REFUSED
        }
    }
}

/// One checking child under way.
struct Running {
    check: EntryCheck,
    child: Option<Child>,
    stdout: Option<Receiver<String>>,
}

/// Checks every configured entry of `settings`, each in a child started
/// from `exe` (the `vespene` binary) with `global_args` (the settings
/// directory), all at once. Never takes longer than the create deadline
/// plus the time to scan one file and a margin: a child still running then
/// is killed with its process group and reported.
pub fn check_configured(
    settings: &Settings,
    catalog: &Catalog,
    exe: &Path,
    global_args: &[String],
) -> Vec<EntryCheck> {
    let limit = create_limit(settings);
    let backstop = limit + PER_FILE_TIMEOUT + Duration::from_secs(5);
    let started = Instant::now();
    let mut running: Vec<Running> = settings
        .plugins
        .iter()
        .map(|(section, entry)| {
            let check = EntryCheck {
                section,
                name: entry.name.clone(),
                plugin: entry.plugin.clone(),
                file: catalog.find(&entry.plugin).map(|e| e.path.clone()),
                problem: None,
            };
            start(check, exe, global_args)
        })
        .collect();
    for r in &mut running {
        let Some(child) = r.child.as_mut() else {
            continue;
        };
        let status = wait_until(child, started + backstop);
        let pgid = child.id() as i32;
        // What its constructor forked goes with it.
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let status = status.or_else(|| child.wait().ok());
        let said = r
            .stdout
            .take()
            .and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default();
        r.check.problem = reason(status, said.trim(), limit, backstop);
    }
    running.into_iter().map(|r| r.check).collect()
}

fn start(mut check: EntryCheck, exe: &Path, global_args: &[String]) -> Running {
    let mut cmd = Command::new(exe);
    cmd.args(global_args)
        .arg(CHECK_SUBCOMMAND)
        .arg(check.section.to_string())
        .arg(&check.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    match cmd.spawn() {
        Ok(mut child) => {
            let (tx, rx) = channel();
            if let Some(mut out) = child.stdout.take() {
                std::thread::spawn(move || {
                    let mut text = String::new();
                    let _ = out.read_to_string(&mut text);
                    let _ = tx.send(text);
                });
            }
            Running {
                check,
                child: Some(child),
                stdout: Some(rx),
            }
        }
        Err(e) => {
            check.problem = Some(format!("cannot start a checking process: {e}"));
            Running {
                check,
                child: None,
                stdout: None,
            }
        }
    }
}

/// The child's status once it exits, or `None` at `until`.
fn wait_until(child: &mut Child, until: Instant) -> Option<ExitStatus> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// Why an entry is bad, from how its child ended; `None` when it is fine.
fn reason(
    status: Option<ExitStatus>,
    said: &str,
    limit: Duration,
    backstop: Duration,
) -> Option<String> {
    let Some(status) = status else {
        return Some(format!(
            "did not finish within {} s and was killed",
            backstop.as_secs()
        ));
    };
    match (status.code(), status.signal()) {
        (Some(0), _) => None,
        (Some(REFUSED), _) if !said.is_empty() => Some(said.to_string()),
        (Some(DEADLINE_EXIT), _) => Some(format!(
            "create did not return within {} s ([worker] create_call_seconds)",
            limit.as_secs()
        )),
        (_, Some(sig)) => Some(format!("create crashed with {}", signal_name(sig))),
        (Some(code), _) => Some(format!(
            "create ended the process with exit status {code}{}",
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        )),
        (None, None) => Some("create ended the process".into()),
    }
}
