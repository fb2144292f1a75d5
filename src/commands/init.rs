//! `init`: writes the commented example configuration as a starting point. Never overwrites.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

use crate::cli::InitArgs;
use crate::exit::{ExitKind, Outcome};

/// The shipped example, every key commented (the same file the config tests parse).
const EXAMPLE: &str = include_str!("../../dingtalk-reconcile.example.toml");

/// `init [--output FILE]`.
pub(crate) fn init(args: &InitArgs) -> anyhow::Result<Outcome> {
    write_new(&args.output, EXAMPLE)?;
    crate::telemetry::say(&format!(
        "wrote {path}: a starting configuration.\n\
         next: set [dingtalk] app_key and app_secret (or DINGTALK_APP_KEY / DINGTALK_APP_SECRET), \
         the 补卡 process codes and [scope], then check it against the organisation with \
         `dingtalk-reconcile --config {path} doctor` (and `doctor --probe`)",
        path = args.output.display()
    ));
    Ok(Outcome::Done)
}

/// Creates `path` with `text`, readable by its owner only (it will hold the app secret), and
/// refuses if anything exists there already.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = match options.open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(anyhow::Error::new(ExitKind::Failed).context(format!(
                "{} already exists: not overwritten (edit it, or write elsewhere with --output FILE)",
                path.display()
            )));
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot create {}", path.display()));
        }
    };
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_example_owner_only_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new.toml");
        write_new(&path, EXAMPLE).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), EXAMPLE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "mine").unwrap();
        let error = write_new(&path, EXAMPLE).unwrap_err();
        assert_eq!(crate::exit::code_for(&error), crate::exit::FAILED);
        assert!(format!("{error:#}").contains("already exists"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "mine");
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("no/such/dir/new.toml");
        let error = write_new(&path, EXAMPLE).unwrap_err();
        assert!(format!("{error:#}").contains("no/such/dir/new.toml"));
    }
}
