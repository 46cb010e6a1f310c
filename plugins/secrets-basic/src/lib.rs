//! `vespene.plugins.secrets.basic`: encrypts secrets at rest (SSH private
//! keys, their passphrases, service-login passwords) under a key kept in a
//! file outside the database, and reads the values the original Python
//! Vespene stored.
//!
//! # Parameters
//!
//! * `key_file` (string, optional): path of the key file. Without it, the
//!   host's `secrets_key_file` setting (`HostInfo::secrets_key_file`) is used.
//! * `legacy_fernet_key` (string, optional): the original's
//!   `SYMETRIC_SECRET_KEY`, a URL-safe base64 Fernet key of 32 bytes, to read
//!   `V1` values when migrating a Python installation.
//! * `legacy_fernet_key_file` (string, optional): a file holding that key:
//!   either the original's `/etc/vespene/settings.d/secrets.py` as it is (its
//!   `SYMETRIC_SECRET_KEY = b'...'` line is used), or a text file whose first
//!   line that is neither blank nor a `#` comment is the key. Give at most one
//!   of the two legacy parameters.
//!
//! # The key file
//!
//! This layout is a contract with the core, which writes the file in
//! `vespene secrets generate`:
//!
//! * UTF-8 text, lines separated by `\n` (a `\r` before it is tolerated).
//! * Leading and trailing white space of each line is ignored.
//! * Lines that are then empty, or whose first character is `#`, are ignored.
//! * The first remaining line is the key: exactly 32 random bytes in the
//!   standard base64 alphabet of RFC 4648 §4 (`A–Z a–z 0–9 + /`) with `=`
//!   padding, i.e. 44 characters of which the last is `=`. (A key line
//!   without its padding is accepted too; the URL-safe alphabet is not.)
//! * Any later lines are ignored (reserved).
//! * The file should be mode `0600`, owned by the account the server and the
//!   workers run as, and identical on every node. A key file that group or
//!   others may access is accepted with a warning in the log.
//!
//! For example:
//!
//! ```text
//! # Vespene secrets key. Keep it private and backed up.
//! 3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs=
//! ```
//!
//! A key file that does not exist is not an error when the instance is
//! created (the server starts without one): encrypting then fails with an
//! error naming the file and saying to run `vespene secrets generate`, and
//! `V2` values are not recognized. The file is looked for again on each use
//! until it appears. A key file that exists but is unreadable or malformed
//! is refused when the instance is created, with the file and the reason.
//!
//! # Stored values
//!
//! Every value starts with `[VESPENE-CLOAK][BASIC]`; the version tag that
//! follows picks the implementation:
//!
//! * `[VESPENE-CLOAK][BASIC][V2]` + standard base64 (padded) of
//!   `nonce (24 bytes) || ciphertext || Poly1305 tag (16 bytes)`:
//!   XChaCha20-Poly1305 under the key file's key, a fresh random nonce per
//!   value, the header as associated data (the `v2` module says why this
//!   cipher).
//!   Every new value is written this way.
//! * `[VESPENE-CLOAK][BASIC][V1]` + lower-case hex of a Fernet token: what
//!   the original wrote. Read only, with the legacy key (the `fernet` module
//!   says how, and why not with the `fernet` crate).
//!
//! Errors never contain a key, a plaintext, or the value being decrypted.

mod fernet;
mod keyfile;
mod v2;

pub use keyfile::generate_key_file_contents;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_PAD_INDIFFERENT;
use fernet::FernetKey;
use keyfile::{KeyFileError, read_key_file, read_legacy_key_file};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use v2::{HEADER as V2_HEADER, V2Cipher};
use vespene_plugin_api::kinds::secrets::CLOAK_HEADER;
use vespene_plugin_api::{
    CreateContext, Host, LogLevel, Plugin, PluginError, SecretsPlugin, export_plugin,
};

/// What every value of this plugin starts with.
const BASIC_HEADER: &str = "[VESPENE-CLOAK][BASIC]";
/// The header of the original's Fernet values.
const V1_HEADER: &str = "[VESPENE-CLOAK][BASIC][V1]";

/// The parameters. No `Debug`: `legacy_fernet_key` is a secret.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    key_file: Option<String>,
    legacy_fernet_key: Option<String>,
    legacy_fernet_key_file: Option<String>,
}

