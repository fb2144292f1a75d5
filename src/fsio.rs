//! Writing the files that hold personal data (reports written by `report --output`, the file
//! sink's JSON lines, the metrics textfile): the one place that decides their permissions.
//!
//! The rule: a file this program creates is created owner-only, mode `0600` on Unix (the umask
//! can only take bits away). A file that already exists keeps its mode: the administrator may
//! have chosen it on purpose (`0640` for a group that reads the reports, `0644` so that
//! node_exporter's textfile collector, running as another user, can read the metrics). An
//! atomic replace (a temporary file renamed over the target) carries the replaced file's mode
//! over for the same reason; a new target gets `0600`. The SQLite store creates its own file
//! `0600` (`store::open`), and SQLite gives its `-wal` and `-shm` files the database file's mode.
//!
//! On other platforms files are created with the platform's defaults. This module does not
//! choose paths, create directories or decide what goes in a file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The mode of every file this program creates on Unix: read and write for the owner only.
pub(crate) const PRIVATE_MODE: u32 = 0o600;

/// Writes `bytes` to `path`, replacing its content; a new file is created owner-only, an
/// existing one keeps its mode.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    let mut file = private(&mut options).open(path)?;
    file.write_all(bytes)?;
    file.flush()
}

/// Opens `path` for reading and appending, creating it owner-only when missing; an existing
/// file keeps its mode.
pub(crate) fn open_append_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).create(true);
    private(&mut options).open(path)
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same directory, written
/// and fsynced, given the mode of the file it replaces (owner-only when there is none), renamed
/// over `path`; then the directory is fsynced. A reader sees the old content or the new, never a
/// part.
pub(crate) fn write_private_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        )
    })?;
    let temp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    // A temporary file left by a crashed process of the same id is ours to replace.
    let _ = fs::remove_file(&temp);
    let result = write_and_rename(&temp, path, bytes);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result?;
    sync_dir(&dir)
}

fn write_and_rename(temp: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    let mut file = private(&mut options).open(temp)?;
    file.write_all(bytes)?;
    match fs::metadata(target) {
        Ok(existing) => file.set_permissions(existing.permissions())?,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    file.sync_all()?;
    drop(file);
    fs::rename(temp, target)
}

/// `options` creating files owner-only (on Unix; unchanged elsewhere).
fn private(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(PRIVATE_MODE);
    }
    options
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_file_is_owner_only_whichever_way_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (written, appended, atomic) = (
            dir.path().join("report.csv"),
            dir.path().join("corrections.jsonl"),
            dir.path().join("metrics.prom"),
        );
        write_private(&written, b"a,b\r\n").unwrap();
        open_append_private(&appended)
            .unwrap()
            .write_all(b"{}\n")
            .unwrap();
        write_private_atomic(&atomic, b"up 1\n").unwrap();
        for path in [&written, &appended, &atomic] {
            assert_eq!(mode(path), 0o600, "{}", path.display());
        }
        assert_eq!(fs::read(&atomic).unwrap(), b"up 1\n");
    }

    #[test]
    fn an_existing_file_keeps_the_mode_its_administrator_chose() {
        let dir = tempfile::tempdir().unwrap();
        let (written, appended, atomic) = (
            dir.path().join("report.csv"),
            dir.path().join("corrections.jsonl"),
            dir.path().join("metrics.prom"),
        );
        for path in [&written, &appended, &atomic] {
            fs::write(path, "old\n").unwrap();
            chmod(path, 0o644);
        }
        write_private(&written, b"new\n").unwrap();
        open_append_private(&appended)
            .unwrap()
            .write_all(b"more\n")
            .unwrap();
        write_private_atomic(&atomic, b"new\n").unwrap();
        for path in [&written, &appended, &atomic] {
            assert_eq!(mode(path), 0o644, "{}", path.display());
        }
        assert_eq!(fs::read_to_string(&written).unwrap(), "new\n");
        assert_eq!(fs::read_to_string(&appended).unwrap(), "old\nmore\n");
        assert_eq!(fs::read_to_string(&atomic).unwrap(), "new\n");
    }

    #[test]
    fn an_atomic_write_leaves_no_temporary_file_behind_even_after_a_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("metrics.prom");
        let stale = dir
            .path()
            .join(format!(".metrics.prom.{}.tmp", std::process::id()));
        fs::write(&stale, "stale").unwrap();
        write_private_atomic(&target, b"fresh\n").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["metrics.prom"]);
        assert_eq!(mode(&target), 0o600);
    }
}
