//! Routes of live build output (SSE), webhooks, fileserving, `/healthz`
//! and `/metrics`: the place where those parts of the server add their
//! routes. Each is added with [`Routes::add`], which registers it and puts
//! it in the OpenAPI document (mark unauthenticated ones with
//! `Op::public()`).

mod fileserving;
mod health;
mod live;
mod log;
mod webhooks;

use super::routes::Routes;

pub fn configure(r: &mut Routes<'_>) {
    webhooks::add(r);
    fileserving::add(r);
    health::add(r);
    live::add(r);
    log::add(r);
}
