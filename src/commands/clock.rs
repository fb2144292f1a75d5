//! A clock that can be moved: `--as-of` replays pin it, the demo moves it night by night.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::domain::Clock;

/// The system clock until [`SharedClock::set`] pins it to an instant.
#[derive(Debug, Clone, Default)]
pub struct SharedClock {
    pinned: Arc<Mutex<Option<DateTime<Utc>>>>,
}

impl SharedClock {
    /// A clock pinned at `at`, or following the system clock when `None`.
    pub fn new(at: Option<DateTime<Utc>>) -> SharedClock {
        SharedClock {
            pinned: Arc::new(Mutex::new(at)),
        }
    }

    /// Pins the clock at `at` (the demo's virtual nights).
    #[cfg(feature = "sim")]
    pub(crate) fn set(&self, at: DateTime<Utc>) {
        *self
            .pinned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(at);
    }
}

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.pinned
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .unwrap_or_else(Utc::now)
    }
}