/// The plugin instance. Its `Debug` shows paths, never keys.
pub struct BasicSecrets {
    name: String,
    /// `None` when neither the parameter nor the host names a key file.
    key_path: Option<PathBuf>,
    /// Set once the key file has been read.
    cipher: OnceLock<V2Cipher>,
    legacy: Option<FernetKey>,
    host: Host,
}

impl std::fmt::Debug for BasicSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicSecrets")
            .field("name", &self.name)
            .field("key_path", &self.key_path)
            .field(
                "key",
                &if self.cipher.get().is_some() {
                    "<redacted>"
                } else {
                    "<not loaded>"
                },
            )
            .field(
                "legacy_fernet_key",
                &self.legacy.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn missing_key_message(path: &Path) -> String {
    format!(
        "the secrets key file '{}' does not exist: run `vespene secrets generate` to create it",
        path.display()
    )
}

/// `0o644` → `"0644"`.
fn octal_mode(mode: u32) -> String {
    format!("{mode:04o}")
}

/// Lower-case (or upper-case) hex to bytes.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some((nibble(pair[0])? << 4) | nibble(pair[1])?))
        .collect()
}

impl BasicSecrets {
    fn warn_loose_mode(&self, path: &Path, loose_mode: Option<u32>) {
        if let Some(mode) = loose_mode {
            self.host.log(
                LogLevel::Warn,
                &format!(
                    "the secrets key file '{}' is accessible by group or others (mode {}); \
                     restrict it with `chmod 600 {}`",
                    path.display(),
                    octal_mode(mode),
                    path.display()
                ),
            );
        }
    }

    /// Reads the key file into the V2 cipher (warning when its mode lets
    /// others read it).
    fn load_key(&self, path: &Path) -> Result<(), KeyFileError> {
        let loaded = read_key_file(path)?;
        self.warn_loose_mode(path, loaded.loose_mode);
        let _ = self.cipher.set(V2Cipher::new(&loaded.key));
        Ok(())
    }

    /// The V2 cipher, reading the key file if it has not been read yet.
    fn cipher(&self) -> Result<&V2Cipher, PluginError> {
        if let Some(c) = self.cipher.get() {
            return Ok(c);
        }
        let Some(path) = &self.key_path else {
            return Err(PluginError::failed(
                "no secrets key file is configured: set the secrets_key_file setting or the \
                 plugin parameter key_file, and run `vespene secrets generate`",
            ));
        };
        match self.load_key(path) {
            Ok(()) => Ok(self.cipher.get().expect("set by load_key")),
            Err(KeyFileError::Missing) => Err(PluginError::failed(missing_key_message(path))),
            Err(KeyFileError::Unusable(why)) => Err(PluginError::failed(format!(
                "the secrets key file '{}' {why}",
                path.display()
            ))),
        }
    }

    fn decloak_v1(&self, body: &str) -> Result<String, PluginError> {
        let Some(key) = &self.legacy else {
            return Err(PluginError::failed(format!(
                "this secret was stored by the original Python Vespene ({V1_HEADER}, Fernet): \
                 set the parameter legacy_fernet_key or legacy_fernet_key_file of secrets \
                 plugin '{}' to the original's SYMETRIC_SECRET_KEY to read it",
                self.name
            )));
        };
        let fail =
            |why: &str| PluginError::failed(format!("cannot decrypt a {V1_HEADER} secret: {why}"));
        let token =
            decode_hex(body).ok_or_else(|| fail("the value after the header is not hex"))?;
        let raw = URL_SAFE_PAD_INDIFFERENT
            .decode(&token)
            .map_err(|_| fail("the value is not a Fernet token (not URL-safe base64)"))?;
        let plain = key.decrypt(&raw).map_err(|e| fail(&e.to_string()))?;
        String::from_utf8(plain.to_vec()).map_err(|_| fail("the decrypted value is not UTF-8 text"))
    }
}

