//! Headless Chromium, for what only a browser can tell about the HTML report: how many A4 pages
//! it prints to (`print_to_pdf`, `pdf_pages`) and what it looks like (`screenshot`).
//!
//! Chromium is found by [`find`]: the `CHROMIUM` variable if set, else `chromium`,
//! `chromium-browser` or `google-chrome` on `PATH`. A test that needs it fails when it is missing,
//! never passes by skipping: `.ci/run` installs it.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a test says when no Chromium is found.
const MISSING: &str = "Chromium is required: apt-get install chromium; .ci/run installs it \
                       (or point the CHROMIUM variable at a Chromium or Chrome binary)";

/// The executable names looked for on `PATH`, in order.
const NAMES: [&str; 3] = ["chromium", "chromium-browser", "google-chrome"];

/// How long one Chromium invocation may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(120);

/// The Chromium binary: `CHROMIUM` if set (it must name an executable file), else the first of
/// `chromium`, `chromium-browser`, `google-chrome` on `PATH`. Panics with how to install it when
/// there is none, in CI (`CI` set) as anywhere else.
pub(crate) fn find() -> PathBuf {
    if let Some(explicit) = std::env::var_os("CHROMIUM").filter(|value| !value.is_empty()) {
        let path = PathBuf::from(&explicit);
        assert!(
            is_executable(&path),
            "CHROMIUM={} is not an executable file. {MISSING}",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in NAMES {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return candidate;
            }
        }
    }
    let ci = if std::env::var_os("CI").is_some() {
        " (CI is set: the CI image must provide it)"
    } else {
        ""
    };
    panic!("{MISSING}; none of {NAMES:?} is on PATH{ci}");
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Runs headless Chromium on `html` with `extra` flags, a profile of its own under `profile` (so
/// concurrent tests do not share one), and checks it exited 0 and wrote `output`.
fn run(html: &Path, output: &Path, profile: &Path, extra: &[String]) {
    let chromium = find();
    let html = html
        .canonicalize()
        .unwrap_or_else(|error| panic!("{}: {error}", html.display()));
    let url = url::Url::from_file_path(&html).expect("an absolute path is a file URL");
    let mut command = assert_cmd::Command::new(&chromium);
    command
        .args([
            "--headless",
            // Root in a CI container has no user namespace sandbox.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url.as_str())
        .timeout(TIMEOUT);
    let result = command.output().unwrap_or_else(|error| {
        panic!(
            "{} could not be run: {error}. {MISSING}",
            chromium.display()
        )
    });
    let stderr = String::from_utf8_lossy(&result.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    assert!(
        result.status.success() && output.is_file(),
        "{} {extra:?} {url} exited {:?} and wrote {}: {}; stderr ends with:\n{}",
        chromium.display(),
        result.status,
        output.display(),
        if output.is_file() {
            "the file"
        } else {
            "nothing"
        },
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// Prints `html` to `pdf` without the header and footer Chromium adds. The paper is the one the
/// document's `@page` rules ask for, else Chromium's default, US Letter.
pub(crate) fn print_to_pdf(html: &Path, pdf: &Path) {
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    run(
        html,
        pdf,
        profile.path(),
        &[
            "--no-pdf-header-footer".to_owned(),
            format!("--print-to-pdf={}", pdf.display()),
        ],
    );
}

/// A screenshot of `html` in a `width` × `height` window, as a PNG at `png`.
pub(crate) fn screenshot(html: &Path, png: &Path, width: u32, height: u32) {
    let profile = tempfile::tempdir().expect("a Chromium profile directory");
    run(
        html,
        png,
        profile.path(),
        &[
            format!("--screenshot={}", png.display()),
            format!("--window-size={width},{height}"),
        ],
    );
}

/// The number of pages of the PDF at `pdf`, from its page tree (lopdf), not from its bytes.
pub(crate) fn pdf_pages(pdf: &Path) -> usize {
    let document = lopdf::Document::load(pdf)
        .unwrap_or_else(|error| panic!("{} is not a readable PDF: {error}", pdf.display()));
    document.get_pages().len()
}
