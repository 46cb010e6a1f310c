//! Who an API token or a session's user stands for, remembered for two
//! seconds: a token lookup and a user's groups cost database reads, and a
//! script may send thousands of requests a second. A revoked token, a
//! disabled user or a changed group membership is seen within those two
//! seconds (at once for changes made through this server).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use vespene_plugin_api::UserInfo;

/// How long an answer is reused.
pub const TTL: Duration = Duration::from_secs(2);

/// What a credential is remembered by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Credential {
    Token(String),
    SessionUser(i64),
}

#[derive(Debug, Default)]
pub struct ActorCache {
    map: Mutex<HashMap<Credential, (Instant, UserInfo)>>,
}

impl ActorCache {
    /// The user `credential` stood for less than [`TTL`] ago.
    pub fn get(&self, credential: &Credential) -> Option<UserInfo> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(credential)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, user)| user.clone())
    }

    /// Forgets everything (after this server changed tokens, users or
    /// groups, so its own changes apply at once).
    pub fn clear(&self) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    pub fn put(&self, credential: Credential, user: UserInfo) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| now.duration_since(*at) < TTL);
        }
        map.insert(credential, (now, user));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_expire() {
        let cache = ActorCache::default();
        let user = UserInfo {
            id: 1,
            username: "a".into(),
            is_superuser: false,
            groups: vec![],
        };
        let key = Credential::Token("vsp_x".into());
        assert!(cache.get(&key).is_none());
        cache.put(key.clone(), user.clone());
        assert_eq!(cache.get(&key), Some(user));
        assert!(cache.get(&Credential::SessionUser(1)).is_none());
    }
}
