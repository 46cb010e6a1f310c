//! Jinja2 templates rendered as Python's Jinja2 3.1 renders them (cargo
//! feature `jinja`).
//!
//! Users bring templates from the original, Python Vespene: build scripts,
//! snippets, trigger commands, autoscaling commands. This module is the one
//! place that sets minijinja up to render them the same way. Its
//! environment has the settings of a default `jinja2.Environment`:
//!
//! * Jinja2's syntax: `{{ }}`, `{% %}`, `{# #}`, `trim_blocks` and
//!   `lstrip_blocks` off, a single trailing newline dropped, macros,
//!   `loop.previtem`/`loop.nextitem`;
//! * no autoescaping, whatever the template's name ends with;
//! * undefined names as chosen with [`Undefined`];
//! * `{{ value }}` and the `string` filter print as Python's `str()` does
//!   (`True`, `None`, `{'k': 'v'}`, `1e+16`; see [`pyformat`]);
//! * Python's string, dict and list methods (`name.replace('-', '_')`,
//!   `d.items()`), from minijinja-contrib's `pycompat`;
//! * dicts keep their insertion order, and `tojson` sorts keys and refuses
//!   undefined values, as Jinja2's does;
//! * `int` and `float` give their default (0, 0.0) for what they cannot
//!   convert, and refuse undefined values, as Jinja2's do.
//!
//! ```
//! use vespene_plugin_api::jinja::{self, Undefined};
//! use vespene_plugin_api::serde_json::json;
//!
//! let ctx = json!({"build": {"id": 7, "ok": true}});
//! let out = jinja::render("#{{ build.id }} {{ build.ok }}\n", &ctx, Undefined::Strict);
//! assert_eq!(out.unwrap(), "#7 True");
//! assert!(jinja::render("{{ nope }}", &ctx, Undefined::Strict).is_err());
//! assert_eq!(jinja::render("[{{ nope }}]", &ctx, Undefined::Lenient).unwrap(), "[]");
//! ```
//!
//! Beyond Jinja2, a `quote` filter quotes a value for a POSIX shell as
//! Python's `shlex.quote` does (`{{ name | quote }}`), and
//! [`render_for_shell`] quotes every printed value so, for commands built
//! from values a user chose (command triggers).
//!
//! [`render`] and [`check_syntax`] cover most needs; [`environment`] gives
//! the set-up environment to crates that register more (objects, filters),
//! with [`minijinja`] re-exported for them.

pub mod pyformat;

pub use minijinja;

use minijinja::value::{Kwargs, Serde, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

/// What an undefined name does, as Jinja2's `undefined=` class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Undefined {
    /// `jinja2.StrictUndefined`: printing, testing, iterating or combining
    /// an undefined name is an error; only `is defined` and `default` see
    /// it. The original rendered build scripts so.
    Strict,
    /// `jinja2.Undefined`, Jinja2's default: an undefined name prints as
    /// nothing, is false and iterates as empty; reading an attribute of it
    /// is still an error. The original rendered snippets, command triggers
    /// and web links so.
    Lenient,
}

/// A new environment with Jinja2's settings and the given undefined
/// behaviour, for callers that add to it. [`render`] uses a shared one.
pub fn environment(undefined: Undefined) -> Environment<'static> {
    // minijinja's default syntax is Jinja2's: the delimiters, one trailing
    // newline dropped, `trim_blocks` and `lstrip_blocks` off.
    let mut env = Environment::new();
    env.set_undefined_behavior(match undefined {
        Undefined::Strict => UndefinedBehavior::Strict,
        Undefined::Lenient => UndefinedBehavior::Lenient,
    });
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
    env.set_formatter(pyformat::formatter);
    env.add_filter("string", string);
    env.add_filter("tojson", tojson);
    env.add_filter("int", int);
    env.add_filter("float", float);
    env.add_filter("quote", quote_filter);
    env
}

/// The auto-escape mode of [`render_for_shell`].
const SHELL: AutoEscape = AutoEscape::Custom(std::borrow::Cow::Borrowed("shell"));

/// `text` quoted for a POSIX shell as Python's `shlex.quote` quotes it:
/// unchanged when made only of safe characters, else in single quotes
/// (`''` for the empty string).
pub fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\"'\"'"))
}

/// The `quote` filter: the value printed as `{{ }}` prints it, then
/// [`shell_quote`]d; marked safe, so [`render_for_shell`] does not quote
/// it twice.
fn quote_filter(value: Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::new(
            ErrorKind::UndefinedError,
            "cannot quote an undefined value",
        ));
    }
    let text = match value.as_str() {
        Some(s) => s.to_string(),
        None => pyformat::py_str(&value),
    };
    Ok(Value::from_safe_string(shell_quote(&text)))
}

