//! The trigger's parameters: the command as a plain string (the original's
//! form) or an object with the command and an optional timeout.

use vespene_plugin_api::PluginError;
use vespene_plugin_api::jinja;
use vespene_plugin_api::serde_json::{Map, Value};

/// What a command trigger was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// The command line, a Jinja2 template.
    pub command: String,
    /// Kill the command after this many seconds.
    pub timeout_secs: Option<u64>,
}

/// Decodes and checks the parameters of the entry `name`. Every refusal is
/// an `invalid_params` error with a one-line reason.
pub fn parse(name: &str, params: &Value) -> Result<Params, PluginError> {
    let invalid = |why: String| PluginError::invalid_params(format!("trigger '{name}': {why}"));
    let params = match params {
        Value::String(command) => Params {
            command: command.clone(),
            timeout_secs: None,
        },
        Value::Object(map) => from_object(map).map_err(invalid)?,
        Value::Null => {
            return Err(invalid(
                "needs a command: write [\"vespene.plugins.triggers.command\", \"COMMAND\"]".into(),
            ));
        }
        other => {
            return Err(invalid(format!(
                "parameters must be a command string or {{\"command\": \"...\", \"timeout_secs\": N}}, not {other}"
            )));
        }
    };
    if params.command.trim().is_empty() {
        return Err(invalid("the command is empty".into()));
    }
    jinja::check_syntax(&params.command)
        .map_err(|e| invalid(format!("the command is not a valid Jinja2 template: {e}")))?;
    Ok(params)
}

/// The object form: `{"command": "...", "timeout_secs": N}`.
fn from_object(map: &Map<String, Value>) -> Result<Params, String> {
    if let Some(unknown) = map
        .keys()
        .find(|k| !matches!(k.as_str(), "command" | "timeout_secs"))
    {
        return Err(format!(
            "unknown parameter '{unknown}' (expected command, timeout_secs)"
        ));
    }
    let command = match map.get("command") {
        Some(Value::String(c)) => c.clone(),
        Some(other) => return Err(format!("'command' must be a string, not {other}")),
        None => return Err("'command' is missing".into()),
    };
    let timeout_secs = match map.get("timeout_secs") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Some(n),
            _ => {
                return Err(format!(
                    "'timeout_secs' must be a whole number of seconds, at least 1, not {v}"
                ));
            }
        },
    };
    Ok(Params {
        command,
        timeout_secs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::ErrorCode;
    use vespene_plugin_api::serde_json::json;

    fn refused(params: Value) -> String {
        let err = parse("publish", &params).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams, "{err:?}");
        assert!(!err.message.contains('\n'), "not one line: {}", err.message);
        assert!(
            err.message.starts_with("trigger 'publish': "),
            "{}",
            err.message
        );
        err.message
    }

    #[test]
    fn a_string_is_the_command() {
        let p = parse("publish", &json!("cp -a {{ build.working_dir }} /tmp/x")).unwrap();
        assert_eq!(p.command, "cp -a {{ build.working_dir }} /tmp/x");
        assert_eq!(p.timeout_secs, None);
    }

    #[test]
    fn an_object_gives_command_and_timeout() {
        let p = parse(
            "publish",
            &json!({"command": "make deploy", "timeout_secs": 30}),
        )
        .unwrap();
        assert_eq!(
            p,
            Params {
                command: "make deploy".into(),
                timeout_secs: Some(30)
            }
        );
        let p = parse("publish", &json!({"command": "true"})).unwrap();
        assert_eq!(p.timeout_secs, None);
    }

    #[test]
    fn refusals_say_why() {
        assert!(refused(Value::Null).contains("needs a command"));
        assert!(refused(json!(42)).contains("not 42"));
        assert!(refused(json!(["ls"])).contains("must be a command string"));
        assert!(refused(json!("   ")).contains("empty"));
        assert!(refused(json!({"command": ""})).contains("empty"));
        assert!(refused(json!({})).contains("'command' is missing"));
        assert_eq!(
            refused(json!({"command": "x", "timeout": 3})),
            "trigger 'publish': unknown parameter 'timeout' (expected command, timeout_secs)"
        );
        assert!(refused(json!({"command": "x", "timeout_secs": -1})).contains("not -1"));
        assert!(refused(json!({"command": "x", "timeout_secs": 1.5})).contains("whole number"));
        assert!(refused(json!({"command": "x", "timeout_secs": 0})).contains("at least 1"));
        assert!(refused(json!({"command": 5})).contains("'command' must be a string, not 5"));
    }

    #[test]
    fn template_syntax_errors_are_refused_at_create() {
        let why = refused(json!("echo {{ build.id "));
        assert!(why.contains("not a valid Jinja2 template"), "{why}");
        let why = refused(json!({"command": "{% if x %}echo"}));
        assert!(why.contains("not a valid Jinja2 template"), "{why}");
        assert!(refused(json!("echo {% endfor %}")).contains("Jinja2"));
        // Unknown names are not a syntax error: they render empty later.
        assert!(parse("p", &json!("echo {{ nobody.knows }}")).is_ok());
    }
}
