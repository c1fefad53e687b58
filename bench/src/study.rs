//! The partitioning study: a matrix of strategies × key distributions × capacity policies on
//! the simulated clock, written as CSV, JSON, a Markdown summary and SVG plots.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use crate::keys::{Distribution, KeyGen};
use crate::plot::{heatmap, line_chart, Series};
use crate::sim::{Policy, RunResult, SimConfig, Strategy, Window};

/// Header of `summary.csv`.
pub const SUMMARY_HEADER: &str = "workload,strategy,policy,ycsb,dist,shift_every_s,rate_ops_s,\
duration_s,partitions_start,partitions_end,splits,mean_rcu,mean_wcu,offered,throttled,\
throttled_pct,throttled_partition,throttled_table,mean_imbalance,adapt_mean_s,adapted_shifts,\
cost_usd,on_demand_usd,provisioned_mean_usd";

/// Header of `windows.csv`.
pub const WINDOWS_HEADER: &str = "workload,strategy,policy,t_end_s,offered,admitted,throttled,\
throttle_rate,throttled_partition,throttled_table,read_units,write_units,prov_rcu,prov_wcu,\
partitions,imbalance,splits";

/// The name of a distribution in outputs (`zipfian:0.99`, …).
pub fn dist_name(d: &Distribution) -> String {
    match *d {
        Distribution::Uniform => "uniform".into(),
        Distribution::Zipfian { theta } => format!("zipfian:{theta}"),
        Distribution::ScrambledZipfian { theta } => format!("scrambled:{theta}"),
        Distribution::Hotspot {
            hot_key_fraction,
            hot_op_fraction,
        } => format!("hotspot:{hot_key_fraction}/{hot_op_fraction}"),
        Distribution::Latest { theta } => format!("latest:{theta}"),
    }
}

/// One `summary.csv` row.
pub fn summary_row(r: &RunResult) -> String {
    let c = &r.config;
    let (adapt, adapted) = match r.adapt_summary() {
        Some((m, ok, n)) => (format!("{m:.1}"), format!("{ok}/{n}")),
        None => (String::new(), String::new()),
    };
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{},{},{:.3},{},{},{:.6},{:.6},{:.6}",
        c.label,
        c.strategy.name(),
        c.policy.name(),
        c.workload.ycsb.name(),
        dist_name(&c.workload.dist),
        c.workload.shift_every_secs.unwrap_or(0),
        c.rate,
        c.duration_secs,
        c.partitions,
        r.final_partitions(),
        r.splits(),
        r.mean_read_units,
        r.mean_write_units,
        r.offered(),
        r.throttled(),
        r.throttled_pct(),
        r.windows.iter().map(|w| w.throttled_partition).sum::<u64>(),
        r.windows.iter().map(|w| w.throttled_table).sum::<u64>(),
        r.mean_imbalance(),
        adapt,
        adapted,
        r.cost_usd,
        r.on_demand_usd,
        r.provisioned_mean_usd,
    )
}

/// The `windows.csv` rows of a run.
pub fn window_rows(r: &RunResult) -> Vec<String> {
    let c = &r.config;
    r.windows
        .iter()
        .map(|w| {
            format!(
                "{},{},{},{},{},{},{},{:.4},{},{},{:.1},{:.1},{},{},{},{:.3},{}",
                c.label,
                c.strategy.name(),
                c.policy.name(),
                w.t_end_secs,
                w.offered,
                w.admitted,
                w.throttled,
                w.throttle_rate(),
                w.throttled_partition,
                w.throttled_table,
                w.read_units,
                w.write_units,
                w.prov_read,
                w.prov_write,
                w.partitions,
                w.imbalance,
                w.splits
            )
        })
        .collect()
}

