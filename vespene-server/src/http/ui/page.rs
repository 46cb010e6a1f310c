//! What every page shares: the logged-in user ([`Ctx`], from the session
//! cookie; anonymous visitors are sent to the login page), the CSRF token
//! every form carries, flash messages (a short-lived cookie read by the
//! next page), the template environment, and the HTML error page.

use crate::http::auth::{self, Caller, LoginForm};
use crate::http::csrf;
use crate::http::errors::ApiError;
use crate::http::session::COOKIE;
use crate::http::state::State;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use minijinja::Environment;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

/// The cookie holding the next page's flash message.
const FLASH: &str = "vespene_flash";

/// The navigation bar: label, path.
const NAV: &[(&str, &str)] = &[
    ("Dashboard", "/ui/"),
    ("Projects", "/ui/projects"),
    ("Builds", "/ui/builds"),
    ("Pipelines", "/ui/pipelines"),
    ("Stages", "/ui/stages"),
    ("Snippets", "/ui/snippets"),
    ("Variables", "/ui/variable_sets"),
    ("Logins", "/ui/service_logins"),
    ("SSH Keys", "/ui/ssh_keys"),
    ("Organizations", "/ui/organizations"),
    ("Worker Pools", "/ui/worker_pools"),
    ("Users", "/ui/users"),
    ("Groups", "/ui/groups"),
];

macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("templates/", $name)))),+]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "layout.html",
    "macros.html",
    "login.html",
    "error.html",
    "list.html",
    "form.html",
    "builds.html",
    "build.html",
    "start_prompt.html",
    "dashboard.html",
    "map.html",
    "map_grid.html",
);

/// `2026-12-04T06:38:00.123` → `Dec 04 2026, 06:38:00 AM` (the original's
/// display format; times are UTC).
fn when(value: Option<String>) -> String {
    use chrono::format::{Item, Parsed, StrftimeItems, parse};
    // The two formats, read once: `parse_from_str` and `format` read
    // their format strings again on every call, which was a large part of
    // a list page's cost (three times a row).
    static ITEMS: OnceLock<(Vec<Item<'static>>, Vec<Item<'static>>)> = OnceLock::new();
    let (read, shown) = ITEMS.get_or_init(|| {
        (
            StrftimeItems::new("%Y-%m-%dT%H:%M:%S%.f").collect(),
            StrftimeItems::new("%b %d %Y, %I:%M:%S %p").collect(),
        )
    });
    let Some(text) = value else {
        return String::new();
    };
    let mut parsed = Parsed::new();
    match parse(&mut parsed, &text, read.iter())
        .and_then(|()| parsed.to_naive_datetime_with_offset(0))
    {
        Ok(t) => t.format_with_items(shown.iter()).to_string(),
        Err(_) => text,
    }
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, body) in TEMPLATES {
            env.add_template(name, body)
                .unwrap_or_else(|e| panic!("template {name}: {e:#}"));
        }
        env.add_filter("when", when);
        env.add_filter("ansi", |text: String| {
            minijinja::Value::from_safe_string(super::ansi::to_html(&text))
        });
        env
    })
}

/// Renders `template` with `data` alone (fragments, the login page).
pub fn render_bare(template: &str, data: &Value) -> Result<String, UiError> {
    env()
        .get_template(template)
        .and_then(|t| t.render(minijinja::value::Serde(data)))
        .map_err(|e| {
            tracing::error!("template {template}: {e:#}");
            UiError::page(500, format!("the page {template} could not be drawn: {e}"))
        })
}

/// A page's failure: off to the login page, or an HTML error page.
#[derive(Debug)]
pub enum UiError {
    /// Not logged in: the login page, then back to this path.
    Login(String),
    Page {
        status: u16,
        message: String,
    },
}

impl UiError {
    pub fn page(status: u16, message: impl Into<String>) -> UiError {
        UiError::Page {
            status,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UiError::Login(_) => f.write_str("log in first"),
            UiError::Page { message, .. } => f.write_str(message),
        }
    }
}

impl From<ApiError> for UiError {
    fn from(e: ApiError) -> Self {
        UiError::page(e.status, e.message)
    }
}

impl From<vespene_core::ops::OpError> for UiError {
    fn from(e: vespene_core::ops::OpError) -> Self {
        ApiError::from(e).into()
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::Login(_) => StatusCode::SEE_OTHER,
            UiError::Page { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            UiError::Login(next) => HttpResponse::SeeOther()
                .insert_header((
                    "Location",
                    format!(
                        "/ui/login?next={}",
                        utf8_percent_encode(next, NON_ALPHANUMERIC)
                    ),
                ))
                .finish(),
            UiError::Page { message, .. } => {
                let title = self
                    .status_code()
                    .canonical_reason()
                    .unwrap_or("Error")
                    .to_string();
                let body = render_bare(
                    "error.html",
                    &json!({"title": title, "status": self.status_code().as_u16(), "message": message}),
                )
                .unwrap_or_else(|_| message.clone());
                HttpResponse::build(self.status_code())
                    .content_type("text/html; charset=utf-8")
                    .body(body)
            }
        }
    }
}

