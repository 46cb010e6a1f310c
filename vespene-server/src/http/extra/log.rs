//! `GET /api/v1/builds/{id}/log`: the stored output (or, with
//! `?stream=messages`, the messages) of a build as plain text, with byte
//! ranges (`Range: bytes=a-b`, `bytes=a-`, `bytes=-N`) so a browser can
//! fetch the tail of a long log without the rest, and an ETag that changes
//! with every stored chunk. Reading is core's
//! ([`vespene_core::ops::BuildOps::log_range`]).

use super::super::auth::Caller;
use super::super::errors::{ApiError, blocking};
use super::super::routes::{Op, Routes};
use super::super::state::State;
use actix_web::{HttpRequest, HttpResponse, web};
use vespene_core::db::output::{ByteRange, OutputStream};

/// The one range of a `Range` header, or `None` to send everything (no
/// header, another unit, several ranges or a malformed one: a server may
/// ignore a Range it does not serve, RFC 9110 §14.2).
fn parse_range(header: Option<&str>) -> Option<ByteRange> {
    let spec = header?.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| s.parse::<u64>().ok();
    match (a.is_empty(), b.is_empty()) {
        (true, false) => Some(ByteRange::Suffix(num(b)?)),
        (false, true) => Some(ByteRange::From(num(a)?)),
        (false, false) => {
            let (a, b) = (num(a)?, num(b)?);
            (a <= b).then_some(ByteRange::Between(a, b))
        }
        (true, true) => None,
    }
}

async fn log(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<Vec<(String, String)>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let mut q = crate::http::api::query::QueryArgs::new(query.into_inner());
    let stream = match q.text("stream").as_deref() {
        None | Some("output") => OutputStream::Output,
        Some("messages") => OutputStream::Messages,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "query 'stream': '{other}' is neither output nor messages"
            ))
            .with_field("stream"));
        }
    };
    q.finish()?;
    let range = parse_range(req.headers().get("Range").and_then(|v| v.to_str().ok()));
    let (app, id) = (state.app.clone(), id.into_inner());
    let read = blocking(move || {
        app.ops
            .builds()
            .log_range(&caller.actor, id, stream, range.unwrap_or(ByteRange::All))
    })
    .await?;
    let etag = format!(
        "\"{id}-{}-{}-{}\"",
        stream.as_str(),
        read.last_seq,
        read.total
    );
    let matches_etag = req
        .headers()
        .get("If-None-Match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches_etag {
        return Ok(HttpResponse::NotModified()
            .insert_header(("ETag", etag))
            .finish());
    }
    if read.unsatisfiable {
        return Ok(HttpResponse::RangeNotSatisfiable()
            .insert_header(("Content-Range", format!("bytes */{}", read.total)))
            .insert_header(("ETag", etag))
            .content_type("text/plain; charset=utf-8")
            .body(format!(
                "the range asked for lies past the end of the log ({} bytes)\n",
                read.total
            )));
    }
    let mut response = match range {
        Some(_) => {
            let mut r = HttpResponse::PartialContent();
            r.insert_header((
                "Content-Range",
                format!("bytes {}-{}/{}", read.start, read.end, read.total),
            ));
            r
        }
        None => HttpResponse::Ok(),
    };
    Ok(response
        .content_type("text/plain; charset=utf-8")
        .insert_header(("ETag", etag))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("Cache-Control", "no-cache"))
        .body(read.bytes))
}

pub fn add(r: &mut Routes<'_>) {
    r.add(
        Op::get("/api/v1/builds/{id}/log", "builds")
            .id(
                "build_log",
                "The stored output (or messages) as text; byte ranges (Range: bytes=a-b, bytes=-N) answer 206",
            )
            .query("stream", "output (default) or messages")
            .returns_as(serde_json::json!({"type": "string"}), "text/plain"),
        log,
    );
}

#[cfg(test)]
mod tests {
    use super::parse_range;
    use vespene_core::db::output::ByteRange;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range(Some("bytes=0-9")),
            Some(ByteRange::Between(0, 9))
        );
        assert_eq!(parse_range(Some("bytes=5-")), Some(ByteRange::From(5)));
        assert_eq!(
            parse_range(Some("bytes=-100")),
            Some(ByteRange::Suffix(100))
        );
        for ignored in [
            None,
            Some("bytes=9-1"),
            Some("items=0-1"),
            Some("bytes=0-1,4-5"),
            Some("bytes=-"),
            Some("bytes=x-1"),
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored:?}");
        }
    }
}
