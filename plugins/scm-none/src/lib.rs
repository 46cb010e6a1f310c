//! `vespene.plugins.scm.none`: for projects that are not in source control.
//!
//! The checkout does nothing: the build root stays as the host made it and
//! the build script runs there as it is. The revision and its author are
//! recorded as empty strings, as the original did. The host also uses this
//! plugin when a project's `scm_type` names no configured entry.

use vespene_plugin_api::kinds::scm::{CheckoutRequest, CheckoutResult};
use vespene_plugin_api::{
    CreateContext, Plugin, PluginError, ScmPlugin, export_plugin, serde_json,
};

/// The plugin; it has no state and takes no parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoScm;

impl Plugin for NoScm {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        match &ctx.params {
            serde_json::Value::Null => Ok(NoScm),
            serde_json::Value::Object(map) if map.is_empty() => Ok(NoScm),
            other => Err(PluginError::invalid_params(format!(
                "'{}' takes no parameters, but was given {other}",
                ctx.name
            ))),
        }
    }
}

impl ScmPlugin for NoScm {
    fn checkout(&self, _request: &CheckoutRequest) -> Result<CheckoutResult, PluginError> {
        Ok(CheckoutResult {
            revision: String::new(),
            revision_username: String::new(),
            commit: None,
        })
    }
}

export_plugin! {
    name: "vespene.plugins.scm.none",
    kind: scm,
    plugin: NoScm,
    description: "No source control: checks nothing out and records an empty revision.",
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::testing::TestHost;
    use vespene_plugin_api::{BuildInfo, ProjectInfo};

    fn make(params: serde_json::Value) -> Result<NoScm, PluginError> {
        let th = TestHost::unsupported();
        NoScm::create(CreateContext {
            name: "none",
            params,
            host: th.host(),
        })
    }

    #[test]
    fn checkout_records_an_empty_revision_and_touches_nothing() {
        let root = std::env::temp_dir().join(format!("scm-none-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let request = CheckoutRequest {
            build: BuildInfo {
                id: 7,
                revision: "stale".into(),
                ..Default::default()
            },
            project: ProjectInfo {
                repo_url: "https://example.invalid/repo.git".into(),
                scm_type: "no-such-type".into(),
                ..Default::default()
            },
            build_root: root.display().to_string(),
            ..Default::default()
        };
        let result = make(serde_json::Value::Null)
            .unwrap()
            .checkout(&request)
            .unwrap();
        assert_eq!(result.revision, "");
        assert_eq!(result.revision_username, "");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
        std::fs::remove_dir(&root).unwrap();
    }

    #[test]
    fn answers_through_the_json_door() {
        use vespene_plugin_api::export::Dispatch;
        let adapter = vespene_plugin_api::kinds::scm::Adapter(make(serde_json::json!({})).unwrap());
        let out = adapter
            .call("checkout", r#"{"build_root":"/nowhere"}"#)
            .unwrap();
        assert_eq!(out, r#"{"revision":"","revision_username":""}"#);
        let err = adapter.call("update", "{}").unwrap_err();
        assert_eq!(err.code, vespene_plugin_api::ErrorCode::Unsupported);
    }

    #[test]
    fn refuses_parameters() {
        let err = make(serde_json::json!({"depth": 1})).unwrap_err();
        assert_eq!(err.code, vespene_plugin_api::ErrorCode::InvalidParams);
        assert!(err.message.contains("takes no parameters"), "{err}");
        assert!(make(serde_json::json!("x")).is_err());
    }
}
