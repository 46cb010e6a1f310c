//! Login sessions, kept in the server's memory: a random id in an
//! `HttpOnly` cookie maps to the user and the session's CSRF token. A
//! session is only ever made by a successful login, with a fresh id, so an
//! id planted in a browser before login (session fixation) never becomes
//! a logged-in session. Sessions end on logout, after `session_hours`
//! without a request, and when the server restarts.

use base64::Engine as _;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie holding the session id.
pub const COOKIE: &str = "vespene_session";

/// What a session id stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: i64,
    /// Sent back by the client with every state-changing request.
    pub csrf_token: String,
}

#[derive(Debug)]
struct Entry {
    session: Session,
    last_seen: Instant,
}

/// Every live session.
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
    idle: Duration,
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl Sessions {
    pub fn new(idle: Duration) -> Sessions {
        Sessions {
            map: Mutex::default(),
            idle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session for `user_id`: its id and the session.
    pub fn create(&self, user_id: i64) -> (String, Session) {
        let id = random_token();
        let session = Session {
            user_id,
            csrf_token: random_token(),
        };
        let now = Instant::now();
        let mut map = self.lock();
        // Forget expired sessions now and then (on logins, not on reads).
        map.retain(|_, e| now.duration_since(e.last_seen) < self.idle);
        map.insert(
            id.clone(),
            Entry {
                session: session.clone(),
                last_seen: now,
            },
        );
        (id, session)
    }

    /// The live session `id`, marked as used.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let entry = map.get_mut(id)?;
        if now.duration_since(entry.last_seen) >= self.idle {
            map.remove(id);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends session `id` (logout, or a new login in the same browser).
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_fresh_and_expire() {
        let s = Sessions::new(Duration::from_millis(50));
        let (a, sa) = s.create(1);
        let (b, _) = s.create(1);
        assert_ne!(a, b);
        assert_eq!(s.get(&a), Some(sa));
        assert_eq!(s.get("planted-by-someone"), None);
        s.remove(&a);
        assert_eq!(s.get(&a), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(s.get(&b), None);
    }
}
