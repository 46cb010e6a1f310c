//! `vespene.plugins.triggers.commit_status`: reports a build on the commit
//! it built, at the forge the project's repository is on — GitHub (and
//! GitHub Enterprise), GitLab, Gitea — so the forge shows it beside the
//! commit and its pull requests, linked to the build's page.
//!
//! Configured as a pre trigger it reports `pending` once the checkout has
//! recorded the commit (the trigger API's `checked_out` operation: before
//! the checkout a manually started build has no commit yet); as a success
//! or failure trigger it reports `success`, `failure`, or for a stopped
//! build `error` (GitLab: `canceled`). Projects whose repository URL is on
//! none of the configured forges are left alone, silently. As every
//! notification, a problem is reported in the build's messages and never
//! fails the build. A forge's token is either a parameter (`token`) or the
//! password of a service login (`service_login = "NAME"`) that the host
//! resolves for the build's project on each call (trigger API 1.2); either
//! way it is sent only in a header.

pub mod forge;

use forge::{Forge, State};
use vespene_notify_support::{
    Limits, Notifier, Sender, base_url, kind_of, refuse_unknown, snippet, string_param,
};
use vespene_plugin_api::kinds::trigger::{Event, HookRequest};
use vespene_plugin_api::serde_json::{self, Value};
use vespene_plugin_api::{CreateContext, Host, Plugin, PluginError, TriggerPlugin, export_plugin};

/// The status's name on the forge unless `context` says otherwise.
pub const DEFAULT_CONTEXT: &str = "vespene";

/// One configured commit-status trigger.
#[derive(Debug)]
pub struct CommitStatus {
    who: String,
    forges: Vec<Forge>,
    context: String,
    public_url: Option<String>,
    sender: Sender,
    host: Host,
}

impl Plugin for CommitStatus {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let who = format!("commit_status trigger '{}'", ctx.name);
        let invalid = |why: String| PluginError::invalid_params(format!("{who}: {why}"));
        let Value::Object(params) = &ctx.params else {
            return Err(invalid(
                "needs {forges = [{type = \"github\", url = \"https://github.com\", token = \"...\"}]}"
                    .into(),
            ));
        };
        refuse_unknown(params, &["context", "forges", "public_url"]).map_err(invalid)?;
        let forges = match params.get("forges") {
            Some(Value::Array(list)) if !list.is_empty() => list
                .iter()
                .enumerate()
                .map(|(at, entry)| Forge::from_params(entry, at))
                .collect::<Result<Vec<_>, _>>()
                .map_err(invalid)?,
            Some(Value::Array(_)) | None => {
                return Err(invalid("'forges' is required: at least one forge".into()));
            }
            Some(other) => {
                return Err(invalid(format!(
                    "'forges' must be an array of tables, not {}",
                    kind_of(other)
                )));
            }
        };
        let context = string_param(params, "context")
            .map_err(invalid)?
            .unwrap_or_else(|| DEFAULT_CONTEXT.into());
        let public_url = string_param(params, "public_url")
            .map_err(invalid)?
            .map(|u| base_url("public_url", &u))
            .transpose()
            .map_err(invalid)?;
        let limits = Limits::from_params(params).map_err(invalid)?;
        Ok(CommitStatus {
            who,
            forges,
            context,
            public_url,
            sender: Sender::new(limits),
            host: ctx.host,
        })
    }
}

/// The full commit id of the request: its `commit`, or a `build.revision`
/// that is one (40 or 64 hex digits).
pub fn commit_of(request: &HookRequest) -> Option<String> {
    let full =
        |s: &str| (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
    request
        .commit
        .as_deref()
        .filter(|c| full(c))
        .or_else(|| Some(request.build.revision.as_str()).filter(|r| full(r)))
        .map(str::to_ascii_lowercase)
}

/// The state a request reports, and its description.
pub fn state_of(request: &HookRequest, pre: bool) -> (State, String) {
    let id = request.build.id;
    if pre {
        return (State::Pending, format!("Vespene build {id} is running"));
    }
    match request.event {
        Event::Success => (State::Success, format!("Vespene build {id} succeeded")),
        _ if request.build.status == "ABORTED" => {
            (State::Stopped, format!("Vespene build {id} was stopped"))
        }
        _ => (State::Failure, format!("Vespene build {id} failed")),
    }
}

impl CommitStatus {
    fn report(&self, request: &HookRequest, pre: bool) {
        let Some((forge, repository)) = self
            .forges
            .iter()
            .find_map(|f| f.repository(&request.project.repo_url).map(|r| (f, r)))
        else {
            return;
        };
        let notes = Notifier {
            host: self.host,
            who: &self.who,
        };
        let (state, description) = state_of(request, pre);
        let Some(sha) = commit_of(request) else {
            notes.problem(&format!(
                "no full commit id for build {} (revision '{}'): no status reported to {repository}",
                request.build.id, request.build.revision
            ));
            return;
        };
        let token = match forge.credential.token(request) {
            Ok(token) => token,
            Err(why) => {
                notes.problem(&format!("{why}: no status reported to {repository}"));
                return;
            }
        };
        let target_url = self
            .public_url
            .as_ref()
            .map(|u| format!("{u}/ui/build/{}", request.build.id));
        let req = forge.request(
            token,
            &repository,
            &sha,
            state,
            &description,
            &self.context,
            target_url.as_deref(),
        );
        let what = format!("{repository}@{}", &sha[..12]);
        match self.sender.send(&req, &mut |line| notes.message(line)) {
            Ok(a) if (200..300).contains(&a.status) => {
                notes.message(&format!(
                    "status '{}' reported on {what}",
                    state.word(forge.kind)
                ));
            }
            Ok(a) => notes.problem(&format!(
                "the forge refused the status for {what}: HTTP {}: {}",
                a.status,
                answer_message(&a.body)
            )),
            Err(failure) => {
                notes.problem(&format!(
                    "could not report the status for {what}: {failure}"
                ));
            }
        }
    }
}

/// What an error answer says: the forges put it in `message` (GitHub adds
/// `errors`), anything else is quoted.
pub fn answer_message(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => {
            let mut text = match map.get("message") {
                Some(Value::String(m)) => m.clone(),
                Some(other) => other.to_string(),
                None => snippet(body, 200),
            };
            if let Some(errors) = map.get("errors") {
                text.push_str(&format!(" {}", snippet(&errors.to_string(), 200)));
            }
            text
        }
        _ if body.trim().is_empty() => "(empty)".into(),
        _ => format!("not JSON: {}", snippet(body, 200)),
    }
}

