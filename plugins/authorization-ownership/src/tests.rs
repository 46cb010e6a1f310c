//! The authorization matrix as data: one line per object kind and action,
//! one column per kind of user, checked through `check` and, where a query
//! filter exists, through `filter` evaluated against the same object.

use super::*;
use vespene_plugin_api::ErrorCode;
use vespene_plugin_api::GroupRef;
use vespene_plugin_api::serde_json::{Value, json};
use vespene_plugin_api::testing::TestHost;

/// Columns, in table order: who asks, and how they relate to the object.
/// * `anon`: nobody is logged in;
/// * `plain`: a logged-in user with groups, unrelated to the object;
/// * `creator`: the object's `created_by` (a build's starter);
/// * `ogroup`: in the object's owner groups (a build's project's);
/// * `launch`: in the object's launch groups (a build's project's);
/// * `pcreator`: the `created_by` of the object's project (only builds have
///   one; elsewhere the fact is there and must be ignored);
/// * `self`: the object's id is the user's id (users; elsewhere ignored);
/// * `super`: a superuser, unrelated to the object.
const WHO: [&str; 8] = [
    "anon", "plain", "creator", "ogroup", "launch", "pcreator", "self", "super",
];

/// `list` cells say whether the object appears in the user's list (the
/// `list` check itself allows every logged-in user). Stock `filter_view`.
const MATRIX: &str = "
# kind          action   anon plain creator ogroup launch pcreator self super
project         list     N    N     Y       Y      Y      N        N    Y
project         create   N    Y     Y       Y      Y      Y        Y    Y
project         view     N    N     Y       Y      Y      N        N    Y
project         edit     N    N     Y       Y      N      N        N    Y
project         delete   N    N     Y       Y      N      N        N    Y
project         start    N    N     Y       Y      Y      N        N    Y
project         stop     N    N     Y       Y      Y      N        N    Y
build           list     N    N     Y       Y      N      N        N    Y
build           create   N    N     N       N      N      N        N    N
build           view     N    N     Y       Y      N      N        N    Y
build           edit     N    N     N       N      N      N        N    N
build           delete   N    N     N       N      N      N        N    N
build           start    N    N     Y       Y      Y      Y        N    Y
build           stop     N    N     Y       Y      Y      Y        N    Y
pipeline        list     N    Y     Y       Y      Y      Y        Y    Y
pipeline        create   N    Y     Y       Y      Y      Y        Y    Y
pipeline        view     N    Y     Y       Y      Y      Y        Y    Y
pipeline        edit     N    N     Y       Y      N      N        N    Y
pipeline        delete   N    N     Y       Y      N      N        N    Y
pipeline        start    N    N     N       N      N      N        N    Y
pipeline        stop     N    N     N       N      N      N        N    Y
snippet         list     N    Y     Y       Y      Y      Y        Y    Y
snippet         create   N    Y     Y       Y      Y      Y        Y    Y
snippet         view     N    Y     Y       Y      Y      Y        Y    Y
snippet         edit     N    N     Y       Y      N      N        N    Y
snippet         delete   N    N     Y       Y      N      N        N    Y
snippet         start    N    N     N       N      N      N        N    Y
snippet         stop     N    N     N       N      N      N        N    Y
variable_set    list     N    Y     Y       Y      Y      Y        Y    Y
variable_set    create   N    Y     Y       Y      Y      Y        Y    Y
variable_set    view     N    Y     Y       Y      Y      Y        Y    Y
variable_set    edit     N    N     Y       Y      N      N        N    Y
variable_set    delete   N    N     Y       Y      N      N        N    Y
variable_set    start    N    N     N       N      N      N        N    Y
variable_set    stop     N    N     N       N      N      N        N    Y
ssh_key         list     N    N     Y       Y      N      N        N    Y
ssh_key         create   N    Y     Y       Y      Y      Y        Y    Y
ssh_key         view     N    N     Y       Y      N      N        N    Y
ssh_key         edit     N    N     Y       Y      N      N        N    Y
ssh_key         delete   N    N     Y       Y      N      N        N    Y
ssh_key         start    N    N     N       N      N      N        N    Y
ssh_key         stop     N    N     N       N      N      N        N    Y
service_login   list     N    N     Y       Y      N      N        N    Y
service_login   create   N    Y     Y       Y      Y      Y        Y    Y
service_login   view     N    N     Y       Y      N      N        N    Y
service_login   edit     N    N     Y       Y      N      N        N    Y
service_login   delete   N    N     Y       Y      N      N        N    Y
service_login   start    N    N     N       N      N      N        N    Y
service_login   stop     N    N     N       N      N      N        N    Y
stage           list     N    Y     Y       Y      Y      Y        Y    Y
stage           create   N    Y     Y       Y      Y      Y        Y    Y
stage           view     N    Y     Y       Y      Y      Y        Y    Y
stage           edit     N    N     N       N      N      N        N    Y
stage           delete   N    N     N       N      N      N        N    Y
stage           start    N    N     N       N      N      N        N    Y
stage           stop     N    N     N       N      N      N        N    Y
worker_pool     list     N    Y     Y       Y      Y      Y        Y    Y
worker_pool     create   N    N     N       N      N      N        N    Y
worker_pool     view     N    Y     Y       Y      Y      Y        Y    Y
worker_pool     edit     N    N     N       N      N      N        N    Y
worker_pool     delete   N    N     N       N      N      N        N    Y
worker_pool     start    N    N     N       N      N      N        N    Y
worker_pool     stop     N    N     N       N      N      N        N    Y
organization    list     N    Y     Y       Y      Y      Y        Y    Y
organization    create   N    N     N       N      N      N        N    Y
organization    view     N    N     N       N      N      N        N    Y
organization    edit     N    N     N       N      N      N        N    Y
organization    delete   N    N     N       N      N      N        N    Y
organization    start    N    N     N       N      N      N        N    Y
organization    stop     N    N     N       N      N      N        N    Y
user            list     N    N     N       N      N      N        Y    Y
user            create   N    N     N       N      N      N        N    Y
user            view     N    N     N       N      N      N        Y    Y
user            edit     N    N     N       N      N      N        Y    Y
user            delete   N    N     N       N      N      N        N    Y
user            start    N    N     N       N      N      N        N    Y
user            stop     N    N     N       N      N      N        N    Y
group           list     N    Y     Y       Y      Y      Y        Y    Y
group           create   N    N     N       N      N      N        N    Y
group           view     N    Y     Y       Y      Y      Y        Y    Y
group           edit     N    N     N       N      N      N        N    Y
group           delete   N    N     N       N      N      N        N    Y
group           start    N    N     N       N      N      N        N    Y
group           stop     N    N     N       N      N      N        N    Y
";

