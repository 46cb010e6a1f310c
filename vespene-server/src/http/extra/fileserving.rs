//! `/srv/{build}/d?p=DIR` (an HTML listing) and `/srv/{build}/f/{name}?p=FILE`
//! (a download with ranges, via actix-files), doors onto
//! `vespene_core::ops::fileserving`; `/srv/{build}` redirects to the
//! build's web link (`buildroot_web_link`, else the listing).

use super::super::routes::{Op, Routes};
use super::super::state::State;
use actix_web::{HttpRequest, HttpResponse, web};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use std::collections::HashMap;
use vespene_core::ops::fileserving::{self as fs, FileservingError};

fn refusal(e: FileservingError) -> HttpResponse {
    let mut r = match e {
        FileservingError::Disabled | FileservingError::Refused(..) => HttpResponse::Forbidden(),
        FileservingError::NotFound(_) => HttpResponse::NotFound(),
    };
    r.content_type("text/plain; charset=utf-8")
        .body(format!("{e}\n"))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn param(query: &HashMap<String, String>) -> String {
    query.get("p").cloned().unwrap_or_else(|| "/".into())
}

async fn listing(
    state: web::Data<State>,
    build: web::Path<i64>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let (id, p) = (build.into_inner(), param(&query));
    let dir = p.clone();
    let answer = web::block(move || fs::list(&state.app, id, &dir)).await;
    let entries = match answer {
        Ok(Ok(entries)) => entries,
        Ok(Err(e)) => return refusal(e),
        Err(_) => return HttpResponse::ServiceUnavailable().body("the server is overloaded\n"),
    };
    let base = format!("/{}", p.trim_matches('/'));
    let join = |name: &str| {
        let full = if base == "/" {
            format!("/{name}")
        } else {
            format!("{base}/{name}")
        };
        utf8_percent_encode(&full, NON_ALPHANUMERIC).to_string()
    };
    let mut page = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>build {id}: {t}</title></head><body>\n<h1>build {id}: {t}</h1>\n<ul>\n",
        t = html_escape(&base)
    );
    if base != "/" {
        let parent = base
            .rsplit_once('/')
            .map(|(a, _)| a)
            .filter(|a| !a.is_empty())
            .unwrap_or("/");
        page.push_str(&format!(
            "<li><a href=\"/srv/{id}/d?p={}\">..</a></li>\n",
            utf8_percent_encode(parent, NON_ALPHANUMERIC)
        ));
    }
    for e in entries {
        let name = html_escape(&e.name);
        if e.is_dir {
            page.push_str(&format!(
                "<li><a href=\"/srv/{id}/d?p={}\">{name}/</a></li>\n",
                join(&e.name)
            ));
        } else {
            page.push_str(&format!(
                "<li><a href=\"/srv/{id}/f/{}?p={}\">{name}</a> ({} bytes)</li>\n",
                utf8_percent_encode(&e.name, NON_ALPHANUMERIC),
                join(&e.name),
                e.size
            ));
        }
    }
    page.push_str("</ul>\n</body></html>\n");
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}

async fn download(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
    query: web::Query<HashMap<String, String>>,
) -> HttpResponse {
    let (id, name) = path.into_inner();
    let p = param(&query);
    let answer = web::block(move || fs::file(&state.app, id, &name, &p)).await;
    let file = match answer {
        Ok(Ok(file)) => file,
        Ok(Err(e)) => return refusal(e),
        Err(_) => return HttpResponse::ServiceUnavailable().body("the server is overloaded\n"),
    };
    match actix_files::NamedFile::open_async(&file).await {
        Ok(f) => f.use_etag(true).use_last_modified(true).into_response(&req),
        Err(e) => HttpResponse::NotFound().body(format!("cannot open the file: {e}\n")),
    }
}

async fn link(state: web::Data<State>, build: web::Path<i64>) -> HttpResponse {
    let id = build.into_inner();
    let answer = web::block(move || {
        if !state.app.settings.fileserving.enabled
            && state.app.settings.buildroot_web_link.is_empty()
        {
            return Err(FileservingError::Disabled.to_string());
        }
        let mut conn = state.app.db.conn().map_err(|e| e.to_string())?;
        let build = vespene_core::db::builds::get(&mut conn, id)
            .map_err(|_| format!("build {id} does not exist"))?;
        fs::web_link(&state.app, &build)
    })
    .await;
    match answer {
        Ok(Ok(to)) => HttpResponse::Found()
            .insert_header(("Location", to))
            .finish(),
        Ok(Err(why)) => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(why + "\n"),
        Err(_) => HttpResponse::ServiceUnavailable().body("the server is overloaded\n"),
    }
}

pub fn add(r: &mut Routes<'_>) {
    let text = serde_json::json!({"type": "string"});
    r.add(
        Op::get("/srv/{build}", "fileserving")
            .id(
                "build_web_link",
                "Redirect to the build's published files (buildroot_web_link) or its listing",
            )
            .public()
            .status(302),
        link,
    );
    r.add(
        Op::get("/srv/{build}/d", "fileserving")
            .id(
                "list_build_root",
                "List a directory of the build's root (HTML)",
            )
            .public()
            .query("p", "the directory, from the build root ('/' for the root)")
            .returns_as(text.clone(), "text/html"),
        listing,
    );
    r.add(
        Op::get("/srv/{build}/f/{name}", "fileserving")
            .id(
                "download_build_file",
                "Download a file of the build's root (ranges supported)",
            )
            .public()
            .query("p", "the file, from the build root")
            .returns_as(text, "application/octet-stream"),
        download,
    );
}
