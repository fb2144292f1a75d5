//! The HTML report on paper: a month of a 1,500-employee company, rendered by the real binary
//! (`report --month … --format html --output …`) and printed by headless Chromium, fits on at most
//! 20 A4 pages. Also: Chromium's screenshot helper, which other tests of the HTML use.
//!
//! The HTML, its A4 print copy and the PDF are kept under `CARGO_TARGET_TMPDIR` (`target/tmp/`),
//! whose paths the failure message names, so a failed run can be looked at.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::bin::{Rig, assert_code};
use crate::support::chromium;

const SEED: u64 = 47;

/// The company whose month must fit on paper.
const EMPLOYEES: usize = 1_500;

/// The most A4 pages a month's HTML report may print to.
const MAX_PAGES: usize = 20;

/// October 2026 in the weeks it is backfilled.
const WEEKS: [(&str, &str); 5] = [
    ("2026-10-01", "2026-10-07"),
    ("2026-10-08", "2026-10-14"),
    ("2026-10-15", "2026-10-21"),
    ("2026-10-22", "2026-10-28"),
    ("2026-10-29", "2026-10-31"),
];

/// A4 in PDF points (1/72 in): 210 × 297 mm.
const A4_POINTS: (f32, f32) = (595.28, 841.89);

/// A directory under `target/tmp/` for `name`, emptied first; it outlives the test.
fn kept_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("the previous run's directory removed");
    }
    std::fs::create_dir_all(&dir).expect("the kept directory created");
    dir
}

/// `html` with `@page { size: A4 }` as the first rule of the document, so Chromium (which prints
/// on Letter by default) prints on A4 unless the report asks for a page size itself: its own
/// `@page` rules come later and win.
fn on_a4(html: &str) -> String {
    const A4: &str = "<style>@page { size: A4; }</style>";
    let lower = html.to_ascii_lowercase();
    let at = ["<head", "<!doctype"]
        .iter()
        .find_map(|tag| {
            let start = lower.find(tag)?;
            Some(start + lower[start..].find('>')? + 1)
        })
        .unwrap_or(0);
    format!("{}{A4}{}", &html[..at], &html[at..])
}

/// The first page's size in points, from its `MediaBox`.
fn first_page_size(pdf: &Path) -> (f32, f32) {
    let document = lopdf::Document::load(pdf).expect("a readable PDF");
    let (_, page) = document
        .get_pages()
        .into_iter()
        .next()
        .expect("at least one page");
    let dictionary = document.get_dictionary(page).expect("a page dictionary");
    let media_box = dictionary
        .get(b"MediaBox")
        .and_then(lopdf::Object::as_array)
        .expect("a MediaBox on the page");
    let number = |index: usize| media_box[index].as_float().expect("a number");
    (number(2) - number(0), number(3) - number(1))
}

fn is_a4((width, height): (f32, f32)) -> bool {
    let near = |a: f32, b: f32| (a - b).abs() < 2.0;
    (near(width, A4_POINTS.0) && near(height, A4_POINTS.1))
        || (near(width, A4_POINTS.1) && near(height, A4_POINTS.0))
}

fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_month_of_1500_employees_prints_to_at_most_20_a4_pages() {
    let start = Instant::now();
    // October 2026, all 31 days; the rig's clock early on 11-01.
    let rig = Rig::with(SEED, |config| {
        config.employees = EMPLOYEES;
        config.days = 31;
    })
    .await;
    let world = start.elapsed();

    // A week per backfill, as its chunks go: each invocation stays far inside the binary's 60 s
    // timeout on a busy machine.
    for (from, to) in WEEKS {
        let output = rig
            .bin(&["backfill", "--from", from, "--to", to, "--yes"])
            .await;
        assert_code(&output, 0);
    }
    let backfill = start.elapsed() - world;

    let dir = kept_dir("report_print");
    let html_path = dir.join("month.html");
    let output = rig
        .bin(&[
            "report",
            "--month",
            "2026-10",
            "--format",
            "html",
            "--output",
            &html_path.display().to_string(),
        ])
        .await;
    assert_code(&output, 0);
    let render = start.elapsed() - world - backfill;

    let html = std::fs::read_to_string(&html_path).expect("the report was written");
    let print_path = dir.join("month.a4.html");
    std::fs::write(&print_path, on_a4(&html)).expect("the A4 copy written");
    let pdf_path = dir.join("month.pdf");
    chromium::print_to_pdf(&print_path, &pdf_path);
    let pages = chromium::pdf_pages(&pdf_path);
    let print = start.elapsed() - world - backfill - render;
    let size = first_page_size(&pdf_path);

    eprintln!(
        "report_print: {EMPLOYEES} employees, HTML {} bytes, {pages} pages of {size:?} pt; \
         world {}, backfill {}, report {}, print {}, total {}",
        html.len(),
        secs(world),
        secs(backfill),
        secs(render),
        secs(print),
        secs(start.elapsed()),
    );
    assert!(
        is_a4(size),
        "the PDF's pages are {size:?} pt, not A4 {A4_POINTS:?}: {}",
        pdf_path.display()
    );
    assert!(
        pages <= MAX_PAGES,
        "the month's HTML report of {EMPLOYEES} employees ({} bytes) prints to {pages} A4 pages, \
         more than {MAX_PAGES}; HTML {}, as printed {}, PDF {}",
        html.len(),
        html_path.display(),
        print_path.display(),
        pdf_path.display()
    );
}

#[test]
fn a_screenshot_of_a_small_page_is_a_png_of_the_window_size() {
    let dir = tempfile::tempdir().expect("temp dir");
    let html = dir.path().join("page.html");
    std::fs::write(
        &html,
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>t</title></head>\
         <body style=\"background:#fff\"><h1>对账报告</h1><p>A small page.</p></body></html>",
    )
    .expect("page written");
    let png = dir.path().join("page.png");

    chromium::screenshot(&html, &png, 640, 480);

    let bytes = std::fs::read(&png).expect("the screenshot was written");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "the PNG signature");
    assert!(bytes.len() > 1_000, "{} bytes", bytes.len());
    // The IHDR chunk, first after the signature: width and height, big-endian.
    assert_eq!(&bytes[12..16], b"IHDR");
    let dimension = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!((dimension(16), dimension(20)), (640, 480));
}