/// A run as JSON (summary fields, windows, heat).
pub fn run_json(r: &RunResult) -> Value {
    let c = &r.config;
    let adapt = r.adapt_summary();
    let windows: Vec<Value> = r
        .windows
        .iter()
        .map(|w| {
            json!({
                "t_end_s": w.t_end_secs,
                "offered": w.offered,
                "admitted": w.admitted,
                "throttled": w.throttled,
                "throttled_partition": w.throttled_partition,
                "throttled_table": w.throttled_table,
                "read_units": w.read_units,
                "write_units": w.write_units,
                "prov_rcu": w.prov_read,
                "prov_wcu": w.prov_write,
                "partitions": w.partitions,
                "imbalance": (w.imbalance * 1000.0).round() / 1000.0,
                "splits": w.splits,
            })
        })
        .collect();
    json!({
        "workload": c.label,
        "strategy": c.strategy.name(),
        "policy": c.policy.name(),
        "ycsb": c.workload.ycsb.name(),
        "dist": dist_name(&c.workload.dist),
        "item_size": c.workload.item_size.to_string(),
        "records": c.workload.records,
        "shift_every_s": c.workload.shift_every_secs,
        "rate_ops_s": c.rate,
        "duration_s": c.duration_secs,
        "window_s": c.window_secs,
        "partitions_start": c.partitions,
        "partitions_end": r.final_partitions(),
        "splits": r.splits(),
        "scale": c.scale,
        "seed": c.seed,
        "mean_rcu": r.mean_read_units,
        "mean_wcu": r.mean_write_units,
        "offered": r.offered(),
        "throttled": r.throttled(),
        "throttled_pct": (r.throttled_pct() * 1000.0).round() / 1000.0,
        "mean_imbalance": (r.mean_imbalance() * 1000.0).round() / 1000.0,
        "adapt_secs": r.adapt_secs,
        "adapt_mean_s": adapt.map(|a| a.0),
        "cost_usd": r.cost_usd,
        "on_demand_usd": r.on_demand_usd,
        "provisioned_mean_usd": r.provisioned_mean_usd,
        "heat_last_window_vs_mean": r.heat.iter().map(|h| (h * 1000.0).round() / 1000.0).collect::<Vec<_>>(),
        "windows": windows,
    })
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Runs every configuration in order (single-threaded: the capacity layer's sampling RNG is
/// per thread, so the order fixes every draw), reporting progress (a bar on a terminal, a
/// line per configuration on stderr otherwise, nothing with `quiet`).
pub fn run_all(configs: &[SimConfig], quiet: bool) -> Result<Vec<RunResult>, String> {
    let mut out = Vec::with_capacity(configs.len());
    let bar = crate::progress::StudyBar::new(quiet, configs.len());
    let t0 = Instant::now();
    for (i, c) in configs.iter().enumerate() {
        let t = Instant::now();
        bar.start(&format!(
            "{} {} {}",
            c.label,
            c.strategy.name(),
            c.policy.name()
        ));
        let r = crate::sim::run(c)?;
        bar.done(&format!(
            "[{:>3}/{}] {:<22} {:<15} {:<15} throttled {:>6.2}%  splits {:>3}  ({:.2}s, total {:.1}s)",
            i + 1,
            configs.len(),
            c.label,
            c.strategy.name(),
            c.policy.name(),
            r.throttled_pct(),
            r.splits(),
            t.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64()
        ));
        out.push(r);
    }
    bar.finish();
    Ok(out)
}

/// Writes summary.csv, windows.csv, heat.csv, study.json, summary.md and the SVG plots.
pub fn write_outputs(dir: &Path, params: &Value, runs: &[RunResult]) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut summary = String::from(SUMMARY_HEADER);
    summary.push('\n');
    let mut windows = String::from(WINDOWS_HEADER);
    windows.push('\n');
    let mut heat = String::from("workload,strategy,policy,rank,load_vs_mean\n");
    for r in runs {
        summary.push_str(&summary_row(r));
        summary.push('\n');
        for w in window_rows(r) {
            windows.push_str(&w);
            windows.push('\n');
        }
        for (i, h) in r.heat.iter().enumerate() {
            let c = &r.config;
            let _ = writeln!(
                heat,
                "{},{},{},{},{:.3}",
                c.label,
                c.strategy.name(),
                c.policy.name(),
                i,
                h
            );
        }
    }
    write(&dir.join("summary.csv"), &summary)?;
    write(&dir.join("windows.csv"), &windows)?;
    write(&dir.join("heat.csv"), &heat)?;
    // Compact, one run per line: diffable and a third of the pretty-printed size.
    let mut text = format!(
        "{{\"params\":{},\"runs\":[\n",
        serde_json::to_string(params).map_err(|e| e.to_string())?
    );
    for (i, r) in runs.iter().enumerate() {
        if i > 0 {
            text.push_str(",\n");
        }
        text.push_str(&serde_json::to_string(&run_json(r)).map_err(|e| e.to_string())?);
    }
    text.push_str("\n]}\n");
    serde_json::from_str::<Value>(&text).map_err(|e| format!("study.json: {e}"))?;
    write(&dir.join("study.json"), &text)?;
    write(&dir.join("summary.md"), &summary_md(runs))?;
    write_plots(dir, runs)
}

fn labels(runs: &[RunResult]) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for r in runs {
        if !v.contains(&r.config.label) {
            v.push(r.config.label.clone());
        }
    }
    v
}

