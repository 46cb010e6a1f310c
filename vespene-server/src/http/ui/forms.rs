//! Form fields made from an object kind's input schema (the same
//! schema the REST API documents), so every kind's form has every field
//! its operations take, typed as the operations expect. A submitted form
//! becomes the JSON body the API would have received; the core operation
//! validates it and its error is shown next to the field it names.

use schemars::JsonSchema;
use serde_json::{Map, Value};

/// How a field is typed in the input form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ty {
    Text,
    /// `Option<String>`: blank is `null`.
    OptText,
    Int,
    /// `Option<i64>`: blank is `null`.
    OptInt,
    Float,
    Bool,
    /// A list of ids (a multiple choice).
    IntList,
    /// A list of optional ids in slots (a pipeline's stages).
    OptIntList,
}

/// One field of a kind's input form.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Field {
    pub name: String,
    pub ty: Ty,
}

fn type_names(v: &Value) -> Vec<&str> {
    match v.get("type") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(|t| t.as_str()).collect(),
        _ => match v.get("anyOf").and_then(|a| a.as_array()) {
            Some(parts) => parts.iter().flat_map(type_names).collect(),
            None => Vec::new(),
        },
    }
}

fn ty_of(v: &Value) -> Ty {
    let names = type_names(v);
    let null = names.contains(&"null");
    if names.contains(&"boolean") {
        Ty::Bool
    } else if names.contains(&"integer") {
        if null { Ty::OptInt } else { Ty::Int }
    } else if names.contains(&"number") {
        Ty::Float
    } else if names.contains(&"array") {
        let items = v.get("items").map(type_names).unwrap_or_default();
        if items.contains(&"null") {
            Ty::OptIntList
        } else {
            Ty::IntList
        }
    } else if null {
        Ty::OptText
    } else {
        Ty::Text
    }
}

/// The fields of `T`, in declaration order.
pub fn fields_of<T: JsonSchema>() -> Vec<Field> {
    let schema = schemars::SchemaGenerator::default()
        .into_root_schema_for::<T>()
        .to_value();
    schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|props| {
            props
                .iter()
                .map(|(name, v)| Field {
                    name: name.clone(),
                    ty: ty_of(v),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A form's fields that are secrets: write-only password inputs, blank
/// on every page; left blank on an edit they keep what is stored.
pub const SECRETS: &[&str] = &[
    "private_key",
    "unlock_password",
    "password",
    "webhook_token",
];

/// A submitted form as the JSON body of a create or update. Values that
/// are not what the field's type needs stay text, so the operation's
/// error names the field. Secrets left blank are left out (kept).
pub fn to_json(fields: &[Field], form: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for f in fields {
        let values: Vec<&str> = form
            .iter()
            .filter(|(k, _)| *k == f.name)
            .map(|(_, v)| v.as_str())
            .collect();
        let last = values.last().copied();
        let secret = SECRETS.contains(&f.name.as_str());
        let value = match f.ty {
            Ty::Bool => Value::Bool(values.iter().any(|v| *v == "on" || *v == "true")),
            Ty::Text => match last {
                Some(v) if secret && v.is_empty() => continue,
                Some(v) => Value::String(v.replace("\r\n", "\n")),
                None => continue,
            },
            Ty::OptText => match last {
                None => continue,
                Some(v) if secret && v.is_empty() => continue,
                Some("") => Value::Null,
                Some(v) => Value::String(v.replace("\r\n", "\n")),
            },
            Ty::Int | Ty::OptInt | Ty::Float => match last.map(str::trim) {
                None => continue,
                Some("") if f.ty == Ty::OptInt => Value::Null,
                Some(v) => number(v),
            },
            Ty::IntList => Value::Array(
                values
                    .iter()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| number(v.trim()))
                    .collect(),
            ),
            Ty::OptIntList => {
                let mut slots: Vec<Value> = values
                    .iter()
                    .map(|v| match v.trim() {
                        "" => Value::Null,
                        v => number(v),
                    })
                    .collect();
                while slots.last() == Some(&Value::Null) {
                    slots.pop();
                }
                Value::Array(slots)
            }
        };
        out.insert(f.name.clone(), value);
    }
    Value::Object(out)
}

fn number(v: &str) -> Value {
    if let Ok(i) = v.parse::<i64>() {
        return Value::from(i);
    }
    match v.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
        Some(n) => Value::Number(n),
        None => Value::String(v.to_string()),
    }
}

/// The field an operation's error is about, as one of `fields` (a path
/// like `launch_questions[2]` or `stages[1]` names its field; a name
/// already taken names `name`/`username`).
pub fn field_of_error(fields: &[Field], field: Option<&str>, code: &str) -> Option<String> {
    if let Some(f) = field {
        let base = f.split(['[', '.']).next().unwrap_or(f);
        if fields.iter().any(|x| x.name == base) {
            return Some(base.to_string());
        }
    }
    if code == "conflict" {
        for name in ["name", "username"] {
            if fields.iter().any(|x| x.name == name) {
                return Some(name.to_string());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_core::ops::{PipelineInput, ProjectInput};

    #[test]
    fn schema_types_become_field_types() {
        let fields = fields_of::<ProjectInput>();
        let ty = |n: &str| fields.iter().find(|f| f.name == n).unwrap().ty;
        assert_eq!(ty("name"), Ty::Text);
        assert_eq!(ty("pipeline_id"), Ty::OptInt);
        assert_eq!(ty("worker_pool_id"), Ty::Int);
        assert_eq!(ty("recursive"), Ty::Bool);
        assert_eq!(ty("ssh_keys"), Ty::IntList);
        assert_eq!(ty("container_base_image"), Ty::OptText);
        let stages = fields_of::<PipelineInput>();
        assert_eq!(
            stages.iter().find(|f| f.name == "stages").unwrap().ty,
            Ty::OptIntList
        );
    }

    #[test]
    fn forms_become_bodies_and_keep_bad_values_as_text() {
        let fields = fields_of::<ProjectInput>();
        let form: Vec<(String, String)> = [
            ("name", "web"),
            ("worker_pool_id", "x7"),
            ("pipeline_id", ""),
            ("recursive", "on"),
            ("ssh_keys", "3"),
            ("ssh_keys", "4"),
            ("webhook_token", ""),
            ("timeout", "30"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        let body = to_json(&fields, &form);
        assert_eq!(body["name"], "web");
        assert_eq!(body["worker_pool_id"], "x7");
        assert_eq!(body["pipeline_id"], Value::Null);
        assert_eq!(body["recursive"], true);
        assert_eq!(body["schedule_enabled"], false);
        assert_eq!(body["ssh_keys"], serde_json::json!([3, 4]));
        assert_eq!(body["timeout"], 30);
        assert!(
            body.get("webhook_token").is_none(),
            "blank secrets are kept"
        );
        assert_eq!(
            field_of_error(&fields, Some("launch_questions[1]"), "invalid").as_deref(),
            Some("launch_questions")
        );
        assert_eq!(
            field_of_error(&fields, None, "conflict").as_deref(),
            Some("name")
        );
    }
}
