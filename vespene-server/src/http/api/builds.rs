//! Builds: list (newest first, with project names), get, delete, stop,
//! and their stored output read from a chunk cursor (what `vespene build
//! log --follow` polls when it runs against a server).

use super::query::QueryArgs;
use super::resources::ListPage;
use crate::http::auth::Caller;
use crate::http::errors::{ApiError, blocking};
use crate::http::routes::{Op, Routes};
use crate::http::state::State;
use actix_web::{HttpResponse, web};
use schemars::JsonSchema;
use serde::Serialize;
use vespene_core::db::output::OutputStream;
use vespene_core::ops::{Build, BuildFilter, BuildStatus, BuildSummary};

/// A build list row, with its project's name.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BuildRow {
    #[serde(flatten)]
    pub build: BuildSummary,
    /// `None` for organization imports.
    pub project_name: Option<String>,
}

fn filter(q: &mut QueryArgs) -> Result<BuildFilter, ApiError> {
    let mut statuses = Vec::new();
    for s in q.all("status") {
        statuses.push(BuildStatus::parse(&s).ok_or_else(|| {
            let known: Vec<&str> = BuildStatus::ALL.iter().map(|s| s.as_str()).collect();
            ApiError::bad_request(format!(
                "query 'status': unknown build status '{s}' (one of {})",
                known.join(", ")
            ))
            .with_field("status")
        })?);
    }
    Ok(BuildFilter {
        project_id: q.int("project_id")?,
        organization_id: q.int("organization_id")?,
        worker_pool_id: q.int("worker_pool_id")?,
        statuses,
        before_id: q.int("before_id")?,
    })
}

async fn list(
    state: web::Data<State>,
    caller: Caller,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let page = q.page()?;
    let filter = filter(&mut q)?;
    q.finish()?;
    let app = state.app.clone();
    let page = blocking(move || app.ops.builds().list_named(&caller.actor, &filter, page))
        .await?
        .map(|(build, project_name)| BuildRow {
            build,
            project_name,
        });
    Ok(HttpResponse::Ok().json(ListPage::from(page)))
}

async fn get(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Build>, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    Ok(web::Json(
        blocking(move || app.ops.builds().get(&caller.actor, id)).await?,
    ))
}

async fn delete(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    blocking(move || app.ops.builds().delete(&caller.actor, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn stop(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<web::Json<Build>, ApiError> {
    let app = state.app.clone();
    let id = id.into_inner();
    Ok(web::Json(
        blocking(move || vespene_core::engine::queue::stop_build(&app, &caller.actor, id)).await?,
    ))
}

/// Output read after a cursor.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OutputPage {
    /// The text of the chunks after `after`.
    pub text: String,
    /// Pass as `after` to read what comes next.
    pub last_seq: i64,
    /// How many chunks `text` holds (0: nothing new).
    pub chunks: usize,
    /// The build's status when the output was read: once it is complete
    /// and a read returns no chunk, the output is all there.
    pub status: BuildStatus,
}

async fn output(
    state: web::Data<State>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<web::Json<OutputPage>, ApiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let after = q.int("after")?.unwrap_or(0);
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
    let app = state.app.clone();
    let id = id.into_inner();
    let page = blocking(move || {
        let builds = app.ops.builds();
        // The status first: a build seen complete has all its output stored.
        let status = builds.get(&caller.actor, id)?.status();
        let read = builds.output(&caller.actor, id, stream, after)?;
        Ok::<_, ApiError>(OutputPage {
            text: read.text,
            last_seq: read.last_seq.max(after),
            chunks: read.chunks,
            status,
        })
    })
    .await?;
    Ok(web::Json(page))
}

pub fn add(r: &mut Routes<'_>) {
    let (rows, build, out) = (
        r.schema::<ListPage<BuildRow>>(),
        r.schema::<Build>(),
        r.schema::<OutputPage>(),
    );
    r.add(
        Op::get("/api/v1/builds", "builds")
            .id("list_builds", "List builds you may see, newest first")
            .query("page", "page number, from 1")
            .query("page_size", "items per page (at most 1000)")
            .query("project_id", "only builds of this project")
            .query("organization_id", "only imports of this organization")
            .query("worker_pool_id", "only builds in this worker pool")
            .query(
                "status",
                "only builds in these statuses (repeat, or a comma list)",
            )
            .query("before_id", "only builds older than this id")
            .returns(rows),
        list,
    );
    r.add(
        Op::get("/api/v1/builds/{id}", "builds")
            .id("get_build", "Every field of a build")
            .returns(build.clone()),
        get,
    );
    r.add(
        Op::delete("/api/v1/builds/{id}", "builds")
            .id("delete_build", "Delete a build and its output"),
        delete,
    );
    r.add(
        Op::post("/api/v1/builds/{id}/stop", "builds")
            .id(
                "stop_build",
                "Stop a queued or running build (it ends ABORTED)",
            )
            .returns(build),
        stop,
    );
    r.add(
        Op::get("/api/v1/builds/{id}/output", "builds")
            .id(
                "read_build_output",
                "The build's output (or messages) after a chunk cursor",
            )
            .query(
                "after",
                "the last_seq of the previous read (default 0: from the start)",
            )
            .query("stream", "output (default) or messages")
            .returns(out),
        output,
    );
}
