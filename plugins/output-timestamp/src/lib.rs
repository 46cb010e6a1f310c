//! `vespene.plugins.output.timestamp`: prefixes every output line with a time.
//!
//! Modes (parameter `mode`):
//! * `elapsed` (default, the original's only mode): minutes since the build
//!   started, two decimals, right-aligned in eight columns: `    1.25m | line`;
//! * `iso`: UTC wall-clock time with milliseconds:
//!   `2026-11-23T23:12:26.123Z | line`;
//! * `clock`: UTC time of day: `23:12:26 | line`.

use chrono::{DateTime, SecondsFormat, Utc};
use nix::time::{ClockId, clock_gettime};
use serde::Deserialize;
use std::fmt::Write;
use std::sync::Mutex;
use vespene_plugin_api::{
    BuildInfo, CreateContext, LineAction, LineOut, OutputFilter, Plugin, PluginError, export_plugin,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Elapsed,
    Iso,
    Clock,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    mode: Option<String>,
}

/// Seconds on the coarse monotonic clock: a few milliseconds of
/// resolution (plenty for hundredths of a minute) at a fraction of the
/// precise clock's cost, read once per line.
fn coarse_now() -> f64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC_COARSE)
        .or_else(|_| clock_gettime(ClockId::CLOCK_MONOTONIC))
        .map(|t| t.tv_sec() as f64 + t.tv_nsec() as f64 / 1e9)
        .unwrap_or(0.0)
}

/// Where elapsed time is measured from, and the last prefix made (the
/// elapsed prefix changes only every 0.3 s, so most lines reuse it).
#[derive(Debug)]
struct Clock {
    /// Coarse monotonic seconds at `offset_secs` after the build started.
    anchor: f64,
    /// Seconds between the build's start and `anchor`.
    offset_secs: f64,
    cached_bucket: i64,
    cached_prefix: String,
}

#[derive(Debug)]
pub struct Timestamp {
    mode: Mode,
    clock: Mutex<Clock>,
}

impl Timestamp {
    /// A filter in `mode` whose elapsed time starts now.
    pub fn new(mode: Mode) -> Timestamp {
        Timestamp {
            mode,
            clock: Mutex::new(Clock {
                anchor: coarse_now(),
                offset_secs: 0.0,
                cached_bucket: i64::MIN,
                cached_prefix: String::new(),
            }),
        }
    }

    /// Measures elapsed time from `start` (the build's start time).
    pub fn start_at(&self, start: DateTime<Utc>) {
        let now = Utc::now();
        let offset = (now - start).num_nanoseconds().unwrap_or(0) as f64 / 1e9;
        let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        c.anchor = coarse_now();
        c.offset_secs = offset;
        c.cached_bucket = i64::MIN;
    }

    fn write_elapsed(&self, out: &mut LineOut<'_>) {
        let mut c = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        let secs = (coarse_now() - c.anchor).max(0.0) + c.offset_secs;
        let minutes = secs / 60.0;
        // Every value inside one half-hundredth bucket rounds to the same
        // two decimals; the bucket's exact left edge may be a tie, so it is
        // always formatted afresh.
        let scaled = minutes * 200.0;
        // Truncation is floor for these non-negative values (and needs no
        // call into libm).
        let bucket = scaled as i64;
        if bucket != c.cached_bucket || scaled == bucket as f64 {
            c.cached_prefix.clear();
            write_elapsed_prefix(&mut c.cached_prefix, minutes);
            c.cached_bucket = bucket;
        }
        out.push_str(&c.cached_prefix);
    }
}

/// The original's prefix for `minutes` since the start: `"%0.2f"`,
/// right-justified to 8, then `m | `.
pub fn elapsed_prefix(minutes: f64) -> String {
    let mut s = String::new();
    write_elapsed_prefix(&mut s, minutes);
    s
}

/// Appends [`elapsed_prefix`] to `out`.
fn write_elapsed_prefix(out: &mut String, minutes: f64) {
    let _ = write!(out, "{minutes:>8.2}m | ");
}

