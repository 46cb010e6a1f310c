//! `vespene.plugins.autoscale_planner.stock`: decides when and how far to
//! resize a worker pool (reference §3.2 "Autoscaling planner").
//!
//! * `is_time_to_adjust`: yes when the pool was never autoscaled, or when at
//!   least `reevaluate_minutes` have passed since `last_autoscaled` (the
//!   original had this comparison inverted). A `last_autoscaled` later than
//!   `now` (a clock that went back) also says yes, so autoscaling never
//!   stalls; a blank `now` means the system clock.
//! * `get_parameters`: with `running` = the pool's RUNNING builds and
//!   `queued` = its QUEUED builds (distinct projects when the pool has
//!   `build_latest`), and
//!   `formula(x, y) = ceil((x + y) × multiplier) + excess` clamped to
//!   `[minimum, maximum]` (when `minimum > maximum`, `maximum` wins, as in
//!   the original), returns
//!   - `worker_pool`: the pool's name;
//!   - `size = formula(queued, running)`: the total number of workers the
//!     pool should have, for declarative provisioning;
//!   - `queued_size = formula(queued, 0)`: workers for the queued work only,
//!     for provisioning that can only add workers;
//!   - `running`, `queued`: the counts used.
//!
//!   The original returned `size` and `queued_size` swapped relative to its
//!   own documentation; these follow the documentation. As in the original,
//!   `running_weight` and `queued_weight` are not used.

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use serde::Deserialize;
use vespene_plugin_api::kinds::autoscale_planner::PlanRequest;
use vespene_plugin_api::serde_json::Value;
use vespene_plugin_api::{
    AutoscalePlanner, CreateContext, Plugin, PluginError, Variables, WorkerPoolInfo, export_plugin,
};

/// This plugin takes no parameters.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {}

/// The stock planner.
#[derive(Debug, Default)]
pub struct StockPlanner;

/// `ceil((x + y) × multiplier) + excess`, clamped to the pool's
/// `[minimum, maximum]` (minimum applied first, so maximum wins).
pub fn formula(pool: &WorkerPoolInfo, x: i64, y: i64) -> i64 {
    let scaled = (x.saturating_add(y) as f64 * pool.multiplier).ceil();
    // `as` saturates at the bounds of i64.
    let count = (scaled as i64).saturating_add(pool.excess);
    count.max(pool.minimum).min(pool.maximum)
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<FixedOffset>, PluginError> {
    DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        PluginError::invalid_request(format!("{field} '{text}' is not an RFC 3339 time: {e}"))
    })
}

impl Plugin for StockPlanner {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let Params {} = ctx.params()?;
        Ok(StockPlanner)
    }
}

impl AutoscalePlanner for StockPlanner {
    fn is_time_to_adjust(&self, request: &PlanRequest) -> Result<bool, PluginError> {
        let pool = &request.worker_pool;
        let last = match pool.last_autoscaled.as_deref().map(str::trim) {
            None | Some("") => return Ok(true),
            Some(text) => parse_time(
                &format!("last_autoscaled of worker pool '{}'", pool.name),
                text,
            )?,
        };
        let now = if request.now.trim().is_empty() {
            Utc::now().fixed_offset()
        } else {
            parse_time("now", &request.now)?
        };
        let elapsed = now.signed_duration_since(last);
        if elapsed < TimeDelta::zero() {
            return Ok(true);
        }
        Ok(
            match TimeDelta::try_minutes(pool.reevaluate_minutes.max(0)) {
                Some(wait) => elapsed >= wait,
                // Longer than chrono can count: never.
                None => false,
            },
        )
    }

    fn get_parameters(&self, request: &PlanRequest) -> Result<Variables, PluginError> {
        let pool = &request.worker_pool;
        if !pool.multiplier.is_finite() {
            return Err(PluginError::failed(format!(
                "the multiplier of worker pool '{}' is not a finite number",
                pool.name
            )));
        }
        let running = request.running;
        let queued = if pool.build_latest {
            request.queued_projects
        } else {
            request.queued
        };
        let mut out = Variables::new();
        out.insert("worker_pool".into(), Value::from(pool.name.clone()));
        out.insert("size".into(), formula(pool, queued, running).into());
        out.insert("queued_size".into(), formula(pool, queued, 0).into());
        out.insert("running".into(), running.into());
        out.insert("queued".into(), queued.into());
        Ok(out)
    }
}

export_plugin! {
    name: "vespene.plugins.autoscale_planner.stock",
    kind: autoscale_planner,
    plugin: StockPlanner,
    description: "Sizes a worker pool: ceil((queued + running) x multiplier) + excess, within [minimum, maximum], every reevaluate_minutes.",
}

#[cfg(test)]
mod tests {
    //! Unit tests: the reevaluation clock, the formula and the parameters.

    use super::*;
    use vespene_plugin_api::serde_json::json;
    use vespene_plugin_api::testing::TestHost;

    fn planner() -> StockPlanner {
        let th = TestHost::unsupported();
        StockPlanner::create(CreateContext {
            name: "stock",
            params: Value::Null,
            host: th.host(),
        })
        .unwrap()
    }

    fn pool() -> WorkerPoolInfo {
        WorkerPoolInfo {
            name: "general".into(),
            ..WorkerPoolInfo::default()
        }
    }

    fn at(now: &str, last: Option<&str>, minutes: i64) -> PlanRequest {
        PlanRequest {
            worker_pool: WorkerPoolInfo {
                last_autoscaled: last.map(str::to_string),
                reevaluate_minutes: minutes,
                ..pool()
            },
            now: now.into(),
            ..PlanRequest::default()
        }
    }

