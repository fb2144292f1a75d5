//! A quota month DingTalk reported the organisation's monthly quota exhausted in (`90020`).
//!
//! The quota of metered calls is the organisation's, shared by all its internal apps: once
//! DingTalk has said it is spent, every later run of the same quota month (business time zone)
//! would only be refused again. So the first sighting is recorded in the store ([`note`], one
//! row per month) and, while the month's row exists, runs make no metered call: `facts::gather`
//! gives them an allowance of 0, so their whole plan is deferred, and they end partial with
//! [`sentence`]. The next month everything proceeds as usual.
//!
//! [`sentence`] is the one English wording (run errors, `plan`, `status`, the English reports);
//! the Chinese one is `report::present::quota_exhausted`'s.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::dingtalk::Client;
use crate::quota::{YearMonth, local_date, local_midnight};
use crate::store::{self, QuotaExhaustion, Store, business_month};

/// Our own share of the monthly budget below which an exhausted quota is put down to the
/// organisation's other apps, in percent.
pub(crate) const OTHER_APPS_BELOW_PERCENT: u64 = 90;

/// Whether an exhausted quota was spent by the organisation's other apps: our own metered calls
/// of the month are below [`OTHER_APPS_BELOW_PERCENT`] % of our budget.
pub(crate) fn by_other_apps(own_metered: u64, budget: u64) -> bool {
    u128::from(own_metered) * 100 < u128::from(budget) * u128::from(OTHER_APPS_BELOW_PERCENT)
}

/// The quota exhaustion recorded for the quota month of `as_of`, if any: while it exists, runs
/// make no metered call.
pub(crate) fn current(
    store: &Store,
    tz: Tz,
    as_of: DateTime<Utc>,
) -> Result<Option<QuotaExhaustion>, store::Error> {
    store.quota_exhaustion(&business_month(as_of, tz))
}

/// The month of a recorded exhaustion, when its text is one (`YYYY-MM`).
fn month_of(exhaustion: &QuotaExhaustion) -> Option<YearMonth> {
    NaiveDate::parse_from_str(&format!("{}-01", exhaustion.month), "%Y-%m-%d")
        .ok()
        .map(YearMonth::of_date)
}

/// The first day of the month after the exhaustion's: when metered calls resume.
pub(crate) fn resumes_on(exhaustion: &QuotaExhaustion) -> Option<NaiveDate> {
    month_of(exhaustion).map(|month| month.next().first_day())
}

/// The business date the exhaustion was first seen on.
pub(crate) fn seen_on(exhaustion: &QuotaExhaustion, tz: Tz) -> NaiveDate {
    local_date(exhaustion.seen_at, tz)
}

/// `1234567` → `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The one English sentence for a blocked month, e.g. "the organisation's monthly quota of
/// DingTalk calls was exhausted by other apps on 2026-11-10 (our own use: 812 of 5,000);
/// metered calls resume on 2026-12-01".
pub(crate) fn sentence(exhaustion: &QuotaExhaustion, tz: Tz) -> String {
    describe(&Described {
        seen_on: seen_on(exhaustion, tz),
        own_metered: exhaustion.own_metered,
        budget: exhaustion.budget,
        by_other_apps: exhaustion.by_other_apps,
        resumes_on: resumes_on(exhaustion),
    })
}

/// What [`describe`] says of a blocked month.
pub(crate) struct Described {
    /// The business date it was seen on.
    pub(crate) seen_on: NaiveDate,
    pub(crate) own_metered: u64,
    pub(crate) budget: u64,
    pub(crate) by_other_apps: bool,
    pub(crate) resumes_on: Option<NaiveDate>,
}

/// The wording of [`sentence`], from its parts (the English report and `status` hold them).
pub(crate) fn describe(what: &Described) -> String {
    let exhausted = exhausted(what);
    let resumes = match what.resumes_on {
        Some(date) => format!("metered calls resume on {date}"),
        None => "metered calls resume next month".to_owned(),
    };
    format!("the organisation's monthly quota of DingTalk calls was {exhausted}; {resumes}")
}

/// "exhausted by other apps on 2026-11-10 (our own use: 812 of 5,000)" or "exhausted on
/// 2026-11-10, by our own use (4,730 of 5,000)".
fn exhausted(what: &Described) -> String {
    let seen = what.seen_on;
    let (own, budget) = (grouped(what.own_metered), grouped(what.budget));
    if what.by_other_apps {
        format!("exhausted by other apps on {seen} (our own use: {own} of {budget})")
    } else {
        format!("exhausted on {seen}, by our own use ({own} of {budget})")
    }
}

