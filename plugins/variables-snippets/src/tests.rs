//! Unit tests of the snippets plugin, and of the whole stock variables chain
//! (common, pipelines, snippets) run the way the host runs it.

use super::*;
use vespene_plugin_api::kinds::variables::{ProjectOutputs, StageOutputs};
use vespene_plugin_api::serde_json::{self, json};
use vespene_plugin_api::testing::TestHost;
use vespene_plugin_api::{
    PipelineInfo, ProjectInfo, SnippetInfo, StageInfo, VariableSetInfo, WorkerPoolInfo,
};

// The other stock variables plugins' merges, compiled in from their crates:
// their libraries cannot be linked here (each plugin library exports the same
// root-module symbol, so two of them in one binary collide).
#[path = "../../variables-common/src/merge.rs"]
mod common_merge;
#[path = "../../variables-pipelines/src/merge.rs"]
mod pipelines_merge;

fn vars(v: serde_json::Value) -> Variables {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn snippet(name: &str, text: &str) -> SnippetInfo {
    SnippetInfo {
        name: name.into(),
        text: text.into(),
    }
}

fn create<P: Plugin>(name: &str) -> P {
    let th = TestHost::unsupported();
    P::create(CreateContext {
        name,
        params: serde_json::Value::Null,
        host: th.host(),
    })
    .unwrap()
}

fn compute(
    snippets: Vec<SnippetInfo>,
    existing: serde_json::Value,
) -> Result<Variables, PluginError> {
    create::<SnippetVariables>("snippets").compute(&VariablesRequest {
        snippets,
        existing: vars(existing),
        ..VariablesRequest::default()
    })
}

#[test]
fn snippets_render_with_the_variables_so_far() {
    let out = compute(
        vec![snippet(
            "common-setup",
            "cd {{ src }}\nmake {{ target | upper }}\n",
        )],
        json!({"src": "/src", "target": "all"}),
    )
    .unwrap();
    // One trailing newline is dropped, as Jinja2 does.
    assert_eq!(out["common_setup"], "cd /src\nmake ALL");
    assert_eq!(out.len(), 1);
}

#[test]
fn unknown_names_render_empty() {
    let out = compute(
        vec![
            snippet("plain", "a{{ nope }}b"),
            snippet("cond", "{% if nope %}yes{% else %}no{% endif %}"),
            snippet("loop", "[{% for x in nope %}{{ x }}{% endfor %}]"),
            snippet("fallback", "{{ nope | default('d') }}"),
        ],
        json!({}),
    )
    .unwrap();
    assert_eq!(out["plain"], "ab");
    assert_eq!(out["cond"], "no");
    assert_eq!(out["loop"], "[]");
    assert_eq!(out["fallback"], "d");
    // As in Jinja2, reading an attribute of an unknown name is an error.
    let err = compute(vec![snippet("deep", "{{ nope.attr }}")], json!({})).unwrap_err();
    assert!(
        err.message.contains("snippet 'deep' could not be rendered"),
        "{err}"
    );
}

#[test]
fn snippets_see_variables_not_other_snippets() {
    let out = compute(
        vec![snippet("a", "A"), snippet("b", "[{{ a }}]")],
        json!({}),
    )
    .unwrap();
    assert_eq!(out["a"], "A");
    assert_eq!(out["b"], "[]");
    let out = compute(
        vec![snippet("a", "A"), snippet("b", "[{{ a }}]")],
        json!({"a": "from variables"}),
    )
    .unwrap();
    assert_eq!(out["a"], "A");
    assert_eq!(out["b"], "[from variables]");
}

#[test]
fn names_and_collisions() {
    assert_eq!(variable_name("common-setup tools"), "common_setup_tools");
    assert_eq!(variable_name("plain"), "plain");
    let out = compute(
        vec![snippet("a b", "first"), snippet("a-b", "second")],
        json!({}),
    )
    .unwrap();
    assert_eq!(out["a_b"], "second");
    assert_eq!(out.len(), 1);
    assert!(compute(vec![snippet(" ", "x")], json!({})).is_err());
}

#[test]
fn a_syntax_error_names_the_snippet() {
    let err = compute(
        vec![snippet("fine", "ok"), snippet("broken one", "{% if %}oops")],
        json!({}),
    )
    .unwrap_err();
    assert!(err.message.contains("snippet 'broken one'"), "{err}");
    assert!(err.message.contains("syntax error"), "{err}");
}

#[test]
fn nothing_is_escaped_and_values_keep_their_types() {
    let out = compute(
        vec![
            snippet("page.html", "<b>{{ html }}</b>"),
            snippet("math", "{{ n + 1 }} {{ list | join(',') }} {{ d.k }}"),
            snippet("python", "{{ yes }} {{ no }} {{ nothing }} {{ half }}"),
        ],
        json!({"html": "&<>\"'", "n": 3, "list": [1, 2], "d": {"k": "v"},
               "yes": true, "no": false, "nothing": null, "half": 0.5}),
    )
    .unwrap();
    assert_eq!(out["page.html"], "<b>&<>\"'</b>");
    assert_eq!(out["math"], "4 1,2 v");
    // Printed as Jinja2 prints Python values.
    assert_eq!(out["python"], "True False None 0.5");
}

#[test]
fn parameters_are_refused() {
    let th = TestHost::unsupported();
    let err = SnippetVariables::create(CreateContext {
        name: "snippets",
        params: json!({"strict": true}),
        host: th.host(),
    })
    .unwrap_err();
    assert!(err.message.contains("strict"), "{err}");
}

/// The levels of the stock chain, lowest precedence first.
const LEVELS: [&str; 11] = [
    "pool_set",
    "pool",
    "pipeline_set",
    "pipeline",
    "stage_set",
    "stage",
    "project_set",
    "project",
    "earlier_stage",
    "previous_stage",
    "snippet",
];

/// Level `i` sets `x_<L>` to its own name for every level `L` at or above
/// it, so `x_<L>` must end up as `L` if and only if every level beats all
/// the levels below it.
fn level_vars(i: usize) -> Variables {
    LEVELS[i..]
        .iter()
        .map(|l| (format!("x_{l}"), serde_json::Value::from(LEVELS[i])))
        .collect()
}

fn level_set(i: usize) -> Vec<VariableSetInfo> {
    vec![VariableSetInfo {
        id: i as i64,
        name: LEVELS[i].into(),
        variables: level_vars(i),
    }]
}

#[test]
fn the_whole_stock_chain_keeps_the_precedence() {
    // Sorted by name, as the host gives them.
    let snippets = vec![
        snippet(
            "uses",
            "{{ x_project }}/{{ x_previous_stage }}/{{ x_snippet }}/{{ deep.c }}{{ deep.a }}",
        ),
        snippet("x-snippet", "{{ undefined_here }}snippet"),
    ];
    let mut request = VariablesRequest {
        worker_pool: WorkerPoolInfo {
            variable_sets: level_set(0),
            variables: level_vars(1),
            ..WorkerPoolInfo::default()
        },
        pipeline: Some(PipelineInfo {
            variable_sets: level_set(2),
            variables: level_vars(3),
            ..PipelineInfo::default()
        }),
        stage: Some(StageInfo {
            variable_sets: level_set(4),
            variables: level_vars(5),
            ..StageInfo::default()
        }),
        project: ProjectInfo {
            variable_sets: level_set(6),
            variables: level_vars(7),
            ..ProjectInfo::default()
        },
        // Nearest first.
        previous_stages: vec![
            StageOutputs {
                stage: "test".into(),
                projects: vec![ProjectOutputs {
                    project: "unit".into(),
                    build_id: Some(2),
                    output_variables: level_vars(9),
                }],
            },
            StageOutputs {
                stage: "build".into(),
                projects: vec![ProjectOutputs {
                    project: "compile".into(),
                    build_id: Some(1),
                    output_variables: level_vars(8),
                }],
            },
        ],
        snippets,
        existing: Variables::new(),
    };
    // A dictionary in the pool, replaced whole by the project's.
    request
        .worker_pool
        .variables
        .insert("deep".into(), json!({"a": 1, "b": 2}));
    request
        .project
        .variables
        .insert("deep".into(), json!({"c": 3}));

    // The host: the stock order (common, pipelines, snippets), each result
    // merged over the accumulated variables.
    let snippets = create::<SnippetVariables>("snippets");
    type Step<'a> = Box<dyn Fn(&VariablesRequest) -> Variables + 'a>;
    let chain: Vec<Step<'_>> = vec![
        Box::new(common_merge::common_variables),
        Box::new(|r| pipelines_merge::pipeline_variables(r, Default::default())),
        Box::new(|r| snippets.compute(r).unwrap()),
    ];
    let mut accumulated = Variables::new();
    for step in &chain {
        request.existing = accumulated.clone();
        accumulated.extend(step(&request));
    }

    for level in LEVELS {
        assert_eq!(
            accumulated[&format!("x_{level}")],
            level,
            "x_{level} should come from {level}: {accumulated:#?}"
        );
    }
    assert_eq!(accumulated["deep"], json!({"c": 3}));
    // Rendered against everything before the snippets (not other snippets).
    assert_eq!(
        accumulated["uses"],
        "project/previous_stage/previous_stage/3"
    );
}
