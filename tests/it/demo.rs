//! The README's first command: `dingtalk-reconcile demo`, on a small company so it stays quick;
//! and, in a build without the simulator, what `demo` and `sim` say instead.

use crate::support::bin::binary;

#[cfg(feature = "sim")]
#[test]
fn the_demo_reconciles_a_month_and_matches_the_simulators_truth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = dir.path().join("demo.db");
    let output = binary()
        .args(["demo", "--employees", "12", "--seed", "3", "--store"])
        .arg(&store)
        .env("RECON_LOG", "warn")
        .output()
        .expect("demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\n{stderr}",
        output.status
    );
    // The report is on stdout, the demo's own lines on stderr.
    assert!(stdout.contains("Run #"), "{stdout}");
    assert!(!stdout.contains("demo:"), "{stdout}");
    let verdict = stderr
        .lines()
        .find(|line| line.contains("against the simulator's ground truth"))
        .unwrap_or_else(|| panic!("no verdict line in\n{stderr}"));
    assert!(verdict.contains(", 0 wrong"), "{verdict}");
    let (found, of) = verdict
        .split("ground truth: ")
        .nth(1)
        .and_then(|rest| rest.split(" found").next())
        .and_then(|counts| counts.split_once(" of "))
        .expect("found/of counts");
    assert_eq!(found, of, "{verdict}");
    assert!(store.exists());
    assert!(store.with_extension("toml").exists());
}

#[cfg(not(feature = "sim"))]
#[test]
fn without_the_simulator_demo_and_sim_say_the_build_lacks_it_and_exit_78() {
    for args in [&["demo"][..], &["sim", "--port", "8900"][..]] {
        let output = binary().args(args).output().expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{args:?}: {stderr}");
        assert!(stderr.contains("--features sim"), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}
