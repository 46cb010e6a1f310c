//! What every request handler reaches: the started [`App`] (settings,
//! plugins, database, core operations), the login sessions, the login
//! throttle and the OpenAPI document.

use super::actor_cache::ActorCache;
use super::session::Sessions;
use super::throttle::Throttle;
use std::sync::Arc;
use std::time::Duration;
use vespene_core::app::App;
use vespene_core::engine::follow::OutputHub;

#[derive(Debug)]
pub struct State {
    pub app: App,
    pub sessions: Sessions,
    pub throttle: Throttle,
    pub actors: ActorCache,
    /// `/api/v1/openapi.json`, made once from the route table.
    pub openapi: Arc<serde_json::Value>,
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
            openapi: Arc::new(openapi),
            hub: OutputHub::new(&app.waker),
            app,
        }
    }
}
