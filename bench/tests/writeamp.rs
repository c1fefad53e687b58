//! `hashlog-bench writeamp --quick` end to end, at reduced sizes: the table has one row per
//! strategy and distribution, every number parses, and the amplifications are physically
//! possible (every user byte reaches the WAL and an SSTable at least once).

use std::process::Command;

#[test]
fn writeamp_quick_prints_a_parseable_table_with_wa_at_least_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args([
            "writeamp",
            "--quick",
            "--keys",
            "2000",
            "--overwrites",
            "6000",
            "--memtable-kib",
            "256",
        ])
        .output()
        .expect("run hashlog-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    let header: Vec<&str> = stdout
        .lines()
        .find(|l| l.starts_with("| strategy"))
        .expect("header")
        .split('|')
        .map(str::trim)
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name} in {header:?}"))
    };
    let (wa, wa_sst, space, compactions, flushes) = (
        col("WA (WAL+SST)"),
        col("WA (SST)"),
        col("space amp"),
        col("compactions"),
        col("flushes"),
    );
    let mut seen = Vec::new();
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("| leveled") || l.starts_with("| tiered"))
    {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        assert_eq!(cells.len(), header.len(), "{line}");
        let num = |i: usize| -> f64 {
            cells[i]
                .parse()
                .unwrap_or_else(|e| panic!("{line}: cell {i}: {e}"))
        };
        assert!(num(wa) >= 1.0, "WA < 1: {line}");
        assert!(
            num(wa_sst) >= 1.0,
            "SST WA < 1 after flushing everything: {line}"
        );
        assert!(num(wa) > num(wa_sst), "the WAL adds bytes: {line}");
        assert!(num(space) > 0.5, "space amplification: {line}");
        assert!(num(flushes) >= 1.0, "{line}");
        let _ = num(compactions);
        seen.push((cells[1].to_string(), cells[2].to_string()));
    }
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("leveled".to_string(), "uniform".to_string()),
            ("leveled".to_string(), "zipfian".to_string()),
            ("tiered".to_string(), "uniform".to_string()),
            ("tiered".to_string(), "zipfian".to_string()),
        ],
        "{stdout}"
    );
}