fn find<'a>(runs: &'a [RunResult], l: &str, s: Strategy, p: Policy) -> Option<&'a RunResult> {
    runs.iter()
        .find(|r| r.config.label == l && r.config.strategy == s && r.config.policy == p)
}

/// One series per strategy of `f(window, window seconds)` over time, for one workload and
/// policy.
fn per_strategy(
    runs: &[RunResult],
    l: &str,
    p: Policy,
    f: impl Fn(&Window, f64) -> f64,
) -> Vec<Series> {
    Strategy::ALL
        .iter()
        .filter_map(|&s| find(runs, l, s, p))
        .map(|r| Series {
            name: r.config.strategy.name().into(),
            points: r
                .windows
                .iter()
                .map(|w| {
                    let secs = r.config.window_secs.max(1) as f64;
                    (w.t_end_secs as f64, f(w, secs))
                })
                .collect(),
        })
        .collect()
}

fn write_plots(dir: &Path, runs: &[RunResult]) -> Result<(), String> {
    for l in labels(runs) {
        for p in Policy::ALL {
            let series = per_strategy(runs, &l, p, |w, _| 100.0 * w.throttle_rate());
            if series.is_empty() {
                continue;
            }
            let svg = line_chart(
                &format!("Throttled % over time: {l}, {}", p.name()),
                "simulated seconds",
                "throttled requests (%)",
                &series,
                false,
            )?;
            write(&dir.join(format!("throttle_{l}_{}.svg", p.name())), &svg)?;
            // Every run of a workload is offered the same rate.
            let rate = runs
                .iter()
                .find(|r| r.config.label == l && r.config.policy == p)
                .map_or(0, |r| r.config.rate);
            let series = per_strategy(runs, &l, p, |w, secs| w.admitted as f64 / secs);
            let svg = line_chart(
                &format!(
                    "Admitted ops/s over time: {l}, {} (offered {rate})",
                    p.name()
                ),
                "simulated seconds",
                "admitted ops/s",
                &series,
                false,
            )?;
            write(&dir.join(format!("throughput_{l}_{}.svg", p.name())), &svg)?;
        }
        // Heat: the adaptive-provisioned runs when the label has them, else its first policy.
        let hp = if runs
            .iter()
            .any(|r| r.config.label == l && r.config.policy == Policy::ProvAdaptive)
        {
            Policy::ProvAdaptive
        } else {
            runs.iter()
                .find(|r| r.config.label == l)
                .map_or(Policy::ProvAdaptive, |r| r.config.policy)
        };
        let heat: Vec<Series> = Strategy::ALL
            .iter()
            .filter_map(|&s| find(runs, &l, s, hp))
            .map(|r| Series {
                name: r.config.strategy.name().into(),
                points: r
                    .heat
                    .iter()
                    .enumerate()
                    .map(|(i, h)| (i as f64, *h))
                    .collect(),
            })
            .collect();
        for s in [
            Strategy::FixedHash,
            Strategy::Consistent,
            Strategy::KeyRange,
        ] {
            let Some(r) = find(runs, &l, s, hp) else {
                continue;
            };
            if l.starts_with("ycsb-") {
                continue;
            }
            let svg = heatmap(
                &format!(
                    "Per-partition offered load / mean: {l}, {}, {}",
                    s.name(),
                    hp.name()
                ),
                "simulated seconds",
                r.config.window_secs as f64,
                &r.window_heat,
                3.0,
            )?;
            write(&dir.join(format!("heatmap_{l}_{}.svg", s.name())), &svg)?;
        }
        if !heat.is_empty() {
            let svg = line_chart(
                &format!(
                    "Per-partition offered load, last window: {l}, {}",
                    hp.name()
                ),
                "partition (hottest first)",
                "load / mean partition load",
                &heat,
                true,
            )?;
            write(&dir.join(format!("heat_{l}.svg")), &svg)?;
        }
        let parts: Vec<Series> = Policy::ALL
            .iter()
            .filter_map(|&p| find(runs, &l, Strategy::SplitForHeat, p))
            .map(|r| Series {
                name: r.config.policy.name().into(),
                points: r
                    .windows
                    .iter()
                    .map(|w| (w.t_end_secs as f64, w.partitions as f64))
                    .collect(),
            })
            .collect();
        if !parts.is_empty() {
            let svg = line_chart(
                &format!("Partition count over time, split-for-heat: {l}"),
                "simulated seconds",
                "partitions",
                &parts,
                false,
            )?;
            write(&dir.join(format!("partitions_{l}.svg")), &svg)?;
        }
    }
    Ok(())
}

