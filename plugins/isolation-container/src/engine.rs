//! Talking to the Docker engine: a private runtime per call, the
//! connection, images, removal.
//!
//! bollard is async. The plugin's calls are synchronous and must reach the
//! host's build-scoped services from the calling thread, so each call
//! builds a current-thread tokio runtime and drives it on that thread
//! (`block_on`): no thread, runtime or connection outlives the call, and
//! nothing is shared by the process (the plugin may run in a child
//! process per build).

use bollard::Docker;
use bollard::errors::Error;
use bollard::query_parameters::{CreateImageOptions, RemoveContainerOptions};
use futures_util::StreamExt;
use std::future::Future;
use vespene_plugin_api::PluginError;

/// Seconds the engine has to answer a request (not to finish a stream).
pub const REQUEST_TIMEOUT_SECS: u64 = 60;

/// Runs `work` to completion on a current-thread runtime of its own.
pub fn block_on<T>(work: impl Future<Output = T>) -> Result<T, PluginError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PluginError::failed(format!("cannot start an async runtime: {e}")))?;
    Ok(runtime.block_on(work))
}

/// `unix://PATH`, as messages name the engine.
pub fn shown(socket_path: &str) -> String {
    format!("unix://{socket_path}")
}

/// Connects to the engine at `socket_path` and agrees on an API version
/// (the engine may be older than bollard's default version).
pub async fn connect(socket_path: &str, timeout_secs: u64) -> Result<Docker, String> {
    let unreachable = |why: String| {
        format!(
            "cannot reach the Docker engine at {}: {why} (is the engine running, and may \
             this worker's user use its socket? parameter 'socket' names another one)",
            shown(socket_path)
        )
    };
    if std::fs::symlink_metadata(socket_path).is_err() {
        return Err(unreachable("the socket does not exist".into()));
    }
    let docker = Docker::connect_with_unix(socket_path, timeout_secs, bollard::API_DEFAULT_VERSION)
        .map_err(|e| unreachable(e.to_string()))?;
    docker
        .negotiate_version()
        .await
        .map_err(|e| unreachable(describe(&e)))
}

/// One line for an engine error.
pub fn describe(e: &Error) -> String {
    match e {
        Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("the engine answered {status_code}: {}", message.trim()),
        Error::RequestTimeoutError => "the engine did not answer in time".into(),
        other => other.to_string(),
    }
}

/// Whether `e` is the engine's "no such object".
pub fn is_not_found(e: &Error) -> bool {
    matches!(
        e,
        Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Removes container `id` (by id or name) with its anonymous volumes,
/// killing it first if it runs. Gone already is not an error, nor is a
/// removal another call has under way.
pub async fn remove(docker: &Docker, id: &str) -> Result<(), String> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    };
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(Error::DockerResponseServerError {
            status_code: 409,
            message,
        }) if message.contains("in progress") => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

/// Makes sure the engine has `image`, pulling it when allowed. `say`
/// receives progress lines for the build's messages.
pub async fn ensure_image(
    docker: &Docker,
    socket_path: &str,
    image: &str,
    pull: bool,
    mut say: impl FnMut(&str),
) -> Result<(), String> {
    let missing = |why: &str| {
        format!(
            "the container base image '{image}' is not on the Docker engine at {} and {why}: \
             the image must be present on the engine or pullable from a registry it can \
             reach (build, load or import it there, or correct the name)",
            shown(socket_path)
        )
    };
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(format!("inspecting image '{image}': {}", describe(&e))),
    }
    if !pull {
        return Err(missing("pulling is turned off (parameter pull = false)"));
    }
    say(&format!("pulling image {image}"));
    let options = CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(options), None, None);
    let mut last_status = String::new();
    while let Some(step) = progress.next().await {
        match step {
            Ok(info) => {
                if let Some(status) = info.status
                    && status != last_status
                    && info.progress_detail.is_none_or(|d| d.total.is_none())
                {
                    say(&status);
                    last_status = status;
                }
            }
            Err(e) => {
                return Err(missing(&format!("could not be pulled ({})", describe(&e))));
            }
        }
    }
    match docker.inspect_image(image).await {
        Ok(_) => Ok(()),
        Err(e) => Err(missing(&format!(
            "was not there after pulling ({})",
            describe(&e)
        ))),
    }
}
