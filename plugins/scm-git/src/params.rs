//! The plugin's parameters, from the `[plugins.scm]` entry:
//!
//! ```toml
//! git = ["vespene.plugins.scm.git", { host_keys = "known_hosts", timeout_seconds = 600 }]
//! ```

use vespene_plugin_api::{PluginError, serde_json};

/// How SSH host keys are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeys {
    /// The host's key must be listed in one of these known_hosts files
    /// (OpenSSH format, hashed entries included). The default.
    KnownHosts(Vec<String>),
    /// Any host key is accepted, as the original did
    /// (`StrictHostKeyChecking=no`). Must be asked for by name.
    AcceptAny,
}

/// Parsed parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub host_keys: HostKeys,
    /// Overrides the host's clone timeout when set.
    pub timeout_seconds: Option<u64>,
}

/// The files read when `known_hosts_files` is not given: the worker user's
/// own and the system-wide one, as `ssh` reads them.
pub fn default_known_hosts() -> Vec<String> {
    let mut files = Vec::new();
    if let Some(home) = std::env::var_os("HOME") {
        files.push(format!("{}/.ssh/known_hosts", home.to_string_lossy()));
    }
    files.push("/etc/ssh/ssh_known_hosts".into());
    files
}

impl Params {
    pub fn parse(name: &str, value: &serde_json::Value) -> Result<Params, PluginError> {
        let bad = |why: String| PluginError::invalid_params(format!("'{name}': {why}"));
        let empty = serde_json::Map::new();
        let map = match value {
            serde_json::Value::Null => &empty,
            serde_json::Value::Object(m) => m,
            other => return Err(bad(format!("parameters must be a table, not {other}"))),
        };
        for key in map.keys() {
            if !["host_keys", "known_hosts_files", "timeout_seconds"].contains(&key.as_str()) {
                return Err(bad(format!(
                    "unknown parameter '{key}' (known: host_keys, known_hosts_files, timeout_seconds)"
                )));
            }
        }
        let files = match map.get("known_hosts_files") {
            None => default_known_hosts(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("known_hosts_files must list paths, not {v}")))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(bad(format!(
                    "known_hosts_files must be a list, not {other}"
                )));
            }
        };
        let host_keys = match map.get("host_keys").map(|v| (v, v.as_str())) {
            None | Some((_, Some("known_hosts"))) => HostKeys::KnownHosts(files),
            Some((_, Some("accept_any"))) => {
                if map.contains_key("known_hosts_files") {
                    return Err(bad(
                        "known_hosts_files has no effect with host_keys = \"accept_any\"".into(),
                    ));
                }
                HostKeys::AcceptAny
            }
            Some((v, _)) => {
                return Err(bad(format!(
                    "host_keys must be \"known_hosts\" or \"accept_any\", not {v}"
                )));
            }
        };
        let timeout_seconds = match map.get("timeout_seconds") {
            None => None,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Some(n),
                _ => {
                    return Err(bad(format!(
                        "timeout_seconds must be a positive number, not {v}"
                    )));
                }
            },
        };
        Ok(Params {
            host_keys,
            timeout_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::serde_json::json;

    #[test]
    fn table_of_parameters() {
        let cases: &[(serde_json::Value, Result<Params, &str>)] = &[
            (
                json!(null),
                Ok(Params {
                    host_keys: HostKeys::KnownHosts(default_known_hosts()),
                    timeout_seconds: None,
                }),
            ),
            (
                json!({"host_keys": "accept_any", "timeout_seconds": 30}),
                Ok(Params {
                    host_keys: HostKeys::AcceptAny,
                    timeout_seconds: Some(30),
                }),
            ),
            (
                json!({"known_hosts_files": ["/a", "/b"]}),
                Ok(Params {
                    host_keys: HostKeys::KnownHosts(vec!["/a".into(), "/b".into()]),
                    timeout_seconds: None,
                }),
            ),
            (json!({"host_keys": "yes"}), Err("host_keys must be")),
            (json!({"depth": 1}), Err("unknown parameter 'depth'")),
            (
                json!({"timeout_seconds": 0}),
                Err("timeout_seconds must be"),
            ),
            (json!({"known_hosts_files": "/a"}), Err("must be a list")),
            (
                json!({"host_keys": "accept_any", "known_hosts_files": []}),
                Err("has no effect"),
            ),
            (json!(3), Err("must be a table")),
        ];
        for (input, want) in cases {
            match (Params::parse("git", input), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{input}"),
                (Err(e), Err(part)) => assert!(e.message.contains(part), "{input}: {e}"),
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }
}
