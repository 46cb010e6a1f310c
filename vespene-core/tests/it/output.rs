//! Build output as appended chunks: append, read, follow.

use crate::crud::{pool, project};
use crate::support::{TestDb, both_backends};
use vespene_core::db::DbError;
use vespene_core::db::builds::{self, NewBuild};
use vespene_core::db::output::{
    OutputStream, append_output, last_seq, read_output, read_output_limited,
};

fn ten_thousand_lines_in_chunks(t: &TestDb) {
    let ops = t.system_ops();
    let p = pool(&ops, "pool");
    let pr = project(&ops, "web", p);
    let mut conn = t.conn();
    let build = builds::insert_queued(&mut conn, &NewBuild::queued(pr, p)).unwrap();
    let lines: Vec<String> = (0..10_000)
        .map(|i| format!("line {i} ünïcode\t{}", "x".repeat(i % 17)))
        .collect();

    // Uneven chunk sizes, as a real build produces them; a follower reads
    // between appends.
    let sizes = [1usize, 7, 250, 1000, 3, 2000, 39];
    let (mut at, mut k, mut followed, mut after) = (0usize, 0usize, String::new(), 0i64);
    let mut seqs = Vec::new();
    while at < lines.len() {
        let n = sizes[k % sizes.len()].min(lines.len() - at);
        seqs.push(
            append_output(&mut conn, build, OutputStream::Output, &lines[at..at + n]).unwrap(),
        );
        at += n;
        k += 1;
        if k % 3 == 0 {
            let r = read_output(&mut conn, build, OutputStream::Output, after).unwrap();
            followed.push_str(&r.text);
            after = r.last_seq;
        }
    }
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "dense seq from 1"
    );
    let rest = read_output(&mut conn, build, OutputStream::Output, after).unwrap();
    followed.push_str(&rest.text);
    let expected: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert_eq!(
        followed, expected,
        "the follower saw every line once, in order"
    );

    let all = read_output(&mut conn, build, OutputStream::Output, 0).unwrap();
    assert_eq!(all.text, expected);
    assert_eq!(all.lines, 10_000);
    assert_eq!(all.chunks, seqs.len());
    assert_eq!(all.last_seq, *seqs.last().unwrap());
    assert_eq!(
        last_seq(&mut conn, build, OutputStream::Output).unwrap(),
        all.last_seq
    );

    let nothing_new = read_output(&mut conn, build, OutputStream::Output, all.last_seq).unwrap();
    assert_eq!(
        (
            nothing_new.text.as_str(),
            nothing_new.last_seq,
            nothing_new.chunks
        ),
        ("", all.last_seq, 0)
    );

    let first_two = read_output_limited(&mut conn, build, OutputStream::Output, 0, 2).unwrap();
    assert_eq!(first_two.chunks, 2);
    assert_eq!(first_two.last_seq, 2);
    assert_eq!(first_two.lines, 8);
}

fn streams_are_separate(t: &TestDb) {
    let ops = t.system_ops();
    let p = pool(&ops, "pool");
    let pr = project(&ops, "web", p);
    let mut conn = t.conn();
    let b1 = builds::insert_queued(&mut conn, &NewBuild::queued(pr, p)).unwrap();
    let b2 = builds::insert_queued(&mut conn, &NewBuild::queued(pr, p)).unwrap();
    append_output(&mut conn, b1, OutputStream::Output, &["out 1"]).unwrap();
    assert_eq!(
        append_output(&mut conn, b1, OutputStream::Messages, &["msg 1", "msg 2"]).unwrap(),
        1
    );
    append_output(&mut conn, b2, OutputStream::Output, &["other build"]).unwrap();
    assert_eq!(
        append_output(&mut conn, b1, OutputStream::Output, &["out 2"]).unwrap(),
        2
    );
    assert_eq!(
        append_output::<&str>(&mut conn, b1, OutputStream::Output, &[]).unwrap(),
        0,
        "nothing appended"
    );
    assert_eq!(
        read_output(&mut conn, b1, OutputStream::Output, 0)
            .unwrap()
            .text,
        "out 1\nout 2\n"
    );
    assert_eq!(
        read_output(&mut conn, b1, OutputStream::Messages, 0)
            .unwrap()
            .text,
        "msg 1\nmsg 2\n"
    );
    assert_eq!(
        read_output(&mut conn, b2, OutputStream::Output, 0)
            .unwrap()
            .text,
        "other build\n"
    );
    let missing = append_output(&mut conn, 987_654, OutputStream::Output, &["x"]).unwrap_err();
    assert!(
        matches!(
            missing,
            DbError::NotFound {
                object: "build",
                ..
            }
        ),
        "{missing:?}"
    );
    // Users read output through ops, with the view check.
    drop(conn);
    let via_ops = ops
        .builds()
        .output(
            &vespene_core::ops::Actor::System,
            b1,
            OutputStream::Messages,
            0,
        )
        .unwrap();
    assert_eq!(via_ops.lines, 2);
}

fn concurrent_appenders_keep_every_chunk(t: &TestDb) {
    let ops = t.system_ops();
    let p = pool(&ops, "pool");
    let pr = project(&ops, "web", p);
    let build = builds::insert_queued(&mut t.conn(), &NewBuild::queued(pr, p)).unwrap();
    std::thread::scope(|s| {
        for w in 0..3 {
            let db = t.db.clone();
            s.spawn(move || {
                let mut conn = db.conn().unwrap();
                for i in 0..40 {
                    append_output(
                        &mut conn,
                        build,
                        OutputStream::Output,
                        &[format!("w{w} {i}")],
                    )
                    .unwrap();
                }
            });
        }
    });
    let all = read_output(&mut t.conn(), build, OutputStream::Output, 0).unwrap();
    assert_eq!(all.chunks, 120);
    assert_eq!(all.last_seq, 120);
    for w in 0..3 {
        let mine: Vec<&str> = all
            .text
            .lines()
            .filter(|l| l.starts_with(&format!("w{w} ")))
            .collect();
        let want: Vec<String> = (0..40).map(|i| format!("w{w} {i}")).collect();
        assert_eq!(mine, want, "each writer's lines in its order");
    }
}

both_backends!(
    ten_thousand_lines_in_chunks,
    streams_are_separate,
    concurrent_appenders_keep_every_chunk,
);
