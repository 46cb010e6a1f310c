//! `/ui/`, the dashboard the original's users asked for (running builds
//! with their elapsed time, the queue of each worker pool, recent
//! failures, workers alive).

use super::kinds::options;
use super::page::{Ctx, UiError};
use crate::http::errors::{ApiError, blocking};
use actix_web::{HttpResponse, web};
use serde_json::json;
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

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ui/", web::get().to(dashboard));
}
