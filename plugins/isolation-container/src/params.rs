//! The instance's parameters and the checks on them: memory sizes, CPU
//! counts, the image allow-list.

use serde::Deserialize;

/// The local engine's socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Where the build root appears inside the container: where the original
/// copied it (`ADD . /tmp/buildroot`), so its scripts keep working.
pub const DEFAULT_WORKDIR: &str = "/tmp/buildroot";
/// The engine refuses smaller memory limits.
pub const MIN_MEMORY: u64 = 6 << 20;

/// The instance's parameters, all optional.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// The Docker engine's unix socket (a path, or `unix://PATH`).
    pub socket: String,
    /// The image of builds whose project's `container_base_image` is blank.
    /// Pools choose an instance by `isolation_method`, so this is the
    /// pool's default image.
    pub default_image: String,
    /// Images builds may use; empty: any. `name:tag` exactly (`name` alone
    /// means `name:latest`), or a prefix ending in `*` (`registry.example/ci/*`,
    /// `debian:*`).
    pub allowed_images: Vec<String>,
    /// Memory limit (`512m`, `2g`, bytes); empty: none. Swap is not added.
    pub memory: String,
    /// CPU limit in CPUs (`1.5`); 0: none.
    pub cpus: f64,
    /// Give the build a network; `false`: none at all (only loopback).
    pub network: bool,
    /// Who the script runs as: a user name of this worker, `UID` or
    /// `UID:GID`; empty: `nobody` on a root worker, else the worker's own
    /// user.
    pub user: String,
    /// Let `user` be root (uid 0 in the container).
    pub allow_root: bool,
    /// Pull an image the engine does not have.
    pub pull: bool,
    /// Where the build root appears inside the container (the script's
    /// working directory).
    pub workdir: String,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            socket: DEFAULT_SOCKET.into(),
            default_image: String::new(),
            allowed_images: Vec::new(),
            memory: String::new(),
            cpus: 0.0,
            network: true,
            user: String::new(),
            allow_root: false,
            pull: true,
            workdir: DEFAULT_WORKDIR.into(),
        }
    }
}

/// What `create` checked, ready to use.
#[derive(Debug, Clone, PartialEq)]
pub struct Checked {
    pub params: Params,
    /// The socket's path (without `unix://`).
    pub socket_path: String,
    pub memory_bytes: Option<u64>,
    /// Billionths of a CPU, as the engine takes them.
    pub nano_cpus: Option<i64>,
}

impl Params {
    /// Checks every parameter, saying which one is wrong and why.
    pub fn check(self) -> Result<Checked, String> {
        let socket_path = self
            .socket
            .strip_prefix("unix://")
            .unwrap_or(&self.socket)
            .to_string();
        if !socket_path.starts_with('/') {
            return Err(format!(
                "socket '{}' is not the absolute path of a unix socket (this plugin speaks to a \
                 local engine only)",
                self.socket
            ));
        }
        let memory_bytes = if self.memory.trim().is_empty() {
            None
        } else {
            Some(parse_memory(&self.memory).map_err(|why| format!("memory: {why}"))?)
        };
        if !self.cpus.is_finite() || self.cpus < 0.0 {
            return Err(format!(
                "cpus {} is not a number of CPUs (0 for no limit)",
                self.cpus
            ));
        }
        let nano_cpus = (self.cpus > 0.0).then(|| (self.cpus * 1e9).round() as i64);
        if nano_cpus == Some(0) {
            return Err(format!("cpus {} is too small", self.cpus));
        }
        if !self.workdir.starts_with('/') || self.workdir.trim_end_matches('/').is_empty() {
            return Err(format!(
                "workdir '{}' must be an absolute path other than /",
                self.workdir
            ));
        }
        if let Some(bad) = self.allowed_images.iter().find(|p| p.trim().is_empty()) {
            return Err(format!("allowed_images has an empty entry '{bad}'"));
        }
        if !self.default_image.is_empty()
            && !image_allowed(&self.allowed_images, &self.default_image)
        {
            return Err(format!(
                "default_image '{}' is not in allowed_images",
                self.default_image
            ));
        }
        Ok(Checked {
            params: self,
            socket_path,
            memory_bytes,
            nano_cpus,
        })
    }
}

/// Parses a memory size: a number with an optional unit `b`, `k`, `m`,
/// `g` or `t` (powers of 1024, as the Docker command line reads them; `kb`,
/// `KiB` and the like too).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 512m or 2g"))?;
    let shift = match unit.trim().trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("'{text}': unknown unit (use b, k, m, g or t)")),
    };
    let bytes = (number * (1u64 << shift) as f64).round();
    if !(bytes >= MIN_MEMORY as f64 && bytes < u64::MAX as f64) {
        return Err(format!(
            "'{text}' is outside what the engine accepts (at least 6m)"
        ));
    }
    Ok(bytes as u64)
}

/// `image` with `:latest` added when it names neither a tag nor a digest
/// (a `:` before the last `/` is a registry's port, not a tag).
pub fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// Whether the allow-list lets builds use `image` (an empty list allows
/// every image).
pub fn image_allowed(allowed: &[String], image: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let image_tagged = with_tag(image);
    allowed
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => image.starts_with(prefix),
            None => with_tag(pattern) == image_tagged,
        })
}
