//! The launcher's command line: bad input is refused with one line naming
//! the argument and the reason, before any namespace is made. (Its
//! sandboxes are tested through the plugin, in `src/tests.rs`; this file
//! also makes `cargo test` build the launcher those tests run.)

use std::process::Command;

fn launch(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vespene-namespace-launcher"))
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap(), err)
}

#[test]
fn bad_arguments_get_one_line_naming_them() {
    for (args, says) in [
        (&[][..], "--root is missing"),
        (&["--root", "/b/1"][..], "no program after --"),
        (
            &["--root", "b/1", "--", "true"][..],
            "--root 'b/1': not an absolute path",
        ),
        (
            &["--drop", "0:0", "--root", "/b/1", "--", "true"][..],
            "--drop: refusing to run the build as uid 0",
        ),
        (
            &["--drop", "nobody", "--root", "/b/1", "--", "true"][..],
            "--drop 'nobody': expected UID:GID",
        ),
        (
            &["--user-ns", "--drop", "1:1", "--root", "/b/1", "--", "true"][..],
            "--user-ns and --drop exclude each other",
        ),
        (
            &["--network", "--root", "/b/1", "--", "true"][..],
            "unknown argument '--network'",
        ),
        (&["--hide-dir"][..], "--hide-dir needs a value"),
    ] {
        let (code, err) = launch(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(
            err,
            format!("vespene-namespace-launcher: {says}\n"),
            "{args:?}"
        );
    }
}