/// Renders `template` as [`render`] does, except that every value printed
/// with `{{ }}` is [`shell_quote`]d, so no value can add shell syntax to
/// the command (`{{ project.name }}` of a project named `x;rm -rf ~` prints
/// `'x;rm -rf ~'`). An undefined value prints as nothing.
pub fn render_for_shell<C: Serialize + ?Sized>(
    template: &str,
    context: &C,
    undefined: Undefined,
) -> Result<String, TemplateError> {
    static STRICT: OnceLock<Environment<'static>> = OnceLock::new();
    static LENIENT: OnceLock<Environment<'static>> = OnceLock::new();
    let env = match undefined {
        Undefined::Strict => &STRICT,
        Undefined::Lenient => &LENIENT,
    }
    .get_or_init(|| {
        let mut env = environment(undefined);
        env.set_auto_escape_callback(|_| SHELL);
        env.set_formatter(|out, state, value| {
            if *state.auto_escape() != SHELL || value.is_safe() {
                return pyformat::formatter(out, state, value);
            }
            if value.is_undefined() {
                return Ok(());
            }
            let text = match value.as_str() {
                Some(s) => s.to_string(),
                None => pyformat::py_str(value),
            };
            out.write_str(&shell_quote(&text)).map_err(Error::from)
        });
        env
    });
    let ctx = Value::from(Serde(context));
    env.render_str(template, ctx.clone()).map_err(|e| {
        let mut err = TemplateError::from(e);
        if err.inner.kind() == ErrorKind::UndefinedError {
            err.undefined = undefined_names(env, template, &ctx);
        }
        err
    })
}

/// The shared environment of `undefined`, made on first use.
fn shared(undefined: Undefined) -> &'static Environment<'static> {
    static STRICT: OnceLock<Environment<'static>> = OnceLock::new();
    static LENIENT: OnceLock<Environment<'static>> = OnceLock::new();
    match undefined {
        Undefined::Strict => &STRICT,
        Undefined::Lenient => &LENIENT,
    }
    .get_or_init(|| environment(undefined))
}

/// Renders `template` with the variables of `context` (anything that
/// serializes to a map: a `serde_json` object, a struct, a
/// [`minijinja::Value`] holding objects).
pub fn render<C: Serialize + ?Sized>(
    template: &str,
    context: &C,
    undefined: Undefined,
) -> Result<String, TemplateError> {
    let env = shared(undefined);
    let ctx = Value::from(Serde(context));
    env.render_str(template, ctx.clone()).map_err(|e| {
        let mut err = TemplateError::from(e);
        if err.inner.kind() == ErrorKind::UndefinedError {
            err.undefined = undefined_names(env, template, &ctx);
        }
        err
    })
}

/// The top-level names `template` uses that `ctx` does not define, so an
/// undefined-value error can say which (as Jinja2's "'x' is undefined").
fn undefined_names(env: &Environment<'static>, template: &str, ctx: &Value) -> Vec<String> {
    let Ok(t) = env.template_from_str(template) else {
        return Vec::new();
    };
    let mut names: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|name| {
            ctx.get_attr(name).is_ok_and(|v| v.is_undefined())
                && env.globals().all(|(g, _)| g != name.as_str())
        })
        .collect();
    names.sort();
    names
}

/// Checks that `template` parses, without rendering it. The undefined
/// behaviour does not matter to parsing.
pub fn check_syntax(template: &str) -> Result<(), TemplateError> {
    shared(Undefined::Lenient)
        .template_from_str(template)
        .map(|_| ())
        .map_err(TemplateError::from)
}

/// A template that does not parse or does not render.
///
/// It displays as one line: what went wrong, with the template's line
/// number when minijinja knows it, and the causes:
/// `syntax error: unexpected end of input, expected end of block (line 2)`.
#[derive(Debug)]
pub struct TemplateError {
    inner: Error,
    /// For an undefined-value error: the names the context lacks.
    undefined: Vec<String>,
}

impl TemplateError {
    /// Whether the template does not parse (as opposed to failing while it
    /// renders: an undefined name, a bad operation, a failing filter).
    pub fn is_syntax_error(&self) -> bool {
        self.inner.kind() == ErrorKind::SyntaxError
    }

    /// The line of the template where it went wrong, from 1.
    pub fn line(&self) -> Option<usize> {
        self.inner.line()
    }

