//! `vespene.examples.redact`: the plugin author's guide's running example,
//! and the Rust twin of `examples/c/redact.c`.
//!
//! An output filter that replaces every occurrence of a configured word
//! with a mask:
//!
//! ```toml
//! [plugins.output]
//! redact = ["vespene.examples.redact", { word = "hunter2", mask = "****" }]
//! ```
//!
//! `word` is required and must not be empty; `mask` defaults to eight
//! asterisks. Lines without the word come back unchanged, which costs
//! nothing. Built with `cargo build -p vespene-plugin-api --example redact`
//! into `target/debug/examples/libredact.so`.

use vespene_plugin_api::serde_json::Value;
use vespene_plugin_api::{
    CreateContext, LineAction, LineOut, OutputFilter, Plugin, PluginError, export_plugin,
};

/// The mask used when none is configured.
const DEFAULT_MASK: &str = "********";

#[derive(Debug)]
struct Redact {
    word: String,
    mask: String,
}

impl Plugin for Redact {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let name = ctx.name;
        let invalid =
            |why: &str| PluginError::invalid_params(format!("parameters of '{name}': {why}"));
        let Value::Object(params) = &ctx.params else {
            return Err(invalid(
                "expected an object such as {\"word\": \"hunter2\", \"mask\": \"****\"}",
            ));
        };
        // Of several unknown keys the smallest is reported, whatever order
        // the map keeps, so that the C twin reports the same one.
        if let Some(key) = params.keys().filter(|k| *k != "word" && *k != "mask").min() {
            return Err(invalid(&format!(
                "unknown parameter '{key}' (expected word, mask)"
            )));
        }
        let word = match params.get("word") {
            Some(Value::String(w)) if !w.is_empty() => w.clone(),
            _ => return Err(invalid("'word' is required and must be a non-empty string")),
        };
        let mask = match params.get("mask") {
            None => DEFAULT_MASK.to_string(),
            Some(Value::String(m)) => m.clone(),
            Some(_) => return Err(invalid("'mask' must be a string")),
        };
        Ok(Redact { word, mask })
    }
}

impl OutputFilter for Redact {
    fn filter_line(&self, line: &str, out: &mut LineOut<'_>) -> Result<LineAction, PluginError> {
        let word = self.word.as_str();
        let Some(mut at) = line.find(word) else {
            return Ok(LineAction::Unchanged);
        };
        let mut rest = line;
        loop {
            out.push_str(&rest[..at]);
            out.push_str(&self.mask);
            rest = &rest[at + word.len()..];
            match rest.find(word) {
                Some(next) => at = next,
                None => break,
            }
        }
        out.push_str(rest);
        Ok(LineAction::Replaced)
    }
}

export_plugin! {
    name: "vespene.examples.redact",
    kind: output,
    plugin: Redact,
    description: "Replaces every occurrence of a configured word with a mask.",
}
