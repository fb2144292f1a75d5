//! The file sink: appends one JSON object per correction, one per line (JSON Lines).
//!
//! Exactly once per correction and version, even across a crash between the append and the
//! outbox update: before appending, the file is scanned for the idempotency keys (with their
//! versions) about to be written, and lines already present are not written again. A correction
//! enriched after it was delivered comes again under the same key at its next `version`: a
//! reader keeps, per key, the line of the highest version. A torn last line (a crash mid-append) is left as it is
//! and a newline is written first so the next line starts clean; readers skip lines that are not
//! JSON. Each append is flushed and fsynced before the caller marks the corrections delivered.
//!
//! The file holds personal data: it is created owner-only (`0600` on Unix); a file that already
//! exists keeps the mode its administrator gave it. This module does not rotate or truncate the
//! file.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use serde::Deserialize;

use crate::fsio;
use crate::report::CorrectionLine;

/// What one append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Lines written now.
    pub(crate) written: usize,
    /// Corrections already in the file from an earlier, unacknowledged append.
    pub(crate) already_present: usize,
}

/// Appends `corrections` to the file at `path` (created owner-only if missing; an existing file
/// keeps its mode, see `fsio`), skipping any whose idempotency key and version the file already
/// holds.
pub(crate) fn append(path: &Path, corrections: &[CorrectionLine]) -> io::Result<Appended> {
    let mut file = fsio::open_append_private(path)?;
    let wanted: HashSet<(&str, u32)> = corrections
        .iter()
        .map(|line| (line.idempotency_key.as_str(), line.version))
        .collect();
    let present = keys_present(&mut file, &wanted)?;
    let mut buffer = String::new();
    if !ends_with_newline(&mut file)? {
        buffer.push('\n');
    }
    let mut written = 0;
    let mut seen_now = HashSet::new();
    for line in corrections {
        let key = (line.idempotency_key.clone(), line.version);
        if present.contains(&key) || !seen_now.insert(key) {
            continue;
        }
        let json = serde_json::to_string(line).map_err(io::Error::other)?;
        buffer.push_str(&json);
        buffer.push('\n');
        written += 1;
    }
    if written > 0 {
        file.write_all(buffer.as_bytes())?;
        file.flush()?;
        file.sync_all()?;
    }
    Ok(Appended {
        written,
        already_present: present.len(),
    })
}

#[derive(Deserialize)]
struct KeyOnly {
    idempotency_key: String,
    /// Lines written before corrections had versions are version 1.
    #[serde(default = "first_version")]
    version: u32,
}

fn first_version() -> u32 {
    1
}

/// The subset of `wanted` (key, version) already written to the file.
fn keys_present(
    file: &mut File,
    wanted: &HashSet<(&str, u32)>,
) -> io::Result<HashSet<(String, u32)>> {
    file.seek(SeekFrom::Start(0))?;
    let mut present = HashSet::new();
    for line in BufReader::new(&mut *file).split(b'\n') {
        let line = line?;
        if let Ok(KeyOnly {
            idempotency_key,
            version,
        }) = serde_json::from_slice::<KeyOnly>(&line)
            && wanted.contains(&(idempotency_key.as_str(), version))
        {
            present.insert((idempotency_key, version));
        }
    }
    Ok(present)
}

/// True for an empty file or one whose last byte is `\n`.
fn ends_with_newline(file: &mut File) -> io::Result<bool> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::rich_report;

    #[test]
    fn appending_the_same_corrections_twice_writes_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrections.jsonl");
        let corrections = rich_report().corrections;
        let first = append(&path, &corrections).unwrap();
        assert_eq!(
            first,
            Appended {
                written: 4,
                already_present: 0
            }
        );
        let second = append(&path, &corrections).unwrap();
        assert_eq!(
            second,
            Appended {
                written: 0,
                already_present: 4
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 4);
        let back: CorrectionLine = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(back, corrections[0]);
    }

    #[test]
    fn an_enriched_version_of_a_delivered_correction_is_written_once_more() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrections.jsonl");
        // A line written before corrections had versions counts as version 1.
        let mut first = rich_report().corrections[0].clone();
        let mut legacy: serde_json::Value = serde_json::to_value(&first).unwrap();
        legacy.as_object_mut().unwrap().remove("version");
        std::fs::write(&path, format!("{legacy}\n")).unwrap();
        assert_eq!(append(&path, &[first.clone()]).unwrap().written, 0);
        first.version = 2;
        first.business_id = Some("B-2".into());
        assert_eq!(append(&path, &[first.clone()]).unwrap().written, 1);
        assert_eq!(append(&path, &[first]).unwrap().written, 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_created_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrections.jsonl");
        append(&path, &rich_report().corrections).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn a_torn_last_line_is_left_alone_and_the_next_line_starts_clean() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrections.jsonl");
        std::fs::write(&path, "{\"idempotency_key\":\"torn").unwrap();
        let corrections = rich_report().corrections;
        append(&path, &corrections[..1]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], "{\"idempotency_key\":\"torn");
        assert!(serde_json::from_str::<CorrectionLine>(lines[1]).is_ok());
    }
}