/// With `filter_view = false`: the list and view lines that change; every
/// other line is as in `MATRIX`.
const MATRIX_NO_FILTER_VIEW: &str = "
# kind          action   anon plain creator ogroup launch pcreator self super
project         list     N    Y     Y       Y      Y      Y        Y    Y
project         view     N    Y     Y       Y      Y      Y        Y    Y
build           list     N    Y     Y       Y      Y      Y        Y    Y
build           view     N    Y     Y       Y      Y      Y        Y    Y
ssh_key         list     N    Y     Y       Y      Y      Y        Y    Y
ssh_key         view     N    Y     Y       Y      Y      Y        Y    Y
service_login   list     N    Y     Y       Y      Y      Y        Y    Y
service_login   view     N    Y     Y       Y      Y      Y        Y    Y
organization    view     N    Y     Y       Y      Y      Y        Y    Y
user            list     N    Y     Y       Y      Y      Y        Y    Y
user            view     N    Y     Y       Y      Y      Y        Y    Y
";

const ME: i64 = 7;
const MY_GROUP: i64 = 10;

struct Case {
    kind: ObjectKind,
    action: Action,
    who: &'static str,
    allowed: bool,
    line: String,
}

fn parse_kind(s: &str) -> ObjectKind {
    ObjectKind::ALL
        .into_iter()
        .find(|k| k.as_str() == s)
        .unwrap_or_else(|| panic!("unknown kind {s}"))
}

