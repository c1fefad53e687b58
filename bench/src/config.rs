//! `study --config FILE.toml`: the study's matrix and parameters from a file.
//!
//! Top-level keys set the parameters the flags set (`seed`, `duration`, `rate`, `window`,
//! `records`, `item_size`, `partitions`, `vnodes`, `scale`, `shift_every`); each `[[matrix]]`
//! table is a cross product run in order: for each workload (YCSB letter), each distribution,
//! each policy, each strategy. Labels are the distribution with `:` and `,` turned into `-`
//! (`hotspot:0.2,0.8` → `hotspot-0.2-0.8`), prefixed by `ycsb-X-` when the block lists more
//! than one workload (or `label_ycsb = true`). A distribution `shifting-D` is `D` with the
//! hot set moving every `shift_every` seconds. `bench/study.toml` is the default matrix.

use std::collections::BTreeMap;

use clap::ValueEnum;
use serde::Deserialize;

use crate::keys::Distribution;
use crate::sim::{Policy, Strategy};
use crate::workload::{ItemSize, Ycsb};

/// A study file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    pub seed: Option<u64>,
    /// Simulated seconds per configuration.
    pub duration: Option<u64>,
    /// Offered ops per simulated second.
    pub rate: Option<u64>,
    /// Seconds per reported window.
    pub window: Option<u64>,
    pub records: Option<u64>,
    /// Bytes, or "uniform:MIN-MAX".
    pub item_size: Option<String>,
    pub partitions: Option<usize>,
    pub vnodes: Option<usize>,
    pub scale: Option<u64>,
    pub shift_every: Option<u64>,
    /// The matrix blocks (none: the default matrix).
    #[serde(default)]
    pub matrix: Vec<Matrix>,
}

/// One cross product of the study.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// YCSB workloads, letters A–F.
    pub workloads: Vec<String>,
    /// Key distributions (`uniform`, `zipfian:0.99`, `hotspot:0.2,0.8`, `latest:0.99`,
    /// `scrambled:0.99`), optionally `shifting-` prefixed.
    pub distributions: Vec<String>,
    pub policies: Vec<String>,
    pub strategies: Vec<String>,
    /// Workload letter → the distribution used for it instead of `distributions`.
    #[serde(default)]
    pub distribution_for: BTreeMap<String, String>,
    /// Prefix labels with `ycsb-X-` (default: when the block lists more than one workload).
    pub label_ycsb: Option<bool>,
}

/// One configuration of the matrix, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub label: String,
    pub ycsb: Ycsb,
    pub dist: Distribution,
    pub shifting: bool,
    pub policy: Policy,
    pub strategy: Strategy,
}

