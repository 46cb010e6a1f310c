//! Printing values as Jinja2 does, that is as Python's `str()` does.
//!
//! minijinja 3 already prints `True`, `False`, `None`, and containers with
//! Python-quoted strings (`{'k': 'v'}`). What still differs is floats:
//! Rust's shortest form is `1e16`, `0.00001`, `NaN` where Python writes
//! `1e+16`, `1e-05`, `nan`. The [`formatter`] prints numbers and containers
//! (whose items may be floats) the Python way for `{{ ... }}` output, and
//! the environment's `string` filter uses [`py_str`]. Other filters (such
//! as `join`) and the `~` operator still use minijinja's own conversion.

use minijinja::value::ValueKind;
use minijinja::{Error, Output, State, Value, escape_formatter};
use std::fmt::Write;

/// The environment's formatter: Python's `str()` for numbers and
/// containers, minijinja's own output for everything else.
pub fn formatter(
    out: &mut Output<'_>,
    state: &mut State<'_, '_>,
    value: &Value,
) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Seq | ValueKind::Map | ValueKind::Number if !value.is_safe() => {
            let mut text = String::new();
            write_str(&mut text, value);
            out.write_str(&text).map_err(Error::from)
        }
        _ => escape_formatter(out, state, value),
    }
}

/// Python's `str(value)`.
pub fn py_str(value: &Value) -> String {
    let mut text = String::new();
    write_str(&mut text, value);
    text
}

/// Python's `repr(value)`: strings quoted and escaped (`'it\'s'`).
pub fn py_repr(value: &Value) -> String {
    let mut text = String::new();
    write_repr(&mut text, value);
    text
}

fn write_str(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::String => out.push_str(value.as_str().unwrap_or_default()),
        _ => write_repr(out, value),
    }
}

/// Python's `repr(value)` for the values a template sees.
fn write_repr(out: &mut String, value: &Value) {
    match value.kind() {
        ValueKind::String => write_str_repr(out, value.as_str().unwrap_or_default()),
        ValueKind::Number if !value.is_integer() => match f64::try_from(value.clone()) {
            Ok(f) => out.push_str(&py_float(f)),
            Err(_) => {
                let _ = write!(out, "{value}");
            }
        },
        ValueKind::Seq => {
            out.push('[');
            if let Ok(items) = value.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &item);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = value.try_iter() {
                for (i, key) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    write_repr(out, &key);
                    out.push_str(": ");
                    write_repr(out, &value.get_item(&key).unwrap_or_default());
                }
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
}

/// Python's `repr()` of a string: single quotes unless the text holds a
/// single quote and no double quote; backslash escapes for the quote, the
/// backslash and unprintable characters.
fn write_str_repr(out: &mut String, s: &str) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push(quote);
}

/// An approximation of Python's `str.isprintable()`: control characters,
/// the Latin-1 soft hyphen, and the line, paragraph and format characters
/// Python escapes most often are not printable.
fn is_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(
            c,
            '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}'
        ))
}

/// Python's `repr()` of a float: the shortest digits that round-trip, in
/// positional form when the decimal exponent is in -4..16, otherwise in
/// scientific form with a signed, at least two-digit exponent.
pub fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f < 0.0 { "-inf" } else { "inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-5", "1e16".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1;
        if point <= 0 {
            let zeros = "0".repeat((-point) as usize);
            format!("{sign}0.{zeros}{digits}")
        } else {
            let point = point as usize;
            if digits.len() <= point {
                let zeros = "0".repeat(point - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let rest = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{rest}e{esign}{:02}", exp.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_repr() {
        let cases = [
            (3.5, "3.5"),
            (3.0, "3.0"),
            (-2.25, "-2.25"),
            (0.1, "0.1"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (123456789.125, "123456789.125"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (-1.25e100, "-1.25e+100"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
            (-0.0, "-0.0"),
        ];
        for (f, want) in cases {
            assert_eq!(py_float(f), want, "{f:e}");
        }
    }

    #[test]
    fn containers_print_as_python_str() {
        let v = Value::from(minijinja::value::Serde(serde_json_value()));
        assert_eq!(
            py_str(&v),
            r#"{'a': [1, 'two', None, True, 2.5], 'b': {'q': "it's"}, 'c': 'tab\there\\'}"#
        );
        assert_eq!(py_str(&Value::from("plain")), "plain");
        assert_eq!(py_str(&Value::from(7)), "7");
    }

    #[test]
    fn string_repr_escapes_like_python() {
        let repr = |s: &str| py_repr(&Value::from(s));
        assert_eq!(
            repr("a'b\"c\u{1}\u{7f}é\u{2028}"),
            r#"'a\'b"c\x01\x7fé\u2028'"#
        );
        assert_eq!(repr("it's"), r#""it's""#);
        assert_eq!(repr("\u{feff}\u{200b}\n\t\\"), r"'\ufeff\u200b\n\t\\'");
        assert_eq!(py_repr(&Value::from(2.5)), "2.5");
    }

    fn serde_json_value() -> crate::serde_json::Value {
        crate::serde_json::json!({
            "a": [1, "two", null, true, 2.5],
            "b": {"q": "it's"},
            "c": "tab\there\\",
        })
    }
}