fn parse_action(s: &str) -> Action {
    vespene_plugin_api::serde_json::from_value(Value::String(s.into()))
        .unwrap_or_else(|e| panic!("unknown action {s}: {e}"))
}

fn parse(table: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    for line in table.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(cols.len(), 2 + WHO.len(), "bad table line: {line}");
        for (who, cell) in WHO.iter().zip(&cols[2..]) {
            cases.push(Case {
                kind: parse_kind(cols[0]),
                action: parse_action(cols[1]),
                who,
                allowed: match *cell {
                    "Y" => true,
                    "N" => false,
                    other => panic!("cell {other} in {line}"),
                },
                line: line.to_string(),
            });
        }
    }
    cases
}

/// The asking user for a column (`None` when anonymous).
fn user(who: &str) -> Option<UserInfo> {
    (who != "anon").then(|| UserInfo {
        id: ME,
        username: "pat".into(),
        is_superuser: who == "super",
        groups: vec![
            GroupRef {
                id: MY_GROUP,
                name: "devs".into(),
            },
            GroupRef {
                id: 11,
                name: "qa".into(),
            },
        ],
    })
}

/// The object for a column: unrelated to the user except as the column says.
fn object(kind: ObjectKind, who: &str) -> ObjectFacts {
    let mut o = ObjectFacts {
        id: 500,
        created_by: Some(99),
        owner_groups: vec![20],
        launch_groups: vec![21],
        project: Some(Box::new(ObjectFacts {
            id: 600,
            created_by: Some(98),
            owner_groups: vec![22],
            launch_groups: vec![23],
            project: None,
        })),
    };
    let build = kind == ObjectKind::Build;
    match who {
        "creator" => o.created_by = Some(ME),
        "ogroup" if build => o.project.as_mut().unwrap().owner_groups.push(MY_GROUP),
        "ogroup" => o.owner_groups.push(MY_GROUP),
        "launch" if build => o.project.as_mut().unwrap().launch_groups.push(MY_GROUP),
        "launch" => o.launch_groups.push(MY_GROUP),
        "pcreator" => o.project.as_mut().unwrap().created_by = Some(ME),
        "self" => o.id = ME,
        _ => {}
    }
    o
}

/// Whether `object` passes `filter`, as the host's SQL would decide.
fn matches(filter: &Filter, o: &ObjectFacts) -> bool {
    let meets = |ids: &[i64], of: &[i64]| ids.iter().any(|i| of.contains(i));
    match filter {
        Filter::All => true,
        Filter::Nothing => false,
        Filter::CreatedBy(u) => o.created_by == Some(*u),
        Filter::OwnerGroupsAny(g) => meets(g, &o.owner_groups),
        Filter::LaunchGroupsAny(g) => meets(g, &o.launch_groups),
        Filter::ProjectOwnerGroupsAny(g) => o
            .project
            .as_ref()
            .is_some_and(|p| meets(g, &p.owner_groups)),
        Filter::ProjectLaunchGroupsAny(g) => o
            .project
            .as_ref()
            .is_some_and(|p| meets(g, &p.launch_groups)),
        Filter::ProjectCreatedBy(u) => o.project.as_ref().is_some_and(|p| p.created_by == Some(*u)),
        Filter::IdIs(id) => o.id == *id,
        Filter::AnyOf(fs) => fs.iter().any(|f| matches(f, o)),
        Filter::AllOf(fs) => fs.iter().all(|f| matches(f, o)),
    }
}

fn plugin(params: Value) -> Ownership {
    let th = TestHost::unsupported();
    Ownership::create(CreateContext {
        name: "ownership",
        params,
        host: th.host(),
    })
    .unwrap()
}

fn check(p: &Ownership, kind: ObjectKind, action: Action, who: &str) -> Decision {
    let with_object = !matches!(action, Action::List | Action::Create);
    p.check(&CheckRequest {
        user: user(who),
        action,
        object_kind: kind,
        object: with_object.then(|| object(kind, who)),
    })
    .unwrap()
}

