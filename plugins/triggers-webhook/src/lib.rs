//! `vespene.plugins.triggers.webhook`: POSTs a JSON body to an incoming
//! webhook (Mattermost, Rocket.Chat, Matrix bridges, Slack's incoming
//! webhooks, anything that takes JSON) when a build starts or ends.
//!
//! The body is a template ([`template`]) rendered against `{hook, event,
//! build, project, commit, message, build_url}` with every printed value
//! JSON-escaped, so a project name with a quote cannot break the JSON; the
//! result must parse as JSON or nothing is sent. Optional headers go with
//! it (an `Authorization` for a protected endpoint). Error answers,
//! timeouts and rate limits are handled as in the Slack trigger: reported
//! in the build's messages, never failing the build. The URL and the
//! headers may hold secrets: messages name only the URL's scheme and host.

pub mod template;

use vespene_notify_support::{
    Limits, Notifier, Request, Sender, base_url, build_text, kind_of, refuse_unknown,
    required_string, snippet, string_param,
};
use vespene_plugin_api::kinds::trigger::HookRequest;
use vespene_plugin_api::serde_json::{self, Value};
use vespene_plugin_api::{CreateContext, Host, Plugin, PluginError, TriggerPlugin, export_plugin};

/// The body sent when none is configured: the original's Slack text, in
/// the `text` field most chat webhooks read.
pub const DEFAULT_BODY: &str = r#"{"text": "{{ message }}"}"#;

/// One configured webhook trigger. Its `Debug` shows neither the URL nor
/// the headers: they may hold secrets.
pub struct WebhookTrigger {
    who: String,
    url: String,
    /// `https://chat.example.com`: what messages show of the URL.
    shown: String,
    headers: Vec<(String, String)>,
    body: template::Body,
    public_url: Option<String>,
    sender: Sender,
    host: Host,
}

impl std::fmt::Debug for WebhookTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTrigger")
            .field("who", &self.who)
            .field("shown", &self.shown)
            .finish_non_exhaustive()
    }
}

impl Plugin for WebhookTrigger {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let who = format!("webhook trigger '{}'", ctx.name);
        let invalid = |why: String| PluginError::invalid_params(format!("{who}: {why}"));
        let Value::Object(params) = &ctx.params else {
            return Err(invalid(
                "needs {url = \"https://chat.example.com/hooks/...\"} and optionally body, headers"
                    .into(),
            ));
        };
        refuse_unknown(params, &["body", "headers", "public_url", "url"]).map_err(invalid)?;
        let url = required_string(params, "url").map_err(invalid)?;
        let url = base_url("url", &url).map_err(invalid)?;
        let shown = scheme_and_host(&url);
        let mut headers = Vec::new();
        match params.get("headers") {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    let Value::String(value) = value else {
                        return Err(invalid(format!(
                            "header '{name}' must be a string, not {}",
                            kind_of(value)
                        )));
                    };
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
                    {
                        return Err(invalid(format!("'{name}' is not an HTTP header name")));
                    }
                    headers.push((name.to_ascii_lowercase(), value.clone()));
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "'headers' must be a table of strings, not {}",
                    kind_of(other)
                )));
            }
        }
        if !headers.iter().any(|(n, _)| n == "content-type") {
            headers.insert(0, ("content-type".into(), "application/json".into()));
        }
        let body = string_param(params, "body")
            .map_err(invalid)?
            .unwrap_or_else(|| DEFAULT_BODY.into());
        let body = template::Body::new(&body)
            .map_err(|e| invalid(format!("'body' is not a valid template: {e}")))?;
        let public_url = string_param(params, "public_url")
            .map_err(invalid)?
            .map(|u| base_url("public_url", &u))
            .transpose()
            .map_err(invalid)?;
        let limits = Limits::from_params(params).map_err(invalid)?;
        Ok(WebhookTrigger {
            who,
            url,
            shown,
            headers,
            body,
            public_url,
            sender: Sender::new(limits),
            host: ctx.host,
        })
    }
}

/// `https://chat.example.com/hooks/SECRET` → `https://chat.example.com`.
fn scheme_and_host(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // user:password@ is a secret too.
    let host = host.rsplit('@').next().unwrap_or(host);
    format!("{scheme}://{host}")
}

