//! What every request handler reaches: the started [`App`] (settings,
//! plugins, database, core operations), the login sessions, the login
//! throttle and the OpenAPI document.

use super::actor_cache::ActorCache;
use super::session::Sessions;
use super::throttle::Throttle;
use actix_web::web::Bytes;
use std::time::Duration;
use vespene_core::app::App;
use vespene_core::engine::follow::OutputHub;

#[derive(Debug)]
pub struct State {
    pub app: App,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub actors: ActorCache,
    /// `/api/v1/openapi.json`, made once from the route table and kept
    /// as its bytes: as a `serde_json::Value` (a map per object, a
    /// `String` per key) the ~90 KiB document held several times that in
    /// the heap for the server's whole life, and was cloned per request.
    pub openapi: Bytes,
    /// Wakes the live output streams of the builds they follow.
    pub hub: OutputHub,
}

impl State {
    pub fn new(app: App, openapi: serde_json::Value) -> State {
        let server = &app.settings.server;
        State {
            sessions: Sessions::new(Duration::from_secs(server.session_hours.max(1) * 3600)),
            throttle: Throttle::new(
                server.login_attempts,
                Duration::from_secs(server.login_window_seconds.max(1)),
            ),
            actors: ActorCache::default(),
            openapi: Bytes::from(
                serde_json::to_vec(&openapi).expect("a JSON value always serializes"),
            ),
            hub: OutputHub::new(&app.waker),
            app,
        }
    }
}
