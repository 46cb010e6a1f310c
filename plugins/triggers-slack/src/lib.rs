//! `vespene.plugins.triggers.slack`: posts the original's texts to a Slack
//! channel with `chat.postMessage` — `Vespene Build 5 for project "demo"
//! started` as a pre trigger, `... succeeded` / `... failed` as a success or
//! failure trigger (reference §3.2).
//!
//! The token is a parameter (the original's `{channel, token}`) or the
//! password of a service login (`service_login = "NAME"`, resolved by the
//! host for the build's project on each call), sent only as
//! `Authorization: Bearer`, never written anywhere. Slack answers errors
//! with HTTP 200 and `{"ok":false,"error":CODE}`; they, HTTP 429 (waited out
//! per `Retry-After` up to `max_retry_after_secs`), timeouts and bodies
//! that are not JSON are reported in the build's messages. A notification
//! never fails a build: every problem is reported and the trigger succeeds.

use vespene_notify_support::{
    Credential, Limits, Notifier, Request, Sender, base_url, build_text, refuse_unknown,
    required_string, snippet, string_param,
};
use vespene_plugin_api::kinds::trigger::HookRequest;
use vespene_plugin_api::serde_json::{self, Value, json};
use vespene_plugin_api::{CreateContext, Host, Plugin, PluginError, TriggerPlugin, export_plugin};

/// Slack's Web API, unless `base_url` says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://slack.com/api";

/// One configured Slack trigger. Its `Debug` leaves the token out.
pub struct SlackTrigger {
    who: String,
    channel: String,
    credential: Credential,
    url: String,
    sender: Sender,
    host: Host,
}

impl std::fmt::Debug for SlackTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackTrigger")
            .field("who", &self.who)
            .field("channel", &self.channel)
            .field("credential", &self.credential)
            .field("url", &self.url)
            .finish()
    }
}

impl Plugin for SlackTrigger {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let who = format!("slack trigger '{}'", ctx.name);
        let invalid = |why: String| PluginError::invalid_params(format!("{who}: {why}"));
        let Value::Object(params) = &ctx.params else {
            return Err(invalid(
                "needs {channel = \"general\", token = \"xoxb-...\"}".into(),
            ));
        };
        refuse_unknown(params, &["base_url", "channel", "service_login", "token"])
            .map_err(invalid)?;
        let channel = required_string(params, "channel").map_err(invalid)?;
        let credential = Credential::from_params(params).map_err(invalid)?;
        let base = string_param(params, "base_url")
            .map_err(invalid)?
            .unwrap_or_else(|| DEFAULT_BASE_URL.into());
        let base = base_url("base_url", &base).map_err(invalid)?;
        let limits = Limits::from_params(params).map_err(invalid)?;
        Ok(SlackTrigger {
            who,
            channel,
            credential,
            url: format!("{base}/chat.postMessage"),
            sender: Sender::new(limits),
            host: ctx.host,
        })
    }
}

impl SlackTrigger {
    /// The request `chat.postMessage` gets for `text`, with `token`.
    pub fn request(&self, text: &str, token: &str) -> Request {
        let body = json!({"channel": self.channel, "text": text});
        Request {
            method: "POST".into(),
            url: self.url.clone(),
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("authorization".into(), format!("Bearer {token}")),
                ("user-agent".into(), "Vespene".into()),
            ],
            body: body.to_string().into_bytes(),
        }
    }
}

/// What Slack's answer says, as a line for the build's messages: `Ok` when
/// the message was posted.
pub fn judge(status: u16, body: &str) -> Result<(), String> {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let Some(answer) = parsed.as_ref().and_then(Value::as_object) else {
        return Err(format!(
            "Slack answered HTTP {status} with a body that is not a JSON object: {}",
            quoted(body)
        ));
    };
    match answer.get("ok") {
        Some(Value::Bool(true)) if (200..300).contains(&status) => Ok(()),
        Some(Value::Bool(false)) => {
            let code = answer
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("(no error code)");
            Err(format!("Slack refused the message: {code} (HTTP {status})"))
        }
        _ => Err(format!(
            "Slack answered HTTP {status} without \"ok\": {}",
            quoted(body)
        )),
    }
}