fn filter(p: &Ownership, kind: ObjectKind, action: Action, who: &str) -> Filter {
    p.filter(&FilterRequest {
        user: user(who),
        action,
        object_kind: kind,
    })
    .unwrap()
}

/// Runs every case; returns the failures, one line each.
fn run(p: &Ownership, cases: &[Case]) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let mut fail = |what: &str, got: bool| {
            failures.push(format!(
                "{:<40} {:<8}: {what} gave {got}, table says {}",
                c.line, c.who, c.allowed
            ))
        };
        let decision = check(p, c.kind, c.action, c.who);
        if !decision.allowed && decision.reason.as_deref().unwrap_or("").is_empty() {
            fail("a denial without a reason", false);
        }
        if c.action == Action::List {
            // Asking for a list is allowed to everyone logged in; the
            // filter decides what is in it.
            if decision.allowed != (c.who != "anon") {
                fail("check(list)", decision.allowed);
            }
        } else if decision.allowed != c.allowed {
            fail("check", decision.allowed);
        }
        if matches!(
            c.action,
            Action::List | Action::View | Action::Edit | Action::Delete
        ) {
            let f = filter(p, c.kind, c.action, c.who);
            let got = matches(&f, &object(c.kind, c.who));
            if got != c.allowed {
                fail(&format!("filter {f:?}"), got);
            }
        }
    }
    failures
}

