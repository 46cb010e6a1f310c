//! The pipeline map (reference §5.4) as a picture: stages left to right
//! (top to bottom on a phone), each with its projects and their last (or
//! active) build's status, and between two stages one edge from every
//! project of the first to every project of the next, so fan-out and
//! fan-in show. The edges are inline SVG drawn by the server: the
//! projects of a stage share its height equally, so the middle of the
//! `i`-th of `n` projects is at `(i + ½) / n` of it whatever the page's
//! width, and each edge is a line between two such fractions.
//!
//! The page redraws itself by fetching `…/map/grid` (this fragment) every
//! 2 s while a build of the pipeline is queued or running, every 10 s
//! otherwise, and not while the tab is hidden: there is no event stream
//! for a whole pipeline (only per build), and the next stage's builds only
//! appear once the previous stage has succeeded.

use super::kinds::{UiKind, options};
use super::page::{Ctx, UiError, render_bare};
use crate::http::errors::blocking;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use vespene_core::app::App;
use vespene_core::authz::Actor;
use vespene_core::ops::*;

/// Where the middle of the `i`-th of `n` projects of a stage lies, in
/// percent of the stage's height (or width, on a phone).
fn middle(i: usize, n: usize) -> f64 {
    (i as f64 + 0.5) / n as f64 * 100.0
}

/// The edges from every project of `from` to every project of `to`:
/// project ids, both ends' positions, and whether the start's last build
/// succeeded (the way the pipeline went).
fn fan(from: &[Value], to: &[Value]) -> Vec<Value> {
    let mut edges = Vec::with_capacity(from.len() * to.len());
    for (i, a) in from.iter().enumerate() {
        for (j, b) in to.iter().enumerate() {
            edges.push(json!({
                "from": a["id"],
                "to": b["id"],
                "from_name": a["name"],
                "to_name": b["name"],
                "a": format!("{:.2}", middle(i, from.len())),
                "b": format!("{:.2}", middle(j, to.len())),
                "ok": a["last"]["status"].as_str() == Some("SUCCESS"),
            }));
        }
    }
    edges
}

/// The map's data: each stage in slot order with its projects (by name),
/// their last (or active) build, the edges to the next stage, and whether
/// a build is active.
fn map_data(app: &App, actor: &Actor, id: i64) -> Result<Value, OpError> {
    let detail = app.ops.pipelines().get(actor, id)?;
    let stage_names: BTreeMap<i64, String> = options(app, actor, "stages")?.into_iter().collect();
    let mut stages: Vec<(usize, i64, Vec<Value>)> = Vec::new();
    let mut live = false;
    for (slot, stage) in detail.stages.iter().enumerate() {
        let Some(stage) = stage else { continue };
        let filter = ProjectFilter {
            pipeline_id: Some(id),
            stage_id: Some(*stage),
            ..ProjectFilter::default()
        };
        let page = PageRequest {
            page: 1,
            size: Some(MAX_PAGE_SIZE),
        };
        let projects = app.ops.projects().list(actor, &filter, page)?;
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
        stages.push((slot + 1, *stage, rows));
    }
    let drawn: Vec<Value> = stages
        .iter()
        .enumerate()
        .map(|(k, (slot, stage, rows))| {
            let next = stages.get(k + 1).map(|(_, _, next)| next.as_slice());
            json!({
                "slot": slot,
                "id": stage,
                "name": stage_names.get(stage).cloned().unwrap_or(format!("#{stage}")),
                "projects": rows,
                "edges": next.map(|next| fan(rows, next)).unwrap_or_default(),
            })
        })
        .collect();
    Ok(json!({
        "pipeline": {"id": id, "name": detail.pipeline.name, "enabled": detail.pipeline.enabled},
        "stages": drawn,
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
    cfg.route("/ui/pipelines/{id}/map", web::get().to(map))
        .route("/ui/pipelines/{id}/map/grid", web::get().to(map_grid));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projects(names: &[&str]) -> Vec<Value> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"id": i + 1, "name": n, "last": {"status": "SUCCESS"}}))
            .collect()
    }

    #[test]
    fn a_fan_joins_every_project_of_one_stage_to_every_one_of_the_next() {
        let out = fan(&projects(&["build"]), &projects(&["test-a", "test-b"]));
        let ends: Vec<(&str, &str, &str)> = out
            .iter()
            .map(|e| {
                (
                    e["to_name"].as_str().unwrap(),
                    e["a"].as_str().unwrap(),
                    e["b"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            ends,
            [("test-a", "50.00", "25.00"), ("test-b", "50.00", "75.00")]
        );
        let fan_in = fan(&projects(&["a", "b", "c"]), &projects(&["ship"]));
        assert_eq!(fan_in.len(), 3);
        assert_eq!(fan_in[2]["a"], "83.33");
        assert!(fan(&[], &projects(&["x"])).is_empty());
    }
}