    #[test]
    fn adjusts_when_never_autoscaled_or_when_the_wait_is_over() {
        let p = planner();
        let now = "2026-03-01T12:00:00Z";
        assert!(p.is_time_to_adjust(&at(now, None, 10)).unwrap());
        assert!(p.is_time_to_adjust(&at(now, Some(""), 10)).unwrap());
        // 5 minutes ago, every 10 minutes: not yet (the original said yes).
        assert!(
            !p.is_time_to_adjust(&at(now, Some("2026-03-01T11:55:00Z"), 10))
                .unwrap()
        );
        // Exactly 10 minutes: yes. Long ago: yes.
        assert!(
            p.is_time_to_adjust(&at(now, Some("2026-03-01T11:50:00Z"), 10))
                .unwrap()
        );
        assert!(
            p.is_time_to_adjust(&at(now, Some("2026-02-01T00:00:00Z"), 10))
                .unwrap()
        );
        // Offsets are honoured: 13:58+02:00 is 2 minutes ago.
        assert!(
            !p.is_time_to_adjust(&at(now, Some("2026-03-01T13:58:00+02:00"), 10))
                .unwrap()
        );
        assert!(
            p.is_time_to_adjust(&at(now, Some("2026-03-01T13:58:00+02:00"), 2))
                .unwrap()
        );
        // A clock that went back does not stall autoscaling.
        assert!(
            p.is_time_to_adjust(&at(now, Some("2026-03-01T12:30:00Z"), 10))
                .unwrap()
        );
        // Zero or negative minutes: every time.
        assert!(
            p.is_time_to_adjust(&at(now, Some("2026-03-01T12:00:00Z"), 0))
                .unwrap()
        );
        assert!(
            p.is_time_to_adjust(&at(now, Some("2026-03-01T12:00:00Z"), -3))
                .unwrap()
        );
        assert!(
            !p.is_time_to_adjust(&at(now, Some("2026-03-01T11:00:00Z"), i64::MAX))
                .unwrap()
        );
        // A blank now is the system clock.
        assert!(
            !p.is_time_to_adjust(&at("", Some(&Utc::now().to_rfc3339()), 10))
                .unwrap()
        );
    }

    #[test]
    fn bad_times_are_clear_errors() {
        let p = planner();
        let err = p
            .is_time_to_adjust(&at("2026-03-01T12:00:00Z", Some("yesterday"), 10))
            .unwrap_err();
        assert!(err.message.contains("last_autoscaled"), "{err}");
        assert!(err.message.contains("general"), "{err}");
        let err = p
            .is_time_to_adjust(&at("noon", Some("2026-03-01T12:00:00Z"), 10))
            .unwrap_err();
        assert!(err.message.contains("now 'noon'"), "{err}");
    }

    #[test]
    fn the_formula_scales_adds_and_clamps() {
        let mut pool = pool();
        assert_eq!(formula(&pool, 3, 2), 5);
        pool.multiplier = 1.5;
        assert_eq!(formula(&pool, 3, 0), 5, "ceil(4.5)");
        pool.excess = 2;
        assert_eq!(formula(&pool, 3, 0), 7);
        assert_eq!(formula(&pool, 30, 0), 10, "clamped to maximum");
        pool.multiplier = 0.0;
        pool.excess = 0;
        pool.minimum = 1;
        assert_eq!(formula(&pool, 3, 0), 1, "clamped to minimum");
        pool.minimum = 20;
        assert_eq!(formula(&pool, 3, 0), 10, "maximum wins over minimum");
        pool.minimum = 0;
        pool.multiplier = 1e300;
        pool.maximum = i64::MAX;
        assert_eq!(formula(&pool, 3, 0), i64::MAX, "saturates");
    }

    #[test]
    fn parameters_size_the_whole_pool_and_the_queue() {
        let p = planner();
        let mut req = PlanRequest {
            worker_pool: WorkerPoolInfo {
                multiplier: 2.0,
                excess: 1,
                maximum: 100,
                ..pool()
            },
            running: 3,
            queued: 5,
            queued_projects: 2,
            ..PlanRequest::default()
        };
        let out = p.get_parameters(&req).unwrap();
        // build_latest (the default): queued = distinct projects.
        assert_eq!(
            Value::Object(out),
            json!({"worker_pool": "general", "size": 11, "queued_size": 5,
                   "running": 3, "queued": 2})
        );
        req.worker_pool.build_latest = false;
        let out = p.get_parameters(&req).unwrap();
        assert_eq!(out["size"], 17);
        assert_eq!(out["queued_size"], 11);
        assert_eq!(out["queued"], 5);
        req.worker_pool.multiplier = f64::NAN;
        let err = p.get_parameters(&req).unwrap_err();
        assert!(err.message.contains("multiplier"), "{err}");
    }

    #[test]
    fn answers_through_the_boundary() {
        let adapter = vespene_plugin_api::kinds::autoscale_planner::Adapter(planner());
        let call = |op: &str, args: Value| {
            vespene_plugin_api::export::Dispatch::call(&adapter, op, &args.to_string())
        };
        let out = call("is_time_to_adjust", json!({"worker_pool": {"name": "g"}})).unwrap();
        assert_eq!(out, r#"{"adjust":true}"#);
        let out = call(
            "get_parameters",
            json!({"worker_pool": {"name": "g"}, "running": 1, "queued": 4, "queued_projects": 4}),
        )
        .unwrap();
        let out: Value = vespene_plugin_api::serde_json::from_str(&out).unwrap();
        assert_eq!(out["parameters"]["size"], 5);
        assert_eq!(out["parameters"]["queued_size"], 4);
        let th = TestHost::unsupported();
        assert!(
            StockPlanner::create(CreateContext {
                name: "stock",
                params: json!({"weights": true}),
                host: th.host(),
            })
            .is_err()
        );
    }
}
