//! Chromium's screenshot helper, which tests of the HTML report use: a small page comes back as a
//! PNG of the window's size.

use crate::support::chromium;

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