/// What `quota resume` says when it removed `exhaustion` (the [`sentence`] wording, then what
/// happens next), e.g. "2026-11: removed the recorded quota exhaustion (the organisation's
/// monthly quota of DingTalk calls was exhausted by other apps on 2026-11-10 (our own use: 812
/// of 5,000)); the next run makes metered calls again; if DingTalk answers 90020 again, the
/// month is blocked again".
pub(crate) fn resumed(exhaustion: &QuotaExhaustion, tz: Tz) -> String {
    let exhausted = exhausted(&Described {
        seen_on: seen_on(exhaustion, tz),
        own_metered: exhaustion.own_metered,
        budget: exhaustion.budget,
        by_other_apps: exhaustion.by_other_apps,
        resumes_on: None,
    });
    format!(
        "{month}: removed the recorded quota exhaustion (the organisation's monthly quota of \
         DingTalk calls was {exhausted}); the next run makes metered calls again; if DingTalk \
         answers 90020 again, the month is blocked again",
        month = exhaustion.month
    )
}

/// What `quota resume` says when `month` (`YYYY-MM`) has no recorded exhaustion.
pub(crate) fn nothing_to_resume(month: &str) -> String {
    format!(
        "{month}: no quota exhaustion is recorded for this month: nothing to remove; runs make \
         metered calls as usual"
    )
}

/// Lifts the client's quota latch when it was set in an earlier quota month than `as_of`'s (a
/// daemon living into the next month, the month's sighting never recorded): metered calls may
/// be made again. (Once recorded, the latch is lifted by [`note`]: the store's row decides.)
pub(crate) fn lift_stale_latch(client: &Client, tz: Tz, as_of: DateTime<Utc>) {
    let month = YearMonth::of(as_of, tz);
    client.forget_quota_exhausted_before(local_midnight(month.first_day(), tz));
}

