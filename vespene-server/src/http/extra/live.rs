//! `GET /api/v1/builds/{id}/events`: a build's output and messages as
//! server-sent events while it runs, from the start or from a
//! `Last-Event-ID`, ending with the build's final status.
//!
//! Events: `status` (`{"status":"RUNNING"}`, at connect and on every
//! change), `output` and `messages` (`{"text":"..."}`, one per stored
//! chunk), and finally `end` (`{"status":"SUCCESS"}`). Each chunk event's
//! id is `O:M`, the output and messages cursors after it; a reconnect with
//! that id resumes exactly after it.
//!
//! No polling: a stream sleeps until the output hub
//! ([`vespene_core::engine::follow`]) wakes it for its build, with a
//! re-check every few seconds in case a wake-up was lost. A client that
//! leaves drops the stream, and with it the hub registration.

use super::super::auth::Caller;
use super::super::errors::{ApiError, blocking};
use super::super::routes::{Op, Routes};
use super::super::state::State;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use vespene_core::app::App;
use vespene_core::engine::follow::Following;
use vespene_core::ops::{Actor, BuildStatus, FollowStep};

/// The safety re-check when no wake-up comes (also a keep-alive comment,
/// which lets the server notice a client that left).
const RECHECK: Duration = Duration::from_secs(5);
/// Chunks of each stream read per step.
const STEP_CHUNKS: i64 = 200;

/// The cursors of a `Last-Event-ID` (`O:M`).
fn parse_cursor(text: &str) -> Result<(i64, i64), ApiError> {
    let bad = || {
        ApiError::bad_request(format!(
            "Last-Event-ID '{text}' is not OUTPUT_SEQ:MESSAGES_SEQ (two numbers, as an event's id)"
        ))
        .with_field("last_event_id")
    };
    let (o, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let o: i64 = o.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if o < 0 || m < 0 {
        return Err(bad());
    }
    Ok((o, m))
}

/// One follower's stream.
struct Follow {
    app: App,
    actor: Actor,
    id: i64,
    cursors: (i64, i64),
    status: Option<BuildStatus>,
    wake: Arc<tokio::sync::Notify>,
    pending: VecDeque<Bytes>,
    done: bool,
    /// Held for the stream's life: dropping it unregisters the follower.
    _following: Following,
}

fn event(name: &str, id: Option<(i64, i64)>, data: &serde_json::Value) -> Bytes {
    let id = id
        .map(|(o, m)| format!("id: {o}:{m}\n"))
        .unwrap_or_default();
    Bytes::from(format!("event: {name}\n{id}data: {data}\n\n"))
}

impl Follow {
    /// Turns one step's reads into events; true when it brought any.
    fn take(&mut self, step: FollowStep) -> bool {
        let before = self.pending.len();
        if self.status != Some(step.status) {
            self.status = Some(step.status);
            self.pending.push_back(event(
                "status",
                None,
                &serde_json::json!({"status": step.status.as_str()}),
            ));
        }
        for (seq, text) in step.output {
            self.cursors.0 = seq;
            self.pending.push_back(event(
                "output",
                Some(self.cursors),
                &serde_json::json!({ "text": text }),
            ));
        }
        for (seq, text) in step.messages {
            self.cursors.1 = seq;
            self.pending.push_back(event(
                "messages",
                Some(self.cursors),
                &serde_json::json!({ "text": text }),
            ));
        }
        if step.complete {
            self.pending.push_back(event(
                "end",
                Some(self.cursors),
                &serde_json::json!({"status": step.status.as_str()}),
            ));
            self.done = true;
        }
        self.pending.len() > before
    }

    async fn step(&self) -> Result<FollowStep, ApiError> {
        let (app, actor, id, after) = (self.app.clone(), self.actor.clone(), self.id, self.cursors);
        blocking(move || app.ops.builds().follow_step(&actor, id, after, STEP_CHUNKS)).await
    }

    /// The next bytes to send, or `None` when the stream is over.
    async fn next(&mut self) -> Option<Bytes> {
        loop {
            if let Some(b) = self.pending.pop_front() {
                return Some(b);
            }
            if self.done {
                return None;
            }
            match self.step().await {
                Ok(step) => {
                    if self.take(step) {
                        continue;
                    }
                }
                Err(e) => {
                    // The build was deleted, or the caller lost the right
                    // to see it: say so and end.
                    self.done = true;
                    return Some(event(
                        "error",
                        None,
                        &serde_json::json!({"code": e.code, "message": e.message}),
                    ));
                }
            }
            if tokio::time::timeout(RECHECK, self.wake.notified())
                .await
                .is_err()
            {
                return Some(Bytes::from_static(b": still here\n\n"));
            }
        }
    }
}

async fn events(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<Vec<(String, String)>>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut q = crate::http::api::query::QueryArgs::new(query.into_inner());
    let from_query = q.text("last_event_id");
    q.finish()?;
    let from_header = req
        .headers()
        .get("Last-Event-ID")
        .map(|v| v.to_str().map(str::to_string))
        .transpose()
        .map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?;
    let cursors = match from_header.or(from_query) {
        Some(text) if !text.trim().is_empty() => parse_cursor(&text)?,
        _ => (0, 0),
    };
    // Refused (404, 403) before the stream starts, as GET /builds/{id} is.
    let (app, actor) = (state.app.clone(), caller.actor.clone());
    blocking(move || app.ops.builds().get(&actor, id)).await?;

    let wake = Arc::new(tokio::sync::Notify::new());
    let waker = wake.clone();
    let following = state.hub.follow(id, Arc::new(move || waker.notify_one()));
    let follow = Follow {
        app: state.app.clone(),
        actor: caller.actor,
        id,
        cursors,
        status: None,
        wake,
        pending: VecDeque::new(),
        done: false,
        _following: following,
    };
    let stream = futures_util::stream::unfold(follow, |mut f| async move {
        f.next().await.map(|b| (Ok::<_, Infallible>(b), f))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream))
}

pub fn add(r: &mut Routes<'_>) {
    r.add(
        Op::get("/api/v1/builds/{id}/events", "builds")
            .id(
                "follow_build",
                "The build's output and messages as server-sent events (status, output, messages, end)",
            )
            .query(
                "last_event_id",
                "resume after this event id (OUTPUT_SEQ:MESSAGES_SEQ), as the Last-Event-ID header",
            )
            .returns_as(serde_json::json!({"type": "string"}), "text/event-stream"),
        events,
    );
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursors_are_two_numbers() {
        assert_eq!(parse_cursor("3:4").unwrap(), (3, 4));
        assert_eq!(parse_cursor(" 0:0 ").unwrap(), (0, 0));
        for bad in ["", "3", "3:", ":4", "a:b", "-1:0", "1:2:3"] {
            assert!(parse_cursor(bad).is_err(), "{bad}");
        }
    }
}
