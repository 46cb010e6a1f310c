//! The throttle on failed logins: at most `login_attempts` failures per
//! user name and per client address within `login_window_seconds`; then
//! logins for that name (or from that address) are refused, without
//! checking the password, until the oldest failure leaves the window.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

#[derive(Debug)]
pub struct Throttle {
    failures: Mutex<HashMap<Key, VecDeque<Instant>>>,
    limit: usize,
    window: Duration,
}

impl Throttle {
    pub fn new(limit: u32, window: Duration) -> Throttle {
        Throttle {
            failures: Mutex::default(),
            limit: limit.max(1) as usize,
            window,
        }
    }

    fn keys(user: &str, address: Option<IpAddr>) -> Vec<Key> {
        let mut keys = vec![Key::User(user.trim().to_lowercase())];
        keys.extend(address.map(Key::Address));
        keys
    }

    /// `Err(seconds to wait)` when the name or the address has used up its
    /// failures.
    pub fn check(&self, user: &str, address: Option<IpAddr>) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = Duration::ZERO;
        for key in Self::keys(user, address) {
            if let Some(times) = map.get_mut(&key) {
                while times
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= self.limit {
                    let oldest = times[times.len() - self.limit];
                    wait = wait.max(self.window - now.duration_since(oldest));
                }
            }
        }
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.as_secs().max(1))
        }
    }

    /// Records a failed login.
    pub fn failed(&self, user: &str, address: Option<IpAddr>) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound the memory an attacker can make us spend.
        if map.len() > 100_000 {
            map.retain(|_, t| {
                t.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in Self::keys(user, address) {
            map.entry(key).or_default().push_back(now);
        }
    }

    /// A successful login clears the name's failures (not the address's).
    pub fn succeeded(&self, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::User(user.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_limit_per_user_and_per_address() {
        let t = Throttle::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        t.failed("alice", Some(a));
        assert!(t.check("alice", Some(b)).is_ok());
        t.failed("alice", Some(a));
        assert!(t.check("Alice", Some(b)).is_err(), "per user");
        assert!(t.check("bob", Some(a)).is_err(), "per address");
        assert!(t.check("bob", Some(b)).is_ok());
        t.succeeded("alice");
        assert!(t.check("alice", Some(b)).is_ok());
    }
}