/// After a run (or a run that could not be planned): when DingTalk reported the quota
/// exhausted to `client` in the quota month of `as_of` and the store has no row for that month
/// yet, records it — when seen, our own metered count of the month now, the budget, and whether
/// it was the other apps. A store that cannot record it is a warning: the next run meets the
/// answer again and records it then.
///
/// Once the store holds the month's row the client's latch is lifted: from then on the row
/// alone blocks the month (the runs of a long-lived process, the daemon, like those of a fresh
/// one), so a row removed by `quota resume` lets the next run call DingTalk again.
pub(crate) fn note(
    store: &mut Store,
    client: &Client,
    tz: Tz,
    budget: u64,
    as_of: DateTime<Utc>,
    run_id: Option<i64>,
) {
    lift_stale_latch(client, tz, as_of);
    let month = YearMonth::of(as_of, tz);
    let Some(seen_at) = client.quota_exhausted_at() else {
        return;
    };
    let key = business_month(as_of, tz);
    let recorded = store.month_usage(&key).and_then(|usage| {
        let exhaustion = QuotaExhaustion {
            month: key.clone(),
            seen_at: seen_at
                .min(as_of)
                .max(local_midnight(month.first_day(), tz)),
            own_metered: usage.metered,
            budget,
            by_other_apps: by_other_apps(usage.metered, budget),
        };
        store.record_quota_exhaustion(&exhaustion, run_id)
    });
    match recorded {
        Ok(recorded) => {
            if recorded {
                tracing::warn!(
                    month = %key,
                    "the organisation's monthly DingTalk quota is exhausted: no metered call until next month"
                );
            }
            client.forget_quota_exhausted();
        }
        Err(error) => tracing::warn!(
            error.message = %error,
            "cannot record that the monthly quota is exhausted"
        ),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn exhaustion(by_other_apps: bool) -> QuotaExhaustion {
        QuotaExhaustion {
            month: "2026-11".to_owned(),
            // 2026-11-10 02:00 Asia/Shanghai.
            seen_at: Utc
                .with_ymd_and_hms(2026, 11, 9, 18, 0, 0)
                .single()
                .unwrap(),
            own_metered: 812,
            budget: 5_000,
            by_other_apps,
        }
    }

    #[test]
    fn other_apps_below_ninety_percent_of_our_budget() {
        assert!(by_other_apps(0, 5_000));
        assert!(by_other_apps(4_499, 5_000));
        assert!(!by_other_apps(4_500, 5_000));
        assert!(!by_other_apps(5_000, 5_000));
        assert!(!by_other_apps(0, 0));
        assert!(by_other_apps(u64::MAX / 2, u64::MAX), "no overflow");
        assert!(!by_other_apps(u64::MAX - 1, u64::MAX));
    }

    #[test]
    fn the_sentence_names_who_the_business_date_our_use_and_when_it_resumes() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            sentence(&exhaustion(true), tz),
            "the organisation's monthly quota of DingTalk calls was exhausted by other apps on \
             2026-11-10 (our own use: 812 of 5,000); metered calls resume on 2026-12-01"
        );
        let own = QuotaExhaustion {
            own_metered: 4_730,
            month: "2026-12".to_owned(),
            ..exhaustion(false)
        };
        assert!(
            sentence(&own, tz)
                .contains("exhausted on 2026-11-10, by our own use (4,730 of 5,000);"),
            "{}",
            sentence(&own, tz)
        );
        assert!(sentence(&own, tz).ends_with("resume on 2027-01-01"));
        assert_eq!(resumes_on(&own), NaiveDate::from_ymd_opt(2027, 1, 1));
        let odd = QuotaExhaustion {
            month: "garbage".to_owned(),
            ..exhaustion(true)
        };
        assert_eq!(resumes_on(&odd), None);
        assert!(sentence(&odd, tz).ends_with("metered calls resume next month"));
    }

    fn client() -> Client {
        let base = url::Url::parse("http://127.0.0.1:9").unwrap();
        let config = crate::dingtalk::ClientConfig::new(
            base.clone(),
            base,
            "key",
            "secret".to_owned().into(),
        );
        let clock = std::sync::Arc::new(crate::domain::FixedClock(chrono::DateTime::UNIX_EPOCH));
        Client::new(
            config,
            clock,
            std::sync::Arc::new(crate::dingtalk::MemoryRecorder::default()),
        )
        .unwrap()
    }

    #[test]
    fn once_recorded_the_store_blocks_the_month_not_the_latch() {
        let tz = chrono_tz::Asia::Shanghai;
        let mut store = Store::open_in_memory().unwrap();
        let client = client();
        let seen = exhaustion(true).seen_at;
        // 2026-11-10 02:10 Asia/Shanghai.
        let as_of = seen + chrono::Duration::minutes(10);
        client.set_quota_exhausted_at(seen);
        note(&mut store, &client, tz, 5_000, as_of, None);
        let recorded = current(&store, tz, as_of).unwrap().expect("recorded");
        assert_eq!(recorded.seen_at, seen);
        assert!(recorded.by_other_apps);
        assert!(
            !client.quota_exhausted(),
            "the row blocks the month from now on: the latch is lifted"
        );

        // `quota resume` removes the row: nothing refuses the next run's calls, and a run that
        // met no 90020 records nothing.
        assert!(store.lift_quota_exhaustion("2026-11").unwrap());
        lift_stale_latch(&client, tz, as_of);
        assert!(!client.quota_exhausted());
        note(&mut store, &client, tz, 5_000, as_of, None);
        assert_eq!(current(&store, tz, as_of).unwrap(), None);

        // A month already recorded: a later sighting keeps the first row and lifts the latch.
        client.set_quota_exhausted_at(seen);
        note(&mut store, &client, tz, 5_000, as_of, None);
        client.set_quota_exhausted_at(seen + chrono::Duration::days(1));
        note(&mut store, &client, tz, 5_000, as_of, None);
        assert_eq!(current(&store, tz, as_of).unwrap().unwrap().seen_at, seen);
        assert!(!client.quota_exhausted());
    }

    #[test]
    fn the_resume_sentences_say_what_was_removed_and_what_happens_next() {
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            resumed(&exhaustion(true), tz),
            "2026-11: removed the recorded quota exhaustion (the organisation's monthly quota \
             of DingTalk calls was exhausted by other apps on 2026-11-10 (our own use: 812 of \
             5,000)); the next run makes metered calls again; if DingTalk answers 90020 again, \
             the month is blocked again"
        );
        assert!(
            resumed(&exhaustion(false), tz)
                .contains("was exhausted on 2026-11-10, by our own use (812 of 5,000));")
        );
        assert_eq!(
            nothing_to_resume("2026-10"),
            "2026-10: no quota exhaustion is recorded for this month: nothing to remove; runs \
             make metered calls as usual"
        );
    }

    #[test]
    fn grouped_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(812), "812");
        assert_eq!(grouped(5_000), "5,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
    }
}