    /// minijinja's error, for its kind, byte range and causes.
    pub fn as_minijinja(&self) -> &Error {
        &self.inner
    }
}

impl From<Error> for TemplateError {
    fn from(inner: Error) -> Self {
        TemplateError {
            inner,
            undefined: Vec::new(),
        }
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.inner;
        let mut text = match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        };
        match self.undefined.as_slice() {
            [] => {}
            [one] => text.push_str(&format!(" ('{one}' is undefined)")),
            many => text.push_str(&format!(
                " ({} are undefined)",
                many.iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        if let Some(line) = e.line() {
            text.push_str(&format!(" (line {line})"));
        }
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        let mut parts = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if let Some(first) = parts.next() {
            f.write_str(first)?;
        }
        for part in parts {
            write!(f, "; {part}")?;
        }
        Ok(())
    }
}

// The message above already holds minijinja's error and its causes, so
// `source` stays empty (they would be printed twice); see `as_minijinja`.
impl std::error::Error for TemplateError {}

/// Jinja2's `string` filter: Python's `str()`.
fn string(state: &State<'_, '_>, value: &Value) -> Result<Value, Error> {
    if value.is_undefined() && state.undefined_behavior() == UndefinedBehavior::Strict {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(match value.kind() {
        ValueKind::String => value.clone(),
        _ => Value::from(pyformat::py_str(value)),
    })
}

/// Jinja2's `tojson` filter: keys sorted (Jinja2 dumps with
/// `sort_keys=True`), HTML-sensitive characters escaped, and an undefined
/// value anywhere in it an error, as `json.dumps` refuses it.
fn tojson(value: &Value, indent: Option<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    minijinja::filters::tojson(&sorted_keys(value)?, indent, kwargs)
}

/// Jinja2's `int(default=0, base=10)`: a value that does not convert
/// (including an infinite or NaN float) gives the default instead of an
/// error; surrounding white space is ignored, as Python's `int()` ignores
/// it; an undefined value is an error even when lenient (Jinja2's
/// `Undefined` refuses `int()`).
fn int(
    state: &State<'_, '_>,
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let value = convertible(value)?;
    let default = default_arg(default, &kwargs, Value::from(0))?;
    let base = match base {
        Some(base) => Some(base),
        None => kwargs.get::<Option<u32>>("base")?,
    };
    let float = match value.as_str() {
        Some(s) => s.parse::<f64>().ok(),
        None => f64::try_from(value.clone()).ok(),
    };
    if float.is_some_and(|f| !f.is_finite()) {
        // Refused by Python's `int()`; minijinja would saturate.
        kwargs.assert_all_used()?;
        return Ok(default);
    }
    minijinja::filters::int(state, &value, Some(default), base, kwargs)
}

/// Jinja2's `float(default=0.0)`, as [`int`].
fn float(
    state: &State<'_, '_>,
    value: &Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let value = convertible(value)?;
    let default = default_arg(default, &kwargs, Value::from(0.0))?;
    minijinja::filters::float(state, &value, Some(default), kwargs)
}

/// The `default` argument of `int` and `float`, given by position or by
/// name, else Jinja2's.
fn default_arg(given: Option<Value>, kwargs: &Kwargs, jinja2: Value) -> Result<Value, Error> {
    Ok(match given {
        Some(default) => default,
        None => kwargs.get::<Option<Value>>("default")?.unwrap_or(jinja2),
    })
}

/// What `int` and `float` convert: a string without its surrounding white
/// space; never an undefined value.
fn convertible(value: &Value) -> Result<Value, Error> {
    if value.is_undefined() {
        return Err(Error::from(ErrorKind::UndefinedError));
    }
    Ok(match value.as_str() {
        Some(s) if value.kind() == ValueKind::String => Value::from(s.trim()),
        _ => value.clone(),
    })
}

/// `value` with every map's keys sorted.
fn sorted_keys(value: &Value) -> Result<Value, Error> {
    match value.kind() {
        ValueKind::Undefined => Err(Error::new(
            ErrorKind::UndefinedError,
            "an undefined value cannot be written as JSON",
        )),
        ValueKind::Map => {
            let mut sorted = BTreeMap::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                sorted.insert(key, sorted_keys(&item)?);
            }
            Ok(Value::from(sorted))
        }
        ValueKind::Seq | ValueKind::Iterable => value
            .try_iter()?
            .map(|item| sorted_keys(&item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::from),
        _ => Ok(value.clone()),
    }
}

#[cfg(test)]
mod tests;