/// One flash message: `kind` is `ok` or `error`.
#[derive(Debug, Clone, Serialize)]
pub struct Flash {
    pub kind: String,
    pub text: String,
}

fn read_flash(req: &HttpRequest) -> Option<Flash> {
    let cookie = req.cookie(FLASH)?;
    let text = percent_decode_str(cookie.value()).decode_utf8().ok()?;
    let (kind, text) = text.split_once('|')?;
    Some(Flash {
        kind: kind.to_string(),
        text: text.to_string(),
    })
}

fn flash_cookie(kind: &str, text: &str) -> Cookie<'static> {
    let value = format!("{kind}|{text}");
    Cookie::build(
        FLASH,
        utf8_percent_encode(&value, NON_ALPHANUMERIC).to_string(),
    )
    .path("/")
    .http_only(true)
    .same_site(SameSite::Lax)
    .finish()
}

/// A redirect to `to` carrying a flash message for the page there.
pub fn redirect_with(to: &str, kind: &str, text: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("Location", to.to_string()))
        .cookie(flash_cookie(kind, text))
        .finish()
}

/// The logged-in user of a page request.
pub struct Ctx {
    pub caller: Caller,
    pub csrf: String,
    pub state: web::Data<State>,
    flash: Option<Flash>,
    path: String,
}

impl FromRequest for Ctx {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Ctx, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = req.app_data::<web::Data<State>>().cloned();
        let cookie = req.cookie(COOKIE).map(|c| c.value().to_string());
        let flash = read_flash(req);
        let path = req.path().to_string();
        // After the login, back to the page asked for (a form's page when
        // a form was sent).
        let next = match req.uri().path_and_query() {
            Some(pq) if req.method() == actix_web::http::Method::GET => pq.to_string(),
            _ => "/ui/".to_string(),
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| UiError::page(500, "server state missing"))?;
            let Some(id) = cookie else {
                return Err(UiError::Login(next));
            };
            let caller = match auth::session_caller(&state, id).await {
                Ok(c) => c,
                Err(e) if e.status == 401 => return Err(UiError::Login(next)),
                Err(e) => return Err(e.into()),
            };
            let csrf = match &caller.via {
                auth::Via::Session { session, .. } => session.csrf_token.clone(),
                auth::Via::Token => String::new(),
            };
            Ok(Ctx {
                caller,
                csrf,
                state,
                flash,
                path,
            })
        })
    }
}

/// A submitted form: its fields in order.
pub type FormPairs = Vec<(String, String)>;

/// The last value of `key` in a form.
pub fn field<'a>(form: &'a FormPairs, key: &str) -> Option<&'a str> {
    form.iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

impl Ctx {
    /// Refuses a form without the session's CSRF token.
    pub fn check_csrf(&self, form: &FormPairs) -> Result<(), UiError> {
        if csrf::matches(field(form, "csrf_token"), &self.csrf) {
            Ok(())
        } else {
            Err(UiError::page(
                403,
                "this form's CSRF token is missing or out of date: reload the page and send it again",
            ))
        }
    }

    pub fn app(&self) -> vespene_core::app::App {
        self.state.app.clone()
    }

    /// Renders `template` in the layout, with `data` and what every page
    /// shows (the user, the navigation, the flash message).
    pub fn render(&self, template: &str, data: Value) -> Result<HttpResponse, UiError> {
        self.render_status(StatusCode::OK, template, data)
    }

    pub fn render_status(
        &self,
        status: StatusCode,
        template: &str,
        data: Value,
    ) -> Result<HttpResponse, UiError> {
        let mut map = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let path = self.path.as_str();
        let nav: Vec<Value> = NAV
            .iter()
            .map(|(label, href)| {
                let current = if *href == "/ui/" {
                    path == "/ui/"
                } else {
                    path.starts_with(href)
                };
                json!({"label": label, "href": href, "current": current})
            })
            .collect();
        map.insert(
            "me".into(),
            json!({"username": self.caller.user.username, "is_superuser": self.caller.user.is_superuser, "id": self.caller.user.id}),
        );
        map.insert("csrf".into(), json!(self.csrf));
        map.insert("nav".into(), Value::Array(nav));
        map.insert("flash".into(), json!(self.flash));
        let body = render_bare(template, &Value::Object(map))?;
        let mut response = HttpResponse::build(status);
        response.content_type("text/html; charset=utf-8");
        if self.flash.is_some() {
            let mut gone = flash_cookie("", "");
            gone.make_removal();
            response.cookie(gone);
        }
        Ok(response.body(body))
    }
}

