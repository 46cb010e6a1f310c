//! `/ui/`, the dashboard the original's users asked for (running builds
//! with their elapsed time, the queue of each worker pool, recent
//! failures, workers alive), and the pipeline map (reference §5.4):
//! stages left to right, each with its projects and their last build's
//! status, redrawn every few seconds while a build of the pipeline is
//! active.

use super::kinds::{UiKind, options};
use super::page::{Ctx, UiError, render_bare};
use crate::http::errors::{ApiError, blocking};
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::ops::*;

/// A worker that checked in this recently is alive.
const ALIVE_SECONDS: i64 = 300;

fn since(t: chrono::NaiveDateTime) -> String {
    let secs = (chrono::Utc::now().naive_utc() - t).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

fn builds_in(
    app: &App,
    actor: &Actor,
    status: BuildStatus,
    size: u32,
) -> Result<Vec<BuildSummary>, OpError> {
    let filter = BuildFilter {
        statuses: vec![status],
        ..BuildFilter::default()
    };
    Ok(app
        .ops
        .builds()
        .list(
            actor,
            &filter,
            PageRequest {
                page: 1,
                size: Some(size),
            },
        )?
        .items)
}

async fn dashboard(ctx: Ctx) -> Result<HttpResponse, UiError> {
    let (app, actor) = (ctx.app(), ctx.caller.actor.clone());
    let data = blocking(move || {
        let running = builds_in(&app, &actor, BuildStatus::Running, 100)?;
        let queued = builds_in(&app, &actor, BuildStatus::Queued, MAX_PAGE_SIZE)?;
        let failed = builds_in(&app, &actor, BuildStatus::Failure, 10)?;
        let mut ids: Vec<i64> = running.iter().chain(&failed).filter_map(|b| b.project_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let names = app.ops.project_names(&ids)?;
        let pools: BTreeMap<i64, String> = options(&app, &actor, "worker_pools")?.into_iter().collect();
        let row = |b: &BuildSummary| {
            json!({
                "id": b.id,
                "status": b.status_text,
                "project": b.project_id.and_then(|p| names.get(&p).cloned()),
                "project_id": b.project_id,
                "elapsed": b.start_time.map(since),
                "end_time": b.end_time,
            })
        };
        let mut queue: BTreeMap<String, usize> = pools.values().map(|n| (n.clone(), 0)).collect();
        for b in &queued {
            let pool = pools.get(&b.worker_pool_id).cloned().unwrap_or(format!("#{}", b.worker_pool_id));
            *queue.entry(pool).or_default() += 1;
        }
        let workers = match app.ops.workers(&actor) {
            Ok(ws) => Some(
                ws.iter()
                    .map(|w| {
                        let age = (chrono::Utc::now().naive_utc() - w.last_checkin).num_seconds();
                        json!({"hostname": w.hostname, "uid": w.worker_uid, "last": since(w.last_checkin), "alive": age <= ALIVE_SECONDS})
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(OpError::Denied { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok::<_, ApiError>(json!({
            "running": running.iter().map(row).collect::<Vec<_>>(),
            "queue": queue.into_iter().map(|(pool, n)| json!({"pool": pool, "queued": n})).collect::<Vec<_>>(),
            "failed": failed.iter().map(row).collect::<Vec<_>>(),
            "workers": workers,
        }))
    })
    .await?;
    ctx.render("dashboard.html", data)
}

/// The map's data: each stage in slot order with its projects (by name)
/// and their last (or active) build, and whether a build is active.
fn map_data(app: &App, actor: &Actor, id: i64) -> Result<Value, OpError> {
    let detail = app.ops.pipelines().get(actor, id)?;
    let stage_names: BTreeMap<i64, String> = options(app, actor, "stages")?.into_iter().collect();
    let mut stages = Vec::new();
    let mut live = false;
    for (slot, stage) in detail.stages.iter().enumerate() {
        let Some(stage) = stage else { continue };
        let filter = ProjectFilter {
            pipeline_id: Some(id),
            stage_id: Some(*stage),
            ..ProjectFilter::default()
        };
        let projects = app.ops.projects().list(
            actor,
            &filter,
            PageRequest {
                page: 1,
                size: Some(MAX_PAGE_SIZE),
            },
        )?;
        let mut rows: Vec<Value> = projects
            .items
            .iter()
            .map(|p| serde_json::to_value(p).unwrap_or_default())
            .collect();
        Projects::decorate(app, actor, &mut rows)?;
        live |= rows.iter().any(|r| {
            r["controls"]["stop"].as_bool().unwrap_or(false)
                || matches!(r["last"]["status"].as_str(), Some("QUEUED" | "RUNNING"))
        });
        stages.push(json!({
            "slot": slot + 1,
            "id": stage,
            "name": stage_names.get(stage).cloned().unwrap_or(format!("#{stage}")),
            "projects": rows,
        }));
    }
    Ok(json!({
        "pipeline": {"id": id, "name": detail.pipeline.name, "enabled": detail.pipeline.enabled},
        "stages": stages,
        "live": live,
    }))
}

async fn map(ctx: Ctx, id: web::Path<i64>) -> Result<HttpResponse, UiError> {
    let (app, actor, id) = (ctx.app(), ctx.caller.actor.clone(), id.into_inner());
    let data = blocking(move || map_data(&app, &actor, id)).await?;
    ctx.render("map.html", data)
}

/// The map alone, for the page's script to redraw it.
async fn map_grid(ctx: Ctx, id: web::Path<i64>) -> Result<HttpResponse, UiError> {
    let (app, actor, id) = (ctx.app(), ctx.caller.actor.clone(), id.into_inner());
    let mut data = blocking(move || map_data(&app, &actor, id)).await?;
    data["csrf"] = json!(ctx.csrf);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(render_bare("map_grid.html", &data)?))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/", web::get().to(dashboard))
        .route("/ui/pipelines/{id}/map", web::get().to(map))
        .route("/ui/pipelines/{id}/map/grid", web::get().to(map_grid));
}
