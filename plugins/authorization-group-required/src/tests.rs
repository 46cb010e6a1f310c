//! The group_required matrix as data under one configuration: one line per
//! object kind and verb, one column per kind of user, checked through
//! `check` and, for list and view, through `filter`.

use super::*;
use vespene_plugin_api::ErrorCode;
use vespene_plugin_api::GroupRef;
use vespene_plugin_api::serde_json::json;
use vespene_plugin_api::testing::TestHost;

/// The configuration the table is about. It uses class names and wire
/// names, an empty list, and a noun with no verbs.
fn config() -> Value {
    json!({
        "project": {
            "list": ["developers", "ops"],
            "view": ["developers", "ops"],
            "create": ["developers", "ops"],
            "start": ["ops"],
            "stop": ["ops"],
            "delete": []
        },
        "build": { "view": ["ops"], "stop": ["ops"] },
        "variable_set": { "edit": ["developers"] },
        "sshkey": { "create": [] },
        "workerpool": {},
        "user": { "list": ["admins"] }
    })
}

/// Columns: `anon` (not logged in), `nogroup` (member of `qa` only),
/// `dev` (member of `developers`), `ops` (member of `ops` and `qa`),
/// `super` (a superuser in no group).
const WHO: [&str; 5] = ["anon", "nogroup", "dev", "ops", "super"];

const MATRIX: &str = "
# kind          verb     anon nogroup dev ops super
project         list     N    N       Y   Y   Y
project         create   N    N       Y   Y   Y
project         view     N    N       Y   Y   Y
project         edit     Y    Y       Y   Y   Y
project         delete   N    N       N   N   Y
project         start    N    N       N   Y   Y
project         stop     N    N       N   Y   Y
build           list     Y    Y       Y   Y   Y
build           create   Y    Y       Y   Y   Y
build           view     N    N       N   Y   Y
build           edit     Y    Y       Y   Y   Y
build           delete   Y    Y       Y   Y   Y
build           start    Y    Y       Y   Y   Y
build           stop     N    N       N   Y   Y
pipeline        list     Y    Y       Y   Y   Y
pipeline        create   Y    Y       Y   Y   Y
pipeline        view     Y    Y       Y   Y   Y
pipeline        edit     Y    Y       Y   Y   Y
pipeline        delete   Y    Y       Y   Y   Y
pipeline        start    Y    Y       Y   Y   Y
pipeline        stop     Y    Y       Y   Y   Y
snippet         list     Y    Y       Y   Y   Y
snippet         create   Y    Y       Y   Y   Y
snippet         view     Y    Y       Y   Y   Y
snippet         edit     Y    Y       Y   Y   Y
snippet         delete   Y    Y       Y   Y   Y
snippet         start    Y    Y       Y   Y   Y
snippet         stop     Y    Y       Y   Y   Y
variable_set    list     Y    Y       Y   Y   Y
variable_set    create   Y    Y       Y   Y   Y
variable_set    view     Y    Y       Y   Y   Y
variable_set    edit     N    N       Y   N   Y
variable_set    delete   Y    Y       Y   Y   Y
variable_set    start    Y    Y       Y   Y   Y
variable_set    stop     Y    Y       Y   Y   Y
ssh_key         list     Y    Y       Y   Y   Y
ssh_key         create   N    N       N   N   Y
ssh_key         view     Y    Y       Y   Y   Y
ssh_key         edit     Y    Y       Y   Y   Y
ssh_key         delete   Y    Y       Y   Y   Y
ssh_key         start    Y    Y       Y   Y   Y
ssh_key         stop     Y    Y       Y   Y   Y
service_login   list     Y    Y       Y   Y   Y
service_login   create   Y    Y       Y   Y   Y
service_login   view     Y    Y       Y   Y   Y
service_login   edit     Y    Y       Y   Y   Y
service_login   delete   Y    Y       Y   Y   Y
service_login   start    Y    Y       Y   Y   Y
service_login   stop     Y    Y       Y   Y   Y
stage           list     Y    Y       Y   Y   Y
stage           create   Y    Y       Y   Y   Y
stage           view     Y    Y       Y   Y   Y
stage           edit     Y    Y       Y   Y   Y
stage           delete   Y    Y       Y   Y   Y
stage           start    Y    Y       Y   Y   Y
stage           stop     Y    Y       Y   Y   Y
worker_pool     list     Y    Y       Y   Y   Y
worker_pool     create   Y    Y       Y   Y   Y
worker_pool     view     Y    Y       Y   Y   Y
worker_pool     edit     Y    Y       Y   Y   Y
worker_pool     delete   Y    Y       Y   Y   Y
worker_pool     start    Y    Y       Y   Y   Y
worker_pool     stop     Y    Y       Y   Y   Y
organization    list     Y    Y       Y   Y   Y
organization    create   Y    Y       Y   Y   Y
organization    view     Y    Y       Y   Y   Y
organization    edit     Y    Y       Y   Y   Y
organization    delete   Y    Y       Y   Y   Y
organization    start    Y    Y       Y   Y   Y
organization    stop     Y    Y       Y   Y   Y
user            list     N    N       N   N   Y
user            create   Y    Y       Y   Y   Y
user            view     Y    Y       Y   Y   Y
user            edit     Y    Y       Y   Y   Y
user            delete   Y    Y       Y   Y   Y
user            start    Y    Y       Y   Y   Y
user            stop     Y    Y       Y   Y   Y
group           list     Y    Y       Y   Y   Y
group           create   Y    Y       Y   Y   Y
group           view     Y    Y       Y   Y   Y
group           edit     Y    Y       Y   Y   Y
group           delete   Y    Y       Y   Y   Y
group           start    Y    Y       Y   Y   Y
group           stop     Y    Y       Y   Y   Y
";

