//! Fileserving of build roots over real HTTP: the listing and downloads
//! (with ranges) work, and every way out of the build root is refused:
//! `..` and `.` segments, absolute paths, percent- and double-encoded
//! variants, NUL, backslashes, symlinks pointing outside (to a file, to a
//! directory, to another build's root) and symlinked parent directories.

use std::os::unix::fs::symlink;
use vespene_core::authz::Actor;
use vespene_core::engine::queue::{StartRequest, start_project};
use vespene_e2e::engine::{Backend, EngineSandbox};
use vespene_e2e::http::Server;

/// Where `url` redirects to (redirects not followed).
fn location(url: &str) -> (u16, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let r = agent.get(url).call().unwrap();
    let to = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (r.status().as_u16(), to)
}

const SECRET: &str = "OUTSIDE-THE-BUILD-ROOT";

/// A queued build with a build root laid out for the escape attempts; a
/// second build's root holds a file the first must not reach.
fn build_with_root(es: &EngineSandbox) -> (i64, i64) {
    let app = es.app();
    let pool = es.pool(&app, "files");
    let project = es.project(&app, "files", pool, "true");
    let start = |_| {
        start_project(&app, &Actor::System, project, &StartRequest::default())
            .unwrap()
            .build
            .id
    };
    let (id, other) = (start(0), start(1));
    let root = es.build_root(id);
    let other_root = es.build_root(other);
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(&other_root).unwrap();
    std::fs::write(root.join("a.txt"), "0123456789").unwrap();
    std::fs::write(root.join("sub/b.txt"), "bee").unwrap();
    std::fs::write(other_root.join("secret.txt"), SECRET).unwrap();
    let outside = root.parent().unwrap().parent().unwrap().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    symlink(&outside, root.join("link_dir_out")).unwrap();
    symlink(outside.join("secret.txt"), root.join("link_file_out")).unwrap();
    symlink(&other_root, root.join("link_other_build")).unwrap();
    symlink("../..", root.join("sub/up")).unwrap(); // a symlinked parent
    symlink("b.txt", root.join("sub/inside_link")).unwrap(); // allowed
    (id, other)
}

fn attempts(id: i64) -> Vec<String> {
    let d = |p: &str| format!("/srv/{id}/d?p={p}");
    let f = |name: &str, p: &str| format!("/srv/{id}/f/{name}?p={p}");
    vec![
        d(".."),
        d("/.."),
        d("../"),
        d("sub/../.."),
        d("%2e%2e"),
        d("%2E%2E%2F%2E%2E"),
        d("..%2F..%2F"),
        d("%252e%252e%252f"),
        d("%25252e%25252e"),
        d("."),
        d("./sub"),
        d("sub/./deeper"),
        d("..%5C..%5C"),
        d("sub%5C..%5C.."),
        d("sub%00"),
        d("%00"),
        d("%C0%AE%C0%AE%2F"),
        d("link_dir_out"),
        d("link_other_build"),
        d("sub/up"),
        d("sub/up/outside"),
        d("/etc"),
        d("//etc"),
        f("passwd", "/etc/passwd"),
        f("passwd", "..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd"),
        f("secret.txt", "link_dir_out/secret.txt"),
        f("link_file_out", "link_file_out"),
        f("secret.txt", "link_other_build/secret.txt"),
        f("secret.txt", &format!("sub/up/{}/secret.txt", id + 1)),
        f("secret.txt", "sub/up/outside/secret.txt"),
        f("secret.txt", &format!("..%2F{}%2Fsecret.txt", id + 1)),
        f("..%2F..%2Foutside%2Fsecret.txt", "a.txt"),
        f("a.txt", "a.txt%00"),
        f("a.txt", "a.txt%2F.."),
        f("b.txt", "sub%5Cb.txt"),
        format!("/srv/{id}/f/a.txt?p=..%2F{id}%2Fa.txt"),
        format!("/srv/..%2F{id}/d?p=/"),
    ]
}

