//! Plugin host benchmark: discovery and load of every stock plugin, cold
//! (scanner child) and warm (scan cache), and the per-line cost of the
//! timestamp output filter through its `.so` against the same filter called
//! in-process. Prints one table; every figure comes from this one run.
//!
//! Release figures: `cargo build --release --workspace && cargo bench -p
//! vespene-e2e --bench plugins`. Without `--bench` (as `cargo test
//! --benches` runs it) it does a few iterations only, to prove it works.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use vespene_core::plugins::{Library, LineBuf, StandardHost};
use vespene_e2e::harness::{Sandbox, stock_plugin, stock_plugin_crates};
use vespene_plugin_api::{CreateContext, LineAction, OutputFilter, Plugin};
use vespene_plugin_output_timestamp::Timestamp;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A sandbox whose settings configure every stock plugin, so the registry
/// loads and instantiates all of them.
fn sandbox_with_every_stock_plugin() -> (Sandbox, usize) {
    let sb = Sandbox::new();
    let mut sections: std::collections::BTreeMap<&str, String> = Default::default();
    let crates = stock_plugin_crates();
    for (dir, dotted) in &crates {
        let section = match dir.split('-').next().unwrap() {
            "output" => "output",
            "scm" => "scm",
            "triggers" => "success_triggers",
            "isolation" => "isolation",
            "authorization" => "authorization",
            "variables" => "variables",
            "secrets" => "secrets",
            "organizations" => "organizations",
            "autoscale" if dir.contains("planner") => "autoscaling_planners",
            "autoscale" => "autoscaling_executors",
            other => panic!("unknown stock plugin family {other}"),
        };
        let params = match dir.as_str() {
            "triggers-command" => ", \"true\"",
            "triggers-slack" => ", { channel = \"general\", token = \"xoxb-bench\" }",
            "triggers-webhook" => ", { url = \"http://127.0.0.1:9/hook\" }",
            "triggers-commit-status" => {
                ", { forges = [{ type = \"github\", url = \"https://github.com\", token = \"bench\" }] }"
            }
            _ => "",
        };
        sections.entry(section).or_default().push_str(&format!(
            "bench_{} = [\"{dotted}\"{params}]\n",
            dir.replace('-', "_")
        ));
    }
    let toml: String = sections
        .iter()
        .map(|(section, entries)| format!("[plugins.{section}]\n{entries}\n"))
        .collect();
    sb.write_settings("90-bench.toml", &toml);
    (sb, crates.len())
}

fn time_process(sb: &Sandbox, args: &[&str], before: impl Fn()) -> Duration {
    before();
    let start = Instant::now();
    let out = sb.command().args(args).output().expect("run vespene");
    let took = start.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (runs, lines) = if full { (21, 2_000_000) } else { (3, 20_000) };

    let (sb, count) = sandbox_with_every_stock_plugin();
    let cache: PathBuf = sb.data_dir().join("plugin-cache.json");
    // Every configured entry must load, or the figures mean nothing.
    let check = sb.run(&["plugins", "list", "--json"]).json();
    let problems = check["problems"].as_array().unwrap();
    assert!(problems.is_empty(), "{problems:#?}");

    let baseline = median(
        (0..runs)
            .map(|_| time_process(&sb, &["--version"], || {}))
            .collect(),
    );
    let cold = median(
        (0..runs)
            .map(|_| {
                time_process(&sb, &["plugins", "list", "--json"], || {
                    let _ = std::fs::remove_file(&cache);
                })
            })
            .collect(),
    );
    let warm = median(
        (0..runs)
            .map(|_| time_process(&sb, &["plugins", "list", "--json"], || {}))
            .collect(),
    );

    // Per-line cost: the same filter in-process and through its .so.
    let th = vespene_plugin_api::testing::TestHost::unsupported();
    let params = vespene_plugin_api::serde_json::json!({"mode": "elapsed"});
    let local = Timestamp::create(CreateContext {
        name: "bench",
        params: params.clone(),
        host: th.host(),
    })
    .unwrap();
    let lib = Library::open(&stock_plugin("output-timestamp")).unwrap();
    let remote = lib
        .create(
            "bench",
            &params,
            std::sync::Arc::new(StandardHost::default()),
        )
        .unwrap();
    let line = "     Compiling vespene-core v0.1.0 (/work/main/vespene-core)";

    let mut per_line_local = Vec::new();
    let mut per_line_remote = Vec::new();
    let mut out = String::with_capacity(256);
    let mut buf = LineBuf::with_capacity(256);
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..lines {
            out.clear();
            let a = local
                .filter_line(black_box(line), &mut (&mut out).into())
                .unwrap();
            assert_eq!(a, LineAction::Replaced);
            black_box(&out);
        }
        per_line_local.push(start.elapsed() / lines);

        let start = Instant::now();
        for _ in 0..lines {
            let a = remote.filter_line(black_box(line), &mut buf).unwrap();
            assert_eq!(a, LineAction::Replaced);
            black_box(&buf);
        }
        per_line_remote.push(start.elapsed() / lines);
    }
    assert_eq!(out.as_str(), buf.as_str(), "both paths give the same line");
    let l = median(per_line_local);
    let r = median(per_line_remote);

    println!(
        "plugin host benchmark ({} build, {count} stock plugins, median of {runs} runs)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "  process start alone (vespene --version)           {:>10}",
        ms(baseline)
    );
    println!(
        "  discover + load + instantiate all, cold (scanner) {:>10}",
        ms(cold)
    );
    println!(
        "  discover + load + instantiate all, warm (cache)   {:>10}",
        ms(warm)
    );
    println!(
        "  timestamp filter per line, in-process             {:>7.1} ns",
        l.as_nanos() as f64
    );
    println!(
        "  timestamp filter per line, through the .so        {:>7.1} ns   ratio {:.2}",
        r.as_nanos() as f64,
        r.as_secs_f64() / l.as_secs_f64()
    );
}
