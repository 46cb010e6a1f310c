//! `vespene.plugins.isolation.basic_container`: runs the build script in a
//! Docker container (reference §3.2 "basic_container", §9.3), through the
//! Docker Engine API on a local unix socket (bollard).
//!
//! * `begin`: chooses the image (the project's `container_base_image`, else
//!   parameter `default_image`: pools choose an instance of this plugin by
//!   their `isolation_method`, so that is the pool's default), refuses one
//!   the allow-list does not name, resolves the user, reaches the engine
//!   (a clear error naming the socket when it cannot), removes what dead
//!   workers left, and makes sure the engine has the image (pulling it if
//!   allowed; a clear error saying the image must be present or pullable
//!   when it is not);
//! * `execute`: creates the container — the build root bound at
//!   `/tmp/buildroot` (where the original put it: `vespene_launch.sh` and
//!   `vespene.json` are there, and it is the working directory) and at its
//!   own path, the chosen user, the memory and CPU limits, no network if so
//!   configured, never privileged, `no-new-privileges`, every capability
//!   dropped unless the build runs as root — attaches to it, starts it and
//!   streams its output (stderr joined to stdout inside, so in order) into
//!   the build line by line as it arrives, polling the host's `status`
//!   service every 100 ms: a stop, or the project's timeout passing,
//!   removes the container at once (the build ends ABORTED, or FAILURE with
//!   the timeout, as the engine decides from the outcome). The container
//!   is removed whatever happened, with its anonymous volumes;
//! * `abort` (from the worker's watcher thread on a stop): removes the
//!   container by name at once;
//! * `end`: removes the container if it is still there, and gives the
//!   build root back to the worker's user when the build ran as another.
//!
//! Files the build writes land directly in the build root on the worker
//! (it is bound, not copied). On a root worker builds run as `nobody`
//! (parameter `user`) and the root is handed to that user for the build
//! and back after; a non-root worker (one in the `docker` group) runs
//! builds as its own uid, so what they write is its own.
//!
//! Every container is labelled with the build and its owner process
//! (`leftovers`); each instance, when created (a worker starting; on a
//! thread of its own, so loading the plugin stays fast) and at each
//! build's `begin`, removes this plugin's containers whose owner process
//! died on this host — a worker killed mid-build leaves nothing
//! once a worker starts again. The plugin makes no images or volumes
//! besides a pulled base image (kept, as any pulled image).

mod build;
mod engine;
mod leftovers;
mod lines;
mod owner;
mod params;

pub use build::Spec;
pub use leftovers::{
    LABEL_BUILD, LABEL_OWNER, LABEL_PLUGIN, LABEL_ROOT, Owner, PLUGIN_NAME, container_name,
};
pub use lines::Lines;
pub use owner::{RunAs, resolve as resolve_user};
pub use params::{Checked, Params, image_allowed, parse_memory, with_tag};

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vespene_plugin_api::kinds::isolation::IsolationRequest;
use vespene_plugin_api::{
    CreateContext, Host, IsolationPlugin, LogLevel, Plugin, PluginError, RunOutcome, export_plugin,
};

/// How long the background sweep of `create` may wait for the engine.
const CREATE_SWEEP_TIMEOUT_SECS: u64 = 5;

/// The container isolation plugin.
#[derive(Debug)]
pub struct ContainerIsolation {
    name: String,
    config: Checked,
    host: Host,
    /// What the background sweep of `create` found, logged at the next
    /// call.
    reports: Arc<Mutex<Vec<(LogLevel, String)>>>,
}

/// What one build runs in, worked out from its request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub image: String,
    pub run_as: RunAs,
    pub spec: Spec,
}