impl WebhookTrigger {
    /// The request for `hook`: its rendered body, or why there is none.
    pub fn request(&self, hook: &HookRequest) -> Result<Request, String> {
        let context = template::Context {
            hook,
            message: build_text(hook),
            build_url: self
                .public_url
                .as_ref()
                .map(|u| format!("{u}/ui/build/{}", hook.build.id)),
        };
        let body = self.body.render(&context)?;
        Ok(Request {
            method: "POST".into(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: body.into_bytes(),
        })
    }
}

impl TriggerPlugin for WebhookTrigger {
    fn execute_hook(&self, request: &HookRequest) -> Result<(), PluginError> {
        let notes = Notifier {
            host: self.host,
            who: &self.who,
        };
        let req = match self.request(request) {
            Ok(r) => r,
            Err(why) => {
                notes.problem(&format!("nothing sent to {}: {why}", self.shown));
                return Ok(());
            }
        };
        match self.sender.send(&req, &mut |line| notes.message(line)) {
            Ok(a) if (200..300).contains(&a.status) => {
                notes.message(&format!("delivered to {} (HTTP {})", self.shown, a.status));
            }
            Ok(a) => {
                let body = if a.body.trim().is_empty() {
                    "(empty)".to_string()
                } else {
                    snippet(&a.body, 200)
                };
                notes.problem(&format!(
                    "{} refused the notification: HTTP {}: {body}",
                    self.shown, a.status
                ));
            }
            Err(failure) => {
                notes.problem(&format!("could not notify {}: {failure}", self.shown));
            }
        }
        Ok(())
    }
}

/// Whether `text` is one JSON value.
pub fn is_json(text: &str) -> Result<(), String> {
    serde_json::from_str::<Value>(text)
        .map(|_| ())
        .map_err(|e| format!("the body is not JSON: {e}"))
}

export_plugin! {
    name: "vespene.plugins.triggers.webhook",
    kind: trigger,
    plugin: WebhookTrigger,
    description: "POSTs a JSON body rendered from a template to an incoming webhook when a build starts or ends.",
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::ErrorCode;
    use vespene_plugin_api::kinds::trigger::Event;
    use vespene_plugin_api::serde_json::json;
    use vespene_plugin_api::testing::TestHost;
    use vespene_plugin_api::{BuildInfo, ProjectInfo};

    fn make(params: Value) -> Result<WebhookTrigger, PluginError> {
        let host = TestHost::unsupported();
        WebhookTrigger::create(CreateContext {
            name: "mm",
            params,
            host: host.host(),
        })
    }

    fn hook(name: &str) -> HookRequest {
        HookRequest::new(
            Event::Failure,
            BuildInfo {
                id: 7,
                status: "FAILURE".into(),
                ..Default::default()
            },
            ProjectInfo {
                name: name.into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn the_default_body_carries_the_original_text_escaped() {
        let t = make(json!({"url": "https://chat.example.com/hooks/s3cret"})).unwrap();
        let r = t.request(&hook("say \"hi\"\n")).unwrap();
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"text": "Vespene Build 7 for project \"say \"hi\"\n\" failed"}"#
        );
        assert_eq!(
            r.headers,
            vec![("content-type".to_string(), "application/json".to_string())]
        );
        assert_eq!(t.shown, "https://chat.example.com");
    }

    #[test]
    fn templates_see_build_project_and_build_url() {
        let t = make(json!({
            "url": "http://127.0.0.1:9/x",
            "public_url": "https://ci.example.com/",
            "headers": {"Authorization": "Bearer abc"},
            "body": "{\"id\": {{ build.id }}, \"ok\": {{ event == 'success' }}, \"p\": \"{{ project.name }}\", \"link\": \"{{ build_url }}\", \"vars\": {{ build.variables }}}",
        }))
        .unwrap();
        let r = t.request(&hook("demo")).unwrap();
        assert_eq!(
            String::from_utf8(r.body).unwrap(),
            r#"{"id": 7, "ok": false, "p": "demo", "link": "https://ci.example.com/ui/build/7", "vars": {}}"#
        );
        assert_eq!(
            r.headers[1],
            ("authorization".to_string(), "Bearer abc".to_string())
        );
    }

    #[test]
    fn a_body_that_is_not_json_is_not_sent() {
        let t =
            make(json!({"url": "http://127.0.0.1:9/x", "body": "text {{ build.id }}"})).unwrap();
        let why = t.request(&hook("demo")).unwrap_err();
        assert!(why.starts_with("the body is not JSON: "), "{why}");
    }

    #[test]
    fn parameters_are_checked() {
        for (params, why) in [
            (json!({}), "'url' is required"),
            (
                json!({"url": "chat.example.com"}),
                "'url' must be an http://",
            ),
            (
                json!({"url": "http://x.example", "headers": ["a"]}),
                "'headers' must be a table",
            ),
            (
                json!({"url": "http://x.example", "headers": {"a b": "c"}}),
                "'a b' is not an HTTP header name",
            ),
            (
                json!({"url": "http://x.example", "body": "{{ x "}),
                "'body' is not a valid template",
            ),
            (
                json!({"url": "http://x.example", "retries": 11}),
                "'retries' must be a whole number",
            ),
        ] {
            let err = make(params).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParams);
            assert!(err.message.contains(why), "{why}: {err:?}");
        }
    }

    #[test]
    fn secrets_in_the_url_are_not_shown() {
        assert_eq!(
            scheme_and_host("https://u:pw@h.example:8443/hooks/x?t=1"),
            "https://h.example:8443"
        );
    }
}