/// Markdown tables of the summary (regenerated with the data).
pub fn summary_md(runs: &[RunResult]) -> String {
    let mut s = String::from(
        "# Partitioning study: summary tables\n\nGenerated by `hashlog-bench study`; do not edit. \
         Method and discussion: docs/STUDY.md.\n\n",
    );
    for l in labels(runs) {
        let _ = writeln!(s, "## {l}\n");
        s.push_str(
            "| strategy | policy | throttled % | partition / table throttles | mean imbalance | \
             partitions end | splits | adapt (s) | cost $/h | on-demand $/h |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in runs.iter().filter(|r| r.config.label == l) {
            let adapt = r
                .adapt_summary()
                .map(|(m, ok, n)| format!("{m:.0} ({ok}/{n})"))
                .unwrap_or_else(|| "–".into());
            let _ = writeln!(
                s,
                "| {} | {} | {:.2} | {} / {} | {:.2} | {} | {} | {} | {:.4} | {:.4} |",
                r.config.strategy.name(),
                r.config.policy.name(),
                r.throttled_pct(),
                r.windows.iter().map(|w| w.throttled_partition).sum::<u64>(),
                r.windows.iter().map(|w| w.throttled_table).sum::<u64>(),
                r.mean_imbalance(),
                r.final_partitions(),
                r.splits(),
                adapt,
                r.cost_usd * 3600.0 / r.config.duration_secs.max(1) as f64,
                r.on_demand_usd * 3600.0 / r.config.duration_secs.max(1) as f64
            );
        }
        s.push('\n');
    }
    s
}

/// Generator throughput (keys/s) per distribution, single thread; timing, so not part of
/// the deterministic outputs.
pub fn generator_throughput(records: u64, draws: u64) -> Vec<(String, f64)> {
    generator_throughput_cpu(records, draws, &|| std::time::Duration::ZERO)
        .into_iter()
        .map(|(d, wall, _)| (d, wall))
        .collect()
}

/// Like [`generator_throughput`], also per second of `cpu_time` (a CPU-time clock of the
/// process), which other tenants of the machine do not dilute: (name, keys per wall
/// second, keys per CPU second).
pub fn generator_throughput_cpu(
    records: u64,
    draws: u64,
    cpu_time: &dyn Fn() -> std::time::Duration,
) -> Vec<(String, f64, f64)> {
    let dists = [
        Distribution::Uniform,
        Distribution::Zipfian { theta: 0.99 },
        Distribution::ScrambledZipfian { theta: 0.99 },
        Distribution::Hotspot {
            hot_key_fraction: 0.2,
            hot_op_fraction: 0.8,
        },
        Distribution::Latest { theta: 0.99 },
    ];
    dists
        .iter()
        .map(|d| {
            let g = KeyGen::new(*d, records);
            let mut rng = SmallRng::seed_from_u64(1);
            let (t, c) = (Instant::now(), cpu_time());
            let mut acc = 0u64;
            for _ in 0..draws {
                acc = acc.wrapping_add(g.next(&mut rng, records - 1));
            }
            std::hint::black_box(acc);
            let (wall, cpu) = (t.elapsed(), cpu_time().saturating_sub(c));
            (
                dist_name(d),
                draws as f64 / wall.as_secs_f64(),
                draws as f64 / cpu.as_secs_f64().max(1e-9),
            )
        })
        .collect()
}
