//! Pipelines end to end (reference §5): real workers of the real `vespene`
//! binary run the stages, the real variables plugins carry `vespene/set`
//! outputs from stage to stage, on SQLite and on PostgreSQL.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::db::builds::{Build, BuildFilter, BuildStatus};
use vespene_core::db::output::OutputStream;
use vespene_core::engine::pipeline::{self, Outcome};
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_core::ops::{PageRequest, PipelineInput, ProjectInput, StageInput};
use vespene_e2e::engine::{EngineSandbox, backends, kill};

pub(crate) const WAIT: Duration = Duration::from_secs(90);

pub(crate) fn each_backend(test: impl Fn(EngineSandbox)) {
    for backend in backends() {
        if let Some(es) = EngineSandbox::new(backend, "") {
            eprintln!("-- {backend:?}");
            test(es);
        }
    }
}

fn stage(app: &App, name: &str) -> i64 {
    app.ops
        .stages()
        .create(
            &Actor::System,
            &StageInput {
                name: name.into(),
                ..StageInput::default()
            },
        )
        .expect("create stage")
        .stage
        .id
}

fn pipeline(app: &App, name: &str, stages: &[Option<i64>]) -> i64 {
    app.ops
        .pipelines()
        .create(
            &Actor::System,
            &PipelineInput {
                name: name.into(),
                stages: stages.to_vec(),
                ..PipelineInput::default()
            },
        )
        .expect("create pipeline")
        .pipeline
        .id
}

/// A project of `pipeline` in `stage` (either may be `None`).
fn member(
    es: &EngineSandbox,
    app: &App,
    name: &str,
    pool: i64,
    place: (Option<i64>, Option<i64>),
    script: &str,
) -> i64 {
    es.project_with(
        app,
        ProjectInput {
            name: name.into(),
            worker_pool_id: pool,
            pipeline_id: place.0,
            stage_id: place.1,
            script: script.into(),
            ..ProjectInput::default()
        },
    )
}

pub(crate) fn start(app: &App, project: i64) -> i64 {
    let started = start_project(app, &Actor::System, project, &StartRequest::default())
        .expect("start project");
    assert_eq!(started.failed, None);
    started.build.id
}

/// Every build of `project`, oldest first.
pub(crate) fn builds_of(app: &App, project: i64) -> Vec<Build> {
    let filter = BuildFilter {
        project_id: Some(project),
        ..BuildFilter::default()
    };
    let mut ids: Vec<i64> = app
        .ops
        .builds()
        .list(
            &Actor::System,
            &filter,
            PageRequest {
                page: 1,
                size: Some(1000),
            },
        )
        .expect("list builds")
        .items
        .iter()
        .map(|b| b.id)
        .collect();
    ids.sort_unstable();
    ids.into_iter()
        .map(|id| app.ops.builds().get(&Actor::System, id).expect("build"))
        .collect()
}