fn names<T: ValueEnum>() -> String {
    T::value_variants()
        .iter()
        .filter_map(|v| v.to_possible_value())
        .map(|p| p.get_name().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_enum<T: ValueEnum>(field: &str, s: &str) -> Result<T, String> {
    T::from_str(s, true)
        .map_err(|_| format!("{field}: unknown value {s:?} (one of {})", names::<T>()))
}

/// A distribution entry: (label, distribution, shifting).
fn parse_dist(field: &str, s: &str) -> Result<(String, Distribution, bool), String> {
    let (shifting, d) = match s.strip_prefix("shifting-") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let dist: Distribution = d.parse().map_err(|e| format!("{field}: {e}"))?;
    Ok((s.replace([':', ','], "-"), dist, shifting))
}

fn non_empty(field: &str, v: &[String]) -> Result<(), String> {
    if v.is_empty() {
        Err(format!("{field}: empty list"))
    } else {
        Ok(())
    }
}

/// Every configuration of the blocks, in run order.
pub fn expand(blocks: &[Matrix]) -> Result<Vec<Cell>, String> {
    let mut out = Vec::new();
    for (bi, m) in blocks.iter().enumerate() {
        let f = |name: &str| format!("matrix[{bi}].{name}");
        non_empty(&f("workloads"), &m.workloads)?;
        non_empty(&f("policies"), &m.policies)?;
        non_empty(&f("strategies"), &m.strategies)?;
        let ycsbs = m
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| parse_enum::<Ycsb>(&f(&format!("workloads[{i}]")), w))
            .collect::<Result<Vec<_>, _>>()?;
        let policies = m
            .policies
            .iter()
            .enumerate()
            .map(|(i, p)| parse_enum::<Policy>(&f(&format!("policies[{i}]")), p))
            .collect::<Result<Vec<_>, _>>()?;
        let strategies = m
            .strategies
            .iter()
            .enumerate()
            .map(|(i, s)| parse_enum::<Strategy>(&f(&format!("strategies[{i}]")), s))
            .collect::<Result<Vec<_>, _>>()?;
        let dists = m
            .distributions
            .iter()
            .enumerate()
            .map(|(i, d)| parse_dist(&f(&format!("distributions[{i}]")), d))
            .collect::<Result<Vec<_>, _>>()?;
        let mut overrides: BTreeMap<&'static str, (String, Distribution, bool)> = BTreeMap::new();
        for (k, d) in &m.distribution_for {
            let field = f(&format!("distribution_for.{k}"));
            let y = parse_enum::<Ycsb>(&field, k)?;
            if !ycsbs.contains(&y) {
                return Err(format!("{field}: workload {k} is not in workloads"));
            }
            overrides.insert(y.name(), parse_dist(&field, d)?);
        }
        let prefix = m.label_ycsb.unwrap_or(ycsbs.len() > 1);
        for y in &ycsbs {
            let ds = match overrides.get(y.name()) {
                Some(d) => vec![d.clone()],
                None => {
                    non_empty(&f("distributions"), &m.distributions)?;
                    dists.clone()
                }
            };
            for (label, dist, shifting) in &ds {
                let label = if prefix {
                    format!("ycsb-{}-{label}", y.name())
                } else {
                    label.clone()
                };
                for &policy in &policies {
                    for &strategy in &strategies {
                        out.push(Cell {
                            label: label.clone(),
                            ycsb: *y,
                            dist: *dist,
                            shifting: *shifting,
                            policy,
                            strategy,
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// The default matrix (what `study` runs without `--config`; `bench/study.toml` writes it
/// out): YCSB `first` (A unless `--ycsb`) under four distributions × every policy × every
/// strategy, then YCSB A–F under zipfian 0.99 (D: latest, its YCSB default) with
/// prov-adaptive.
pub fn default_matrix(first: Ycsb) -> Vec<Matrix> {
    let policies = strings(&["prov-even", "prov-adaptive", "prov-autoscale", "on-demand"]);
    let strategies = strings(&["fixed-hash", "consistent", "key-range", "split-for-heat"]);
    vec![
        Matrix {
            workloads: vec![first.name().to_string()],
            distributions: strings(&[
                "uniform",
                "zipfian:0.99",
                "hotspot:0.2,0.8",
                "shifting-zipfian:0.99",
            ]),
            policies,
            strategies: strategies.clone(),
            distribution_for: BTreeMap::new(),
            label_ycsb: None,
        },
        Matrix {
            workloads: strings(&["A", "B", "C", "D", "E", "F"]),
            distributions: strings(&["zipfian:0.99"]),
            policies: strings(&["prov-adaptive"]),
            strategies,
            distribution_for: [("D".to_string(), "latest:0.99".to_string())].into(),
            label_ycsb: None,
        },
    ]
}

/// Reads and checks a study file (matrix and values); errors name the file and the field.
pub fn load(path: &std::path::Path) -> Result<StudyFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and checks a study file's text.
pub fn parse(text: &str) -> Result<StudyFile, String> {
    let f: StudyFile = toml::from_str(text).map_err(|e| e.to_string())?;
    for (name, v) in [
        ("duration", f.duration),
        ("rate", f.rate),
        ("window", f.window),
        ("records", f.records),
        ("scale", f.scale),
        ("shift_every", f.shift_every),
    ] {
        if v == Some(0) {
            return Err(format!("{name}: must be at least 1"));
        }
    }
    for (name, v) in [("partitions", f.partitions), ("vnodes", f.vnodes)] {
        if v == Some(0) {
            return Err(format!("{name}: must be at least 1"));
        }
    }
    if let Some(s) = &f.item_size {
        s.parse::<ItemSize>()
            .map_err(|e| format!("item_size: {e}"))?;
    }
    expand(&f.matrix)?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_study_toml_is_the_default_matrix() {
        let f = load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("study.toml"))
            .expect("bench/study.toml");
        let from_file = expand(&f.matrix).expect("expand");
        let built_in = expand(&default_matrix(Ycsb::A)).expect("expand");
        assert_eq!(from_file, built_in);
        assert_eq!(from_file.len(), 64 + 24);
        // The defaults of the flags.
        assert_eq!(f.seed, Some(42));
        assert_eq!(f.duration, Some(1800));
        assert_eq!(f.rate, Some(2000));
        assert_eq!(f.shift_every, Some(300));
        let labels: Vec<&str> = from_file.iter().map(|c| c.label.as_str()).collect();
        for l in [
            "uniform",
            "zipfian-0.99",
            "hotspot-0.2-0.8",
            "shifting-zipfian-0.99",
            "ycsb-A-zipfian-0.99",
            "ycsb-D-latest-0.99",
        ] {
            assert!(labels.contains(&l), "{l}");
        }
        let d = from_file
            .iter()
            .find(|c| c.label == "ycsb-D-latest-0.99")
            .expect("D");
        assert_eq!(d.dist, Distribution::Latest { theta: 0.99 });
        assert!(from_file
            .iter()
            .any(|c| c.shifting && c.label == "shifting-zipfian-0.99"));
    }

    #[test]
    fn a_small_file_expands_in_order() {
        let f = parse(
            r#"
            seed = 7
            duration = 60
            item_size = "uniform:100-400"
            [[matrix]]
            workloads = ["b"]
            distributions = ["uniform", "shifting-hotspot:0.1,0.9"]
            policies = ["on-demand"]
            strategies = ["fixed-hash", "split-for-heat"]
            "#,
        )
        .expect("parse");
        assert_eq!(f.seed, Some(7));
        let cells = expand(&f.matrix).expect("expand");
        let got: Vec<(&str, Strategy, bool)> = cells
            .iter()
            .map(|c| (c.label.as_str(), c.strategy, c.shifting))
            .collect();
        assert_eq!(
            got,
            [
                ("uniform", Strategy::FixedHash, false),
                ("uniform", Strategy::SplitForHeat, false),
                ("shifting-hotspot-0.1-0.9", Strategy::FixedHash, true),
                ("shifting-hotspot-0.1-0.9", Strategy::SplitForHeat, true),
            ]
        );
        assert!(cells.iter().all(|c| c.ycsb == Ycsb::B));
    }

    fn err(text: &str) -> String {
        parse(text).expect_err("should be rejected")
    }

    const BLOCK: &str = "[[matrix]]\nworkloads = [\"A\"]\ndistributions = [\"uniform\"]\n\
                         policies = [\"on-demand\"]\nstrategies = [\"fixed-hash\"]\n";

    #[test]
    fn bad_fields_are_named() {
        assert!(parse(BLOCK).is_ok());
        let e = err("sed = 1\n");
        assert!(e.contains("unknown field") && e.contains("sed"), "{e}");
        let e = err(&BLOCK.replace("strategies", "strategy"));
        assert!(e.contains("strategy"), "{e}");
        let e = err("duration = \"long\"\n");
        assert!(e.contains("duration"), "{e}");
        let e = err(&BLOCK.replace("fixed-hash", "round-robin"));
        assert!(
            e.contains("matrix[0].strategies[0]") && e.contains("round-robin"),
            "{e}"
        );
        let e = err(&BLOCK.replace("\"uniform\"", "\"uniform\", \"pareto:1\""));
        assert!(e.contains("matrix[0].distributions[1]"), "{e}");
        let e = err(&BLOCK.replace("on-demand", "reserved"));
        assert!(e.contains("matrix[0].policies[0]"), "{e}");
        let e = err(&BLOCK.replace("\"A\"", "\"G\""));
        assert!(e.contains("matrix[0].workloads[0]"), "{e}");
        let e = err(&BLOCK.replace("[\"fixed-hash\"]", "[]"));
        assert!(e.contains("matrix[0].strategies: empty"), "{e}");
        let e = err(&format!("{BLOCK}distribution_for = {{ D = \"latest\" }}\n"));
        assert!(e.contains("matrix[0].distribution_for.D"), "{e}");
        let e = err("window = 0\n");
        assert!(e.starts_with("window:"), "{e}");
        let e = err("item_size = \"big\"\n");
        assert!(e.starts_with("item_size:"), "{e}");
    }
}
