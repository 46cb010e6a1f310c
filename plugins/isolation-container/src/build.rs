//! One build's container: what it is made of, and running it with its
//! output streamed into the build line by line as it comes.

use crate::engine::{self, describe};
use crate::leftovers::{self, Owner};
use crate::lines::{Lines, Tail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, WaitContainerOptions,
};
use futures_util::{FutureExt, StreamExt};
use std::time::{Duration, Instant};
use vespene_plugin_api::host::{AppendRequest, ops as host_ops};
use vespene_plugin_api::{Host, PluginError, RunOutcome, Stream};

/// How often a running build checks for a stop and its deadline (and
/// gives the host a chance to store waiting output).
pub const POLL: Duration = Duration::from_millis(100);
/// Output gathered before it is handed to the host at once.
const BATCH_BYTES: usize = 256 * 1024;

/// Everything the container of one build is made of.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub build_id: i64,
    pub image: String,
    /// The build root on the worker.
    pub root: String,
    /// Where it appears inside (also the working directory).
    pub workdir: String,
    /// The script's path inside.
    pub script: String,
    /// `UID:GID`.
    pub user: String,
    pub memory_bytes: Option<u64>,
    pub nano_cpus: Option<i64>,
    pub network: bool,
    /// Drop every capability (builds not running as root).
    pub drop_capabilities: bool,
    pub owner: Owner,
}

impl Spec {
    pub fn name(&self) -> String {
        leftovers::container_name(self.build_id, &self.root)
    }