#[test]
fn the_stock_matrix() {
    let cases = parse(MATRIX);
    // Every kind × action × column is in the table, once.
    assert_eq!(cases.len(), ObjectKind::ALL.len() * 7 * WHO.len());
    let failures = run(&plugin(json!({ "filter_view": true })), &cases);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // No parameters at all are the stock ones.
    let failures = run(&plugin(Value::Null), &cases);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    let failures = run(&plugin(json!({})), &cases);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_matrix_without_filter_view() {
    let changed = parse(MATRIX_NO_FILTER_VIEW);
    let mut cases: Vec<Case> = parse(MATRIX)
        .into_iter()
        .filter(|c| {
            !changed
                .iter()
                .any(|d| (d.kind, d.action) == (c.kind, c.action))
        })
        .collect();
    cases.extend(changed);
    assert_eq!(cases.len(), ObjectKind::ALL.len() * 7 * WHO.len());
    let failures = run(&plugin(json!({ "filter_view": false })), &cases);
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn filters_are_the_expected_data() {
    let p = plugin(Value::Null);
    let groups = vec![MY_GROUP, 11];
    assert_eq!(
        filter(&p, ObjectKind::Project, Action::List, "plain"),
        Filter::AnyOf(vec![
            Filter::CreatedBy(ME),
            Filter::OwnerGroupsAny(groups.clone()),
            Filter::LaunchGroupsAny(groups.clone()),
        ])
    );
    assert_eq!(
        filter(&p, ObjectKind::Project, Action::Edit, "plain"),
        Filter::AnyOf(vec![
            Filter::CreatedBy(ME),
            Filter::OwnerGroupsAny(groups.clone())
        ])
    );
    assert_eq!(
        filter(&p, ObjectKind::Build, Action::View, "plain"),
        Filter::AnyOf(vec![
            Filter::CreatedBy(ME),
            Filter::ProjectOwnerGroupsAny(groups.clone())
        ])
    );
    assert_eq!(
        filter(&p, ObjectKind::User, Action::List, "plain"),
        Filter::IdIs(ME)
    );
    assert_eq!(
        filter(&p, ObjectKind::User, Action::Delete, "plain"),
        Filter::Nothing
    );
    assert_eq!(
        filter(&p, ObjectKind::Snippet, Action::List, "plain"),
        Filter::All
    );
    assert_eq!(
        filter(&p, ObjectKind::Snippet, Action::List, "anon"),
        Filter::Nothing
    );
    assert_eq!(
        filter(&p, ObjectKind::SshKey, Action::Edit, "super"),
        Filter::All
    );
    // Not even superusers edit builds.
    assert_eq!(
        filter(&p, ObjectKind::Build, Action::Edit, "super"),
        Filter::Nothing
    );
    assert_eq!(
        filter(&p, ObjectKind::Build, Action::View, "super"),
        Filter::All
    );

    // A user in no group gets no group terms (and no empty `IN ()`).
    let lonely = UserInfo {
        id: ME,
        ..UserInfo::default()
    };
    let req = |kind, action| FilterRequest {
        user: Some(lonely.clone()),
        action,
        object_kind: kind,
    };
    assert_eq!(
        p.filter(&req(ObjectKind::Project, Action::View)).unwrap(),
        Filter::CreatedBy(ME)
    );
    assert_eq!(
        p.filter(&req(ObjectKind::Build, Action::List)).unwrap(),
        Filter::CreatedBy(ME)
    );
    // ... and empty owner groups never meet empty user groups.
    let unowned = ObjectFacts {
        id: 1,
        created_by: None,
        ..ObjectFacts::default()
    };
    let d = p
        .check(&CheckRequest {
            user: Some(lonely.clone()),
            action: Action::Edit,
            object_kind: ObjectKind::Snippet,
            object: Some(unowned),
        })
        .unwrap();
    assert!(!d.allowed);
}

#[test]
fn build_rules_without_a_project() {
    // Organization-import builds have no project: only their starter.
    let p = plugin(Value::Null);
    let build = |created_by| ObjectFacts {
        id: 3,
        created_by,
        project: None,
        ..ObjectFacts::default()
    };
    for action in [Action::View, Action::Stop, Action::Start] {
        for (created_by, allowed) in [(Some(ME), true), (Some(99), false), (None, false)] {
            let d = p
                .check(&CheckRequest {
                    user: user("plain"),
                    action,
                    object_kind: ObjectKind::Build,
                    object: Some(build(created_by)),
                })
                .unwrap();
            assert_eq!(d.allowed, allowed, "{action:?} {created_by:?}");
        }
    }
}

#[test]
fn denials_say_why() {
    let p = plugin(Value::Null);
    let reason = |kind, action, who| check(&p, kind, action, who).reason.unwrap();
    assert_eq!(
        reason(ObjectKind::Project, Action::Edit, "anon"),
        "you must log in"
    );
    assert_eq!(
        reason(ObjectKind::WorkerPool, Action::Create, "plain"),
        "only superusers may create worker pools"
    );
    assert_eq!(
        reason(ObjectKind::Build, Action::Create, "super"),
        "builds are made by starting a project, not created directly"
    );
    assert_eq!(
        reason(ObjectKind::Project, Action::Stop, "plain"),
        "only the owners and launch groups of this project may stop it"
    );
    assert_eq!(
        reason(ObjectKind::SshKey, Action::Delete, "plain"),
        "only the owners of this SSH key may delete it"
    );
    assert_eq!(
        reason(ObjectKind::Snippet, Action::Stop, "plain"),
        "snippets cannot be stopped"
    );
    assert_eq!(
        reason(ObjectKind::User, Action::Edit, "plain"),
        "users may only edit their own account"
    );
}

#[test]
fn bad_requests_and_parameters_are_errors() {
    let p = plugin(Value::Null);
    // A filter exists only for list, view, edit and delete.
    for action in [Action::Create, Action::Start, Action::Stop] {
        let err = p
            .filter(&FilterRequest {
                user: user("plain"),
                action,
                object_kind: ObjectKind::Project,
            })
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidRequest);
    }
    // Object rules need the object.
    let err = p
        .check(&CheckRequest {
            user: user("plain"),
            action: Action::View,
            object_kind: ObjectKind::Project,
            object: None,
        })
        .unwrap_err();
    assert!(err.message.contains("needs the object"), "{err}");
    let th = TestHost::unsupported();
    for params in [
        json!({ "filter_view": "yes" }),
        json!({ "filterview": true }),
        json!([1]),
    ] {
        let err = Ownership::create(CreateContext {
            name: "ownership",
            params: params.clone(),
            host: th.host(),
        })
        .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidParams, "{params}");
    }
}