impl TriggerPlugin for CommitStatus {
    fn execute_hook(&self, request: &HookRequest) -> Result<(), PluginError> {
        // Before the checkout there is a commit only when the host knows
        // it already; otherwise `checked_out` reports "pending".
        if request.event == Event::Pre && commit_of(request).is_none() {
            return Ok(());
        }
        self.report(request, request.event == Event::Pre);
        Ok(())
    }

    fn checked_out(&self, request: &HookRequest) -> Result<(), PluginError> {
        self.report(request, true);
        Ok(())
    }
}

export_plugin! {
    name: "vespene.plugins.triggers.commit_status",
    kind: trigger,
    plugin: CommitStatus,
    description: "Reports builds as pending, success or failure on their commit at GitHub, GitLab or Gitea.",
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::BuildInfo;
    use vespene_plugin_api::ErrorCode;
    use vespene_plugin_api::serde_json::json;
    use vespene_plugin_api::testing::TestHost;

    #[test]
    fn parameters_are_checked() {
        let host = TestHost::unsupported();
        for (params, why) in [
            (Value::Null, "needs {forges"),
            (json!({}), "'forges' is required"),
            (json!({"forges": []}), "'forges' is required"),
            (json!({"forges": {}}), "must be an array"),
            (
                json!({"forges": [{"type": "github", "url": "https://github.com", "token": "x"}], "public_url": "ci"}),
                "'public_url' must be",
            ),
        ] {
            let err = CommitStatus::create(CreateContext {
                name: "st",
                params,
                host: host.host(),
            })
            .unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParams);
            assert!(
                err.message.starts_with("commit_status trigger 'st': "),
                "{err:?}"
            );
            assert!(err.message.contains(why), "{why}: {err:?}");
        }
    }

    #[test]
    fn the_commit_is_the_full_id() {
        let mut r = HookRequest::default();
        r.build.revision = "6dcb09b".into();
        assert_eq!(commit_of(&r), None);
        r.commit = Some("6DCB09B5B57875F334F61AEBED695E2E4193DB5E".into());
        assert_eq!(
            commit_of(&r).unwrap(),
            "6dcb09b5b57875f334f61aebed695e2e4193db5e"
        );
        r.commit = None;
        r.build.revision = "6dcb09b5b57875f334f61aebed695e2e4193db5e".into();
        assert!(commit_of(&r).is_some());
    }

    #[test]
    fn states_and_descriptions() {
        let r = |event, status: &str| {
            HookRequest::new(
                event,
                BuildInfo {
                    id: 3,
                    status: status.into(),
                    ..Default::default()
                },
                Default::default(),
            )
        };
        assert_eq!(
            state_of(&r(Event::Pre, "RUNNING"), true),
            (State::Pending, "Vespene build 3 is running".into())
        );
        assert_eq!(
            state_of(&r(Event::Success, "SUCCESS"), false).0,
            State::Success
        );
        assert_eq!(
            state_of(&r(Event::Failure, "FAILURE"), false).0,
            State::Failure
        );
        assert_eq!(
            state_of(&r(Event::Failure, "ABORTED"), false),
            (State::Stopped, "Vespene build 3 was stopped".into())
        );
    }

    #[test]
    fn error_answers_are_read() {
        assert_eq!(
            answer_message(r#"{"message":"Bad credentials","documentation_url":"x"}"#),
            "Bad credentials"
        );
        assert_eq!(answer_message("<html>"), "not JSON: <html>");
        assert_eq!(answer_message(""), "(empty)");
    }
}
