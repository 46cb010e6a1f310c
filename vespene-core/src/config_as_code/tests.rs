//! The format without a database: parsing, the errors that name the
//! object and the field, duplicate names, kind names.

use super::*;

fn parse(text: &str) -> Result<Document, ApplyError> {
    Document::parse(Path::new("conf/site.yaml"), text)
}

fn error(text: &str) -> ApplyError {
    parse(text).expect_err("should be refused")
}

#[test]
fn an_empty_file_is_an_empty_document() {
    assert_eq!(parse("").unwrap().spec, FileSpec::default());
    assert_eq!(parse("# nothing yet\n").unwrap().spec, FileSpec::default());
}

#[test]
fn fields_left_out_take_the_defaults_of_the_forms() {
    let doc = parse(
        "projects:\n  - name: web\n    worker_pool: general\n    variables: {a: 1, b: [x]}\n",
    )
    .unwrap();
    let p = &doc.spec.projects[0];
    assert_eq!(p.name, "web");
    assert_eq!(p.timeout, 60);
    assert!(p.recursive && p.pipeline_enabled);
    assert_eq!(p.schedule_threshold, 10);
    assert_eq!(p.script, crate::db::projects::DEFAULT_SCRIPT);
    assert_eq!(p.variables, serde_json::json!({"a": 1, "b": ["x"]}));
    assert_eq!(p.launch_questions, serde_json::json!([]));
    let doc = parse("worker_pools:\n  - name: general\n").unwrap();
    assert_eq!(doc.spec.worker_pools[0].permissions_hex, "0x777");
    assert_eq!(doc.spec.worker_pools[0].auto_abort_minutes, 1440);
    let doc = parse("users:\n  - username: alice\n").unwrap();
    assert!(doc.spec.users[0].is_active);
}

#[test]
fn syntax_errors_name_the_file_and_the_line() {
    let e = error("projects:\n  - name: [web\n");
    assert_eq!(e.file, Path::new("conf/site.yaml"));
    assert!(e.reason.starts_with("not valid YAML"), "{e}");
    assert!(e.reason.contains("line"), "{e}");
    assert!(
        e.to_string().starts_with("conf/site.yaml: not valid YAML"),
        "{e}"
    );
    let e = error("- just\n- a list\n");
    assert!(e.reason.contains("must be a mapping of kinds"), "{e}");
}

#[test]
fn type_errors_name_the_object_and_the_field() {
    let e = error(
        "projects:\n  - name: first\n    worker_pool: p\n  - name: web\n    worker_pool: p\n    timeout: soon\n",
    );
    assert_eq!(
        e.object,
        Some(ObjectRef {
            kind: "project",
            name: "web".into()
        })
    );
    assert_eq!(e.field.as_deref(), Some("timeout"));
    assert!(e.reason.contains("invalid type"), "{e}");
    assert!(e.reason.contains("line 6"), "{e}");
    assert!(
        e.to_string()
            .starts_with("conf/site.yaml: project 'web', field 'timeout': invalid type"),
        "{e}"
    );
}

#[test]
fn unknown_fields_and_kinds_are_refused_by_name() {
    let e = error("worker_pools:\n  - name: general\n    colour: blue\n");
    assert_eq!(
        e.object.as_ref().unwrap().to_string(),
        "worker pool 'general'"
    );
    assert!(e.reason.contains("unknown field `colour`"), "{e}");
    let e = error("projcts:\n  - name: web\n");
    assert!(e.reason.contains("unknown field `projcts`"), "{e}");
    assert!(e.reason.contains("projects"), "lists the known kinds: {e}");
    // An object without a name is still located.
    let e = error("stages:\n  - description: x\n  - variables: 3\n    bogus: 1\n");
    assert_eq!(e.object.as_ref().unwrap().name, "#2 of stages");
}

#[test]
fn a_name_twice_in_one_file_is_refused() {
    let e =
        error("snippets:\n  - name: greet\n    text: hi\n  - name: other\n  - name: ' greet'\n");
    assert_eq!(e.object.as_ref().unwrap().to_string(), "snippet 'greet'");
    assert_eq!(e.field.as_deref(), Some("name"));
    assert!(e.reason.contains("defined twice"), "{e}");
    assert!(e.reason.contains("entries 1 and 3"), "{e}");
    // The same name in two kinds is fine.
    parse("stages:\n  - name: build\nsnippets:\n  - name: build\n").unwrap();
}

#[test]
fn kinds_parse_in_every_spelling() {
    for (text, kind) in [
        ("projects", Kind::Projects),
        ("project", Kind::Projects),
        ("worker_pools", Kind::WorkerPools),
        ("worker-pool", Kind::WorkerPools),
        ("workerpool", Kind::WorkerPools),
        ("SSH_KEYS", Kind::SshKeys),
        ("variable_set", Kind::VariableSets),
        ("users", Kind::Users),
    ] {
        assert_eq!(Kind::parse(text), Some(kind), "{text}");
    }
    assert_eq!(Kind::parse("builds"), None);
    assert_eq!(Kind::parse(""), None);
    for k in Kind::ALL {
        assert_eq!(Kind::parse(k.key()), Some(k));
    }
}

#[test]
fn the_format_round_trips_through_yaml() {
    let text = "\
pipelines:
- name: release
  description: ''
  enabled: true
  variables:
    b: 2
    a: 1
  stages:
  - build
  - null
  - deploy
  variable_sets: []
  owner_groups:
  - ops
  created_by: alice
";
    let doc = parse(text).unwrap();
    assert_eq!(doc.spec.pipelines[0].stages[1], None);
    let written = serde_norway::to_string(&doc.spec).unwrap();
    assert_eq!(written, text, "key order and every field kept");
}

#[test]
fn reports_summarize() {
    let o = |name: &str, outcome| Change {
        object: ObjectRef {
            kind: "project",
            name: name.into(),
        },
        outcome,
    };
    let r = FileReport {
        file: "a.yaml".into(),
        changes: vec![o("x", Outcome::Unchanged), o("y", Outcome::Unchanged)],
    };
    assert_eq!(r.summary(), "a.yaml: no changes (2 objects unchanged)");
    let r = FileReport {
        file: "a.yaml".into(),
        changes: vec![o("x", Outcome::Created), o("y", Outcome::Unchanged)],
    };
    assert_eq!(r.summary(), "a.yaml: 1 created, 0 updated, 1 unchanged");
}
