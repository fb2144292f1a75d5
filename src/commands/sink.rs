//! `sink replay`: queues already-applied corrections of a date range for one sink and delivers
//! them, so a sink added later receives what it missed. Idempotent by key: a correction the sink
//! already had queued or delivered is not queued again.

use chrono::Utc;

use crate::cli::{GlobalArgs, SinkReplayArgs};
use crate::commands::SharedClock;
use crate::commands::job::{Job, load_config, unlock};
use crate::exit::{ExitKind, Outcome};

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