/// Only local paths may be a `next` (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with("/ui") && !n.starts_with("//") => n.to_string(),
        _ => "/ui/".to_string(),
    }
}

/// `GET /ui/login`.
pub async fn login_form(
    query: web::Query<Vec<(String, String)>>,
    req: HttpRequest,
) -> HttpResponse {
    let next = safe_next(field(&query, "next"));
    let flash = read_flash(&req);
    let body = render_bare(
        "login.html",
        &json!({"next": next, "username": "", "error": null, "flash": flash}),
    );
    match body {
        Ok(b) => {
            let mut r = HttpResponse::Ok();
            r.content_type("text/html; charset=utf-8");
            if flash.is_some() {
                let mut gone = flash_cookie("", "");
                gone.make_removal();
                r.cookie(gone);
            }
            r.body(b)
        }
        Err(e) => e.error_response(),
    }
}

/// `POST /ui/login`: the API's login (throttled, a fresh session), then
/// the page asked for.
pub async fn login(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Form<FormPairs>,
) -> HttpResponse {
    let username = field(&form, "username").unwrap_or("").to_string();
    let password = field(&form, "password").unwrap_or("").to_string();
    let next = safe_next(field(&form, "next"));
    let login = LoginForm {
        username: username.clone(),
        password,
    };
    match auth::start_session(&state, &req, login).await {
        Ok((cookie, _, _)) => HttpResponse::SeeOther()
            .insert_header(("Location", next))
            .cookie(cookie)
            .finish(),
        Err(e) => {
            let body = render_bare(
                "login.html",
                &json!({"next": next, "username": username, "error": e.message, "flash": null}),
            )
            .unwrap_or_else(|_| e.message.clone());
            HttpResponse::build(e.status_code())
                .content_type("text/html; charset=utf-8")
                .body(body)
        }
    }
}

/// `POST /ui/logout`: ends the session (the form carries its token).
pub async fn logout(
    ctx: Ctx,
    req: HttpRequest,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    if let auth::Via::Session { id, .. } = &ctx.caller.via {
        ctx.state.sessions.remove(id);
    }
    Ok(HttpResponse::SeeOther()
        .insert_header(("Location", "/ui/login"))
        .cookie(auth::removal_cookie(&ctx.state, &req))
        .cookie(flash_cookie("ok", "Logged out."))
        .finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_the_login_page_renders() {
        let html = render_bare(
            "login.html",
            &json!({"next": "/ui/", "username": "<me>", "error": "no", "flash": null}),
        )
        .unwrap();
        assert!(html.contains("&lt;me&gt;"), "escaped: {html}");
        assert_eq!(safe_next(Some("//evil.example/")), "/ui/");
        assert_eq!(safe_next(Some("/ui/builds?x=1")), "/ui/builds?x=1");
        assert_eq!(
            when(Some("2026-12-04T06:38:00.5".into())),
            "Dec 04 2026, 06:38:00 AM"
        );
    }

    /// `when` shows what chrono's `parse_from_str` and `format` show, and
    /// leaves what they do not read as it is.
    #[test]
    fn when_matches_chrono() {
        let by_chrono = |text: &str| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .map(|t| t.format("%b %d %Y, %I:%M:%S %p").to_string())
                .ok()
        };
        for text in [
            "2026-12-04T06:38:00",
            "2026-12-04T00:00:00.123",
            "2026-01-31T12:00:59.123456789",
            "2024-02-29T23:59:59.5",
            "0999-07-04T13:05:09",
            "2026-06-15T11:59:59.000001",
            "2026-12-04T06:38:60",
        ] {
            assert!(by_chrono(text).is_some(), "{text}");
            assert_eq!(when(Some(text.into())), by_chrono(text).unwrap(), "{text}");
        }
        for text in [
            "2026-02-30T00:00:00",
            "2026-12-04T24:00:00",
            "2026-13-01T00:00:00",
            "2026-12-04 06:38:00",
            "2026-12-04T06:38:00.",
            "2026-12-04T06:38:00Z",
            "not a time",
        ] {
            assert_eq!(by_chrono(text), None, "{text}");
            assert_eq!(when(Some(text.into())), text, "{text}");
        }
        assert_eq!(when(None), "");
    }
}