    /// The engine's description of the container.
    pub fn body(&self) -> ContainerCreateBody {
        // The build root at the original's place, and at its own path too,
        // so that `build.working_dir` in vespene.json means the same inside.
        let mut binds = vec![format!("{}:{}:rw", self.root, self.workdir)];
        if self.root != self.workdir {
            binds.push(format!("{0}:{0}:rw", self.root));
        }
        let memory = self.memory_bytes.map(|m| m as i64);
        ContainerCreateBody {
            image: Some(self.image.clone()),
            // stderr joins stdout in the container, so the two keep their
            // order, as they do for a command the host runs.
            cmd: Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "exec \"$0\" 2>&1".into(),
                self.script.clone(),
            ]),
            entrypoint: Some(Vec::new()),
            working_dir: Some(self.workdir.clone()),
            user: Some(self.user.clone()),
            labels: Some(leftovers::labels(self.build_id, &self.root, &self.owner)),
            attach_stdin: Some(false),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(false),
            tty: Some(false),
            network_disabled: Some(!self.network),
            host_config: Some(HostConfig {
                binds: Some(binds),
                memory,
                // No swap beyond the memory limit.
                memory_swap: memory,
                nano_cpus: self.nano_cpus,
                network_mode: (!self.network).then(|| "none".to_string()),
                privileged: Some(false),
                security_opt: Some(vec!["no-new-privileges".into()]),
                cap_drop: self.drop_capabilities.then(|| vec!["ALL".to_string()]),
                // The output is the build's: the engine keeps no copy.
                log_config: Some(HostConfigLogConfig {
                    typ: Some("none".into()),
                    config: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// How the container's run ended.
enum End {
    Stopped,
    TimedOut,
    /// It exited with this status.
    Exited(i32),
}

/// Waits for the container to exit, checking for a stop and the deadline
/// meanwhile.
async fn wait_exit(
    docker: &Docker,
    id: &str,
    name: &str,
    host: &Host,
    deadline: Option<Instant>,
) -> Result<End, PluginError> {
    let waiting = exit_code(docker, id, name);
    tokio::pin!(waiting);
    loop {
        if host.stopped() {
            return Ok(End::Stopped);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(End::TimedOut);
        }
        tokio::select! {
            code = &mut waiting => return code.map(End::Exited),
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// Hands complete lines to the host's output.
struct Sink<'a> {
    host: &'a Host,
    tail: Tail,
}

impl Sink<'_> {
    fn send(&mut self, text: Option<String>) -> Result<(), PluginError> {
        let Some(text) = text else { return Ok(()) };
        self.tail.add(&text);
        let _: serde_json::Value = self.host.call(
            host_ops::APPEND,
            &AppendRequest {
                stream: Stream::Output,
                text,
            },
        )?;
        Ok(())
    }
}

/// Creates, starts and follows the build's container until it exits, the
/// build is stopped or `deadline` passes; the container is left for the
/// caller to remove.
pub async fn run(
    docker: &Docker,
    spec: &Spec,
    host: &Host,
    deadline: Option<Instant>,
) -> Result<RunOutcome, PluginError> {
    let name = spec.name();
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            }),
            spec.body(),
        )
        .await
        .map_err(|e| PluginError::failed(format!("creating container {name}: {}", describe(&e))))?;
    let id = created.id;
    for warning in created.warnings {
        host.message(&format!("the Docker engine warns: {warning}"))?;
    }
    let attached = docker
        .attach_container(
            &id,
            Some(AttachContainerOptions {
                stream: true,
                stdout: true,
                stderr: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(|e| {
            PluginError::failed(format!("attaching to container {name}: {}", describe(&e)))
        })?;
    docker
        .start_container(
            &id,
            None::<bollard::query_parameters::StartContainerOptions>,
        )
        .await
        .map_err(|e| PluginError::failed(format!("starting container {name}: {}", describe(&e))))?;
    let mut output = attached.output;
    let mut lines = Lines::default();
    let mut sink = Sink {
        host,
        tail: Tail::default(),
    };
    let mut next_poll = Instant::now() + POLL;
    let end = loop {
        let item = tokio::select! {
            item = output.next() => Some(item),
            () = tokio::time::sleep_until(next_poll.into()) => None,
        };
        let mut closed = false;
        if let Some(item) = item {
            let mut item = item;
            // Take whatever else is ready too, up to a batch.
            loop {
                match item {
                    Some(Ok(chunk)) => lines.push(&chunk.into_bytes()),
                    // A broken stream ends the output; the exit status says
                    // how the build went.
                    Some(Err(_)) | None => {
                        closed = true;
                        break;
                    }
                }
                if lines.len() >= BATCH_BYTES {
                    break;
                }
                match output.next().now_or_never() {
                    Some(next) => item = next,
                    None => break,
                }
            }
            sink.send(lines.take_complete())?;
        }
        let now = Instant::now();
        if closed || now >= next_poll {
            next_poll = now + POLL;
            if host.stopped() {
                break Some(End::Stopped);
            }
            if closed {
                break None;
            }
            if deadline.is_some_and(|d| now >= d) {
                break Some(End::TimedOut);
            }
        }
    };
    let end = match end {
        Some(end) => end,
        // The output closed: normally the container exited; should the
        // stream have broken with the container still running, its end is
        // awaited under the same stop and deadline checks.
        None => wait_exit(docker, &id, &name, host, deadline).await?,
    };
    let mut outcome = RunOutcome::default();
    match end {
        End::Stopped => {
            outcome.aborted = true;
            engine::remove(docker, &id)
                .await
                .map_err(PluginError::failed)?;
        }
        End::TimedOut => {
            outcome.timed_out = true;
            engine::remove(docker, &id)
                .await
                .map_err(PluginError::failed)?;
        }
        End::Exited(code) => outcome.exit_code = Some(code),
    }
    sink.send(lines.take_all())?;
    if outcome.exit_code.is_some_and(|c| c != 0) && out_of_memory(docker, &id).await {
        host.message(&format!(
            "the container ran out of memory (limit {}) and its processes were killed",
            spec.memory_bytes
                .map_or_else(|| "none".to_string(), |m| format!("{} MiB", m >> 20))
        ))?;
    }
    outcome.last_line = std::mem::take(&mut sink.tail.last_line);
    outcome.tail = std::mem::take(&mut sink.tail.tail);
    Ok(outcome)
}

/// The exit status of the container, once it has stopped.
async fn exit_code(docker: &Docker, id: &str, name: &str) -> Result<i32, PluginError> {
    let options = WaitContainerOptions {
        condition: "not-running".into(),
    };
    let mut waiting = docker.wait_container(id, Some(options));
    let code = match waiting.next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => {
            return Err(PluginError::failed(format!(
                "waiting for container {name}: {}",
                describe(&e)
            )));
        }
        None => {
            return Err(PluginError::failed(format!(
                "waiting for container {name}: the engine gave no exit status"
            )));
        }
    };
    Ok(i32::try_from(code).unwrap_or(-1))
}

async fn out_of_memory(docker: &Docker, id: &str) -> bool {
    docker
        .inspect_container(
            id,
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .ok()
        .and_then(|c| c.state)
        .and_then(|s| s.oom_killed)
        .unwrap_or(false)
}
