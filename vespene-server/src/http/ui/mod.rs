//! The web UI under `/ui/`: server-rendered pages (minijinja templates
//! embedded in the binary), one hand-written stylesheet and one small
//! script served from `/ui/static/`. Pages are doors onto the same core
//! operations as the REST API: they parse a form, call one operation as
//! the logged-in user, and render the answer or the operation's error
//! next to the field it names.
//!
//! * [`page`]: who is asking (the session cookie; forms carry its CSRF
//!   token), flash messages, rendering and the error page;
//! * [`forms`]: form fields made from an object kind's input schema;
//! * [`kinds`]: list, detail, new, edit and delete for every object kind;
//! * [`builds`]: builds, project start (with launch questions) and stop;
//! * [`dashboard`]: `/ui/`; [`map`]: the pipeline map; [`ansi`]: coloured
//!   logs.

pub mod ansi;
mod builds;
mod dashboard;
pub mod forms;
mod kinds;
mod map;
mod page;

use actix_web::{HttpResponse, web};

/// The files under `/ui/static/`: name, content type, body.
const STATIC: &[(&str, &str, &str)] = &[
    (
        "ui.css",
        "text/css; charset=utf-8",
        include_str!("static/ui.css"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("static/ui.js"),
    ),
];

async fn static_file(name: web::Path<String>) -> HttpResponse {
    match STATIC.iter().find(|(n, _, _)| *n == name.as_str()) {
        Some((_, ty, body)) => HttpResponse::Ok()
            .content_type(*ty)
            .insert_header(("Cache-Control", "public, max-age=3600"))
            .body(*body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("no static file '{name}'")),
    }
}

fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_string()))
        .finish()
}

/// The UI's routes (registered before the server's JSON "no route").
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(|| async { redirect("/ui/") }))
        .route("/ui", web::get().to(|| async { redirect("/ui/") }))
        .route("/login/", web::get().to(|| async { redirect("/ui/login") }))
        .route(
            "/logout/",
            web::get().to(|| async { redirect("/ui/login") }),
        )
        .route("/ui/static/{name}", web::get().to(static_file))
        .route("/ui/login", web::get().to(page::login_form))
        .route("/ui/login", web::post().to(page::login))
        .route("/ui/logout", web::post().to(page::logout));
    dashboard::configure(cfg);
    map::configure(cfg);
    builds::configure(cfg);
    kinds::configure(cfg);
}
