use super::*;
use std::time::Instant;

fn exercise(waker: &Waker) {
    let mut listener = waker.listen("pool-a");
    // Nothing pending: times out.
    let t = Instant::now();
    assert!(!listener.wait(Duration::from_millis(100)));
    assert!(t.elapsed() >= Duration::from_millis(90));

    // Another pool's notification does not wake it.
    let other = waker.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        other.notify("pool-b");
    });
    assert!(!listener.wait(Duration::from_millis(400)));
    h.join().unwrap();

    // Its own pool's notification wakes it at once.
    let notifier = waker.clone();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        notifier.notify("pool-a");
    });
    let t = Instant::now();
    assert!(listener.wait(Duration::from_secs(10)));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    h.join().unwrap();

    // So does a notification for every pool.
    waker.notify(ALL_POOLS);
    assert!(listener.wait(Duration::from_secs(10)));
}

#[test]
fn local_sockets_wake_listeners_of_their_pool() {
    let dir = tempfile::tempdir().unwrap();
    let waker = Waker::for_database("sqlite:///x.db", dir.path());
    exercise(&waker);
    // A dead listener's socket is cleaned up by the next notifier.
    drop(waker.listen("pool-a"));
    let stale = dir.path().join("run/wake/dead.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&stale).unwrap());
    waker.notify("pool-a");
    assert!(!stale.exists());
}

#[test]
fn postgres_listen_notify_wakes_listeners_of_their_pool() {
    let Some(url) = postgres_url() else { return };
    let waker = Waker::for_database(&url, Path::new("/nonexistent"));
    assert!(matches!(waker, Waker::Postgres(_)));
    exercise(&waker);
}

/// The test PostgreSQL server, or `None` (loudly) outside CI; in CI a
/// missing server fails the test.
fn postgres_url() -> Option<String> {
    match std::env::var("VESPENE_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("VESPENE_TEST_POSTGRES_URL is not set (run tests/services/postgres.sh)")
        }
        _ => {
            eprintln!("SKIPPED: PostgreSQL not configured (run tests/services/postgres.sh)");
            None
        }
    }
}
