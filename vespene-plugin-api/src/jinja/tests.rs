//! Tests of the Jinja2 set-up: every rendering recorded from Jinja2 3.1.6
//! itself (`tests/testdata/jinja2-rendering.json`) in both undefined modes,
//! and the settings that make the difference (expected outputs below were
//! recorded from Jinja2 3.1.6 too).

use super::*;
use crate::serde_json::{self, json};
use minijinja::value::{Object, ObjectRepr};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct Data {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    template: String,
    context: serde_json::Value,
    strict: Expected,
    lenient: Expected,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Expected {
    Output(String),
    /// The Jinja2 exception class; we need only fail.
    Error(String),
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/testdata/jinja2-rendering.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str::<Data>(&text).unwrap().cases
}

/// What a user of templates does: check the syntax first (when the
/// template is configured), then render.
fn check_and_render(
    template: &str,
    context: &serde_json::Value,
    undefined: Undefined,
) -> Result<String, String> {
    check_syntax(template).map_err(|e| e.to_string())?;
    render(template, context, undefined).map_err(|e| e.to_string())
}

#[test]
fn every_recorded_rendering_matches_jinja2_in_both_modes() {
    let cases = cases();
    assert!(cases.len() >= 20, "only {} cases", cases.len());
    let mut mismatches = Vec::new();
    let mut errors_seen = Vec::new();
    for case in &cases {
        for (undefined, expected) in [
            (Undefined::Strict, &case.strict),
            (Undefined::Lenient, &case.lenient),
        ] {
            let got = check_and_render(&case.template, &case.context, undefined);
            match (expected, &got) {
                (Expected::Output(want), Ok(out)) if out == want => {}
                (Expected::Error(class), Err(message)) => {
                    assert!(!message.contains('\n'), "not one line: {message}");
                    errors_seen.push((undefined, class.as_str()));
                }
                (want, got) => mismatches.push(format!(
                    "{} ({undefined:?}): template {:?}: Jinja2 gave {want:?}, we gave {got:?}",
                    case.name, case.template
                )),
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    // The data holds errors in both modes: an undefined name (strict) and
    // an attribute of an undefined name (both).
    for undefined in [Undefined::Strict, Undefined::Lenient] {
        assert!(
            errors_seen.contains(&(undefined, "UndefinedError")),
            "{errors_seen:?}"
        );
    }
}

fn lenient(template: &str, context: serde_json::Value) -> Result<String, TemplateError> {
    render(template, &context, Undefined::Lenient)
}

fn strict(template: &str, context: serde_json::Value) -> Result<String, TemplateError> {
    render(template, &context, Undefined::Strict)
}

#[test]
fn undefined_names_follow_the_chosen_behaviour() {
    assert_eq!(lenient("a{{ nope }}b", json!({})).unwrap(), "ab");
    assert_eq!(
        lenient("{% if nope %}y{% else %}n{% endif %}", json!({})).unwrap(),
        "n"
    );
    assert_eq!(
        lenient("[{% for x in nope %}{{ x }}{% endfor %}]", json!({})).unwrap(),
        "[]"
    );
    assert!(lenient("{{ nope.deeper }}", json!({})).is_err());

    for template in [
        "{{ nope }}",
        "{% if nope %}{% endif %}",
        "{% for x in nope %}{% endfor %}",
        "{{ nope ~ 'a' }}",
        "{{ nope | string }}",
    ] {
        let err = strict(template, json!({})).unwrap_err();
        assert!(!err.is_syntax_error(), "{template}: {err}");
        assert!(err.to_string().starts_with("undefined value"), "{err}");
    }
    for template in [
        "{{ nope | default('d') }}",
        "{% if nope is defined %}x{% else %}d{% endif %}",
    ] {
        assert_eq!(strict(template, json!({})).unwrap(), "d", "{template}");
        assert_eq!(lenient(template, json!({})).unwrap(), "d", "{template}");
    }
}

#[test]
fn no_autoescape_and_one_trailing_newline_dropped() {
    let ctx = json!({"s": "a&b\"<c>'"});
    let out = strict("echo '{{ s }}' && <x>\n", ctx.clone()).unwrap();
    assert_eq!(out, "echo 'a&b\"<c>'' && <x>");
    assert_eq!(strict("x\n\n", ctx).unwrap(), "x\n");
    // A template's name never turns escaping on.
    let mut env = environment(Undefined::Strict);
    env.add_template("page.html", "{{ s }}").unwrap();
    let out = env
        .get_template("page.html")
        .unwrap()
        .render(minijinja::context! { s => "<b>" })
        .unwrap();
    assert_eq!(out, "<b>");
}

#[test]
fn values_print_as_python_prints_them() {
    let ctx = json!({"big": 1e16, "small": 0.00001, "flag": false, "nothing": null,
                     "d": {"k": [1.5, "it's"]}});
    assert_eq!(
        strict(
            "{{ big }} {{ [small, 'a', flag] }} {{ 10 / 4 }} {{ nothing }} {{ d }}",
            ctx.clone()
        )
        .unwrap(),
        r#"1e+16 [1e-05, 'a', False] 2.5 None {'k': [1.5, "it's"]}"#
    );
    assert_eq!(
        strict(
            "{{ big | string }} {{ flag | string }} {{ nothing | string }}",
            ctx
        )
        .unwrap(),
        "1e+16 False None"
    );
    assert_eq!(lenient("[{{ nope | string }}]", json!({})).unwrap(), "[]");
}

#[test]
fn int_and_float_give_their_default_as_jinja2_does() {
    let t = "{{ 'x' | int }} {{ 'x' | int(7) }} {{ 'x' | int(default=7) }} {{ ' 42 ' | int }} \
             {{ '3.7' | int }} {{ 'ff' | int(base=16) }} {{ none | int }} {{ [1] | int }} \
             {{ 'inf' | int }} {{ 'nan' | int(base=16) }} {{ -3.99 | int }} | \
             {{ '' | float }} {{ 'x' | float(1.5) }} {{ ' 2.5 ' | float }} {{ 3 | float }}";
    for undefined in [Undefined::Strict, Undefined::Lenient] {
        assert_eq!(
            render(t, &json!({}), undefined).unwrap(),
            "0 7 7 42 3 255 0 0 0 0 -3 | 0.0 1.5 2.5 3.0"
        );
        // Jinja2's Undefined refuses int() and float() in both modes.
        assert!(render("{{ nope | int }}", &json!({}), undefined).is_err());
        assert!(render("{{ nope | float }}", &json!({}), undefined).is_err());
    }
    assert!(strict("{{ 1 | int(base=2, nope=1) }}", json!({})).is_err());
}

#[test]
fn dicts_keep_insertion_order_as_python_does() {
    // serde_json keeps insertion order here (the workspace enables its
    // `preserve_order`); so does minijinja with `preserve_order`.
    let ctx = json!({"d": {"b": 1, "a": 2}});
    assert_eq!(
        strict(
            "{{ d }} {% for k in d %}{{ k }}{% endfor %} {{ d.keys() | list }} \
             {% for k, v in d | dictsort %}{{ k }}{{ v }}{% endfor %}",
            ctx
        )
        .unwrap(),
        "{'b': 1, 'a': 2} ba ['b', 'a'] a2b1"
    );
}

#[test]
fn tojson_sorts_keys_and_escapes_as_jinja2_does() {
    let ctx = json!({
        "d": {"b": "x<'&>", "a": 1, "c": {"z": [{"y": 1, "x": 2}], "w": null}},
        "l": [1, "two", null, true, 1.5],
    });
    assert_eq!(
        strict("{{ d | tojson }} {{ l | tojson }}", ctx.clone()).unwrap(),
        r#"{"a": 1, "b": "x\u003c\u0027\u0026\u003e", "c": {"w": null, "z": [{"x": 2, "y": 1}]}} [1, "two", null, true, 1.5]"#
    );
    assert_eq!(
        strict("{{ d.c | tojson(indent=2) }}", ctx).unwrap(),
        "{\n  \"w\": null,\n  \"z\": [\n    {\n      \"x\": 2,\n      \"y\": 1\n    }\n  ]\n}"
    );
    // json.dumps refuses Jinja2's Undefined, in either mode.
    assert!(lenient("{{ nope | tojson }}", json!({})).is_err());
    assert!(lenient("{{ [1, nope] | tojson }}", json!({})).is_err());
    assert!(strict("{{ nope | tojson }}", json!({})).is_err());
}

#[test]
fn jinja2_syntax_and_python_methods_work() {
    let t = "{% macro q(s, e='!') %}'{{ s }}{{ e }}'{% endmacro %}\
             {% for x in l %}{{ loop.previtem }}{{ q(x) }}{{ loop.nextitem }};{% endfor %}";
    assert_eq!(
        lenient(t, json!({"l": ["a", "b"]})).unwrap(),
        "'a!'b;a'b!';"
    );
    // Strict: the first item has no previous one.
    assert!(strict(t, json!({"l": ["a", "b"]})).is_err());
    assert_eq!(
        strict(
            "{{ n.replace('-', '_') }} {{ n.upper() }} {{ n.split('-') }} {% for k, v in d.items() %}{{ k }}={{ v }}{% endfor %}",
            json!({"n": "common-setup", "d": {"k": "v"}})
        )
        .unwrap(),
        "common_setup COMMON-SETUP ['common', 'setup'] k=v"
    );
    // `{% break %}` needs a Jinja2 extension the original did not load.
    assert!(check_syntax("{% for x in l %}{% break %}{% endfor %}").is_err());
}

#[test]
fn errors_are_one_line_with_the_line_number() {
    let err = check_syntax("line one\n{% for x in y %}\n").unwrap_err();
    assert!(err.is_syntax_error());
    let message = err.to_string();
    assert_eq!(
        message,
        "syntax error: unexpected end of input, expected end of block (line 2)"
    );
    assert_eq!(err.line(), Some(2));
    assert_eq!(err.as_minijinja().kind(), ErrorKind::SyntaxError);
    assert!(check_syntax("plain {{ ok }} {{ nope.deeper }}").is_ok());

    let err = strict("a\nb\n{{ x }} {{ missing }}", json!({"x": 1})).unwrap_err();
    assert!(!err.is_syntax_error());
    assert_eq!(err.line(), Some(3));
    assert_eq!(
        err.to_string(),
        "undefined value ('missing' is undefined) (line 3)"
    );

    // A message with line breaks of its own (a failing filter's) is joined.
    let mut env = environment(Undefined::Strict);
    env.add_filter("fail", |_: Value| -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "first\n  second  \n\nthird",
        ))
    });
    let err = TemplateError::from(env.render_str("{{ 1 | fail }}", ()).unwrap_err());
    assert_eq!(
        err.to_string(),
        "invalid operation: first; second; third (line 1)"
    );
}

/// An object that prints as its name and offers fields, as a caller's
/// context may hold.
#[derive(Debug)]
struct Pool;

impl Object for Pool {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        (key.as_str() == Some("size")).then(|| Value::from(3))
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("general")
    }
}

