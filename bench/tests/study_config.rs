//! `study --config bench/study.toml` runs the default matrix: the same bytes as `study`
//! without a file, with flags given on the command line overriding the file's values.

use std::path::Path;
use std::process::Command;

fn study(dir: &Path, extra: &[&str]) -> Vec<Vec<u8>> {
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args([
            "study",
            "--duration",
            "40",
            "--shift-every",
            "20",
            "--rate",
            "100",
        ])
        .args([
            "--window",
            "10",
            "--records",
            "2000",
            "--no-gen-bench",
            "--quiet",
        ])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .output()
        .expect("run hashlog-bench");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    ["summary.csv", "windows.csv", "heat.csv"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("output file"))
        .collect()
}

#[test]
fn shipped_config_reproduces_the_default_matrix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("study.toml");
    let file = file.to_str().expect("utf-8 path");
    let flags = study(&tmp.path().join("flags"), &[]);
    let config = study(&tmp.path().join("config"), &["--config", file]);
    for (i, name) in ["summary.csv", "windows.csv", "heat.csv"]
        .iter()
        .enumerate()
    {
        assert!(flags[i] == config[i], "{name} differs with --config");
    }
    // The file's seed (42) is used unless --seed is on the command line.
    let seeded = study(
        &tmp.path().join("seeded"),
        &["--config", file, "--seed", "5"],
    );
    assert_ne!(seeded[1], config[1], "--seed did not override the file");
}

#[test]
fn a_config_with_a_bad_field_fails_naming_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.toml");
    std::fs::write(
        &file,
        "[[matrix]]\nworkloads = [\"A\"]\ndistributions = [\"uniform\"]\n\
         policies = [\"prov-even\"]\nstrategies = [\"fixed-hash\", \"modulo\"]\n",
    )
    .expect("write");
    let st = Command::new(env!("CARGO_BIN_EXE_hashlog-bench"))
        .args(["study", "--no-gen-bench", "--quiet", "--config"])
        .arg(&file)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .output()
        .expect("run hashlog-bench");
    assert!(!st.status.success());
    let err = String::from_utf8_lossy(&st.stderr);
    assert!(
        err.contains("matrix[0].strategies[1]") && err.contains("modulo"),
        "{err}"
    );
    assert!(
        !tmp.path().join("out").exists(),
        "outputs written despite the error"
    );
}
