//! Files holding personal data are created owner-only (issue 10, weak spot "report, sink and
//! metrics files are 0644"): the real binary's report file, file sink, metrics textfile and
//! store (with SQLite's `-wal` and `-shm`), each `0600` when the program creates it; a file the
//! administrator gave another mode keeps it.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::bin::{Rig, assert_code};

/// The permission bits in octal, e.g. `600`.
fn mode(path: &Path) -> String {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", mode & 0o777)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_sink_metrics_and_store_files_are_created_owner_only() {
    // Arrange: a run delivering to a file sink, with the metrics textfile.
    let rig = Rig::new(43).await;
    let sink = rig.dir.path().join("corrections.jsonl");
    rig.write_config(&format!(
        "[[sink]]\nname = \"drop\"\nkind = \"file\"\npath = {:?}\n",
        sink.display().to_string()
    ));

    // Act.
    assert_code(&rig.bin(&["run"]).await, 0);
    let report = rig.dir.path().join("report.csv");
    let output = rig
        .bin(&[
            "report",
            "--format",
            "csv",
            "--output",
            &report.display().to_string(),
        ])
        .await;
    assert_code(&output, 0);

    // Assert: every file the program created is owner-only.
    assert!(
        std::fs::read_to_string(&sink).unwrap().lines().count() > 0,
        "the run delivered corrections to the file sink"
    );
    for path in [&sink, &report, &rig.metrics_path(), &rig.store_path()] {
        assert_eq!(mode(path), "600", "{}", path.display());
    }
    // SQLite's WAL and shared-memory files, while a connection holds them, have the store's mode.
    // (Opening reads the store's identity and schema version.)
    let _store = rig.store();
    for suffix in ["-wal", "-shm"] {
        let path = with_suffix(&rig.store_path(), suffix);
        assert_eq!(mode(&path), "600", "{}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_file_the_administrator_opened_up_keeps_its_mode() {
    let rig = Rig::new(44).await;
    assert_code(&rig.bin(&["run"]).await, 0);
    let report = rig.dir.path().join("report.txt");
    std::fs::write(&report, "last week's report\n").unwrap();
    std::fs::set_permissions(&report, std::fs::Permissions::from_mode(0o640)).unwrap();

    let output = rig
        .bin(&["report", "--output", &report.display().to_string()])
        .await;

    assert_code(&output, 0);
    assert_eq!(mode(&report), "640");
    let text = std::fs::read_to_string(&report).unwrap();
    assert!(
        text.starts_with("考勤核对报告 · 运行 #1（夜间运行）"),
        "{text}"
    );
}