fn user(who: &str) -> Option<UserInfo> {
    let group = |id, name: &str| GroupRef {
        id,
        name: name.into(),
    };
    let groups = match who {
        "anon" => return None,
        "nogroup" => vec![group(1, "qa")],
        "dev" => vec![group(2, "developers")],
        "ops" => vec![group(1, "qa"), group(3, "ops")],
        "super" => vec![],
        other => panic!("unknown column {other}"),
    };
    Some(UserInfo {
        id: 7,
        username: who.into(),
        is_superuser: who == "super",
        groups,
    })
}

fn make(params: Value) -> Result<GroupRequired, PluginError> {
    let th = TestHost::unsupported();
    GroupRequired::create(CreateContext {
        name: "group_required",
        params,
        host: th.host(),
    })
}

#[test]
fn the_matrix() {
    let p = make(config()).unwrap();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in MATRIX.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 2 + WHO.len(), "bad table line: {line}");
        let kind = ObjectKind::ALL
            .into_iter()
            .find(|k| k.as_str() == cols[0])
            .unwrap();
        let action = Action::from_name(cols[1]).unwrap();
        for (who, cell) in WHO.iter().zip(&cols[2..]) {
            count += 1;
            let expected = *cell == "Y";
            let decision = p
                .check(&CheckRequest {
                    user: user(who),
                    action,
                    object_kind: kind,
                    object: None,
                })
                .unwrap();
            if decision.allowed != expected {
                failures.push(format!("{line} {who}: check gave {}", decision.allowed));
            }
            if !decision.allowed && decision.reason.as_deref().unwrap_or("").is_empty() {
                failures.push(format!("{line} {who}: denied without a reason"));
            }
            if matches!(
                action,
                Action::List | Action::View | Action::Edit | Action::Delete
            ) {
                let f = p
                    .filter(&FilterRequest {
                        user: user(who),
                        action,
                        object_kind: kind,
                    })
                    .unwrap();
                // Only a list or view rule narrows a query, to nothing.
                let want = match action {
                    Action::List | Action::View if !expected => Filter::Nothing,
                    _ => Filter::All,
                };
                if f != want {
                    failures.push(format!("{line} {who}: filter gave {f:?}"));
                }
            }
        }
    }
    assert_eq!(count, ObjectKind::ALL.len() * Action::ALL.len() * WHO.len());
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn no_parameters_restrict_nothing() {
    for params in [Value::Null, json!({}), json!({ "project": {} })] {
        let p = make(params.clone()).unwrap();
        for kind in ObjectKind::ALL {
            for action in Action::ALL {
                for who in WHO {
                    let d = p
                        .check(&CheckRequest {
                            user: user(who),
                            action,
                            object_kind: kind,
                            object: None,
                        })
                        .unwrap();
                    assert!(d.allowed, "{params} {kind:?} {action:?} {who}");
                }
            }
        }
    }
}