impl Plugin for Timestamp {
    fn create(ctx: CreateContext<'_>) -> Result<Self, PluginError> {
        let params: Params = ctx.params()?;
        let mode = match params.mode.as_deref().unwrap_or("elapsed") {
            "elapsed" => Mode::Elapsed,
            "iso" => Mode::Iso,
            "clock" => Mode::Clock,
            other => {
                return Err(PluginError::invalid_params(format!(
                    "unknown timestamp mode '{other}' (choose elapsed, iso or clock)"
                )));
            }
        };
        Ok(Timestamp::new(mode))
    }
}

impl OutputFilter for Timestamp {
    fn begin(&self, build: &BuildInfo) -> Result<(), PluginError> {
        if let Some(start) = &build.start_time {
            let start = DateTime::parse_from_rfc3339(start).map_err(|e| {
                PluginError::invalid_request(format!("build start_time '{start}': {e}"))
            })?;
            self.start_at(start.with_timezone(&Utc));
        }
        Ok(())
    }

    fn filter_line(&self, line: &str, out: &mut LineOut<'_>) -> Result<LineAction, PluginError> {
        match self.mode {
            Mode::Elapsed => self.write_elapsed(out),
            Mode::Iso => {
                out.push_str(&Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
                out.push_str(" | ");
            }
            Mode::Clock => {
                let _ = write!(out, "{} | ", Utc::now().format("%H:%M:%S"));
            }
        }
        out.push_str(line);
        Ok(LineAction::Replaced)
    }
}

export_plugin! {
    name: "vespene.plugins.output.timestamp",
    kind: output,
    plugin: Timestamp,
    description: "Prefixes each line with minutes since the build started (elapsed), or the UTC time (iso, clock).",
}

#[cfg(test)]
mod tests {
    use super::*;
    use vespene_plugin_api::serde_json;
    use vespene_plugin_api::testing::TestHost;

    fn make(params: serde_json::Value) -> Result<Timestamp, PluginError> {
        let th = TestHost::unsupported();
        Timestamp::create(CreateContext {
            name: "timestamp",
            params,
            host: th.host(),
        })
    }

    #[test]
    fn prefix_matches_the_original_format() {
        // Python: "%sm | %s" % (("%0.2f" % minutes).rjust(8), msg)
        assert_eq!(elapsed_prefix(0.0), "    0.00m | ");
        assert_eq!(elapsed_prefix(1.254), "    1.25m | ");
        assert_eq!(elapsed_prefix(12345.678), "12345.68m | ");
        assert_eq!(elapsed_prefix(123456.0), "123456.00m | ");
    }

    #[test]
    fn elapsed_counts_from_the_build_start() {
        let t = make(serde_json::json!({"mode": "elapsed"})).unwrap();
        let start = Utc::now() - chrono::Duration::seconds(90);
        t.begin(&BuildInfo {
            start_time: Some(start.to_rfc3339()),
            ..Default::default()
        })
        .unwrap();
        let mut out = String::new();
        assert_eq!(
            t.filter_line("hello", &mut (&mut out).into()).unwrap(),
            LineAction::Replaced
        );
        assert_eq!(out, "    1.50m | hello");
    }

    #[test]
    fn other_modes_and_bad_params() {
        let mut out = String::new();
        make(serde_json::json!({"mode": "iso"}))
            .unwrap()
            .filter_line("x", &mut (&mut out).into())
            .unwrap();
        assert!(out.ends_with("Z | x") && out.len() == "2026-01-01T00:00:00.000Z | x".len());
        out.clear();
        make(serde_json::Value::Null)
            .unwrap()
            .filter_line("y", &mut (&mut out).into())
            .unwrap();
        assert_eq!(out, "    0.00m | y");
        let err = make(serde_json::json!({"mode": "sideways"})).unwrap_err();
        assert!(err.message.contains("sideways"), "{err}");
        assert!(make(serde_json::json!({"colour": 1})).is_err());
    }
}