impl ContainerIsolation {
    /// The image, user and container of one build, or why it cannot run.
    pub fn plan(&self, request: &IsolationRequest) -> Result<Plan, PluginError> {
        let params = &self.config.params;
        let root = Path::new(&request.build_root);
        if !root.is_absolute() || root.parent().is_none() {
            return Err(PluginError::invalid_request(format!(
                "the build root '{}' is not an absolute path",
                request.build_root
            )));
        }
        let script = Path::new(&request.script_path)
            .strip_prefix(root)
            .map_err(|_| {
                PluginError::invalid_request(format!(
                    "the script '{}' is not inside the build root '{}'",
                    request.script_path, request.build_root
                ))
            })?;
        let image = match request
            .project
            .container_base_image
            .as_deref()
            .map(str::trim)
        {
            Some(i) if !i.is_empty() => i.to_string(),
            _ if !params.default_image.trim().is_empty() => params.default_image.trim().to_string(),
            _ => {
                return Err(PluginError::failed(format!(
                    "container base image is not set: set project '{}''s container_base_image, \
                     or default_image in the parameters of isolation '{}'",
                    request.project.name, self.name
                )));
            }
        };
        if !image_allowed(&params.allowed_images, &image) {
            return Err(PluginError::failed(format!(
                "the container base image '{image}' of project '{}' is not allowed by isolation \
                 '{}' (allowed_images: {})",
                request.project.name,
                self.name,
                params.allowed_images.join(", ")
            )));
        }
        let run_as = owner::resolve(&params.user, owner::worker_ids(), params.allow_root)
            .map_err(|why| PluginError::failed(format!("isolation '{}': {why}", self.name)))?;
        let workdir = params.workdir.trim_end_matches('/').to_string();
        let spec = Spec {
            build_id: request.build.id,
            image: image.clone(),
            root: request.build_root.trim_end_matches('/').to_string(),
            script: format!("{workdir}/{}", script.display()),
            workdir,
            user: run_as.engine_user(),
            memory_bytes: self.config.memory_bytes,
            nano_cpus: self.config.nano_cpus,
            network: params.network,
            drop_capabilities: run_as.uid != 0,
            owner: Owner::current(),
        };
        Ok(Plan {
            image,
            run_as,
            spec,
        })
    }

    fn socket(&self) -> &str {
        &self.config.socket_path
    }

    /// Runs `work` with a connection to the engine, on a runtime of its own.
    fn with_engine<T, F>(
        &self,
        timeout_secs: u64,
        work: impl FnOnce(bollard::Docker) -> F,
    ) -> Result<T, PluginError>
    where
        F: std::future::Future<Output = Result<T, PluginError>>,
    {
        let socket = self.socket().to_string();
        engine::block_on(async move {
            let docker = engine::connect(&socket, timeout_secs)
                .await
                .map_err(PluginError::failed)?;
            work(docker).await
        })?
    }

    /// Writes into the host's log what sweeps found, this one's and the
    /// background one's of `create`.
    fn report(&self, mut lines: Vec<(LogLevel, String)>) {
        if let Ok(mut earlier) = self.reports.lock() {
            lines.splice(0..0, earlier.drain(..));
        }
        for (level, line) in lines {
            self.host.log(level, &line);
        }
    }

    /// The sweep of `create`, on a thread of its own so that loading the
    /// plugin stays fast in every process (most are not workers): only when
    /// the engine's socket is there, quietly when it cannot be reached (the
    /// engine may not be installed at all). The host's services are not
    /// used off the call's thread: what it found waits in `reports`.
    fn sweep_in_background(&self) {
        if std::fs::symlink_metadata(self.socket()).is_err() {
            return;
        }
        let socket = self.socket().to_string();
        let reports = Arc::clone(&self.reports);
        let spawned = std::thread::Builder::new()
            .name("container-sweep".into())
            .spawn(move || {
                let found = engine::block_on(async move {
                    match engine::connect(&socket, CREATE_SWEEP_TIMEOUT_SECS).await {
                        Ok(docker) => sweep_report(&docker).await,
                        Err(_) => Vec::new(),
                    }
                });
                if let (Ok(found), Ok(mut reports)) = (found, reports.lock()) {
                    reports.extend(found);
                }
            });
        if let Err(e) = spawned {
            self.host.log(
                LogLevel::Warn,
                &format!("cannot start the sweep of leftover containers: {e}"),
            );
        }
    }

    fn remove_container(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        let root = request.build_root.trim_end_matches('/');
        let name = leftovers::container_name(request.build.id, root);
        self.with_engine(engine::REQUEST_TIMEOUT_SECS, |docker| async move {
            engine::remove(&docker, &name)
                .await
                .map_err(|e| PluginError::failed(format!("removing container {name}: {e}")))
        })
    }
}

/// Removes what dead workers left, and says what it did.
async fn sweep_report(docker: &bollard::Docker) -> Vec<(LogLevel, String)> {
    match leftovers::sweep(docker).await {
        Ok(s) => {
            let mut lines = Vec::new();
            if !s.removed.is_empty() {
                lines.push((
                    LogLevel::Info,
                    format!(
                        "removed containers left by workers that died mid-build: {}",
                        s.removed.join(", ")
                    ),
                ));
            }
            lines.extend(s.failed.into_iter().map(|f| {
                (
                    LogLevel::Warn,
                    format!("could not remove a dead worker's container {f}"),
                )
            }));
            lines
        }
        Err(e) => vec![(
            LogLevel::Warn,
            format!(
                "could not list leftover containers: {}",
                engine::describe(&e)
            ),
        )],
    }
}

