//! `vespene.plugins.variables.snippets`: every snippet becomes a variable
//! (reference §4.3).
//!
//! The host passes every snippet sorted by name. Each becomes a variable
//! named after the snippet with `-` and space replaced by `_` (`common-setup`
//! → `common_setup`); its value is the snippet's text rendered as a Jinja2
//! template against the variables accumulated so far (`existing`: what the
//! plugins before this one produced), never against other snippets or launch
//! answers. Rendering is [`vespene_plugin_api::jinja`]'s, lenient like the
//! original's: an unknown name renders empty (reading an attribute of an
//! unknown name is still an error, as in Jinja2), one trailing newline is
//! dropped, nothing is escaped, values print as Python prints them.
//!
//! When two snippet names map to the same variable (`a-b` and `a b`), the
//! later one in the host's order wins. A snippet whose template does not
//! parse or fails to render is an error naming the snippet.

use serde::Deserialize;
use vespene_plugin_api::jinja::{self, Undefined};
use vespene_plugin_api::kinds::variables::VariablesRequest;
use vespene_plugin_api::{
    CreateContext, Plugin, PluginError, Variables, VariablesPlugin, export_plugin,
};

/// This plugin takes no parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {}

/// The snippets variables plugin.
#[derive(Debug, Default)]
pub struct SnippetVariables;

/// The variable a snippet named `name` becomes.
pub fn variable_name(name: &str) -> String {
    name.replace(['-', ' '], "_")
}

impl SnippetVariables {
    /// Renders one snippet's text against `variables`.
    pub fn render(
        &self,
        name: &str,
        text: &str,
        variables: &Variables,
    ) -> Result<String, PluginError> {
        jinja::render(text, variables, Undefined::Lenient).map_err(|e| {
            let what = if e.is_syntax_error() {
                "has a template syntax error"
            } else {
                "could not be rendered"
            };
            PluginError::failed(format!("snippet '{name}' {what}: {e}"))
        })
    }
}

impl Plugin for SnippetVariables {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let Params {} = ctx.params()?;
        Ok(SnippetVariables)
    }
}

impl VariablesPlugin for SnippetVariables {
    fn compute(&self, request: &VariablesRequest) -> Result<Variables, PluginError> {
        let mut out = Variables::new();
        for snippet in &request.snippets {
            if snippet.name.trim().is_empty() {
                return Err(PluginError::failed("a snippet has an empty name"));
            }
            let value = self.render(&snippet.name, &snippet.text, &request.existing)?;
            out.insert(variable_name(&snippet.name), value.into());
        }
        Ok(out)
    }
}

export_plugin! {
    name: "vespene.plugins.variables.snippets",
    kind: variables,
    plugin: SnippetVariables,
    description: "Every snippet becomes a variable (name with '-' and ' ' as '_'), rendered leniently with the variables so far.",
}

#[cfg(test)]
mod tests;