#[test]
fn denials_say_why() {
    let p = make(config()).unwrap();
    let reason = |kind, action, who| {
        p.check(&CheckRequest {
            user: user(who),
            action,
            object_kind: kind,
            object: None,
        })
        .unwrap()
        .reason
        .unwrap()
    };
    assert_eq!(
        reason(ObjectKind::Project, Action::Start, "dev"),
        "only members of the groups ops may start projects"
    );
    assert_eq!(
        reason(ObjectKind::Project, Action::Create, "nogroup"),
        "only members of the groups developers, ops may create projects"
    );
    assert_eq!(
        reason(ObjectKind::SshKey, Action::Create, "ops"),
        "only superusers may create SSH keys"
    );
    assert_eq!(
        reason(ObjectKind::Build, Action::Stop, "anon"),
        "you must log in"
    );
}

#[test]
fn both_spellings_of_a_noun_work() {
    for noun in ["variableset", "variable_set"] {
        let p = make(json!({ noun: { "delete": ["ops"] } })).unwrap();
        let allowed = |who| {
            p.check(&CheckRequest {
                user: user(who),
                action: Action::Delete,
                object_kind: ObjectKind::VariableSet,
                object: None,
            })
            .unwrap()
            .allowed
        };
        assert!(allowed("ops") && !allowed("dev"), "{noun}");
    }
    for kind in ObjectKind::ALL {
        assert_eq!(ObjectKind::from_name(kind.class_name()), Some(kind));
        assert_eq!(ObjectKind::from_name(kind.as_str()), Some(kind));
    }
}

#[test]
fn bad_parameters_name_the_key() {
    for (params, says) in [
        (
            json!({ "projects": { "create": [] } }),
            "unknown noun 'projects'",
        ),
        (
            json!({ "Project": { "create": [] } }),
            "unknown noun 'Project'",
        ),
        (
            json!({ "project": { "launch": [] } }),
            "'project.launch': unknown verb",
        ),
        (
            json!({ "project": { "create": "ops" } }),
            "'project.create' must be a list",
        ),
        (
            json!({ "project": { "create": ["ops", 3] } }),
            "'project.create[1]'",
        ),
        (
            json!({ "project": ["create"] }),
            "'project' must be a table",
        ),
        (json!(["project"]), "parameters must be a table"),
        (json!("project"), "parameters must be a table"),
        (
            json!({ "sshkey": {}, "ssh_key": {} }),
            "name the same kind of object",
        ),
    ] {
        let err = make(params.clone()).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams, "{params}");
        assert!(err.message.contains(says), "{params}: {err}");
        assert!(err.message.contains("'group_required'"), "{err}");
    }
}

#[test]
fn filter_has_no_meaning_for_create_start_stop() {
    let p = make(config()).unwrap();
    for action in [Action::Create, Action::Start, Action::Stop] {
        let err = p
            .filter(&FilterRequest {
                user: user("dev"),
                action,
                object_kind: ObjectKind::Project,
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
    }
}