/// Waits until `project` has `n` builds and the `n`th is complete.
pub(crate) fn wait_nth(es: &EngineSandbox, app: &App, project: i64, n: usize) -> Build {
    let deadline = Instant::now() + WAIT;
    loop {
        let builds = builds_of(app, project);
        if builds.len() >= n {
            return es.wait_build(app, builds[n - 1].id, WAIT);
        }
        assert!(
            Instant::now() < deadline,
            "project {project} has {} builds, waited for {n}",
            builds.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The last line of every pipeline evaluation.
const CONCLUSIONS: [&str; 9] = [
    "queueing complete",
    "pipeline complete!",
    "pipeline waiting:",
    "nothing to do",
    "no pipeline is configured",
    "no stage is configured",
    "pipeline is disabled at project level",
    "the pipeline is disabled",
    "pipeline evaluation failed",
];

/// The messages of a successful build once its pipeline evaluation is
/// stored: a build is complete before the last of its messages reach the
/// database.
pub(crate) fn messages(es: &EngineSandbox, app: &App, build: i64) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let m = es.output(app, build, OutputStream::Messages);
        if let Some(at) = m.find("Pipeline evaluation....")
            && CONCLUSIONS.iter().any(|c| m[at..].contains(c))
        {
            // Let the rest of a flush land.
            std::thread::sleep(Duration::from_millis(100));
            return es.output(app, build, OutputStream::Messages);
        }
        assert!(
            Instant::now() < deadline,
            "build {build} has no pipeline evaluation:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn output(es: &EngineSandbox, app: &App, build: i64) -> String {
    es.output(app, build, OutputStream::Output)
}

fn assert_success(es: &EngineSandbox, app: &App, b: &Build) {
    assert_eq!(
        b.status(),
        BuildStatus::Success,
        "build {}:\n{}\n{}",
        b.id,
        messages(es, app, b.id),
        output(es, app, b.id)
    );
}

fn completed_by(app: &App, pipeline: i64) -> Option<i64> {
    let p = app
        .ops
        .pipelines()
        .get(&Actor::System, pipeline)
        .unwrap()
        .pipeline;
    assert_eq!(
        p.last_completed_by.is_some(),
        p.last_completed_date.is_some()
    );
    p.last_completed_by
}

/// A script that waits until `flag` exists (a minute at most, so that a
/// failed test leaves nothing running).
pub(crate) fn wait_for_file(flag: &Path) -> String {
    format!(
        "#!/bin/sh\necho waiting\nn=0\nwhile [ ! -e {f} ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n+1)); done\necho released\n",
        f = flag.display()
    )
}

/// Processes of a test (workers, a looping command), killed when it ends,
/// whether it passes or fails.
pub(crate) struct Processes(Vec<Child>);

impl Processes {
    /// `n` workers of `pool`, with `args`.
    pub(crate) fn workers(es: &EngineSandbox, pool: &str, n: usize, args: &[&str]) -> Processes {
        Processes((0..n).map(|_| es.worker(pool, args)).collect())
    }

    pub(crate) fn one(child: Child) -> Processes {
        Processes(vec![child])
    }

    /// Stops the (single) process with SIGTERM, as a service manager
    /// would, and returns what it printed.
    pub(crate) fn stop(mut self) -> std::process::Output {
        let child = self.0.pop().expect("a process");
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .expect("SIGTERM");
        child.wait_with_output().expect("wait for the process")
    }

    /// Waits until every process has exited by itself.
    pub(crate) fn wait(mut self) {
        for mut c in self.0.drain(..) {
            c.wait().expect("wait for a process");
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for c in self.0.drain(..) {
            kill(c);
        }
    }
}

fn wait_running(app: &App, build: i64) {
    let deadline = Instant::now() + WAIT;
    while app
        .ops
        .builds()
        .get(&Actor::System, build)
        .unwrap()
        .status()
        != BuildStatus::Running
    {
        assert!(Instant::now() < deadline, "build {build} never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn fan_in_advances_once_and_outputs_reach_later_stages() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let compile = stage(&app, "compile");
        let package = stage(&app, "package");
        let ship = stage(&app, "ship");
        let p = pipeline(
            &app,
            "release-train",
            &[Some(compile), Some(package), Some(ship)],
        );
        // The two stage-1 projects sleep the same time on two workers, so
        // that they finish together (the fan-in race).
        let a = member(
            &es,
            &app,
            "a-left",
            pool,
            (Some(p), Some(compile)),
            "#!/bin/sh\nsleep 1\necho 'vespene/set shared from-compile'\necho 'vespene/set left a'\n",
        );
        let b = member(
            &es,
            &app,
            "b-right",
            pool,
            (Some(p), Some(compile)),
            "#!/bin/sh\nsleep 1\necho 'vespene/set right b'\n",
        );
        let c = member(
            &es,
            &app,
            "c-package",
            pool,
            (Some(p), Some(package)),
            "#!/bin/sh\necho 'c sees {{ left }} {{ right }} {{ shared }}'\necho 'vespene/set shared from-package'\n",
        );
        let d = member(
            &es,
            &app,
            "d-ship",
            pool,
            (Some(p), Some(ship)),
            "#!/bin/sh\necho 'd sees shared={{ shared }} left={{ left }} right={{ right }}'\n",
        );
        let workers = Processes::workers(&es, "main", 2, &[]);
        let ab = start(&app, a);
        let bb = start(&app, b);
        let a_build = es.wait_build(&app, ab, WAIT);
        let b_build = es.wait_build(&app, bb, WAIT);
        assert_success(&es, &app, &a_build);
        assert_success(&es, &app, &b_build);
        let c_build = wait_nth(&es, &app, c, 1);
        let d_build = wait_nth(&es, &app, d, 1);
        // Give a duplicate advancement time to show up.
        std::thread::sleep(Duration::from_millis(1500));
        assert_success(&es, &app, &c_build);
        assert_success(&es, &app, &d_build);
        assert_eq!(
            builds_of(&app, c).len(),
            1,
            "stage 2 must start exactly once"
        );
        assert_eq!(
            builds_of(&app, d).len(),
            1,
            "stage 3 must start exactly once"
        );

        // Exactly one of the two peers advanced; the other waited for it or
        // found the stage queued already.
        let (ma, mb) = (messages(&es, &app, ab), messages(&es, &app, bb));
        let advancer = c_build.pipeline_parent_build_id.expect("parent set");
        assert!(advancer == ab || advancer == bb, "{c_build:#?}");
        let (adv, other, other_name) = if advancer == ab {
            (&ma, &mb, "b-right")
        } else {
            (&mb, &ma, "a-left")
        };
        for line in [
            "----------\n",
            "Pipeline evaluation....",
            "processing pipeline: release-train",
            "current stage: compile",
            "next pipeline stage: package",
            "queueing project: c-package",
            "queueing complete",
        ] {
            assert!(adv.contains(line), "missing {line:?} in\n{adv}");
        }
        assert!(
            adv.contains("peer projects for stage: a-left")
                || adv.contains("peer projects for stage: b-right"),
            "{adv}"
        );
        let peer = if other_name == "a-left" {
            "b-right"
        } else {
            "a-left"
        };
        // It waited for its peer (still running, or, on a slow machine,
        // not even queued yet), or found the stage queued already.
        let waited = other.lines().any(|l| {
            l.contains("pipeline waiting: need for some ")
                && l.ends_with(&format!(" continuing: {peer}"))
        });
        assert!(
            waited
                || other.contains(&format!(
                    "stage package was already queued by build {advancer} of a peer"
                )),
            "{other}"
        );
        assert!(!other.contains("queueing project"), "{other}");

        // Pipeline ids: the parent is the advancing build, the origin the
        // build that started the chain (its own origin); queued as the
        // system.
        assert_eq!(c_build.pipeline_origin_build_id, Some(advancer));
        assert_eq!(c_build.pipeline_id, Some(p));
        assert_eq!(c_build.created_by, None);
        assert_eq!(d_build.pipeline_parent_build_id, Some(c_build.id));
        assert_eq!(d_build.pipeline_origin_build_id, Some(advancer));

        // Outputs: stage 1's reach stage 2; with three stages the nearest
        // stage wins (stage 2's `shared` over stage 1's).
        let out_c = output(&es, &app, c_build.id);
        assert!(out_c.contains("c sees a b from-compile"), "{out_c}");
        let out_d = output(&es, &app, d_build.id);
        assert!(
            out_d.contains("d sees shared=from-package left=a right=b"),
            "{out_d}"
        );
        let vars: serde_json::Value = serde_json::from_str(&d_build.variables).unwrap();
        assert_eq!(vars["shared"], "from-package");
        assert_eq!(vars["left"], "a");

        // Completion bookkeeping after the last stage.
        let md = messages(&es, &app, d_build.id);
        assert!(md.contains("current stage: ship"), "{md}");
        assert!(
            md.contains("this is the last stage of the pipeline"),
            "{md}"
        );
        assert!(md.contains("pipeline complete!"), "{md}");
        assert_eq!(completed_by(&app, p), Some(d_build.id));
        let mc = messages(&es, &app, c_build.id);
        assert!(mc.contains("peer projects for stage:"), "{mc}");
        assert!(mc.contains("queueing project: d-ship"), "{mc}");

        // The race, replayed deterministically: the other peer evaluating
        // now sees both peers done, and the next stage already queued for
        // this round.
        let loser = if advancer == ab { bb } else { ab };
        let loser = app.ops.builds().get(&Actor::System, loser).unwrap();
        let mut conn = app.db.conn().unwrap();
        let ev = pipeline::evaluate(&app, &mut conn, &loser).unwrap();
        drop(conn);
        assert_eq!(
            ev.outcome,
            Outcome::AlreadyAdvanced(advancer),
            "{:#?}",
            ev.lines
        );
        assert!(
            ev.lines
                .last()
                .unwrap()
                .starts_with("stage package was already queued by build"),
            "{:#?}",
            ev.lines
        );
        assert_eq!(builds_of(&app, c).len(), 1);

        // A new round: running a stage-1 project again restarts the chain.
        let a2 = es.wait_build(&app, start(&app, a), WAIT);
        assert_success(&es, &app, &a2);
        let c2 = wait_nth(&es, &app, c, 2);
        let d2 = wait_nth(&es, &app, d, 2);
        assert_success(&es, &app, &d2);
        assert_eq!(c2.pipeline_parent_build_id, Some(a2.id));
        assert_eq!(d2.pipeline_origin_build_id, Some(a2.id));
        // Messages reach the database after the build is complete: the
        // workers live until they are read.
        assert!(messages(&es, &app, d2.id).contains("pipeline complete!"));
        assert_eq!(completed_by(&app, p), Some(d2.id));
        drop(workers);
    });
}

#[test]
fn a_peer_that_has_not_succeeded_blocks_the_pipeline_and_says_why() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let s1 = stage(&app, "one");
        let s2 = stage(&app, "two");
        let p = pipeline(&app, "guarded", &[Some(s1), Some(s2)]);
        let a = member(
            &es,
            &app,
            "a",
            pool,
            (Some(p), Some(s1)),
            "#!/bin/sh\necho a\n",
        );
        let b = member(
            &es,
            &app,
            "b",
            pool,
            (Some(p), Some(s1)),
            "#!/bin/sh\necho broken\nexit 1\n",
        );
        let next = member(
            &es,
            &app,
            "next",
            pool,
            (Some(p), Some(s2)),
            "#!/bin/sh\necho next\n",
        );
        let workers = Processes::workers(&es, "main", 2, &[]);

        // b never built.
        let a1 = es.wait_build(&app, start(&app, a), WAIT);
        assert_success(&es, &app, &a1);
        let m = messages(&es, &app, a1.id);
        assert!(m.contains("peer projects for stage: b"), "{m}");
        assert!(
            m.contains("pipeline waiting: need for some projects to build before continuing: b"),
            "{m}"
        );

        // b failed: no evaluation for it, and a waits for it.
        let b1 = es.wait_build(&app, start(&app, b), WAIT);
        assert_eq!(b1.status(), BuildStatus::Failure);
        let deadline = Instant::now() + WAIT;
        let mut m = String::new();
        while !m.contains("build failed with exit code 1") {
            assert!(Instant::now() < deadline, "{m}");
            std::thread::sleep(Duration::from_millis(50));
            m = es.output(&app, b1.id, OutputStream::Messages);
        }
        assert!(!m.contains("Pipeline evaluation"), "{m}");
        let a2 = es.wait_build(&app, start(&app, a), WAIT);
        assert_success(&es, &app, &a2);
        let m = messages(&es, &app, a2.id);
        assert!(
            m.contains("pipeline waiting: need for some peer project builds to have a successful status before continuing: b"),
            "{m}"
        );

        // b fixed, but still running when a succeeds: a waits for it; b
        // then advances the pipeline (re-running resumes the chain).
        let flag = es.sb.root().join("release-b");
        let mut input = ProjectInput::from(&app.ops.projects().get(&Actor::System, b).unwrap());
        input.script = wait_for_file(&flag);
        app.ops
            .projects()
            .update(&Actor::System, b, &input)
            .unwrap();
        let b2 = start(&app, b);
        wait_running(&app, b2);
        let a3 = es.wait_build(&app, start(&app, a), WAIT);
        assert_success(&es, &app, &a3);
        let m = messages(&es, &app, a3.id);
        assert!(
            m.contains("pipeline waiting: need for some peer project builds to complete before continuing: b"),
            "{m}"
        );
        assert!(builds_of(&app, next).is_empty(), "nothing advanced yet");
        std::fs::write(&flag, "").unwrap();
        let b2 = es.wait_build(&app, b2, WAIT);
        assert_success(&es, &app, &b2);
        let n1 = wait_nth(&es, &app, next, 1);
        assert_success(&es, &app, &n1);
        assert_eq!(n1.pipeline_parent_build_id, Some(b2.id));
        assert_eq!(n1.pipeline_origin_build_id, Some(b2.id));
        assert!(messages(&es, &app, b2.id).contains("queueing project: next"));
        // The evaluation's messages are stored after its transaction.
        assert!(messages(&es, &app, n1.id).contains("pipeline complete!"));
        assert_eq!(completed_by(&app, p), Some(n1.id));
        drop(workers);
    });
}

#[test]
fn opt_outs_gaps_and_a_busy_next_stage_project() {
    each_backend(|es| {
        let app = es.app();
        let pool = es.pool(&app, "main");
        let s1 = stage(&app, "first");
        let s2 = stage(&app, "second");
        let s3 = stage(&app, "third");
        let ok = "#!/bin/sh\necho ok\n";

        // Reasons for not evaluating at all.
        let open = pipeline(&app, "open", &[Some(s1), Some(s2)]);
        let closed = pipeline(&app, "closed", &[Some(s1), Some(s2)]);
        let mut input =
            PipelineInput::from(&app.ops.pipelines().get(&Actor::System, closed).unwrap());
        input.enabled = false;
        app.ops
            .pipelines()
            .update(&Actor::System, closed, &input)
            .unwrap();
        let loner = member(&es, &app, "loner", pool, (None, None), ok);
        let stageless = member(&es, &app, "stageless", pool, (Some(open), None), ok);
        let in_closed = member(&es, &app, "in-closed", pool, (Some(closed), Some(s1)), ok);
        let opted_out = es.project_with(
            &app,
            ProjectInput {
                name: "opted-out".into(),
                worker_pool_id: pool,
                pipeline_id: Some(open),
                stage_id: Some(s1),
                pipeline_enabled: false,
                script: ok.into(),
                ..ProjectInput::default()
            },
        );
        // A gap ends the chain: slot 2 is empty.
        let gapped = pipeline(&app, "gapped", &[Some(s1), None, Some(s3)]);
        let before_gap = member(&es, &app, "before-gap", pool, (Some(gapped), Some(s1)), ok);
        let after_gap = member(&es, &app, "after-gap", pool, (Some(gapped), Some(s3)), ok);

        let workers = Processes::workers(&es, "main", 2, &[]);
        for (project, reason) in [
            (loner, "no pipeline is configured"),
            (stageless, "no stage is configured"),
            (opted_out, "pipeline is disabled at project level"),
            (in_closed, "the pipeline is disabled"),
        ] {
            let b = es.wait_build(&app, start(&app, project), WAIT);
            assert_success(&es, &app, &b);
            let m = messages(&es, &app, b.id);
            assert!(m.contains("Pipeline evaluation...."), "{m}");
            assert!(m.contains(reason), "{reason:?} not in\n{m}");
            assert!(!m.contains("processing pipeline"), "{m}");
        }
        let g = es.wait_build(&app, start(&app, before_gap), WAIT);
        assert_success(&es, &app, &g);
        let m = messages(&es, &app, g.id);
        assert!(m.contains("this is the last stage of the pipeline"), "{m}");
        assert_eq!(completed_by(&app, gapped), Some(g.id));
        assert!(builds_of(&app, after_gap).is_empty());

        // Fan-out: a running next-stage project is reported and skipped,
        // the others still queue, including one that opted out of
        // advancing (it runs, and the chain stops after it).
        let fan = pipeline(&app, "fan", &[Some(s2), Some(s3)]);
        let flag = es.sb.root().join("release-busy");
        let starter = member(&es, &app, "starter", pool, (Some(fan), Some(s2)), ok);
        let busy = member(
            &es,
            &app,
            "busy",
            pool,
            (Some(fan), Some(s3)),
            &wait_for_file(&flag),
        );
        let quiet = es.project_with(
            &app,
            ProjectInput {
                name: "quiet".into(),
                worker_pool_id: pool,
                pipeline_id: Some(fan),
                stage_id: Some(s3),
                pipeline_enabled: false,
                script: ok.into(),
                ..ProjectInput::default()
            },
        );
        let busy1 = start(&app, busy);
        wait_running(&app, busy1);
        let s = es.wait_build(&app, start(&app, starter), WAIT);
        assert_success(&es, &app, &s);
        let q = wait_nth(&es, &app, quiet, 1);
        std::fs::write(&flag, "").unwrap();
        let busy1 = es.wait_build(&app, busy1, WAIT);
        let m = messages(&es, &app, s.id);
        let busy_at = m.find("queueing project: busy").expect(&m);
        let skipped_at = m
            .find(&format!(
                "not queueing project busy: project 'busy' has build {} running",
                busy1.id
            ))
            .expect(&m);
        let quiet_at = m.find("queueing project: quiet").expect(&m);
        let done_at = m.find("queueing complete").expect(&m);
        assert!(
            busy_at < skipped_at && skipped_at < quiet_at && quiet_at < done_at,
            "{m}"
        );
        assert!(m.contains("project quiet has pipeline_enabled off"), "{m}");
        assert_eq!(
            builds_of(&app, busy).len(),
            1,
            "the busy project was not queued again"
        );
        assert_success(&es, &app, &q);
        assert_eq!(q.pipeline_parent_build_id, Some(s.id));
        assert_eq!(q.created_by, None);
        let mq = messages(&es, &app, q.id);
        assert!(mq.contains("pipeline is disabled at project level"), "{mq}");
        assert_success(&es, &app, &busy1);
        assert!(messages(&es, &app, busy1.id).contains("pipeline complete!"));
        drop(workers);
    });
}
