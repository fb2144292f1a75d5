//! `report --output FILE` without `--format` writes the format the file's extension names
//! (issue "reports for HR": an `.html` file used to receive the plain text report); an explicit
//! `--format` wins; an extension that names no format is a configuration error (exit 78) before
//! the store is even looked at. The CSV written to a file is the one accounting opens in Excel:
//! UTF-8 with a byte-order mark.

use crate::support::bin::{Rig, assert_code, stderr, stdout};

/// A rig after one nightly run, so the store holds a report with corrections.
async fn after_a_run(seed: u64) -> Rig {
    let rig = Rig::new(seed).await;
    assert_code(&rig.bin(&["run"]).await, 0);
    rig
}

/// What `report --format FORMAT` prints on stdout.
async fn printed(rig: &Rig, format: &str) -> Vec<u8> {
    let output = rig.bin(&["report", "--format", format]).await;
    assert_code(&output, 0);
    output.stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_files_extension_picks_the_format_and_an_explicit_format_wins() {
    // Arrange.
    let rig = after_a_run(47).await;
    let file = |name: &str| rig.dir.path().join(name).display().to_string();

    // Act + assert: each extension writes what `--format` of its format prints, nothing on
    // stdout.
    for (name, format) in [
        ("report.html", "html"),
        ("report.htm", "html"),
        ("report.CSV", "csv"),
        ("report.md", "markdown"),
        ("report.json", "json"),
        ("report.txt", "text"),
    ] {
        let output = rig.bin(&["report", "--output", &file(name)]).await;
        assert_code(&output, 0);
        assert_eq!(stdout(&output), "", "{name}");
        let written = std::fs::read(file(name)).expect("the report file is written");
        assert_eq!(
            written,
            printed(&rig, format).await,
            "{name} holds the {format} report"
        );
    }
    let html = std::fs::read_to_string(file("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    // The CSV file: a UTF-8 byte-order mark, the header, then rows.
    let csv = std::fs::read(file("report.CSV")).unwrap();
    assert!(
        csv.starts_with(b"\xEF\xBB\xBFrun_id,user_id,work_date,"),
        "{}",
        String::from_utf8_lossy(&csv)
    );
    assert!(String::from_utf8(csv).unwrap().lines().count() > 1, "rows");

    // An explicit --format wins over the extension.
    let output = rig
        .bin(&[
            "report",
            "--format",
            "json",
            "--output",
            &file("forced.html"),
        ])
        .await;
    assert_code(&output, 0);
    let written = std::fs::read(file("forced.html")).unwrap();
    assert_eq!(written, printed(&rig, "json").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_file_whose_extension_names_no_format_is_a_configuration_error() {
    let rig = after_a_run(48).await;
    for name in ["report.pdf", "report"] {
        let path = rig.dir.path().join(name);
        let output = rig
            .bin(&["report", "--output", &path.display().to_string()])
            .await;
        assert_code(&output, 78);
        let said = stderr(&output);
        assert!(
            said.contains(".txt, .json, .csv, .md, .html, .htm or .xlsx")
                && said.contains("--format"),
            "{said}"
        );
        assert!(!path.exists(), "{name} is not written");
    }
    let said = stderr(
        &rig.bin(&[
            "report",
            "--output",
            &rig.dir.path().join("report.pdf").display().to_string(),
        ])
        .await,
    );
    assert!(said.contains("\".pdf\""), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extension_is_checked_before_the_store() {
    // No run yet, so no store: a usage mistake is still a configuration error, not "no store".
    let rig = Rig::new(49).await;
    let path = rig.dir.path().join("report.pdf");
    let output = rig
        .bin(&["report", "--output", &path.display().to_string()])
        .await;
    assert_code(&output, 78);
    assert!(!rig.store_path().exists(), "no store created");
}
