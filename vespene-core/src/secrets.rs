//! Secrets at rest, the core side (reference §3.2 "Secrets", "Decisions"
//! 11): the rules of the original's secrets manager over the configured
//! secrets plugins.
//!
//! * The first configured plugin (`[plugins.secrets]`, in order) cloaks.
//! * Any plugin that recognizes a value decloaks it.
//! * An empty value, or one already starting with `[VESPENE-CLOAK]`, is
//!   stored as it is (no double encryption).
//! * A value without the header reads back verbatim (plaintext legacy
//!   values keep working).
//! * A cloaked value no plugin recognizes is an error.
//!
//! The plugins sit behind [`SecretsBackend`], so tests can use an in-memory
//! cipher; [`Secrets::from_registry`] wraps the configured `.so` plugins.
//! Errors never contain a secret.
//!
//! [`generate_key_file`] writes the key file the stock plugin reads.

use crate::plugins::{Instance, Registry};
use crate::settings::Section;
use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vespene_plugin_api::PluginError;
use vespene_plugin_api::kinds::secrets::{
    CLOAK_HEADER, CloakRequest, CloakResponse, DecloakRequest, DecloakResponse, RecognizesResponse,
    ops,
};

/// Why a secret could not be stored or read. Never holds the secret.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "no secrets plugin is configured ([plugins.secrets] is empty), so secrets cannot be \
         stored; configure one and create its key with `vespene secrets generate`"
    )]
    NoPlugin,
    #[error("no secrets plugin recognizes this value")]
    Unrecognized,
    #[error("secrets plugin '{plugin}' returned a value without the {CLOAK_HEADER} header")]
    NotCloaked { plugin: String },
    #[error("secrets plugin '{plugin}': {message}")]
    Plugin { plugin: String, message: String },
    #[error("{}: {message}", path.display())]
    KeyFile { path: PathBuf, message: String },
}

/// One secrets plugin, as the manager sees it.
pub trait SecretsBackend: Send + Sync {
    /// The entry's name, for error messages.
    fn name(&self) -> &str;
    /// Encrypts `plaintext`; the result starts with [`CLOAK_HEADER`].
    fn cloak(&self, plaintext: &str) -> Result<String, PluginError>;
    /// Decrypts a value this backend recognizes.
    fn decloak(&self, value: &str) -> Result<String, PluginError>;
    /// Whether this backend can decrypt `value`.
    fn recognizes(&self, value: &str) -> Result<bool, PluginError>;
}

fn call<Req: Serialize, Resp: DeserializeOwned>(
    instance: &Instance,
    op: &str,
    request: &Req,
) -> Result<Resp, PluginError> {
    let args = serde_json::to_string(request)?;
    let answer = instance.call(op, &args)?;
    serde_json::from_str(&answer)
        .map_err(|e| PluginError::failed(format!("malformed answer to '{op}': {e}")))
}

fn cloak_with(instance: &Instance, plaintext: &str) -> Result<String, PluginError> {
    let request = CloakRequest {
        plaintext: plaintext.to_string(),
    };
    call::<_, CloakResponse>(instance, ops::CLOAK, &request).map(|r| r.value)
}

fn decloak_with(instance: &Instance, value: &str) -> Result<String, PluginError> {
    let request = DecloakRequest {
        value: value.to_string(),
    };
    call::<_, DecloakResponse>(instance, ops::DECLOAK, &request).map(|r| r.plaintext)
}

fn recognizes_with(instance: &Instance, value: &str) -> Result<bool, PluginError> {
    let request = DecloakRequest {
        value: value.to_string(),
    };
    call::<_, RecognizesResponse>(instance, ops::RECOGNIZES, &request).map(|r| r.recognized)
}

/// A loaded plugin instance used directly (tests, tools).
#[derive(Debug)]
pub struct InstanceSecrets {
    pub name: String,
    pub instance: Instance,
}

impl SecretsBackend for InstanceSecrets {
    fn name(&self) -> &str {
        &self.name
    }
    fn cloak(&self, plaintext: &str) -> Result<String, PluginError> {
        cloak_with(&self.instance, plaintext)
    }
    fn decloak(&self, value: &str) -> Result<String, PluginError> {
        decloak_with(&self.instance, value)
    }
    fn recognizes(&self, value: &str) -> Result<bool, PluginError> {
        recognizes_with(&self.instance, value)
    }
}

/// The `index`-th entry of `[plugins.secrets]` in a shared registry.
#[derive(Debug)]
struct RegistrySecrets {
    registry: Arc<Registry>,
    index: usize,
}

impl RegistrySecrets {
    fn instance(&self) -> &Instance {
        self.registry.section(Section::Secrets)[self.index].instance()
    }
}

impl SecretsBackend for RegistrySecrets {
    fn name(&self) -> &str {
        self.registry.section(Section::Secrets)[self.index].name()
    }
    fn cloak(&self, plaintext: &str) -> Result<String, PluginError> {
        cloak_with(self.instance(), plaintext)
    }
    fn decloak(&self, value: &str) -> Result<String, PluginError> {
        decloak_with(self.instance(), value)
    }
    fn recognizes(&self, value: &str) -> Result<bool, PluginError> {
        recognizes_with(self.instance(), value)
    }
}

/// The secrets manager. Cheap to clone.
#[derive(Clone, Default)]
pub struct Secrets {
    backends: Arc<Vec<Arc<dyn SecretsBackend>>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.backends.iter().map(|b| b.name()).collect();
        f.debug_struct("Secrets").field("backends", &names).finish()
    }
}

