//! Keeping the directory cache fresh: at most once a business day, the names and departments of
//! the scope's people from DingTalk's free contacts calls into the store (`store::people`).
//!
//! A refresh never fails a run. What goes wrong (DingTalk unreachable, a permission point
//! missing, a row refused, an empty directory, the store) is a warning, and the cache stays as it
//! was, to be refreshed by the next run. This module does not decide what a report shows (see
//! `report::build`).

use chrono::{DateTime, Utc};

use super::RunSettings;
use crate::dingtalk::Client;
use crate::quota::local_date;
use crate::store::Store;

/// What [`refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The directory was already refreshed on this business date.
    AlreadyToday,
    /// The directory was read and stored.
    Refreshed {
        people: usize,
        joined: u64,
        moved: u64,
        left: u64,
    },
    /// Something went wrong; a warning was logged and the cache kept.
    Failed,
}

/// Refreshes the directory of `settings.scope` unless it was refreshed on `as_of`'s business
/// date already: free calls only, dated with that business date (see `store::people`).
pub async fn refresh(
    store: &mut Store,
    client: &Client,
    settings: &RunSettings,
    as_of: DateTime<Utc>,
) -> Refresh {
    let on = local_date(as_of, settings.timezone);
    match store.people_refreshed_on() {
        Ok(Some(last)) if last >= on => return Refresh::AlreadyToday,
        Ok(_) => {}
        Err(err) => {
            tracing::warn!(error.message = %err, "people directory not refreshed: the store could not say when it last was");
            return Refresh::Failed;
        }
    }
    let directory = match client.directory(&settings.scope).await {
        Ok(directory) => directory,
        Err(err) => {
            tracing::warn!(
                error.message = %err,
                "people directory not refreshed: reports keep the names and departments already stored"
            );
            return Refresh::Failed;
        }
    };
    if directory.people.is_empty() {
        tracing::warn!(
            "people directory not refreshed: DingTalk listed nobody in the scope, which is taken for a fault rather than everyone leaving"
        );
        return Refresh::Failed;
    }
    match store.upsert_directory(&directory, on, as_of) {
        Ok(changes) => {
            tracing::info!(
                people = directory.people.len(),
                departments = directory.departments.len(),
                joined = changes.joined,
                moved = changes.moved,
                left = changes.left,
                "people directory refreshed"
            );
            Refresh::Refreshed {
                people: directory.people.len(),
                joined: changes.joined,
                moved: changes.moved,
                left: changes.left,
            }
        }
        Err(err) => {
            tracing::warn!(error.message = %err, "people directory not refreshed: the store could not write it");
            Refresh::Failed
        }
    }
}
