//! Claiming builds: a claim whose answer the database lost is found again
//! by the worker that made it, and only by that worker, and only once.

use crate::crud::{pool, project};
use crate::support::{TestDb, both_backends};
use std::collections::HashSet;
use vespene_core::db::builds::{self, BuildStatus, NewBuild};
use vespene_core::db::workers::{Registration, register};
use vespene_core::engine::claim::{Claimer, claim_next, lost_claim};
use vespene_core::plugins::Registry;

fn claimer(t: &TestDb, uid: &str) -> Claimer {
    let worker = register(
        &mut t.conn(),
        &Registration {
            worker_uid: uid.into(),
            hostname: "localhost".into(),
            port: 0,
            build_root: "/nonexistent".into(),
            fileserving_enabled: false,
        },
    )
    .unwrap();
    Claimer {
        claimed_by: format!("{uid}:1"),
        worker_id: worker.id,
        build_root: "/nonexistent".into(),
    }
}

fn a_lost_claim_is_found_by_its_worker_once(t: &TestDb) {
    let ops = t.system_ops();
    let p = pool(&ops, "pool");
    let pr = project(&ops, "web", p);
    let mut conn = t.conn();
    let queued = builds::insert_queued(&mut conn, &NewBuild::queued(pr, p)).unwrap();
    let (me, other) = (claimer(t, "me"), claimer(t, "other"));

    // The claim commits and comes back with the build, read in the same
    // transaction.
    let claimed = claim_next(&mut conn, &Registry::default(), p, false, 60, &me)
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, queued);
    assert_eq!(claimed.status(), BuildStatus::Running);
    assert_eq!(claimed.claimed_by.as_deref(), Some(me.claimed_by.as_str()));

    // Suppose that answer was lost: the worker that made the claim finds it,
    // another worker does not, and once run it is never found again.
    let mut ran = HashSet::new();
    let lost = lost_claim(&mut conn, &me, &ran).unwrap().map(|b| b.id);
    assert_eq!(lost, Some(queued));
    assert!(
        lost_claim(&mut conn, &other, &HashSet::new())
            .unwrap()
            .is_none()
    );
    ran.insert(queued);
    assert!(lost_claim(&mut conn, &me, &ran).unwrap().is_none());
}

both_backends!(a_lost_claim_is_found_by_its_worker_once);
