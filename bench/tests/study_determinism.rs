//! The simulated study is deterministic for a seed: two processes write byte-identical CSV
//! (and JSON), and another seed writes different numbers.

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
    let summary = String::from_utf8_lossy(&a[0]);
    // 4 distributions × 4 policies × 4 strategies, YCSB A–F × 4 strategies, the header.
    assert_eq!(summary.lines().count(), 64 + 24 + 1);
}
