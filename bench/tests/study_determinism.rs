//! The simulated study is deterministic for a seed: two processes write byte-identical CSV,
//! JSON and SVG plots, and another seed writes different numbers.

use std::path::Path;
use std::process::Command;

fn study(dir: &Path, seed: u64) -> Vec<Vec<u8>> {
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args([
            "study",
            "--duration",
            "120",
            "--shift-every",
            "60",
            "--rate",
            "500",
        ])
        .args(["--partitions", "8", "--window", "10", "--no-gen-bench"])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(dir)
        .output()
        .expect("run hashlog-bench");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    ["summary.csv", "windows.csv", "heat.csv", "study.json"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("output file"))
        .collect()
}

/// The SVG files of an output directory, sorted by name.
fn svgs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .map(|p| {
            let name = p.file_name().expect("name").to_string_lossy().into_owned();
            (name, std::fs::read(&p).expect("svg"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let a = study(&tmp.path().join("a"), 7);
    let b = study(&tmp.path().join("b"), 7);
    let c = study(&tmp.path().join("c"), 8);
    for (i, name) in ["summary.csv", "windows.csv", "heat.csv", "study.json"]
        .iter()
        .enumerate()
    {
        assert!(
            a[i] == b[i],
            "{name} differs between two runs with one seed"
        );
    }
    assert_ne!(a[1], c[1], "windows.csv ignores the seed");
    // The plots are deterministic too: same files, same bytes.
    let (sa, sb) = (svgs(&tmp.path().join("a")), svgs(&tmp.path().join("b")));
    assert_eq!(
        sa.iter().map(|s| &s.0).collect::<Vec<_>>(),
        sb.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    for ((name, x), (_, y)) in sa.iter().zip(&sb) {
        assert!(x == y, "{name} differs between two runs with one seed");
    }
    // Every kind of plot is drawn: throttled % and admitted ops/s over time per strategy,
    // per-partition heat (last window, and over time), partition count over time.
    for kind in [
        "throttle_",
        "throughput_",
        "heat_",
        "heatmap_",
        "partitions_",
    ] {
        assert!(
            sa.iter().any(|(n, _)| n.starts_with(kind)),
            "no {kind}*.svg"
        );
    }
    assert!(sa
        .iter()
        .all(|(n, s)| s.starts_with(b"<svg") && s.ends_with(b"</svg>\n") && !n.is_empty()));
    let summary = String::from_utf8_lossy(&a[0]);
    // 4 distributions × 4 policies × 4 strategies, YCSB A–F × 4 strategies, the header.
    assert_eq!(summary.lines().count(), 64 + 24 + 1);
}
