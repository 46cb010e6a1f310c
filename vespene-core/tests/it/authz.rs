//! Authorization through fake plugins behind the same trait as the real
//! ones: checks, fail-closed behaviour, and filters narrowing lists in SQL.

use crate::crud::pool;
use crate::support::{
    FakeAuthz, TestDb, allow_all, authz_of, both_backends, test_secrets, user_actor,
};
use vespene_core::authz::Authz;
use vespene_core::db::builds::{self, NewBuild};
use vespene_core::ops::*;
use vespene_plugin_api::kinds::authorization::{
    Action, CheckRequest, Decision, Filter, FilterRequest, ObjectFacts, ObjectKind,
};
use vespene_plugin_api::{PluginError, UserInfo};

fn groups_of(u: &UserInfo) -> Vec<i64> {
    u.groups.iter().map(|g| g.id).collect()
}

fn owns(u: &UserInfo, f: &ObjectFacts) -> bool {
    f.created_by == Some(u.id) || f.owner_groups.iter().any(|g| groups_of(u).contains(g))
}

/// A policy shaped like the stock ownership plugin (reference §7.2).
fn ownership() -> FakeAuthz {
    FakeAuthz {
        name: "ownership".into(),
        check: Box::new(|r: &CheckRequest| {
            let Some(u) = &r.user else {
                return Ok(Decision::deny("log in"));
            };
            if u.is_superuser {
                return Ok(Decision::allow());
            }
            let Some(f) = &r.object else {
                return Ok(Decision::allow());
            };
            let launch = f.launch_groups.iter().any(|g| groups_of(u).contains(g));
            let ok = match (r.object_kind, r.action) {
                (ObjectKind::Build, _) => {
                    f.created_by == Some(u.id) || f.project.as_ref().is_some_and(|p| owns(u, p))
                }
                (ObjectKind::Project, Action::View | Action::Start) => owns(u, f) || launch,
                (ObjectKind::User, _) => f.id == u.id,
                _ => owns(u, f),
            };
            Ok(if ok {
                Decision::allow()
            } else {
                Decision::deny("not the owner")
            })
        }),
        filter: Box::new(|r: &FilterRequest| {
            let Some(u) = &r.user else {
                return Ok(Filter::Nothing);
            };
            if u.is_superuser {
                return Ok(Filter::All);
            }
            let g = groups_of(u);
            let owned = Filter::AnyOf(vec![
                Filter::CreatedBy(u.id),
                Filter::OwnerGroupsAny(g.clone()),
            ]);
            Ok(match (r.object_kind, r.action) {
                (ObjectKind::Project, Action::List | Action::View) => {
                    Filter::AnyOf(vec![owned, Filter::LaunchGroupsAny(g)])
                }
                (ObjectKind::Build, _) => Filter::AnyOf(vec![
                    Filter::CreatedBy(u.id),
                    Filter::ProjectOwnerGroupsAny(g),
                ]),
                (ObjectKind::User, _) => Filter::IdIs(u.id),
                (
                    ObjectKind::Snippet | ObjectKind::Stage | ObjectKind::WorkerPool,
                    Action::List | Action::View,
                ) => Filter::All,
                _ => owned,
            })
        }),
    }
}

struct World {
    alice: Actor,
    bob: Actor,
    carol: Actor,
    p_alice: i64,
    p_dev: i64,
    p_launch: i64,
    p_ops: i64,
    b_dev: i64,
    b_carol: i64,
}

