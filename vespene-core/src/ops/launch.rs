//! Launch answers checked against a project's launch questions (reference
//! §4.5), so an answer can only be what its question allows: a start that
//! asks (CLI, API, UI) must answer every question, a radio answer is one of
//! its choices, a multi answer a list of its choices, a text answer one
//! string; a project without questions takes no answers. The original
//! checked nothing on the server; here a free answer cannot reach a script
//! except as the text its question asks for (scripts quote it with the
//! `quote` filter).

use super::OpError;
use super::error::shorten;
use crate::db::json::{LaunchQuestion, QuestionType, parse_launch_questions};
use serde_json::{Map, Value};

const FIELD: &str = "launch_answers";

fn invalid(reason: String) -> OpError {
    OpError::Invalid {
        object: "project start",
        field: FIELD.into(),
        reason,
    }
}

/// Checks `answers` against the project's `launch_questions` text and
/// returns them in their canonical form (a multi answer given once becomes
/// a one-element list).
pub fn check_answers(
    questions_text: &str,
    answers: &Map<String, Value>,
) -> Result<Map<String, Value>, OpError> {
    let questions = parse_launch_questions("project", questions_text)?;
    if questions.is_empty() {
        return match answers.keys().next() {
            None => Ok(Map::new()),
            Some(name) => Err(invalid(format!(
                "this project has no launch questions, so '{}' cannot be answered",
                shorten(name)
            ))),
        };
    }
    if let Some(name) = answers
        .keys()
        .find(|k| !questions.iter().any(|q| &q.variable == *k))
    {
        return Err(invalid(format!(
            "'{}' is not one of this project's launch questions ({})",
            shorten(name),
            names(&questions)
        )));
    }
    let mut checked = Map::new();
    for q in &questions {
        let Some(answer) = answers.get(&q.variable) else {
            return Err(invalid(format!(
                "the launch question '{}' needs an answer (--answer {}=VALUE)",
                q.label(),
                q.variable
            )));
        };
        checked.insert(q.variable.clone(), check_one(q, answer)?);
    }
    Ok(checked)
}

fn names(questions: &[LaunchQuestion]) -> String {
    questions
        .iter()
        .map(|q| q.variable.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_one(q: &LaunchQuestion, answer: &Value) -> Result<Value, OpError> {
    let choice = |v: &Value| -> Result<Value, OpError> {
        match v {
            Value::String(s) if q.choices.iter().any(|c| c == s) => Ok(v.clone()),
            Value::String(s) => Err(invalid(format!(
                "'{}' is not a choice of '{}' (choices: {})",
                shorten(s),
                q.label(),
                q.choices.join(", ")
            ))),
            _ => Err(invalid(format!(
                "the answer to '{}' must be one of its choices",
                q.label()
            ))),
        }
    };
    match q.kind {
        QuestionType::Text => match answer {
            Value::String(_) => Ok(answer.clone()),
            _ => Err(invalid(format!(
                "the answer to '{}' must be one text value",
                q.label()
            ))),
        },
        QuestionType::Radio => choice(answer),
        QuestionType::Multi => match answer {
            Value::Array(list) => Ok(Value::Array(
                list.iter().map(choice).collect::<Result<_, _>>()?,
            )),
            one => Ok(Value::Array(vec![choice(one)?])),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const QUESTIONS: &str = r#"[
        {"variable": "name", "prompt": "Your name"},
        {"variable": "env", "type": "radio", "choices": ["dev", "prod"]},
        {"variable": "tags", "type": "multi", "choices": ["a", "b"]}
    ]"#;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn answers_are_what_questions_allow() {
        let cases: &[(&str, Value, Result<Value, &str>)] = &[
            ("[]", json!({}), Ok(json!({}))),
            ("[]", json!({"x": "1"}), Err("has no launch questions")),
            (QUESTIONS, json!({}), Err("'Your name' needs an answer")),
            (
                QUESTIONS,
                json!({"name": "x; rm -rf /", "env": "dev", "tags": "a"}),
                Ok(json!({"name": "x; rm -rf /", "env": "dev", "tags": ["a"]})),
            ),
            (
                QUESTIONS,
                json!({"name": "n", "env": "dev; touch PWNED", "tags": "a"}),
                Err("is not a choice of 'env'"),
            ),
            (
                QUESTIONS,
                json!({"name": "n", "env": "dev", "tags": ["a", "c"]}),
                Err("'c' is not a choice of 'tags'"),
            ),
            (
                QUESTIONS,
                json!({"name": ["a", "b"], "env": "dev", "tags": "a"}),
                Err("must be one text value"),
            ),
            (
                QUESTIONS,
                json!({"name": "n", "env": "dev", "tags": "a", "other": "1"}),
                Err("'other' is not one of this project's launch questions"),
            ),
        ];
        for (questions, answers, expected) in cases {
            let got = check_answers(questions, &map(answers.clone()));
            match (expected, got) {
                (Ok(want), Ok(got)) => assert_eq!(&Value::Object(got), want, "{answers}"),
                (Err(want), Err(e)) => {
                    let text = e.to_string();
                    assert!(text.contains(want), "{answers}: {text}");
                    assert!(!text.contains('\n'), "{text}");
                }
                (want, got) => panic!("{answers}: expected {want:?}, got {got:?}"),
            }
        }
    }
}