impl Plugin for BasicSecrets {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let name = ctx.name.to_string();
        let params: Params = ctx.params()?;
        let key_path = match params.key_file {
            Some(p) if p.trim().is_empty() => {
                return Err(PluginError::invalid_params(format!(
                    "parameter key_file of '{name}' is empty"
                )));
            }
            Some(p) => Some(PathBuf::from(p)),
            None => {
                let info = ctx.host.info().map_err(|e| {
                    PluginError::invalid_params(format!(
                        "'{name}' has no key_file parameter and the host did not say where the \
                         secrets key file is: {e}"
                    ))
                })?;
                let path = info.secrets_key_file.trim();
                (!path.is_empty()).then(|| PathBuf::from(path))
            }
        };
        let legacy = match (params.legacy_fernet_key, params.legacy_fernet_key_file) {
            (Some(_), Some(_)) => {
                return Err(PluginError::invalid_params(format!(
                    "'{name}': give legacy_fernet_key or legacy_fernet_key_file, not both"
                )));
            }
            (Some(key), None) => Some(keyfile::parse_fernet_key(&key).map_err(|e| {
                PluginError::invalid_params(format!("parameter legacy_fernet_key of '{name}' {e}"))
            })?),
            (None, Some(path)) => Some(read_legacy_key_file(Path::new(&path)).map_err(|e| {
                PluginError::invalid_params(format!(
                    "legacy_fernet_key_file '{path}' of '{name}' {e}"
                ))
            })?),
            (None, None) => None,
        };
        let plugin = BasicSecrets {
            name,
            key_path,
            cipher: OnceLock::new(),
            legacy,
            host: ctx.host,
        };
        match &plugin.key_path {
            None => plugin.host.log(
                LogLevel::Warn,
                "no secrets key file is configured: secrets cannot be encrypted",
            ),
            Some(path) => match plugin.load_key(path) {
                Ok(()) => {}
                Err(KeyFileError::Missing) => plugin.host.log(
                    LogLevel::Warn,
                    &format!(
                        "{}; until then secrets cannot be encrypted or read",
                        missing_key_message(path)
                    ),
                ),
                Err(KeyFileError::Unusable(why)) => {
                    return Err(PluginError::invalid_params(format!(
                        "the secrets key file '{}' of '{}' {why}",
                        path.display(),
                        plugin.name
                    )));
                }
            },
        }
        Ok(plugin)
    }
}

impl SecretsPlugin for BasicSecrets {
    fn cloak(&self, plaintext: &str) -> Result<String, PluginError> {
        let cipher = self
            .cipher()
            .map_err(|e| PluginError::failed(format!("cannot encrypt a secret: {}", e.message)))?;
        cipher
            .encrypt(plaintext)
            .map_err(|e| PluginError::failed(format!("cannot encrypt a secret: {e}")))
    }

    fn decloak(&self, value: &str) -> Result<String, PluginError> {
        if let Some(body) = value.strip_prefix(V2_HEADER) {
            let cipher = self.cipher().map_err(|e| {
                PluginError::failed(format!("cannot decrypt a secret: {}", e.message))
            })?;
            return cipher.decrypt(body).map_err(|e| {
                PluginError::failed(format!("cannot decrypt a {V2_HEADER} secret: {e}"))
            });
        }
        if let Some(body) = value.strip_prefix(V1_HEADER) {
            return self.decloak_v1(body);
        }
        if let Some(rest) = value.strip_prefix(BASIC_HEADER) {
            // Quote a version tag that looks like one, never the value.
            let tag = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .map(|(tag, _)| tag)
                .filter(|t| {
                    !t.is_empty() && t.len() <= 8 && t.chars().all(|c| c.is_ascii_alphanumeric())
                });
            return Err(PluginError::failed(match tag {
                Some(tag) => format!(
                    "unknown version '[{tag}]' of the {BASIC_HEADER} secrets format (this \
                     plugin reads V1 and V2)"
                ),
                None => format!("no version tag follows {BASIC_HEADER} in the value"),
            }));
        }
        if value.starts_with(CLOAK_HEADER) {
            return Err(PluginError::failed(format!(
                "this secret was encrypted by another secrets plugin (it does not start with \
                 {BASIC_HEADER})"
            )));
        }
        Err(PluginError::failed(format!(
            "the value is not an encrypted secret (it does not start with {BASIC_HEADER})"
        )))
    }

    fn recognizes(&self, value: &str) -> bool {
        if value.starts_with(V2_HEADER) {
            self.cipher().is_ok()
        } else if value.starts_with(V1_HEADER) {
            self.legacy.is_some()
        } else {
            false
        }
    }
}

export_plugin! {
    name: "vespene.plugins.secrets.basic",
    kind: secrets,
    plugin: BasicSecrets,
    description: "Encrypts secrets at rest with XChaCha20-Poly1305 under a key file; reads the original's Fernet values given the old key.",
}

#[cfg(test)]
mod tests;
