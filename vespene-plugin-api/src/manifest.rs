//! What a library says about itself: name, kind, per-kind API version.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Major version of the binary interface (both doors). It never changes for
/// the life of the 1.x interface; evolution happens in JSON.
pub const ABI_MAJOR: u32 = 1;

/// The ten plugin kinds. They back the original's twelve settings sections:
/// `pre_triggers`, `success_triggers` and `failure_triggers` share `Trigger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Scm,
    Isolation,
    Output,
    Trigger,
    Authorization,
    Variables,
    Secrets,
    Organizations,
    AutoscalePlanner,
    AutoscaleExecutor,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Scm,
        Kind::Isolation,
        Kind::Output,
        Kind::Trigger,
        Kind::Authorization,
        Kind::Variables,
        Kind::Secrets,
        Kind::Organizations,
        Kind::AutoscalePlanner,
        Kind::AutoscaleExecutor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Scm => "scm",
            Kind::Isolation => "isolation",
            Kind::Output => "output",
            Kind::Trigger => "trigger",
            Kind::Authorization => "authorization",
            Kind::Variables => "variables",
            Kind::Secrets => "secrets",
            Kind::Organizations => "organizations",
            Kind::AutoscalePlanner => "autoscale_planner",
            Kind::AutoscaleExecutor => "autoscale_executor",
        }
    }

    /// The API version of this kind that this crate (and so the host built
    /// with it) implements.
    pub fn api_version(self) -> ApiVersion {
        // Every kind starts at 1.0; bump the minor when a kind gains an
        // operation or an optional field, the major never within ABI 1.
        match self {
            // 1.1: `checked_out` and the request's optional `commit`;
            // 1.2: the request's `service_logins`.
            Kind::Trigger => ApiVersion { major: 1, minor: 2 },
            // 1.1: the result's optional `commit`.
            Kind::Scm => ApiVersion { major: 1, minor: 1 },
            _ => ApiVersion { major: 1, minor: 0 },
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown plugin kind '{s}'"))
    }
}

/// `major.minor` of a per-kind API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    /// Nushell's rule: two versions work together when their majors agree.
    /// A plugin for a newer minor simply offers operations this host never
    /// calls; a plugin for an older minor answers `unsupported` to newer ones
    /// and the host falls back.
    pub fn is_compatible_with(self, other: ApiVersion) -> bool {
        self.major == other.major
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("API version '{s}' is not MAJOR.MINOR");
        let (ma, mi) = s.split_once('.').ok_or_else(bad)?;
        Ok(ApiVersion {
            major: ma.parse().map_err(|_| bad())?,
            minor: mi.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for ApiVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApiVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The manifest every library exports, as JSON:
/// `{"abi":1,"name":"vespene.plugins.output.timestamp","kind":"output",
///   "api":"1.0","version":"1.0.0","description":"..."}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// ABI major the library was built for; must equal [`ABI_MAJOR`].
    pub abi: u32,
    /// Dotted name settings refer to, e.g. `vespene.plugins.scm.git`.
    pub name: String,
    pub kind: Kind,
    /// The per-kind API version the plugin implements.
    pub api: ApiVersion,
    /// The plugin's own version.
    pub version: String,
    #[serde(default)]
    pub description: String,
}

impl Manifest {
    /// Checks the fields a host relies on. Returns a one-line reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.abi != ABI_MAJOR {
            return Err(format!(
                "built for plugin ABI {} but this Vespene speaks ABI {ABI_MAJOR}",
                self.abi
            ));
        }
        if !is_dotted_name(&self.name) {
            return Err(format!(
                "plugin name '{}' is not a dotted name such as vespene.plugins.scm.git",
                self.name
            ));
        }
        let host = self.kind.api_version();
        if !self.api.is_compatible_with(host) {
            return Err(format!(
                "implements {} API {} but this Vespene speaks {} API {}",
                self.kind, self.api, self.kind, host
            ));
        }
        Ok(())
    }
}

/// `a.b.c`: at least two segments of `[A-Za-z0-9_-]`.
pub fn is_dotted_name(name: &str) -> bool {
    let mut segments = 0;
    for seg in name.split('.') {
        if seg.is_empty()
            || !seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return false;
        }
        segments += 1;
    }
    segments >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_json_shape() {
        let m = Manifest {
            abi: 1,
            name: "vespene.plugins.output.timestamp".into(),
            kind: Kind::Output,
            api: ApiVersion { major: 1, minor: 0 },
            version: "1.2.3".into(),
            description: "d".into(),
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(
            j,
            r#"{"abi":1,"name":"vespene.plugins.output.timestamp","kind":"output","api":"1.0","version":"1.2.3","description":"d"}"#
        );
        assert_eq!(serde_json::from_str::<Manifest>(&j).unwrap(), m);
        assert!(m.validate().is_ok());
    }

    #[test]
    fn validation_reasons() {
        let mut m: Manifest = serde_json::from_str(
            r#"{"abi":2,"name":"x.y","kind":"scm","api":"1.0","version":"1"}"#,
        )
        .unwrap();
        assert!(m.validate().unwrap_err().contains("ABI 2"));
        m.abi = 1;
        m.api = ApiVersion { major: 2, minor: 0 };
        assert!(m.validate().unwrap_err().contains("scm API 2.0"));
        m.api = ApiVersion { major: 1, minor: 7 };
        assert!(m.validate().is_ok());
        m.name = "nodots".into();
        assert!(m.validate().is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.as_str())
            );
        }
    }
}
