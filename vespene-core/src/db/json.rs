//! The JSON text fields (variables, launch questions, answers, output
//! variables): stored as text on both backends, and validated on every
//! save so a mistake is reported when it is made, naming the object, the
//! field and the reason, instead of failing a build later (the original
//! never validated them).

use super::DbError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Checks that `text` is a JSON object (blank counts as `{}`) and returns
/// the text to store.
pub fn object_text(object: &'static str, field: &str, text: &str) -> Result<String, DbError> {
    if text.trim().is_empty() {
        return Ok("{}".into());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(_)) => Ok(text.to_string()),
        Ok(other) => Err(DbError::invalid(
            object,
            field,
            format!(
                "must be a JSON object ({{\"name\": value, …}}), not {}",
                describe(&other)
            ),
        )),
        Err(e) => Err(DbError::invalid(
            object,
            field,
            format!("is not valid JSON: {e}"),
        )),
    }
}

/// Parses a stored JSON object field (an empty or invalid one reads as
/// empty: it was validated when saved).
pub fn parse_object(text: &str) -> Map<String, Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// How a launch question is answered (reference §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionType {
    /// A text input (the default).
    #[default]
    Text,
    /// One of `choices`.
    Radio,
    /// Any of `choices` (the answer is a list).
    Multi,
}

/// One launch question of a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchQuestion {
    /// The variable the answer sets.
    pub variable: String,
    #[serde(rename = "type", default)]
    pub kind: QuestionType,
    /// The label; falls back to the variable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The choices of radio and multi questions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
}

impl LaunchQuestion {
    /// The label shown to the user.
    pub fn label(&self) -> &str {
        self.prompt
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(&self.variable)
    }
}

/// Validates a project's `launch_questions` text: a JSON list of
/// questions, each with a `variable` (a non-empty string), an optional
/// `type` (`text`, `radio` or `multi`), an optional `prompt` and, for radio
/// and multi, a non-empty list of string `choices`. Blank counts as `[]`.
pub fn launch_questions_text(object: &'static str, text: &str) -> Result<String, DbError> {
    parse_launch_questions(object, text)?;
    if text.trim().is_empty() {
        Ok("[]".into())
    } else {
        Ok(text.to_string())
    }
}

/// Parses and validates launch questions (see [`launch_questions_text`]).
pub fn parse_launch_questions(
    object: &'static str,
    text: &str,
) -> Result<Vec<LaunchQuestion>, DbError> {
    const FIELD: &str = "launch_questions";
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| DbError::invalid(object, FIELD, format!("is not valid JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(DbError::invalid(
            object,
            FIELD,
            format!("must be a JSON list of questions, not {}", describe(&value)),
        ));
    };
    let mut questions = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = |reason: String| DbError::invalid(object, format!("{FIELD}[{i}]"), reason);
        let Value::Object(map) = &item else {
            return Err(at(format!(
                "each question must be a JSON object, not {}",
                describe(&item)
            )));
        };
        for key in map.keys() {
            if !matches!(key.as_str(), "variable" | "type" | "prompt" | "choices") {
                return Err(at(format!(
                    "unknown key '{key}' (expected variable, type, prompt, choices)"
                )));
            }
        }
        match map.get("variable") {
            Some(Value::String(s)) if !s.trim().is_empty() => {}
            Some(Value::String(_)) | None => {
                return Err(at("'variable' is required".into()));
            }
            Some(other) => {
                return Err(at(format!(
                    "'variable' must be a string, not {}",
                    describe(other)
                )));
            }
        }
        if let Some(t) = map.get("type")
            && !matches!(t.as_str(), Some("text" | "radio" | "multi"))
        {
            return Err(at(format!(
                "'type' must be \"text\", \"radio\" or \"multi\", not {t}"
            )));
        }
        if let Some(p) = map.get("prompt")
            && !p.is_string()
            && !p.is_null()
        {
            return Err(at(format!(
                "'prompt' must be a string, not {}",
                describe(p)
            )));
        }
        if let Some(c) = map.get("choices") {
            let ok = c
                .as_array()
                .is_some_and(|list| list.iter().all(Value::is_string));
            if !ok {
                return Err(at("'choices' must be a list of strings".into()));
            }
        }
        let q: LaunchQuestion = serde_json::from_value(item.clone())
            .map_err(|e| at(format!("malformed question: {e}")))?;
        if matches!(q.kind, QuestionType::Radio | QuestionType::Multi) && q.choices.is_empty() {
            return Err(at(format!(
                "'choices' is required (a non-empty list) for a {} question",
                if q.kind == QuestionType::Radio {
                    "radio"
                } else {
                    "multi"
                }
            )));
        }
        if !seen.insert(q.variable.clone()) {
            return Err(at(format!("variable '{}' is asked twice", q.variable)));
        }
        questions.push(q);
    }
    Ok(questions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(e: DbError) -> (String, String) {
        match e {
            DbError::Invalid { field, reason, .. } => (field, reason),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn objects() {
        assert_eq!(object_text("project", "variables", "").unwrap(), "{}");
        assert_eq!(
            object_text("project", "variables", r#"{"a": 1}"#).unwrap(),
            r#"{"a": 1}"#
        );
        let (field, why) = reason(object_text("project", "variables", "[1]").unwrap_err());
        assert_eq!(field, "variables");
        assert!(
            why.contains("JSON object") && why.contains("a list"),
            "{why}"
        );
        let (_, why) = reason(object_text("project", "variables", "{\"a\": ").unwrap_err());
        assert!(why.starts_with("is not valid JSON"), "{why}");
    }

    #[test]
    fn questions() {
        let ok = r#"[{"variable": "env", "type": "radio", "choices": ["a", "b"]},
                    {"variable": "msg", "prompt": "Message"}]"#;
        let qs = parse_launch_questions("project", ok).unwrap();
        assert_eq!(qs.len(), 2);
        assert_eq!(qs[0].kind, QuestionType::Radio);
        assert_eq!(qs[1].label(), "Message");
        assert_eq!(launch_questions_text("project", " ").unwrap(), "[]");

        let cases = [
            (r#"{"variable": "x"}"#, "launch_questions", "JSON list"),
            (
                r#"[{"type": "text"}]"#,
                "launch_questions[0]",
                "'variable' is required",
            ),
            (
                r#"[{"variable": "x", "type": "radio"}]"#,
                "launch_questions[0]",
                "'choices' is required",
            ),
            (
                r#"[{"variable": "x", "type": "dropdown"}]"#,
                "launch_questions[0]",
                "'type' must be",
            ),
            (
                r#"[{"variable": "x"}, 3]"#,
                "launch_questions[1]",
                "JSON object",
            ),
            (
                r#"[{"variable": "x", "choices": [1]}]"#,
                "launch_questions[0]",
                "list of strings",
            ),
            (
                r#"[{"variable": "x", "colour": 1}]"#,
                "launch_questions[0]",
                "unknown key 'colour'",
            ),
            (
                r#"[{"variable": "x"}, {"variable": "x"}]"#,
                "launch_questions[1]",
                "asked twice",
            ),
            ("[", "launch_questions", "not valid JSON"),
        ];
        for (text, want_field, want) in cases {
            let (field, why) = reason(parse_launch_questions("project", text).unwrap_err());
            assert_eq!(field, want_field, "{text}");
            assert!(why.contains(want), "{text}: {why}");
        }
    }
}