impl Secrets {
    /// A manager over `backends`, in order (the first cloaks).
    pub fn new(backends: Vec<Arc<dyn SecretsBackend>>) -> Secrets {
        Secrets {
            backends: Arc::new(backends),
        }
    }

    /// A manager with no plugin: empty and plaintext values still read and
    /// store; anything else to cloak is an error.
    pub fn none() -> Secrets {
        Secrets::default()
    }

    /// A manager over the `[plugins.secrets]` entries of `registry`.
    pub fn from_registry(registry: &Arc<Registry>) -> Secrets {
        let count = registry.section(Section::Secrets).len();
        Secrets::new(
            (0..count)
                .map(|index| {
                    Arc::new(RegistrySecrets {
                        registry: registry.clone(),
                        index,
                    }) as Arc<dyn SecretsBackend>
                })
                .collect(),
        )
    }

    /// Whether a stored value is encrypted (starts with the header).
    pub fn is_cloaked(value: &str) -> bool {
        value.starts_with(CLOAK_HEADER)
    }

    /// A replacement secret cloaked for storage; `None` (keep the stored
    /// value) stays `None`.
    pub fn cloak_replacement(&self, value: Option<&str>) -> Result<Option<String>, SecretsError> {
        value.map(|v| self.cloak(v)).transpose()
    }

    /// What to store instead of `stored` when it is plaintext (a value
    /// stored before a secrets plugin was configured, or written straight
    /// into the database): `None` when it is empty, already encrypted, or
    /// no plugin is configured to encrypt it.
    pub fn upgrade_plaintext(&self, stored: &str) -> Result<Option<String>, SecretsError> {
        if stored.is_empty() || Self::is_cloaked(stored) || self.backends.is_empty() {
            return Ok(None);
        }
        self.cloak(stored).map(Some)
    }

    /// What to store for `plaintext`.
    pub fn cloak(&self, plaintext: &str) -> Result<String, SecretsError> {
        if plaintext.is_empty() || Self::is_cloaked(plaintext) {
            return Ok(plaintext.to_string());
        }
        let backend = self.backends.first().ok_or(SecretsError::NoPlugin)?;
        let value = backend.cloak(plaintext).map_err(|e| SecretsError::Plugin {
            plugin: backend.name().to_string(),
            message: e.message,
        })?;
        if !Self::is_cloaked(&value) {
            return Err(SecretsError::NotCloaked {
                plugin: backend.name().to_string(),
            });
        }
        Ok(value)
    }

    /// The plaintext of a stored value.
    pub fn decloak(&self, stored: &str) -> Result<String, SecretsError> {
        if !Self::is_cloaked(stored) {
            return Ok(stored.to_string());
        }
        for backend in self.backends.iter() {
            let recognized = backend
                .recognizes(stored)
                .map_err(|e| SecretsError::Plugin {
                    plugin: backend.name().to_string(),
                    message: e.message,
                })?;
            if recognized {
                return backend.decloak(stored).map_err(|e| SecretsError::Plugin {
                    plugin: backend.name().to_string(),
                    message: e.message,
                });
            }
        }
        Err(SecretsError::Unrecognized)
    }
}

/// Writes a new key file at `path` (`vespene secrets generate`), refusing
/// to overwrite one that exists, as the original's `generate_secret` did.
///
/// The format is a contract with the secrets plugin: UTF-8 text; lines
/// starting with `#` and blank lines are ignored; the first other line is
/// the standard base64 (with padding) of 32 random bytes. Mode 0600.
pub fn generate_key_file(path: &Path) -> Result<(), SecretsError> {
    let fail = |message: String| SecretsError::KeyFile {
        path: path.to_path_buf(),
        message,
    };
    if path.exists() {
        return Err(fail(
            "already exists; refusing to overwrite it (the secrets encrypted with it would \
             become unreadable)"
                .into(),
        ));
    }
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| fail(format!("no random bytes: {e}")))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(key);
    let text = format!(
        "# Vespene secrets key: encrypts SSH keys and passwords stored in the database.\n\
         # Keep it secret, use the same file on every node, and back it up: without it\n\
         # the stored secrets cannot be read.\n\
         {encoded}\n"
    );
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                fail("already exists; refusing to overwrite it".into())
            }
            _ => fail(format!("cannot create: {e}")),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| fail(format!("cannot write: {e}")))?;
    Ok(())
}

/// Reads the key of a key file written by [`generate_key_file`] (the
/// format the secrets plugin reads; for checks and tests).
pub fn read_key_file(path: &Path) -> Result<[u8; 32], SecretsError> {
    let fail = |message: String| SecretsError::KeyFile {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| fail("holds no key line".into()))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|e| fail(format!("the key line is not base64: {e}")))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| fail(format!("the key is {} bytes, not 32", b.len())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn key_file_format_mode_and_refusal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.key");
        generate_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = read_key_file(&path).unwrap();
        assert_ne!(key, [0u8; 32]);
        let text = std::fs::read_to_string(&path).unwrap();
        let line = text.lines().find(|l| !l.starts_with('#')).unwrap();
        assert_eq!(line.len(), 44, "32 bytes in padded base64");
        assert!(line.ends_with('='));

        let again = generate_key_file(&path).unwrap_err().to_string();
        assert!(again.contains("already exists"), "{again}");
        assert_eq!(read_key_file(&path).unwrap(), key, "the old key is kept");

        let other = dir.path().join("other.key");
        generate_key_file(&other).unwrap();
        assert_ne!(read_key_file(&other).unwrap(), key);
    }
}
