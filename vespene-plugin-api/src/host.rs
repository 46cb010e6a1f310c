//! The plugin's view of the host: services lent through [`VpHost`].
//!
//! Every service is an operation name with JSON arguments, so the table
//! never grows. The typed helpers here are the ones the host implements in
//! this API version.

#![allow(unsafe_code)]

use crate::abi::{VP_OK, VpBuf, VpHost, VpStr};
use crate::error::{ErrorCode, PluginError};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::collections::BTreeMap;

/// Host service operation names.
pub mod ops {
    /// Run a command under the host's process rules, streaming its lines
    /// into the build: [`super::RunRequest`] → [`super::RunOutcome`].
    pub const RUN: &str = "run";
    /// Append text to the build's output or messages: [`super::AppendRequest`].
    pub const APPEND: &str = "append";
    /// Facts about the host: → [`super::HostInfo`].
    pub const INFO: &str = "info";
    /// Whether the build being served was stopped: → [`super::CallStatus`].
    /// Lets a plugin doing long work in-process (a clone) give up early.
    /// Hosts older than this answer "unsupported": read that as "running".
    pub const STATUS: &str = "status";
}

/// Log levels of [`Host::log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LogLevel {
    pub fn from_i32(n: i32) -> LogLevel {
        match n {
            i32::MIN..=1 => LogLevel::Error,
            2 => LogLevel::Warn,
            3 => LogLevel::Info,
            4 => LogLevel::Debug,
            _ => LogLevel::Trace,
        }
    }
}

/// Where the lines of a command go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    /// The build's output (what the build script prints).
    #[default]
    Output,
    /// The build's messages (housekeeping: checkout, triggers, pipeline).
    Messages,
    /// Nowhere; only the tail comes back in the outcome.
    None,
}

/// A command for the host to run. The host runs it in its own process group
/// with a cleaned environment, kills the whole tree on stop or timeout, and
/// passes every line through the output plugins. `vespene/set NAME VALUE`
/// lines set output variables as they would in the build script.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Program and arguments, run directly. Exactly one of `argv` and
    /// `shell` must be given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// A command line for `/bin/sh -c`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
    /// Working directory; defaults to the build root when there is a build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Extra environment variables (the base environment is the host's
    /// cleaned one: PATH, HOME, LANG, USER, SSH_AUTH_SOCK of the build).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// Text written to the command's standard input, which is then closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
    /// Kill the command after this many seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Where its lines go.
    #[serde(default)]
    pub stream: Stream,
    /// Write the command line into the build's messages first.
    #[serde(default)]
    pub log_command: bool,
    /// The command as shown in messages when it differs from what runs
    /// (to hide a password, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

impl RunRequest {
    pub fn shell(command: impl Into<String>) -> RunRequest {
        RunRequest {
            shell: Some(command.into()),
            ..RunRequest::default()
        }
    }

    pub fn argv<I, S>(args: I) -> RunRequest
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RunRequest {
            argv: args.into_iter().map(Into::into).collect(),
            ..RunRequest::default()
        }
    }
}

/// How a command ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutcome {
    /// Exit status when it exited; `None` when a signal ended it.
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Killed because `timeout_secs` passed.
    #[serde(default)]
    pub timed_out: bool,
    /// Killed because the build was stopped.
    #[serde(default)]
    pub aborted: bool,
    /// The last line it printed (revision lookups use it).
    #[serde(default)]
    pub last_line: String,
    /// Up to the last 64 KiB it printed.
    #[serde(default)]
    pub tail: String,
}

impl RunOutcome {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.aborted
    }

    /// One line saying why the command did not succeed.
    pub fn describe_failure(&self, what: &str) -> String {
        if self.aborted {
            format!("{what} was stopped")
        } else if self.timed_out {
            format!("{what} timed out")
        } else if let Some(code) = self.exit_code {
            format!("{what} failed with exit code {code}")
        } else if let Some(sig) = self.signal {
            format!("{what} was killed by signal {sig}")
        } else {
            format!("{what} failed")
        }
    }
}

/// Text to add to the build's output or messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendRequest {
    pub stream: Stream,
    pub text: String,
}

