//! `sink replay`: queues already-applied corrections of a date range for one sink and delivers
//! them, so a sink added later receives what it missed. Idempotent by key: a correction the sink
//! already had queued or delivered is not queued again.

use chrono::Utc;

use crate::cli::{GlobalArgs, SinkInitDbArgs, SinkReplayArgs};
use crate::commands::SharedClock;
use crate::commands::job::{Job, load_config, unlock};
use crate::exit::{ExitKind, Outcome};
use crate::sink::SinkConfig;

/// `sink replay --sink NAME --from DATE --to DATE`.
pub(crate) async fn replay(global: &GlobalArgs, args: &SinkReplayArgs) -> anyhow::Result<Outcome> {
    if args.from > args.to {
        return Err(anyhow::Error::new(ExitKind::Config).context(format!(
            "--from {} is after --to {}: expected from ≤ to",
            args.from, args.to
        )));
    }
    let config = load_config(global)?;
    let mut job = Job::open(config, SharedClock::new(global.as_of))?;
    if !job.sinks.iter().any(|sink| sink.name == args.sink) {
        let names: Vec<&str> = job.sinks.iter().map(|sink| sink.name.as_str()).collect();
        return Err(anyhow::Error::new(ExitKind::Config).context(format!(
            "--sink {:?}: no [[sink]] of that name in the configuration (configured: {})",
            args.sink,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )));
    }
    if let Some(sink) = job
        .sinks
        .iter()
        .find(|sink| sink.name == args.sink && !sink.sends(crate::sink::Delivers::Corrections))
    {
        return Err(anyhow::Error::new(ExitKind::Config).context(format!(
            "--sink {:?}: a {} sink that does not take corrections: expected a sink whose send \
             includes \"corrections\"",
            args.sink,
            sink.kind.name()
        )));
    }
    // Under the run lock: a run delivering at the same time could otherwise hand the same
    // correction to a file sink twice.
    let lock = job.lock(&crate::dingtalk::StopFlag::new())?;
    let replayed = job
        .store
        .outbox_replay(&args.sink, args.from, args.to, Utc::now());
    let replayed = match replayed {
        Ok(replayed) => replayed,
        Err(error) => {
            unlock(lock);
            return Err(anyhow::Error::new(error).context("cannot queue the corrections"));
        }
    };
    let delivery = job.deliver().await;
    unlock(lock);
    let sink = delivery
        .sinks
        .iter()
        .find(|delivery| delivery.sink == args.sink);
    let (delivered, failed) = sink.map_or((0, 0), |sink| (sink.delivered, sink.failed));
    crate::telemetry::say(&format!(
        "sink {name}: {queued} correction(s) of {from} .. {to} queued, {already} it already had; \
         delivered {delivered}, failed {failed}{later}",
        name = args.sink,
        queued = replayed.queued,
        already = replayed.already,
        from = args.from,
        to = args.to,
        later = if failed > 0 {
            " (queued: retried by the next run)"
        } else {
            ""
        },
    ));
    Ok(if failed > 0 {
        Outcome::Partial
    } else {
        Outcome::Done
    })
}

/// `sink init-db --sink NAME`: creates a database sink's default table if it does not exist.
/// Needs only the sink's settings and its URL variable (not DingTalk's credentials, not the
/// store). Exit 78 for a sink that is missing, not a database sink or mapped to the company's
/// own table; 1 when the database refuses.
pub(crate) async fn init_db(global: &GlobalArgs, args: &SinkInitDbArgs) -> anyhow::Result<Outcome> {
    let config = load_config(global)?;
    let config_error = |message: String| anyhow::Error::new(ExitKind::Config).context(message);
    let Some(setting) = config.sinks.iter().find(|sink| sink.name == args.sink) else {
        let names: Vec<&str> = config.sinks.iter().map(|sink| sink.name.as_str()).collect();
        return Err(config_error(format!(
            "--sink {:?}: no [[sink]] of that name in the configuration (configured: {})",
            args.sink,
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        )));
    };
    let sink = SinkConfig::from_setting(setting, |var| std::env::var(var).ok())
        .map_err(|error| anyhow::Error::new(error).context(ExitKind::Config))?;
    let Some((dialect, db)) = sink.database() else {
        return Err(config_error(format!(
            "sink {}: not a database sink: expected kind = \"postgres\" or kind = \"mysql\"",
            sink.name
        )));
    };
    if db.columns.is_some() {
        return Err(config_error(format!(
            "sink {}: table {} is mapped with [sink.columns]: it is the company's own table, \
             init-db creates only the default table (remove [sink.columns] to use it)",
            sink.name, db.table
        )));
    }
    let table = db.table.to_string();
    match sink.create_default_db_table().await {
        Some(Ok(())) => {
            crate::telemetry::say(&format!(
                "{} sink {}: table {table} is ready (created if it did not exist)",
                dialect.kind(),
                sink.name
            ));
            Ok(Outcome::Done)
        }
        Some(Err(message)) => Err(anyhow::Error::new(ExitKind::Failed).context(message)),
        None => Err(config_error(format!(
            "sink {}: not a database sink",
            sink.name
        ))),
    }
}
