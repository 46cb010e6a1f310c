//! The webhook body: a Jinja2 template (Vespene's Jinja2 set-up,
//! [`vespene_plugin_api::jinja`]) whose every printed
//! value is written as JSON. A string is JSON-escaped *without* its quotes,
//! so it can sit inside a JSON string literal (`"text": "{{ project.name
//! }} failed"`); numbers, booleans and `none` print as JSON (`7`, `true`,
//! `null`); lists and maps print as JSON text (`"vars": {{ build.variables
//! }}`); an undefined name prints nothing. The rendered body must parse as
//! JSON, so a template mistake is caught before anything is sent.

use vespene_plugin_api::jinja::minijinja::value::{Serde, ValueKind};
use vespene_plugin_api::jinja::minijinja::{Environment, Error, ErrorKind, Output, State, Value};
use vespene_plugin_api::jinja::{self, Undefined};
use vespene_plugin_api::kinds::trigger::HookRequest;
use vespene_plugin_api::serde_json;
use vespene_plugin_api::serde_json::Value as Json;

/// What a body template sees.
#[derive(Debug)]
pub struct Context<'a> {
    /// `hook`, `event`, `build`, `project` and `commit`.
    pub hook: &'a HookRequest,
    /// The original's text: `Vespene Build 5 for project "demo" started`.
    pub message: String,
    /// `PUBLIC_URL/ui/build/ID` when `public_url` is configured.
    pub build_url: Option<String>,
}

/// A checked body template.
#[derive(Debug)]
pub struct Body {
    env: Environment<'static>,
}

const NAME: &str = "body";

impl Body {
    /// Compiles `source`; the error is one line.
    pub fn new(source: &str) -> Result<Body, String> {
        let mut env = jinja::environment(Undefined::Lenient);
        env.set_formatter(json_formatter);
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| one_line(&e))?;
        Ok(Body { env })
    }

    /// Renders against `context`; the result is JSON or an error says why.
    pub fn render(&self, context: &Context<'_>) -> Result<String, String> {
        let hook = serde_json::to_value(context.hook).map_err(|e| e.to_string())?;
        let mut vars = match hook {
            Json::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        // Resolved service logins are for the plugin, never for a body.
        vars.remove("service_logins");
        vars.insert("message".into(), Json::String(context.message.clone()));
        vars.insert(
            "build_url".into(),
            context.build_url.clone().map_or(Json::Null, Json::String),
        );
        vars.entry("commit").or_insert(Json::Null);
        let template = self.env.get_template(NAME).map_err(|e| one_line(&e))?;
        let text = template
            .render(Value::from(Serde(&vars)))
            .map_err(|e| format!("cannot render the body: {}", one_line(&e)))?;
        crate::is_json(&text)?;
        Ok(text)
    }
}

/// Prints `value` as JSON (strings without their quotes; see the module).
fn json_formatter(
    out: &mut Output<'_>,
    _state: &mut State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    let text = match value.kind() {
        ValueKind::Undefined => String::new(),
        ValueKind::String if value.is_safe() => value.as_str().unwrap_or_default().to_string(),
        ValueKind::String => {
            let quoted = serde_json::to_string(value.as_str().unwrap_or_default())
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            quoted[1..quoted.len() - 1].to_string()
        }
        _ => serde_json::to_string(value)
            .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?,
    };
    out.write_str(&text)
        .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
}

fn one_line(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
