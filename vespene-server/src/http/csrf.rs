//! CSRF protection for requests made with a session cookie: every
//! state-changing request (anything but GET, HEAD and OPTIONS) must carry
//! the session's token, in the `X-CSRF-Token` header (scripts, the web
//! UI's fetches) or in a form's `csrf_token` field (the web UI's forms,
//! checked by their handlers with [`matches`]). A cross-site page can make
//! the browser send the cookie, but cannot read the token. Requests with
//! `Authorization: Bearer` carry no ambient credentials and are exempt.

use actix_web::HttpRequest;
use actix_web::http::Method;

/// The header scripts send the token in.
pub const HEADER: &str = "X-CSRF-Token";

/// Whether `method` changes state (and so needs the token).
pub fn needs_token(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The token the request sent in its header.
pub fn header_token(req: &HttpRequest) -> Option<&str> {
    req.headers().get(HEADER).and_then(|v| v.to_str().ok())
}

/// Constant-time comparison of a sent token with the session's.
pub fn matches(sent: Option<&str>, expected: &str) -> bool {
    let Some(sent) = sent else { return false };
    let (a, b) = (sent.as_bytes(), expected.as_bytes());
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_match_exactly() {
        assert!(matches(Some("abc"), "abc"));
        assert!(!matches(Some("abd"), "abc"));
        assert!(!matches(Some("ab"), "abc"));
        assert!(!matches(None, "abc"));
        assert!(!matches(Some(""), ""));
        assert!(needs_token(&Method::POST) && needs_token(&Method::DELETE));
        assert!(!needs_token(&Method::GET));
    }
}