#[test]
fn contexts_may_be_structs_or_values_holding_objects() {
    #[derive(Serialize)]
    struct Build {
        id: u32,
        tags: Vec<&'static str>,
    }
    let build = Build {
        id: 7,
        tags: vec!["a", "b"],
    };
    assert_eq!(
        render("{{ id }} {{ tags | join(',') }}", &build, Undefined::Strict).unwrap(),
        "7 a,b"
    );
    let ctx = minijinja::context! { pool => Value::from_object(Pool) };
    assert_eq!(
        render("{{ pool }} {{ pool.size }}", &ctx, Undefined::Strict).unwrap(),
        "general 3"
    );
    assert!(render("{{ pool.nope }}", &ctx, Undefined::Strict).is_err());
}

#[test]
fn shell_quoting() {
    let ctx = serde_json::json!({
        "name": "x;touch${IFS}PWNED",
        "plain": "build-7.tar",
        "quote": "it's",
        "n": 3,
    });
    let cases = [
        ("echo {{ name }}", "echo 'x;touch${IFS}PWNED'"),
        ("echo {{ plain }} {{ n }}", "echo build-7.tar 3"),
        ("echo {{ quote }}", "echo 'it'\"'\"'s'"),
        ("echo {{ name | quote }}", "echo 'x;touch${IFS}PWNED'"),
        ("echo [{{ missing }}]", "echo []"),
    ];
    for (template, want) in cases {
        assert_eq!(
            render_for_shell(template, &ctx, Undefined::Lenient).unwrap(),
            want,
            "{template}"
        );
    }
    // The filter in ordinary templates (build scripts).
    assert_eq!(
        render(
            "echo {{ name | quote }} {{ '' | quote }}",
            &ctx,
            Undefined::Strict
        )
        .unwrap(),
        "echo 'x;touch${IFS}PWNED' ''"
    );
    assert!(render("{{ nope | quote }}", &ctx, Undefined::Strict).is_err());
}