fn quoted(body: &str) -> String {
    if body.trim().is_empty() {
        "(empty)".into()
    } else {
        snippet(body, 200)
    }
}

impl TriggerPlugin for SlackTrigger {
    fn execute_hook(&self, request: &HookRequest) -> Result<(), PluginError> {
        let notes = Notifier {
            host: self.host,
            who: &self.who,
        };
        let text = build_text(request);
        let token = match self.credential.token(request) {
            Ok(token) => token,
            Err(why) => {
                notes.problem(&format!("{why}: nothing posted to {}", self.channel));
                return Ok(());
            }
        };
        let sent = self
            .sender
            .send(&self.request(&text, token), &mut |line| notes.message(line));
        match sent {
            Ok(answer) => match judge(answer.status, &answer.body) {
                Ok(()) => notes.message(&format!("posted to {}: {text}", self.channel)),
                Err(why) => notes.problem(&format!("could not post to {}: {why}", self.channel)),
            },
            Err(failure) => {
                notes.problem(&format!("could not post to {}: {failure}", self.channel))
            }
        }
        Ok(())
    }
}

export_plugin! {
    name: "vespene.plugins.triggers.slack",
    kind: trigger,
    plugin: SlackTrigger,
    description: "Posts a build's start and end to a Slack channel (chat.postMessage).",
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::ErrorCode;
    use vespene_plugin_api::testing::TestHost;

    fn make(params: Value) -> Result<SlackTrigger, PluginError> {
        let host = TestHost::unsupported();
        SlackTrigger::create(CreateContext {
            name: "chat",
            params,
            host: host.host(),
        })
    }

    #[test]
    fn parameters_are_checked_and_the_token_never_echoed() {
        for (params, why) in [
            (Value::Null, "needs {channel"),
            (
                json!({"channel": "general"}),
                "'token' or 'service_login' is required",
            ),
            (json!({"token": "xoxb-1"}), "'channel' is required"),
            (
                json!({"channel": "general", "token": 5}),
                "'token' must be a string, not a number",
            ),
            (
                json!({"channel": "g", "token": "xoxb-secret", "base_url": "ftp://x"}),
                "'base_url' must be an http:// or https:// URL",
            ),
            (
                json!({"channel": "g", "token": "xoxb-secret", "chanel": "x"}),
                "unknown parameter 'chanel' (expected base_url, channel, max_retry_after_secs, retries, service_login, timeout_secs, token)",
            ),
        ] {
            let err = make(params).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParams);
            assert!(err.message.starts_with("slack trigger 'chat': "), "{err:?}");
            assert!(err.message.contains(why), "{err:?}");
            assert!(!err.message.contains("xoxb-secret"), "{err:?}");
        }
    }

    #[test]
    fn the_request_is_chat_post_message() {
        let t = make(
            json!({"channel": "general", "token": "xoxb-1", "base_url": "http://127.0.0.1:9/api/"}),
        )
        .unwrap();
        let r = t.request("Vespene Build 5 for project \"demo\" started", "xoxb-1");
        assert_eq!(r.url, "http://127.0.0.1:9/api/chat.postMessage");
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"channel":"general","text":"Vespene Build 5 for project \"demo\" started"}"#
        );
        assert!(
            r.headers
                .contains(&("authorization".into(), "Bearer xoxb-1".into()))
        );
    }

    #[test]
    fn answers_are_judged() {
        assert_eq!(judge(200, r#"{"ok":true,"channel":"C1"}"#), Ok(()));
        assert_eq!(
            judge(200, r#"{"ok":false,"error":"channel_not_found"}"#).unwrap_err(),
            "Slack refused the message: channel_not_found (HTTP 200)"
        );
        assert!(
            judge(200, "<html>")
                .unwrap_err()
                .contains("not a JSON object: <html>")
        );
        assert!(judge(200, "").unwrap_err().contains("(empty)"));
        assert!(judge(404, "{}").unwrap_err().contains("without \"ok\""));
    }
}
