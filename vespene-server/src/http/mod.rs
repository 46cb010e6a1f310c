//! The HTTP server of `vespene server` and `vespene up` (actix-web on
//! tokio): the REST API, sessions and tokens, and the routes other parts
//! add in [`extra`]. Handlers are doors onto `vespene_core::ops` and the
//! engine: they parse, call one core operation as the caller, and answer.
//!
//! * [`routes`]: the route table (registration and documentation in one);
//! * [`api`]: `/api/v1`; [`auth`], [`session`], [`csrf`], [`throttle`]:
//!   who is asking; [`errors`]: the JSON error of every refusal;
//! * [`openapi`]: `/api/v1/openapi.json`, made from the route table;
//! * [`ui`]: the web UI under `/ui/` (HTML, not in the OpenAPI document).

pub mod actor_cache;
pub mod api;
pub mod auth;
pub mod csrf;
pub mod errors;
pub mod extra;
pub mod openapi;
pub mod routes;
pub mod session;
pub mod state;
pub mod throttle;
pub mod ui;

use actix_web::{App as WebApp, HttpServer, web};
use anyhow::Context;
use state::State;
use std::net::TcpListener;
use vespene_core::app::App;

/// A server running on its own thread.
pub struct Running {
    /// `http://ADDRESS:PORT` (the port actually bound, for port 0).
    pub url: String,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<std::io::Result<()>>,
    state: web::Data<State>,
}

impl Running {
    /// Stops accepting, finishes requests in flight, and joins the thread.
    pub fn stop(self) -> anyhow::Result<()> {
        if !self.thread.is_finished() {
            let handle = self.handle.clone();
            let _ = std::thread::spawn(move || {
                actix_web::rt::System::new().block_on(handle.stop(true));
            })
            .join();
        }
        match self.thread.join() {
            Ok(r) => r.context("the HTTP server failed"),
            Err(_) => anyhow::bail!("the HTTP server thread panicked"),
        }
    }

    /// How many live output streams are open.
    pub fn followers(&self) -> usize {
        self.state.hub.following()
    }

    /// Whether the server has stopped on its own (it failed).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// The URL of a bound address (`0.0.0.0` and `::` shown as loopback, so
/// it can be opened from this machine).
fn url_of(addr: std::net::SocketAddr) -> String {
    let ip = addr.ip();
    let shown = if ip.is_unspecified() {
        match ip {
            std::net::IpAddr::V4(_) => "127.0.0.1".to_string(),
            std::net::IpAddr::V6(_) => "[::1]".to_string(),
        }
    } else if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    format!("http://{shown}:{}", addr.port())
}

/// Threads each worker may run database work on: the handlers' blocking
/// work is database work, so threads beyond the connections they share
/// would only wait for one, each with its stack and malloc arena (actix's
/// default is 512 / workers; under load the server grew by tens of MiB).
fn blocking_threads(pool_size: u32, workers: usize) -> usize {
    (pool_size as usize).div_ceil(workers.max(1)).max(2)
}

/// Binds `[server] bind` and serves on a thread of its own (signals are
/// the caller's: it calls [`Running::stop`]).
pub fn start(app: App) -> anyhow::Result<Running> {
    let bind = app.settings.server.bind.clone();
    let listener = TcpListener::bind(&bind)
        .with_context(|| format!("cannot listen on {bind} (setting [server] bind)"))?;
    let url = url_of(listener.local_addr()?);
    let state = web::Data::new(State::new(app, openapi::document()));
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let blocking_threads = blocking_threads(state.app.settings.database.pool_size, workers);
    let served = state.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    WebApp::new()
                        .app_data(state.clone())
                        .app_data(errors::json_config())
                        .app_data(errors::path_config())
                        .app_data(errors::query_config())
                        .configure(|cfg| {
                            let mut routes = routes::Routes::new(Some(cfg));
                            routes::configure(&mut routes);
                        })
                        .configure(ui::configure)
                        .default_service(web::to(errors::not_found))
                })
                .workers(workers)
                .worker_max_blocking_threads(blocking_threads)
                .disable_signals();
                let server = match server.listen(listener) {
                    Ok(s) => s.run(),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return Ok(());
                    }
                };
                let _ = tx.send(Ok(server.handle()));
                server.await
            })
        })?;
    let handle = rx
        .recv()
        .context("the HTTP server thread ended at start")?
        .with_context(|| format!("cannot serve on {bind}"))?;
    Ok(Running {
        url,
        handle,
        thread,
        state: served,
    })
}
