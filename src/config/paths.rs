//! Checks of configured output paths against the file system, made when a job opens, before any
//! DingTalk call: a path that cannot be written fails then, naming its key, rather than after the
//! run's calls were spent.
//!
//! The store's path is checked by the store itself (`store::Error::Unusable`, which the commands
//! turn into a [`ConfigError::Unusable`] naming `store.path`); this module checks files the job
//! replaces whole, such as the metrics textfile.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use super::ConfigError;

/// Checks that the file at `path` (the value of config key `key`) can be replaced the way the
/// job writes it: a temporary file created beside it, then renamed over it. So the directory must
/// exist and take a new file, and the path must not be a directory. The probe file is removed.
pub(crate) fn check_output_file(key: &str, path: &Path) -> Result<(), ConfigError> {
    let unusable = |problem: String, expected: &str| ConfigError::Unusable {
        key: key.to_owned(),
        value: path.display().to_string(),
        problem,
        expected: expected.to_owned(),
    };
    let Some(file_name) = path.file_name() else {
        return Err(unusable(
            "it names no file".into(),
            "the path of a file, e.g. /var/lib/node_exporter/dingtalk_reconcile.prom",
        ));
    };
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let expected_directory = "a file in an existing directory this user can write";
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => {}
        Ok(_) => {
            return Err(unusable(
                format!("{} is not a directory", directory.display()),
                expected_directory,
            ));
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(unusable(
                format!("its directory {} does not exist", directory.display()),
                expected_directory,
            ));
        }
        Err(err) => {
            return Err(unusable(
                format!(
                    "its directory {} cannot be read ({err})",
                    directory.display()
                ),
                expected_directory,
            ));
        }
    }
    if path.is_dir() {
        return Err(unusable(
            "it is a directory".into(),
            "the path of a file, not a directory",
        ));
    }
    let probe = directory.join(format!(
        ".{}.{}.check",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    match OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(file) => {
            drop(file);
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(err) => Err(unusable(
            format!(
                "a file cannot be created in its directory {} ({err})",
                directory.display()
            ),
            expected_directory,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_refused(path: &Path, problem: &str) {
        let err = check_output_file("metrics.textfile", path).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`metrics.textfile`"), "{text}");
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains(problem), "{text}");
        assert!(text.contains("expected"), "{text}");
    }

    #[test]
    fn a_file_in_a_writable_directory_passes_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        check_output_file("metrics.textfile", &dir.path().join("m.prom")).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_a_file_for_a_directory_and_a_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        check_refused(
            &dir.path().join("absent").join("m.prom"),
            "absent does not exist",
        );
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "x").unwrap();
        check_refused(&plain.join("m.prom"), "is not a directory");
        check_refused(dir.path(), "it is a directory");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_directory_that_takes_no_new_file_is_refused() {
        // /proc refuses new files even to root.
        check_refused(Path::new("/proc/m.prom"), "cannot be created");
    }
}