fn world(t: &TestDb) -> World {
    let sys = t.system_ops();
    let a = &Actor::System;
    let dev = sys
        .groups()
        .create(a, &GroupInput { name: "dev".into() })
        .unwrap()
        .group
        .id;
    let ops_g = sys
        .groups()
        .create(a, &GroupInput { name: "ops".into() })
        .unwrap()
        .group
        .id;
    let user = |name: &str, groups: Vec<i64>| {
        let id = sys
            .users()
            .create(
                a,
                &UserInput {
                    username: name.into(),
                    groups,
                    ..Default::default()
                },
            )
            .unwrap()
            .user
            .id;
        sys.actor_for_user(id).unwrap()
    };
    let alice = user("alice", vec![dev]);
    let bob = user("bob", vec![ops_g]);
    let carol = user("carol", vec![]);
    let p = pool(&sys, "pool");
    let all = t.ops(authz_of(vec![allow_all()]), test_secrets());
    let project = |actor: &Actor, name: &str, owners: Vec<i64>, launchers: Vec<i64>| {
        all.projects()
            .create(
                actor,
                &ProjectInput {
                    name: name.into(),
                    worker_pool_id: p,
                    owner_groups: owners,
                    launch_groups: launchers,
                    ..Default::default()
                },
            )
            .unwrap()
            .project
            .id
    };
    let p_alice = project(&alice, "alice-own", vec![], vec![]);
    let p_dev = project(a, "dev-owned", vec![dev], vec![]);
    let p_launch = project(a, "dev-launch", vec![], vec![dev]);
    let p_ops = project(a, "ops-owned", vec![ops_g], vec![]);
    let mut conn = t.conn();
    let b_dev = builds::insert_queued(&mut conn, &NewBuild::queued(p_dev, p)).unwrap();
    let carol_id = carol_id(&carol);
    let b_carol = builds::insert_queued(
        &mut conn,
        &NewBuild {
            created_by: Some(carol_id),
            ..NewBuild::queued(p_ops, p)
        },
    )
    .unwrap();
    World {
        alice,
        bob,
        carol,
        p_alice,
        p_dev,
        p_launch,
        p_ops,
        b_dev,
        b_carol,
    }
}

fn carol_id(a: &Actor) -> i64 {
    a.user_id().unwrap()
}

fn project_names(ops: &Ops, actor: &Actor) -> Vec<String> {
    ops.projects()
        .list(actor, &ProjectFilter::default(), PageRequest::default())
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.name)
        .collect()
}

