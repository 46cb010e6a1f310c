//! Builds (list and read-only page: info, rendered script, output and
//! messages with the tail of a huge log first, debug), build stop, project
//! start and the launch-question form, and the raw log download.

use super::kinds::{options, serde_urlencoded_pairs};
use super::page::{Ctx, FormPairs, UiError, field, redirect_with};
use crate::http::api::query::QueryArgs;
use crate::http::errors::{ApiError, blocking};
use actix_web::{HttpResponse, web};
use serde_json::{Map, Value, json};
use vespene_core::db::json::{QuestionType, parse_launch_questions};
use vespene_core::engine::queue::{StartRequest, start_project, stop_build};
use vespene_core::ops::{BuildFilter, BuildStatus, OutputStream};

/// Lines of a log the build page shows at first (the rest on demand).
pub const TAIL_LINES: i64 = 2000;

fn build_filter(q: &mut QueryArgs) -> Result<BuildFilter, ApiError> {
    let mut statuses = Vec::new();
    for s in q.all("status") {
        statuses.push(BuildStatus::parse(&s).ok_or_else(|| {
            ApiError::bad_request(format!("query 'status': unknown build status '{s}'"))
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

/// Minutes between two times, one decimal (the original's run time), up
/// to now while the build runs.
fn minutes(
    start: Option<chrono::NaiveDateTime>,
    end: Option<chrono::NaiveDateTime>,
) -> Option<String> {
    let start = start?;
    let end = end.unwrap_or_else(|| chrono::Utc::now().naive_utc());
    Some(format!(
        "{:.1}",
        (end - start).num_milliseconds() as f64 / 60000.0
    ))
}

async fn list(ctx: Ctx, query: web::Query<Vec<(String, String)>>) -> Result<HttpResponse, UiError> {
    let pairs = query.into_inner();
    let mut q = QueryArgs::new(pairs.clone());
    let page = q.page()?;
    let filter = build_filter(&mut q)?;
    q.finish()?;
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let (rows, has_more) = blocking(move || {
        let paged = app.ops.builds().list_named(&actor, &filter, page)?;
        let pools: std::collections::HashMap<i64, String> =
            options(&app, &actor, "worker_pools")?.into_iter().collect();
        let rows: Vec<Value> = paged
            .items
            .iter()
            .map(|(b, project_name)| {
                let mut v = serde_json::to_value(b).unwrap_or_default();
                let m = v.as_object_mut().expect("an object");
                m.insert("project_name".into(), project_name.clone().into());
                m.insert(
                    "pool_name".into(),
                    pools.get(&b.worker_pool_id).cloned().into(),
                );
                m.insert("stoppable".into(), b.status().is_stoppable().into());
                m.insert("run_time".into(), minutes(b.start_time, b.end_time).into());
                v
            })
            .collect();
        Ok::<_, ApiError>((rows, paged.has_more))
    })
    .await?;
    let others: Vec<(String, String)> = pairs.into_iter().filter(|(k, _)| k != "page").collect();
    let link = |p: u32| {
        let mut all = others.clone();
        all.push(("page".into(), p.to_string()));
        format!("/ui/builds?{}", serde_urlencoded_pairs(&all))
    };
    let mut data = json!({
        "page": page.page,
        "prev": (page.page > 1).then(|| link(page.page - 1)),
        "next": has_more.then(|| link(page.page + 1)),
        "statuses": BuildStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "status_filter": others.iter().find(|(k, _)| k == "status").map(|(_, v)| v.clone()).unwrap_or_default(),
    });
    // Moved in: `json!` would copy every row.
    data["rows"] = Value::Array(rows);
    ctx.render("builds.html", data)
}

fn pretty(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

async fn detail(ctx: Ctx, id: web::Path<i64>) -> Result<HttpResponse, UiError> {
    let id = id.into_inner();
    let app = ctx.app();
    let actor = ctx.caller.actor.clone();
    let data = blocking(move || {
        let builds = app.ops.builds();
        let build = builds.get(&actor, id)?;
        let output = builds.output_tail(&actor, id, OutputStream::Output, None, TAIL_LINES)?;
        let messages = builds.output_tail(&actor, id, OutputStream::Messages, None, TAIL_LINES)?;
        let project = match build.project_id {
            Some(p) => app.ops.project_names(&[p])?.remove(&p),
            None => None,
        };
        let can_stop = build.status().is_stoppable() && builds.authorize_stop(&actor, id).is_ok();
        let mut b = serde_json::to_value(&build).unwrap_or_default();
        let m = b.as_object_mut().expect("an object");
        m.insert("run_time".into(), minutes(build.start_time, build.end_time).into());
        Ok::<_, ApiError>(json!({
            "build": b,
            "project_name": project,
            "active": !build.status().is_complete() || build.status() == BuildStatus::Aborting,
            "can_stop": can_stop,
            "variables": pretty(&build.variables),
            "launch_answers": pretty(&build.launch_answers),
            "output_variables": pretty(&build.output_variables),
            "output": {"text": output.read.text, "earlier": output.earlier_lines, "start": output.start_seq, "last": output.read.last_seq},
            "messages": {"text": messages.read.text, "earlier": messages.earlier_lines, "start": messages.start_seq, "last": messages.read.last_seq},
        }))
    })
    .await?;
    ctx.render("build.html", data)
}

fn stream_of(q: &mut QueryArgs) -> Result<OutputStream, ApiError> {
    match q.text("stream").as_deref() {
        None | Some("output") => Ok(OutputStream::Output),
        Some("messages") => Ok(OutputStream::Messages),
        Some(other) => Err(ApiError::bad_request(format!(
            "query 'stream': '{other}' is neither output nor messages"
        ))),
    }
}

/// `GET /ui/builds/{id}/earlier?stream=&before=SEQ`: the part of a log
/// before its shown tail, as coloured HTML (the page's "show earlier").
async fn earlier(
    ctx: Ctx,
    id: web::Path<i64>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let stream = stream_of(&mut q)?;
    let before = q.int("before")?.unwrap_or(i64::MAX);
    q.finish()?;
    let (app, actor, id) = (ctx.app(), ctx.caller.actor.clone(), id.into_inner());
    let read = blocking(move || {
        app.ops
            .builds()
            .output_between(&actor, id, stream, 0, before)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(super::ansi::to_html(&read.text)))
}

/// `GET /ui/builds/{id}/raw?stream=`: the whole log as text.
async fn raw(
    ctx: Ctx,
    id: web::Path<i64>,
    query: web::Query<Vec<(String, String)>>,
) -> Result<HttpResponse, UiError> {
    let mut q = QueryArgs::new(query.into_inner());
    let stream = stream_of(&mut q)?;
    q.finish()?;
    let (app, actor, id) = (ctx.app(), ctx.caller.actor.clone(), id.into_inner());
    let read = blocking(move || app.ops.builds().output(&actor, id, stream, 0)).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"build-{id}-{}.log\"",
                stream.as_str()
            ),
        ))
        .body(read.text))
}

async fn stop(
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    let (app, actor, id) = (ctx.app(), ctx.caller.actor.clone(), id.into_inner());
    let back = field(&form, "next")
        .filter(|n| n.starts_with("/ui"))
        .unwrap_or("/ui/builds")
        .to_string();
    match blocking(move || stop_build(&app, &actor, id)).await {
        Ok(_) => Ok(redirect_with(&back, "ok", &format!("Build #{id} stopped."))),
        Err(e) if e.status == 409 => Ok(redirect_with(&back, "error", &e.message)),
        Err(e) => Err(e.into()),
    }
}

/// Starts project `id` with `answers`: to the new build's page, or the
/// error as a flash message.
async fn start_with(
    ctx: &Ctx,
    id: i64,
    answers: Map<String, Value>,
) -> Result<HttpResponse, ApiError> {
    let (app, actor) = (ctx.app(), ctx.caller.actor.clone());
    let request = StartRequest {
        launch_answers: answers,
        ..StartRequest::default()
    };
    let started = blocking(move || start_project(&app, &actor, id, &request)).await?;
    let b = started.build.id;
    Ok(match started.failed {
        Some(why) => redirect_with(
            &format!("/ui/builds/{b}/detail"),
            "error",
            &format!("Build #{b} failed at once: {why}"),
        ),
        None => redirect_with(
            &format!("/ui/builds/{b}/detail"),
            "ok",
            &format!("Build #{b} started."),
        ),
    })
}

/// `POST /ui/projects/{id}/start`: a start without launch questions.
async fn start(
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    let id = id.into_inner();
    match start_with(&ctx, id, Map::new()).await {
        Ok(r) => Ok(r),
        Err(e) if e.status == 422 => Ok(redirect_with(
            &format!("/ui/projects/{id}/start_prompt"),
            "error",
            &e.message,
        )),
        Err(e) => Err(e.into()),
    }
}

/// The questions of project `id`, each with the answer given so far.
async fn questions(ctx: &Ctx, id: i64) -> Result<(String, Vec<Value>), UiError> {
    let (app, actor) = (ctx.app(), ctx.caller.actor.clone());
    let detail = blocking(move || {
        // A project hidden from the user is not found (as the API and the
        // start answer), before whether they may start it.
        let detail = app.ops.projects().get(&actor, id)?;
        if !app.ops.projects().can_start(&actor, id)? {
            return Err(ApiError::new(
                403,
                "forbidden",
                "you may not start this project",
            ));
        }
        Ok(detail)
    })
    .await?;
    let qs = parse_launch_questions("project", &detail.project.launch_questions)
        .map_err(|e| UiError::page(422, vespene_core::ops::OpError::from(e).to_string()))?;
    let qs = qs
        .iter()
        .map(|q| {
            json!({
                "variable": q.variable,
                "label": q.label(),
                "type": match q.kind { QuestionType::Text => "text", QuestionType::Radio => "radio", QuestionType::Multi => "multi" },
                "choices": q.choices,
            })
        })
        .collect();
    Ok((detail.project.name, qs))
}

async fn prompt_page(
    ctx: &Ctx,
    id: i64,
    given: &FormPairs,
    error: Option<String>,
) -> Result<HttpResponse, UiError> {
    let (name, mut qs) = questions(ctx, id).await?;
    for q in &mut qs {
        let var = q["variable"].as_str().unwrap_or_default().to_string();
        let answers: Vec<&str> = given
            .iter()
            .filter(|(k, _)| *k == format!("q_{var}"))
            .map(|(_, v)| v.as_str())
            .collect();
        q["answers"] = json!(answers);
    }
    let status = if error.is_some() {
        actix_web::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        actix_web::http::StatusCode::OK
    };
    ctx.render_status(
        status,
        "start_prompt.html",
        json!({"id": id, "name": name, "questions": qs, "error": error}),
    )
}

async fn start_prompt(ctx: Ctx, id: web::Path<i64>) -> Result<HttpResponse, UiError> {
    prompt_page(&ctx, id.into_inner(), &Vec::new(), None).await
}

/// `POST /ui/projects/{id}/start_prompt`: the answers (checked by the
/// start operation), then the build; a refused answer shows the form again.
async fn start_prompted(
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    let id = id.into_inner();
    let (_, qs) = questions(&ctx, id).await?;
    let mut answers = Map::new();
    for q in &qs {
        let var = q["variable"].as_str().unwrap_or_default();
        let given: Vec<Value> = form
            .iter()
            .filter(|(k, _)| *k == format!("q_{var}"))
            .map(|(_, v)| Value::String(v.clone()))
            .collect();
        match (q["type"].as_str(), given.len()) {
            (Some("multi"), _) => {
                answers.insert(var.into(), Value::Array(given));
            }
            (_, 0) => {}
            _ => {
                answers.insert(var.into(), given.last().cloned().unwrap_or_default());
            }
        }
    }
    match start_with(&ctx, id, answers).await {
        Ok(r) => Ok(r),
        Err(e) if e.status == 422 => prompt_page(&ctx, id, &form, Some(e.message)).await,
        Err(e) => Err(e.into()),
    }
}

async fn stop_project(
    ctx: Ctx,
    id: web::Path<i64>,
    form: web::Form<FormPairs>,
) -> Result<HttpResponse, UiError> {
    ctx.check_csrf(&form)?;
    let (app, actor, id) = (ctx.app(), ctx.caller.actor.clone(), id.into_inner());
    match blocking(move || vespene_core::ops::stop_project(&app, &actor, id)).await {
        Ok(b) => Ok(redirect_with(
            "/ui/projects",
            "ok",
            &format!("Build #{} stopped.", b.id),
        )),
        Err(e) if e.status == 409 => Ok(redirect_with("/ui/projects", "error", &e.message)),
        Err(e) => Err(e.into()),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/builds", web::get().to(list))
        .route("/ui/builds/{id}/detail", web::get().to(detail))
        .route("/ui/builds/{id}/earlier", web::get().to(earlier))
        .route("/ui/builds/{id}/raw", web::get().to(raw))
        .route("/ui/builds/{id}/stop", web::post().to(stop))
        .route("/ui/projects/{id}/start", web::post().to(start))
        .route("/ui/projects/{id}/stop", web::post().to(stop_project))
        .route(
            "/ui/projects/{id}/start_prompt",
            web::get().to(start_prompt),
        )
        .route(
            "/ui/projects/{id}/start_prompt",
            web::post().to(start_prompted),
        );
}