fn fileserving(backend: Backend) {
    let Some(es) = EngineSandbox::new(backend, "[fileserving]\nenabled = true\n") else {
        return;
    };
    let (id, _) = build_with_root(&es);
    let server = Server::start(&es);
    let mut c = server.client();

    // What is inside is served.
    let r = c.get(&format!("/srv/{id}/d?p=/"));
    assert_eq!(r.status, 200, "{}", r.text);
    for name in ["a.txt", "sub/", "link_file_out"] {
        assert!(r.text.contains(name), "{name} missing: {}", r.text);
    }
    assert!(
        r.text
            .contains(&format!("/srv/{id}/f/a%2Etxt?p=%2Fa%2Etxt")),
        "{}",
        r.text
    );
    let r = c.get(&format!("/srv/{id}/d?p=%2Fsub"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("b.txt") && r.text.contains("deeper/"),
        "{}",
        r.text
    );
    let r = c.get(&format!("/srv/{id}/f/a.txt?p=%2Fa.txt"));
    assert_eq!((r.status, r.text.as_str()), (200, "0123456789"));
    let r = c.get(&format!("/srv/{id}/f/inside_link?p=sub/inside_link"));
    assert_eq!((r.status, r.text.as_str()), (200, "bee"));
    c.extra_headers = vec![("Range".into(), "bytes=2-4".into())];
    let r = c.get(&format!("/srv/{id}/f/a.txt?p=a.txt"));
    assert_eq!((r.status, r.text.as_str()), (206, "234"));
    c.extra_headers = vec![("Range".into(), "bytes=-3".into())];
    let r = c.get(&format!("/srv/{id}/f/a.txt?p=a.txt"));
    assert_eq!((r.status, r.text.as_str()), (206, "789"));
    c.extra_headers.clear();

    // No way out.
    let list = attempts(id);
    assert!(list.len() >= 20);
    for path in list {
        let r = c.get(&path);
        assert!(
            (400..500).contains(&r.status),
            "{path}: answered {} {}",
            r.status,
            r.text
        );
        assert!(!r.text.contains(SECRET), "{path}: leaked");
        assert!(!r.text.contains("root:"), "{path}: leaked /etc/passwd");
    }
    // Unknown builds and entries are 404.
    assert_eq!(c.get("/srv/999999/d?p=/").status, 404);
    assert_eq!(c.get(&format!("/srv/{id}/d?p=nothing-here")).status, 404);
    // /healthz answers while the database does.
    let r = c.get("/healthz");
    assert_eq!((r.status, r.text.as_str()), (200, "ok\n"));
    // The web link defaults to the listing.
    assert_eq!(
        location(&format!("{}/srv/{id}", server.url)),
        (302, Some(format!("/srv/{id}/d?p=/")))
    );
}

#[test]
fn fileserving_on_sqlite() {
    fileserving(Backend::Sqlite);
}

#[test]
fn fileserving_on_postgres() {
    fileserving(Backend::Postgres);
}

/// Disabled: 403 for everything, even a file that exists; the web link
/// still points to a configured `buildroot_web_link`.
#[test]
fn fileserving_disabled_and_web_link() {
    let Some(es) = EngineSandbox::new(
        Backend::Sqlite,
        "buildroot_web_link = \"https://files.test/{{ build.id }}/\"\n[fileserving]\nenabled = false\n",
    ) else {
        return;
    };
    let (id, _) = build_with_root(&es);
    let server = Server::start(&es);
    let mut c = server.client();
    let r = c.get(&format!("/srv/{id}/f/a.txt?p=a.txt"));
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("fileserving is disabled"), "{}", r.text);
    assert_eq!(c.get(&format!("/srv/{id}/d?p=/")).status, 403);
    assert_eq!(
        location(&format!("{}/srv/{id}", server.url)),
        (302, Some(format!("https://files.test/{id}/")))
    );
}