/// Facts about the host, for plugins that need paths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    pub vespene_version: String,
    pub settings_dir: String,
    pub data_dir: String,
    pub build_root: String,
    /// The key file that encrypts secrets at rest.
    pub secrets_key_file: String,
}

/// The state of the call being served ([`ops::STATUS`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CallStatus {
    /// The build was stopped (or its worker is shutting it down): finish
    /// as soon as possible with an error.
    pub stopped: bool,
}

/// The host services lent to an instance. Cheap to copy; valid for the life
/// of the instance.
#[derive(Debug, Clone, Copy)]
pub struct Host {
    raw: *const VpHost,
}

// SAFETY: the host promises its table and callbacks may be used from any
// thread for the life of the instance (see `VpHost`).
unsafe impl Send for Host {}
// SAFETY: as above; the table is never written after creation.
unsafe impl Sync for Host {}

impl Host {
    /// Wraps the table given to `create`. A null pointer yields a host that
    /// answers every service with an error.
    ///
    /// # Safety
    /// `raw` must be null or point to a `VpHost` that outlives every use.
    pub unsafe fn from_raw(raw: *const VpHost) -> Host {
        Host { raw }
    }

    /// The raw table, for handing on.
    pub fn as_raw(&self) -> *const VpHost {
        self.raw
    }

    fn table(&self) -> Option<&VpHost> {
        // SAFETY: `from_raw`'s contract.
        let t = unsafe { self.raw.as_ref()? };
        (t.struct_size as usize >= std::mem::size_of::<VpHost>()).then_some(t)
    }

    /// Logs a line through the host's logger.
    pub fn log(&self, level: LogLevel, message: &str) {
        if let Some(t) = self.table() {
            (t.log)(t.ctx, level as i32, VpStr::new(message));
        }
    }

    /// Calls a host service by name with raw JSON.
    pub fn call_raw(&self, op: &str, args_json: &str) -> Result<String, PluginError> {
        let Some(t) = self.table() else {
            return Err(PluginError::new(
                ErrorCode::Unsupported,
                "no host services are available",
            ));
        };
        let mut out = VpBuf::EMPTY;
        let status = (t.call)(t.ctx, VpStr::new(op), VpStr::new(args_json), &mut out);
        let text = if out.ptr.is_null() {
            String::new()
        } else {
            // SAFETY: the host wrote `len` bytes at `ptr` and keeps them until
            // we give the buffer back below.
            let bytes = unsafe { std::slice::from_raw_parts(out.ptr, out.len) };
            String::from_utf8_lossy(bytes).into_owned()
        };
        (t.free_buf)(t.ctx, out);
        if status == VP_OK {
            Ok(text)
        } else {
            Err(PluginError::from_json(&text))
        }
    }

    /// Calls a host service with typed arguments and result.
    pub fn call<A: Serialize, R: DeserializeOwned>(
        &self,
        op: &str,
        args: &A,
    ) -> Result<R, PluginError> {
        let args = serde_json::to_string(args)?;
        let out = self.call_raw(op, &args)?;
        serde_json::from_str(&out).map_err(|e| {
            PluginError::failed(format!("host answered '{op}' with unexpected JSON: {e}"))
        })
    }

    /// Runs a command (see [`RunRequest`]). An `Err` means the command could
    /// not be run at all; a command that ran and failed is an `Ok` outcome.
    pub fn run(&self, request: &RunRequest) -> Result<RunOutcome, PluginError> {
        self.call(ops::RUN, request)
    }

    /// Appends text to the build's messages.
    pub fn message(&self, text: &str) -> Result<(), PluginError> {
        let _: serde_json::Value = self.call(
            ops::APPEND,
            &AppendRequest {
                stream: Stream::Messages,
                text: text.to_string(),
            },
        )?;
        Ok(())
    }

    /// Whether the build being served was stopped. A host without the
    /// service, or a call outside any build, counts as not stopped.
    pub fn stopped(&self) -> bool {
        self.call::<_, CallStatus>(ops::STATUS, &serde_json::json!({}))
            .is_ok_and(|s| s.stopped)
    }

    /// Facts about the host.
    pub fn info(&self) -> Result<HostInfo, PluginError> {
        self.call(ops::INFO, &serde_json::json!({}))
    }
}