fn ownership_filters_narrow_lists(t: &TestDb) {
    let w = world(t);
    let ops = t.ops(authz_of(vec![ownership()]), test_secrets());
    assert_eq!(
        project_names(&ops, &w.alice),
        ["alice-own", "dev-launch", "dev-owned"]
    );
    assert_eq!(project_names(&ops, &w.bob), ["ops-owned"]);
    assert!(project_names(&ops, &w.carol).is_empty());
    let root = user_actor(0, "root", true, &[]);
    assert_eq!(project_names(&ops, &root).len(), 4);

    // Single objects: invisible ones are NotFound, visible but not editable ones Denied.
    assert!(matches!(
        ops.projects().get(&w.alice, w.p_ops),
        Err(OpError::NotFound { .. })
    ));
    assert!(ops.projects().get(&w.alice, w.p_launch).is_ok());
    let input = ProjectInput::from(&ops.projects().get(&w.alice, w.p_launch).unwrap());
    assert!(matches!(
        ops.projects().update(&w.alice, w.p_launch, &input),
        Err(OpError::Denied { .. })
    ));
    assert!(matches!(
        ops.projects().delete(&w.alice, w.p_launch),
        Err(OpError::Denied { .. })
    ));
    // Deleting or editing what one may not even see: as if it did not exist.
    assert!(matches!(
        ops.projects().delete(&w.alice, w.p_ops),
        Err(OpError::NotFound { .. })
    ));
    assert!(matches!(
        ops.projects().update(&w.alice, w.p_ops, &input),
        Err(OpError::NotFound { .. })
    ));
    ops.projects()
        .authorize_start(&w.alice, w.p_launch)
        .unwrap();
    assert!(matches!(
        ops.projects().authorize_start(&w.bob, w.p_dev),
        Err(OpError::NotFound { .. })
    ));
    let mut own = ProjectInput::from(&ops.projects().get(&w.alice, w.p_alice).unwrap());
    own.description = "mine".into();
    ops.projects().update(&w.alice, w.p_alice, &own).unwrap();
    assert!(
        ops.projects()
            .can(&w.alice, Action::Edit, Some(w.p_dev))
            .unwrap()
    );
    assert!(
        !ops.projects()
            .can(&w.alice, Action::Edit, Some(w.p_launch))
            .unwrap()
    );
    assert!(
        !ops.projects()
            .can(&w.carol, Action::View, Some(w.p_dev))
            .unwrap()
    );

    // Builds: the starter, or the project's owner groups.
    let ids = |actor: &Actor| -> Vec<i64> {
        ops.builds()
            .list(actor, &BuildFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .iter()
            .map(|b| b.id)
            .collect()
    };
    assert_eq!(ids(&w.alice), [w.b_dev]);
    assert_eq!(ids(&w.bob), [w.b_carol]);
    assert_eq!(ids(&w.carol), [w.b_carol]);
    assert!(matches!(
        ops.builds().get(&w.alice, w.b_carol),
        Err(OpError::NotFound { .. })
    ));
    ops.builds().authorize_stop(&w.carol, w.b_carol).unwrap();
    assert!(
        ops.builds()
            .output(&w.alice, w.b_dev, OutputStream::Output, 0)
            .is_ok()
    );

    // Users: self only.
    let users: Vec<String> = ops
        .users()
        .list(&w.bob, &NameFilter::default(), PageRequest::default())
        .unwrap()
        .items
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert_eq!(users, ["bob"]);

    // Created objects carry their creator, and the creator owns them.
    let sn = ops
        .snippets()
        .create(
            &w.carol,
            &SnippetInput {
                name: "carols".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(sn.snippet.created_by, w.carol.user_id());
    let mut change = SnippetInput::from(&sn);
    change.text = "x".into();
    ops.snippets()
        .update(&w.carol, sn.snippet.id, &change)
        .unwrap();
    assert!(matches!(
        ops.snippets().update(&w.bob, sn.snippet.id, &change),
        Err(OpError::Denied { .. })
    ));
    assert_eq!(
        ops.snippets()
            .list(&w.bob, &NameFilter::default(), PageRequest::default())
            .unwrap()
            .items
            .len(),
        1,
        "snippets are listed to all"
    );

    // Users cannot make themselves superusers.
    let bob_id = w.bob.user_id().unwrap();
    let mut me = UserInput::from(&ops.users().get(&w.bob, bob_id).unwrap());
    me.first_name = "Bob".into();
    ops.users().update_user(&w.bob, bob_id, &me).unwrap();
    me.is_superuser = true;
    assert!(matches!(
        ops.users().update_user(&w.bob, bob_id, &me),
        Err(OpError::Denied { .. })
    ));
}

fn every_plugin_must_allow(t: &TestDb) {
    let w = world(t);
    // Plugin A: projects created by the user; plugin B: owned by a group of theirs.
    let a = FakeAuthz {
        name: "a".into(),
        check: Box::new(|_| Ok(Decision::allow())),
        filter: Box::new(|r| {
            Ok(r.user
                .as_ref()
                .map_or(Filter::Nothing, |u| Filter::CreatedBy(u.id)))
        }),
    };
    let b = FakeAuthz {
        name: "b".into(),
        check: Box::new(|r| {
            Ok(if r.action == Action::Delete {
                Decision::deny("no deleting on Fridays")
            } else {
                Decision::allow()
            })
        }),
        filter: Box::new(|r| {
            Ok(r.user
                .as_ref()
                .map_or(Filter::Nothing, |u| Filter::OwnerGroupsAny(groups_of(u))))
        }),
    };
    let ops = t.ops(authz_of(vec![a, b]), test_secrets());
    assert!(
        project_names(&ops, &w.alice).is_empty(),
        "alice-own has no owner group, dev-owned was not created by her"
    );
    // Give alice's own project her group: now both filters match it.
    let sys = t.system_ops();
    let mut input = ProjectInput::from(&sys.projects().get(&Actor::System, w.p_alice).unwrap());
    input.owner_groups = sys
        .projects()
        .get(&Actor::System, w.p_dev)
        .unwrap()
        .owner_groups;
    sys.projects()
        .update(&Actor::System, w.p_alice, &input)
        .unwrap();
    assert_eq!(project_names(&ops, &w.alice), ["alice-own"]);
    let err = ops.projects().delete(&w.alice, w.p_alice).unwrap_err();
    match err {
        OpError::Denied { reason } => {
            assert!(reason.contains("no deleting on Fridays"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(sys.projects().get(&Actor::System, w.p_alice).is_ok());
}

fn failing_plugins_deny(t: &TestDb) {
    let w = world(t);
    let broken = FakeAuthz {
        name: "broken".into(),
        check: Box::new(|_| Err(PluginError::failed("LDAP is down"))),
        filter: Box::new(|_| Err(PluginError::failed("LDAP is down"))),
    };
    let ops = t.ops(authz_of(vec![allow_all(), broken]), test_secrets());
    match ops
        .projects()
        .list(&w.alice, &ProjectFilter::default(), PageRequest::default())
    {
        Err(OpError::Denied { reason }) => {
            assert!(
                reason.contains("'broken' failed") && reason.contains("LDAP is down"),
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(
            ops.projects().get(&w.alice, w.p_alice),
            Err(OpError::NotFound { .. })
        ),
        "its filter matches nothing"
    );
    // Only the filter failing: the list is empty, not everything.
    let filter_broken = FakeAuthz {
        name: "filter_broken".into(),
        check: Box::new(|_| Ok(Decision::allow())),
        filter: Box::new(|_| Err(PluginError::failed("boom"))),
    };
    let ops = t.ops(authz_of(vec![filter_broken]), test_secrets());
    assert!(project_names(&ops, &w.alice).is_empty());
    // The system is never checked.
    assert_eq!(project_names(&ops, &Actor::System).len(), 4);
}

fn no_plugin_means_superusers_only(t: &TestDb) {
    let w = world(t);
    let ops = t.ops(Authz::none(), test_secrets());
    assert!(matches!(
        ops.projects()
            .list(&w.alice, &ProjectFilter::default(), PageRequest::default()),
        Err(OpError::Denied { .. })
    ));
    assert!(matches!(
        ops.projects().get(&w.alice, w.p_alice),
        Err(OpError::NotFound { .. })
    ));
    assert!(matches!(
        ops.snippets().create(
            &w.alice,
            &SnippetInput {
                name: "s".into(),
                ..Default::default()
            }
        ),
        Err(OpError::Denied { .. })
    ));
    assert!(matches!(
        ops.projects().list(
            &Actor::Anonymous,
            &ProjectFilter::default(),
            PageRequest::default()
        ),
        Err(OpError::Denied { .. })
    ));
    let root = user_actor(0, "root", true, &[]);
    assert_eq!(project_names(&ops, &root).len(), 4);
    assert!(ops.projects().get(&root, w.p_ops).is_ok());
    assert!(ops.workers(&w.alice).is_err() && ops.workers(&root).is_ok());
}

/// Every filter shape, on every kind, narrows to exactly the right rows.
fn filters_translate_to_sql(t: &TestDb) {
    let w = world(t);
    let sys = t.system_ops();
    let s = &Actor::System;
    let dev = sys.groups().id_by_name(s, "dev").unwrap();
    let only = |f: Filter| FakeAuthz {
        name: "only".into(),
        check: Box::new(|_| Ok(Decision::allow())),
        filter: Box::new(move |_| Ok(f.clone())),
    };
    let names_with =
        |f: Filter| project_names(&t.ops(authz_of(vec![only(f)]), test_secrets()), &w.carol);
    assert_eq!(names_with(Filter::All).len(), 4);
    assert!(names_with(Filter::Nothing).is_empty());
    assert_eq!(names_with(Filter::IdIs(w.p_ops)), ["ops-owned"]);
    assert_eq!(
        names_with(Filter::CreatedBy(w.alice.user_id().unwrap())),
        ["alice-own"]
    );
    assert_eq!(names_with(Filter::OwnerGroupsAny(vec![dev])), ["dev-owned"]);
    assert_eq!(
        names_with(Filter::LaunchGroupsAny(vec![dev])),
        ["dev-launch"]
    );
    assert!(names_with(Filter::OwnerGroupsAny(vec![])).is_empty());
    assert!(names_with(Filter::AnyOf(vec![])).is_empty());
    assert_eq!(names_with(Filter::AllOf(vec![])).len(), 4);
    assert!(
        names_with(Filter::ProjectOwnerGroupsAny(vec![dev])).is_empty(),
        "a build-only leaf matches no project"
    );
    assert_eq!(
        names_with(Filter::AnyOf(vec![
            Filter::IdIs(w.p_ops),
            Filter::AllOf(vec![Filter::All, Filter::IdIs(w.p_dev)])
        ])),
        ["dev-owned", "ops-owned"]
    );
    assert!(
        names_with(Filter::AllOf(vec![
            Filter::IdIs(w.p_ops),
            Filter::IdIs(w.p_dev)
        ]))
        .is_empty()
    );
    assert_eq!(
        names_with(Filter::AnyOf(vec![Filter::Nothing, Filter::IdIs(w.p_dev)])),
        ["dev-owned"]
    );

    // The same leaves on the other kinds.
    let snippet = sys
        .snippets()
        .create(
            s,
            &SnippetInput {
                name: "sn".into(),
                owner_groups: vec![dev],
                ..Default::default()
            },
        )
        .unwrap()
        .snippet
        .id;
    let stage = sys
        .stages()
        .create(
            s,
            &StageInput {
                name: "st".into(),
                ..Default::default()
            },
        )
        .unwrap()
        .stage
        .id;
    let count = |f: Filter, kind: &str| -> usize {
        let ops = t.ops(authz_of(vec![only(f)]), test_secrets());
        let a = &w.carol;
        let nf = NameFilter::default();
        let pr = PageRequest::default();
        match kind {
            "snippet" => ops.snippets().list(a, &nf, pr).unwrap().items.len(),
            "stage" => ops.stages().list(a, &nf, pr).unwrap().items.len(),
            "pool" => ops.worker_pools().list(a, &nf, pr).unwrap().items.len(),
            "user" => ops.users().list(a, &nf, pr).unwrap().items.len(),
            "group" => ops.groups().list(a, &nf, pr).unwrap().items.len(),
            "build" => ops
                .builds()
                .list(a, &BuildFilter::default(), pr)
                .unwrap()
                .items
                .len(),
            _ => unreachable!(),
        }
    };
    assert_eq!(count(Filter::OwnerGroupsAny(vec![dev]), "snippet"), 1);
    assert_eq!(count(Filter::IdIs(snippet), "snippet"), 1);
    assert_eq!(
        count(Filter::LaunchGroupsAny(vec![dev]), "snippet"),
        0,
        "not applicable: nothing"
    );
    assert_eq!(count(Filter::IdIs(stage), "stage"), 1);
    assert_eq!(
        count(Filter::CreatedBy(1), "stage"),
        0,
        "stages have no creator"
    );
    assert_eq!(
        count(Filter::CreatedBy(w.alice.user_id().unwrap()), "pool"),
        0
    );
    assert_eq!(count(Filter::All, "pool"), 1);
    assert_eq!(count(Filter::IdIs(w.bob.user_id().unwrap()), "user"), 1);
    assert_eq!(count(Filter::IdIs(dev), "group"), 1);
    assert_eq!(count(Filter::ProjectOwnerGroupsAny(vec![dev]), "build"), 1);
    assert_eq!(
        count(Filter::CreatedBy(w.carol.user_id().unwrap()), "build"),
        1
    );
    assert_eq!(
        count(
            Filter::AnyOf(vec![Filter::IdIs(w.b_dev), Filter::IdIs(w.b_carol)]),
            "build"
        ),
        2
    );
}

/// The start buttons of a list page, asked for in one go, answer what
/// asking project by project answers, for every kind of asker.
fn start_buttons_in_one_go_match_one_by_one(t: &TestDb) {
    let w = world(t);
    let ops = t.ops(authz_of(vec![ownership()]), test_secrets());
    let root = user_actor(0, "root", true, &[]);
    let ids = [w.p_alice, w.p_dev, w.p_launch, w.p_ops, 999_999];
    for actor in [
        &w.alice,
        &w.bob,
        &w.carol,
        &root,
        &Actor::Anonymous,
        &Actor::System,
    ] {
        let many = ops.projects().can_start_many(actor, &ids).unwrap();
        for id in ids {
            assert_eq!(
                many[&id],
                ops.projects().can_start(actor, id).unwrap(),
                "{actor:?} starting #{id}"
            );
        }
    }
    let alice = ops.projects().can_start_many(&w.alice, &ids).unwrap();
    let mut startable: Vec<i64> = ids.into_iter().filter(|id| alice[id]).collect();
    startable.sort_unstable();
    let mut expected = vec![w.p_alice, w.p_dev, w.p_launch];
    expected.sort_unstable();
    assert_eq!(startable, expected);
}

both_backends!(
    start_buttons_in_one_go_match_one_by_one,
    ownership_filters_narrow_lists,
    every_plugin_must_allow,
    failing_plugins_deny,
    no_plugin_means_superusers_only,
    filters_translate_to_sql,
);
