//! Schedules with an injected clock: the scheduler pass queues a build
//! once per passed marker, only one worker's pass at a time queues it, and
//! Saturday uses the weekend fields.

use chrono::{TimeZone, Utc};
use std::sync::{Arc, Barrier};
use vespene_core::authz::Actor;
use vespene_core::db::builds::BuildStatus;
use vespene_core::engine::scheduler::tick;
use vespene_core::ops::ProjectInput;
use vespene_e2e::engine::{EngineSandbox, backends};

fn scheduled(es: &EngineSandbox, app: &vespene_core::app::App, pool: i64) -> i64 {
    es.project_with(
        app,
        ProjectInput {
            name: "nightly".into(),
            worker_pool_id: pool,
            script: "#!/bin/sh\ntrue\n".into(),
            schedule_enabled: true,
            monday: true,
            tuesday: true,
            wednesday: true,
            thursday: true,
            friday: true,
            saturday: true,
            sunday: false,
            weekday_start_hours: "16,19".into(),
            weekday_start_minutes: "0".into(),
            weekend_start_hours: "10".into(),
            weekend_start_minutes: "30".into(),
            schedule_threshold: 10,
            ..Default::default()
        },
    )
}

fn builds_of(
    app: &vespene_core::app::App,
    project: i64,
) -> Vec<vespene_core::db::builds::BuildSummary> {
    app.ops
        .builds()
        .list(
            &Actor::System,
            &vespene_core::db::builds::BuildFilter {
                project_id: Some(project),
                ..Default::default()
            },
            Default::default(),
        )
        .unwrap()
        .items
}

#[test]
fn a_schedule_queues_once_per_marker() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = scheduled(&es, &app, pool);
        let mut conn = app.db.conn().unwrap();
        // Monday 2026-11-23, before the first marker: nothing.
        assert!(
            tick(
                &app,
                &mut conn,
                Utc.with_ymd_and_hms(2026, 11, 23, 15, 0, 0).unwrap()
            )
            .unwrap()
            .is_empty()
        );
        // After 16:00: one build, and only one however often the pass runs.
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 16, 30, 0).unwrap();
        let first = tick(&app, &mut conn, at).unwrap();
        assert_eq!(first.len(), 1, "{backend:?}");
        assert!(
            tick(&app, &mut conn, at).unwrap().is_empty(),
            "still queued: busy"
        );
        let b = builds_of(&app, project);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].status(), BuildStatus::Queued);
        assert_eq!(b[0].created_by, None);
    }
}

#[test]
fn saturday_uses_the_weekend_fields_and_sunday_is_off() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = scheduled(&es, &app, pool);
        let mut conn = app.db.conn().unwrap();
        // Saturday 2026-11-28 at 17:00: weekday markers (16:00) do not
        // count on Saturday; the weekend one (10:30) does.
        let queued = tick(
            &app,
            &mut conn,
            Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap(),
        )
        .unwrap();
        assert!(queued.is_empty(), "before 10:30 on Saturday");
        let queued = tick(
            &app,
            &mut conn,
            Utc.with_ymd_and_hms(2026, 11, 28, 10, 31, 0).unwrap(),
        )
        .unwrap();
        assert_eq!(queued.len(), 1, "{backend:?}");
        // Sunday is switched off.
        let b = builds_of(&app, project);
        vespene_core::engine::queue::stop_build(&app, &Actor::System, b[0].id).unwrap();
        let queued = tick(
            &app,
            &mut conn,
            Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap(),
        )
        .unwrap();
        assert!(queued.is_empty());
    }
}

/// Many workers run the scheduler pass at the same moment: exactly one
/// build is queued.
#[test]
fn only_one_worker_at_a_time_schedules() {
    for backend in backends() {
        let Some(es) = EngineSandbox::new(backend, "") else {
            continue;
        };
        let app = es.app();
        let pool = es.pool(&app, "main");
        let project = scheduled(&es, &app, pool);
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 19, 5, 0).unwrap();
        let barrier = Arc::new(Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let app = app.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut conn = app.db.conn().unwrap();
                    barrier.wait();
                    tick(&app, &mut conn, at).unwrap().len()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1, "{backend:?}");
        assert_eq!(builds_of(&app, project).len(), 1);
    }
}
