//! Who is asking: the [`Caller`] extractor (a session cookie, checked for
//! CSRF on state-changing requests, or an `Authorization: Bearer` API
//! token), and the login, logout and session endpoints. Every handler that
//! takes a [`Caller`] needs a user; the core operations then authorize
//! what that user asks for through the authorization plugins.

use super::actor_cache::Credential;
use super::csrf;
use super::errors::{ApiError, blocking};
use super::session::{COOKIE, Session};
use super::state::State;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::pin::Pin;
use vespene_core::authz::Actor;
use vespene_core::ops::OpError;
use vespene_plugin_api::UserInfo;

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    /// A login session (its id and contents).
    Session { id: String, session: Session },
    /// An API token.
    Token,
}

/// The logged-in user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub user: UserInfo,
    pub via: Via,
}

fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get("Authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn state(req: &HttpRequest) -> Result<web::Data<State>, ApiError> {
    req.app_data::<web::Data<State>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("server state missing"))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let state = state(req);
        let token = bearer(req);
        let cookie = req.cookie(COOKIE).map(|c| c.value().to_string());
        let needs_csrf = csrf::needs_token(req.method());
        let sent_csrf = csrf::header_token(req).map(str::to_string);
        Box::pin(async move {
            let state = state?;
            if let Some(token) = token {
                let key = Credential::Token(token.clone());
                let found = match state.actors.get(&key) {
                    Some(user) => Some(user),
                    None => {
                        let app = state.app.clone();
                        let found =
                            blocking(move || vespene_core::accounts::lookup_token(&app.db, &token))
                                .await?
                                .map(|(user, _)| user);
                        if let Some(user) = &found {
                            state.actors.put(key, user.clone());
                        }
                        found
                    }
                };
                return match found {
                    Some(user) => Ok(Caller {
                        actor: Actor::User(user.clone()),
                        user,
                        via: Via::Token,
                    }),
                    None => Err(ApiError::new(
                        401,
                        "bad_token",
                        "the API token is unknown, revoked, or its user is disabled",
                    )),
                };
            }
            let Some(id) = cookie else {
                return Err(ApiError::unauthenticated());
            };
            let caller = session_caller(&state, id).await?;
            if let Via::Session { session, .. } = &caller.via
                && needs_csrf
                && !csrf::matches(sent_csrf.as_deref(), &session.csrf_token)
            {
                return Err(ApiError::new(
                    403,
                    "csrf",
                    format!(
                        "missing or wrong CSRF token: send the session's token in the {} header",
                        csrf::HEADER
                    ),
                ));
            }
            Ok(caller)
        })
    }
}

/// The caller of session `id` (its cookie's value), without the CSRF
/// check: the caller checks the token where it was sent (the API's
/// header, or a web UI form's `csrf_token` field).
pub async fn session_caller(state: &web::Data<State>, id: String) -> Result<Caller, ApiError> {
    let Some(session) = state.sessions.get(&id) else {
        return Err(ApiError::new(
            401,
            "unauthenticated",
            "the session has ended; log in again",
        ));
    };
    let user_id = session.user_id;
    let key = Credential::SessionUser(user_id);
    let actor = match state.actors.get(&key) {
        Some(user) => Some(Actor::User(user)),
        None => {
            let app = state.app.clone();
            let actor = blocking(move || match app.ops.actor_for_user(user_id) {
                Err(OpError::Denied { .. } | OpError::NotFound { .. }) => Ok(None),
                other => other.map(Some),
            })
            .await?;
            if let Some(Actor::User(user)) = &actor {
                state.actors.put(key, user.clone());
            }
            actor
        }
    };
    let Some(Actor::User(user)) = actor else {
        state.sessions.remove(&id);
        return Err(ApiError::new(
            401,
            "unauthenticated",
            "this account is disabled or gone; the session has ended",
        ));
    };
    Ok(Caller {
        actor: Actor::User(user.clone()),
        user,
        via: Via::Session { id, session },
    })
}