impl Plugin for ContainerIsolation {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        let config = params.check().map_err(|why| {
            PluginError::invalid_params(format!("parameters of '{}': {why}", ctx.name))
        })?;
        let plugin = ContainerIsolation {
            name: ctx.name.to_string(),
            config,
            host: ctx.host,
            reports: Arc::default(),
        };
        plugin.sweep_in_background();
        Ok(plugin)
    }
}

impl IsolationPlugin for ContainerIsolation {
    fn begin(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        let plan = self.plan(request)?;
        let pull = self.config.params.pull;
        let image = plan.image.clone();
        let socket = self.socket().to_string();
        self.with_engine(engine::REQUEST_TIMEOUT_SECS, |docker| async move {
            self.report(sweep_report(&docker).await);
            let mut said = Ok(());
            let result = engine::ensure_image(&docker, &socket, &image, pull, |line| {
                if said.is_ok() {
                    said = self.host.message(line);
                }
            })
            .await;
            said?;
            result.map_err(PluginError::failed)
        })?;
        let p = &self.config.params;
        let mut limits = Vec::new();
        if let Some(m) = self.config.memory_bytes {
            limits.push(format!("memory {} MiB", m >> 20));
        }
        if p.cpus > 0.0 {
            limits.push(format!("cpus {}", p.cpus));
        }
        self.host.message(&format!(
            "using container base image: {} (user {}, network {}{}{})",
            plan.image,
            plan.run_as.shown,
            if p.network { "on" } else { "off" },
            if limits.is_empty() { "" } else { ", " },
            limits.join(", ")
        ))
    }

    fn execute(&self, request: &IsolationRequest) -> Result<RunOutcome, PluginError> {
        // The engine's deadline started just before this call.
        let deadline = request
            .timeout_secs
            .map(|t| Instant::now() + Duration::from_secs(t));
        let plan = self.plan(request)?;
        self.host.message("----------\nBuilding...")?;
        if plan.run_as.give_back.is_some() {
            owner::give_tree(
                Path::new(&plan.spec.root),
                (plan.run_as.uid, plan.run_as.gid),
            )
            .map_err(|e| {
                PluginError::failed(format!(
                    "handing the build root {} to uid {}: {e}",
                    plan.spec.root, plan.run_as.uid
                ))
            })?;
        }
        let host = self.host;
        self.with_engine(engine::REQUEST_TIMEOUT_SECS, |docker| async move {
            let ran = build::run(&docker, &plan.spec, &host, deadline).await;
            // Removed whatever happened; a removal that fails is the
            // build's failure, never a silent leftover.
            let removed = engine::remove(&docker, &plan.spec.name()).await;
            let outcome = ran?;
            removed.map_err(|e| {
                PluginError::failed(format!("removing container {}: {e}", plan.spec.name()))
            })?;
            Ok(outcome)
        })
    }

    fn end(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        let removed = self.remove_container(request);
        let root = Path::new(&request.build_root);
        if let Ok(plan) = self.plan(request)
            && let Some(worker) = plan.run_as.give_back
            && std::fs::symlink_metadata(root).is_ok()
        {
            owner::give_tree(root, worker).map_err(|e| {
                PluginError::failed(format!(
                    "giving the build root {} back to uid {}: {e}",
                    root.display(),
                    worker.0
                ))
            })?;
        }
        // An engine that went away meanwhile took the container with it.
        match removed {
            Err(e) if !e.message.contains("cannot reach the Docker engine") => Err(e),
            _ => Ok(()),
        }
    }

    fn abort(&self, request: &IsolationRequest) -> Result<(), PluginError> {
        self.remove_container(request)
    }

    fn probe(&self) -> Result<(), PluginError> {
        let p = &self.config.params;
        let image = p.default_image.clone();
        let socket = self.socket().to_string();
        self.with_engine(engine::REQUEST_TIMEOUT_SECS, |docker| async move {
            if image.is_empty() {
                return Ok(());
            }
            engine::ensure_image(&docker, &socket, &image, false, |_| {})
                .await
                .map_err(PluginError::failed)
        })
    }
}

export_plugin! {
    name: "vespene.plugins.isolation.basic_container",
    kind: isolation,
    plugin: ContainerIsolation,
    description: "Runs the build script in a Docker container, its output streamed live; the container is removed whatever happens.",
}

#[cfg(test)]
mod tests;