/// A login form (JSON or `application/x-www-form-urlencoded`).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
}

/// Who is logged in, and the session's CSRF token (none for tokens).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct SessionInfo {
    pub id: i64,
    pub username: String,
    pub is_superuser: bool,
    pub groups: Vec<String>,
    pub csrf_token: Option<String>,
}

impl SessionInfo {
    fn new(user: &UserInfo, csrf_token: Option<String>) -> SessionInfo {
        SessionInfo {
            id: user.id,
            username: user.username.clone(),
            is_superuser: user.is_superuser,
            groups: user.groups.iter().map(|g| g.name.clone()).collect(),
            csrf_token,
        }
    }
}

/// Whether the request reached us over TLS (directly or through a proxy
/// saying so with `X-Forwarded-Proto` / `Forwarded`).
fn over_tls(req: &HttpRequest) -> bool {
    req.connection_info().scheme() == "https"
}

fn session_cookie(state: &State, req: &HttpRequest, value: String) -> Cookie<'static> {
    Cookie::build(COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.app.settings.server.secure_cookies || over_tls(req))
        .finish()
}

/// `POST /api/v1/login`: checks the password (throttled per user name
/// and per address), ends any session the browser brought along, and
/// starts a new one with a new id (so a planted id is never promoted).
pub async fn login(
    state: web::Data<State>,
    req: HttpRequest,
    form: web::Either<web::Json<LoginForm>, web::Form<LoginForm>>,
) -> Result<HttpResponse, ApiError> {
    let form = form.into_inner();
    let (cookie, session, user) = start_session(&state, &req, form).await?;
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .json(SessionInfo::new(&user, Some(session.csrf_token))))
}

/// Checks a login (throttled), ends the session the browser brought, and
/// starts a new one: its cookie, the session and the user (the API's
/// login and the web UI's login form).
pub async fn start_session(
    state: &web::Data<State>,
    req: &HttpRequest,
    form: LoginForm,
) -> Result<(Cookie<'static>, Session, UserInfo), ApiError> {
    let address = req.peer_addr().map(|a| a.ip());
    if let Err(wait) = state.throttle.check(&form.username, address) {
        let mut e = ApiError::new(
            429,
            "throttled",
            format!("too many failed logins; try again in {wait} s"),
        );
        e.retry_after = Some(wait);
        return Err(e);
    }
    let app = state.app.clone();
    let (name, password) = (form.username.clone(), form.password);
    let user =
        blocking(move || vespene_core::accounts::authenticate(&app.db, &name, &password)).await?;
    let Some(user) = user else {
        state.throttle.failed(&form.username, address);
        return Err(ApiError::new(
            401,
            "bad_credentials",
            "wrong user name or password (or the account is disabled)",
        ));
    };
    state.throttle.succeeded(&form.username);
    if let Some(old) = req.cookie(COOKIE) {
        state.sessions.remove(old.value());
    }
    let (id, session) = state.sessions.create(user.id);
    Ok((session_cookie(state, req, id), session, user))
}

/// The cookie that ends the session in the browser.
pub fn removal_cookie(state: &State, req: &HttpRequest) -> Cookie<'static> {
    let mut cookie = session_cookie(state, req, String::new());
    cookie.make_removal();
    cookie
}

/// `POST /api/v1/logout`: ends the session (CSRF-checked like every
/// state-changing request) and clears the cookie.
pub async fn logout(
    state: web::Data<State>,
    req: HttpRequest,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    if let Via::Session { id, .. } = &caller.via {
        state.sessions.remove(id);
    }
    Ok(HttpResponse::NoContent()
        .cookie(removal_cookie(&state, &req))
        .finish())
}

/// `GET /api/v1/session`: the caller, and the CSRF token of their session.
pub async fn session(caller: Caller) -> web::Json<SessionInfo> {
    let csrf = match &caller.via {
        Via::Session { session, .. } => Some(session.csrf_token.clone()),
        Via::Token => None,
    };
    web::Json(SessionInfo::new(&caller.user, csrf))
}
