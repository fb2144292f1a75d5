//! What the planner remembers between nightly runs: how far the nightly sync has read, how far
//! approval listings reach, when open slots were last scanned, and what was learned about the
//! unconfirmed DingTalk behaviours the cheap strategy rests on (dingtalk-api.md §13.2).
//!
//! Plain data with its JSON form; the store keeps the text (`Store::planner_state`). It does not
//! decide anything: `plan` and `run` read it and hand back an updated copy.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// What is known about one unconfirmed DingTalk behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Fact {
    /// Not observed either way yet: plan as if it did not hold.
    #[default]
    Unknown,
    /// Seen to hold in this organisation's data.
    Holds,
    /// Seen not to hold: the fallback path is used from now on.
    Fails,
}

/// The planner's memory; every field has a safe default, so an absent or unreadable state
/// starts the planner afresh (costs a little more, loses nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PlannerState {
    /// Every work date up to this one has been read once by the nightly sync, for every user
    /// in scope.
    pub(crate) synced_through: Option<NaiveDate>,
    /// The first work date the nightly sync read.
    pub(crate) synced_from: Option<NaiveDate>,
    /// Per user: the last work date read once by the nightly sync (progress survives a night
    /// that reads only some users).
    pub(crate) user_synced: BTreeMap<String, NaiveDate>,
    /// Per 补卡 template: approvals created before this instant have been listed.
    pub(crate) listed_through: BTreeMap<String, DateTime<Utc>>,
    /// Per 补卡 template: whose approvals `listed_through` holds for, when the last listings
    /// named their originators (a month covering only some employees); absent: everyone's.
    pub(crate) listed_for: BTreeMap<String, BTreeSet<String>>,
    /// Per 补卡 template: the creation window a backfill run listed completely, `(from, to)`.
    /// Every chunk of one backfill lists the same window (from the lookback or the backfill's
    /// first day, to its `as_of`), so a later chunk whose window this contains lists nothing:
    /// the ids are in the store, those whose details failed in its detail backlog.
    pub(crate) backfill_listed: BTreeMap<String, (DateTime<Utc>, DateTime<Utc>)>,
    /// The local date of the last night that scanned open slots.
    pub(crate) last_scan: Option<NaiveDate>,
    /// `listRecord` shows the 补卡's punch (`sourceType APPROVE` with `procInstId`).
    pub(crate) punch_shows_supply: Fact,
    /// A slot corrected by a 补卡 names the instance in `procInstId`.
    pub(crate) slot_names_supply: Fact,
    /// Corrected slots watched through punches whose 补卡 punch was absent.
    pub(crate) watch_misses: u32,
    /// The 补卡 form's `extValue` carries the `planId` of the slot it repairs (`doctor --probe`).
    pub(crate) plan_id_in_ext_value: Fact,
    /// Approval `createTime`/`finishTime` are real UTC, not local time labelled `Z`
    /// (`doctor --probe`).
    pub(crate) approval_times_utc: Fact,
    /// The detail read-back holds the server-filled `repairCheckTime` entry (`doctor --probe`).
    pub(crate) repair_check_time_entry: Fact,
    /// When `doctor --probe` last settled facts on live data.
    pub(crate) probed_at: Option<DateTime<Utc>>,
    /// Who the current month's budget covers (decided by the month's first nightly run, only
    /// narrowed within the month).
    pub(crate) coverage: Option<crate::quota::Coverage>,
    /// The cost model's full-coverage night without the approvals' part (the sync and the
    /// scan), one per nightly run, the latest last (at most [`COST_HISTORY`]): coverage is
    /// decided by their median and tonight's approvals' part, so one odd night (a backlog of
    /// open slots, a holiday week) does not swing it, and nights from before the store learnt
    /// that approvals are not evidence do not count them. (The field `cost_history` of earlier
    /// versions held whole nights; it is no longer read.)
    pub(crate) night_history: Vec<u64>,
    /// Per user: days a nightly run meant to re-read (the scan found them changed, a watched
    /// 补卡 punch was gone, an approval points at them) but could not before its calls ran
    /// out. The next nights read them first among targeted re-reads, so a revert the scan saw
    /// is not lost when the watch ends.
    pub(crate) owed_rereads: BTreeMap<String, BTreeSet<NaiveDate>>,
}

/// Nights of cost model kept in [`PlannerState::night_history`].
pub(crate) const COST_HISTORY: usize = 28;

impl Fact {
    /// What is known once a stored fact meets a new observation: a failure seen anywhere stands
    /// (the fallback is the safe path), a hold fills in what was unknown, an unknown observation
    /// changes nothing.
    pub(crate) fn merge(self, observed: Fact) -> Fact {
        match (self, observed) {
            (Fact::Fails, _) | (_, Fact::Fails) => Fact::Fails,
            (Fact::Holds, _) | (_, Fact::Holds) => Fact::Holds,
            (Fact::Unknown, Fact::Unknown) => Fact::Unknown,
        }
    }
}

/// What one `doctor --probe` observed about each ⚠ fact on live data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Probed {
    pub(crate) slot_names_supply: Fact,
    pub(crate) punch_shows_supply: Fact,
    pub(crate) plan_id_in_ext_value: Fact,
    pub(crate) approval_times_utc: Fact,
    pub(crate) repair_check_time_entry: Fact,
}

impl PlannerState {
    /// Reads the stored text; an unreadable state is replaced by the default with a warning.
    pub(crate) fn from_stored(text: Option<&str>) -> PlannerState {
        match text {
            None => PlannerState::default(),
            Some(text) => serde_json::from_str(text).unwrap_or_else(|error| {
                tracing::warn!(error.message = %error, "planner state unreadable; starting afresh");
                PlannerState::default()
            }),
        }
    }

    pub(crate) fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// Records that a backfill listed the creation window `from..to` of `code` completely:
    /// joined to the window already recorded when they overlap or touch (a window longer than
    /// one listing may cover is listed in parts), else in its place.
    pub(crate) fn saw_backfill_listing(
        &mut self,
        code: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) {
        // Consecutive parts are 1 ms apart (each part's end is exclusive, the next part's start
        // inclusive).
        let touch = chrono::Duration::seconds(1);
        let joined = match self.backfill_listed.get(code) {
            Some((old_from, old_to)) if *old_from <= to + touch && from <= *old_to + touch => {
                ((*old_from).min(from), (*old_to).max(to))
            }
            _ => (from, to),
        };
        self.backfill_listed.insert(code.to_owned(), joined);
    }

    /// Whether corrections by 补卡 can be found from punches and slots alone, so approval
    /// listings and details are enrichment rather than evidence.
    pub(crate) fn evidence_without_approvals(&self) -> bool {
        self.punch_shows_supply == Fact::Holds && self.slot_names_supply == Fact::Holds
    }

    /// Takes in what a probe observed at `at` ([`Fact::merge`] for each fact); returns the facts
    /// whose stored value now disagrees with the observation (a failure seen earlier stands).
    pub(crate) fn learn(&mut self, probed: &Probed, at: DateTime<Utc>) -> Vec<&'static str> {
        let mut disagree = Vec::new();
        let mut take = |name: &'static str, fact: &mut Fact, observed: Fact| {
            let merged = fact.merge(observed);
            if observed != Fact::Unknown && merged != observed {
                disagree.push(name);
            }
            *fact = merged;
        };
        take(
            "slot_names_supply",
            &mut self.slot_names_supply,
            probed.slot_names_supply,
        );
        take(
            "punch_shows_supply",
            &mut self.punch_shows_supply,
            probed.punch_shows_supply,
        );
        take(
            "plan_id_in_ext_value",
            &mut self.plan_id_in_ext_value,
            probed.plan_id_in_ext_value,
        );
        take(
            "approval_times_utc",
            &mut self.approval_times_utc,
            probed.approval_times_utc,
        );
        take(
            "repair_check_time_entry",
            &mut self.repair_check_time_entry,
            probed.repair_check_time_entry,
        );
        self.probed_at = Some(at);
        disagree
    }

    /// Records a corrected slot seen in results: with or without the process instance id.
    pub(crate) fn saw_corrected_slot(&mut self, names_instance: bool) -> Option<&'static str> {
        match (names_instance, self.slot_names_supply) {
            (true, Fact::Unknown) => {
                self.slot_names_supply = Fact::Holds;
                None
            }
            (false, Fact::Unknown | Fact::Holds) => {
                self.slot_names_supply = Fact::Fails;
                Some(
                    "a slot DingTalk shows corrected by an approval carries no procInstId: \
                     corrections are matched through approval details from now on",
                )
            }
            _ => None,
        }
    }

    /// Records a complete punch fetch of watched corrected slots: `hits` showed their 补卡
    /// punch, `misses` did not. Three misses before any hit mean the punch is not shown.
    pub(crate) fn saw_watched_punches(&mut self, hits: u32, misses: u32) -> Option<&'static str> {
        if hits > 0 && self.punch_shows_supply == Fact::Unknown {
            self.punch_shows_supply = Fact::Holds;
        }
        if self.punch_shows_supply != Fact::Unknown {
            return None;
        }
        self.watch_misses = self.watch_misses.saturating_add(misses);
        (self.watch_misses >= 3).then(|| {
            self.punch_shows_supply = Fact::Fails;
            "listRecord does not show 补卡 punches for this organisation: corrections by 补卡 are \
             found through approvals and watched for reverts through results from now on"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_unreadable_state_starts_afresh() {
        assert_eq!(
            PlannerState::from_stored(Some("not json")),
            PlannerState::default()
        );
        let state = PlannerState {
            synced_through: NaiveDate::from_ymd_opt(2026, 11, 3),
            ..PlannerState::default()
        };
        let back = PlannerState::from_stored(Some(&state.to_text()));
        assert_eq!(back, state);
    }

    #[test]
    fn a_probe_fills_unknown_facts_and_a_failure_seen_earlier_stands() {
        use Fact::{Fails, Holds, Unknown};
        for (stored, observed, merged) in [
            (Unknown, Unknown, Unknown),
            (Unknown, Holds, Holds),
            (Unknown, Fails, Fails),
            (Holds, Unknown, Holds),
            (Holds, Fails, Fails),
            (Fails, Holds, Fails),
            (Fails, Unknown, Fails),
        ] {
            assert_eq!(stored.merge(observed), merged, "{stored:?} + {observed:?}");
        }
        let mut state = PlannerState {
            punch_shows_supply: Fails,
            ..PlannerState::default()
        };
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap();
        let probed = Probed {
            slot_names_supply: Holds,
            punch_shows_supply: Holds,
            plan_id_in_ext_value: Fails,
            approval_times_utc: Holds,
            repair_check_time_entry: Unknown,
        };
        assert_eq!(state.learn(&probed, at), vec!["punch_shows_supply"]);
        assert_eq!(
            (
                state.slot_names_supply,
                state.punch_shows_supply,
                state.plan_id_in_ext_value,
                state.approval_times_utc,
                state.repair_check_time_entry,
                state.probed_at,
            ),
            (Holds, Fails, Fails, Holds, Unknown, Some(at))
        );
        // The text form keeps the new facts, and a state saved before they existed still reads.
        assert_eq!(PlannerState::from_stored(Some(&state.to_text())), state);
        let old = PlannerState::from_stored(Some(r#"{"punch_shows_supply":"holds"}"#));
        assert_eq!(old.punch_shows_supply, Holds);
        assert_eq!(old.approval_times_utc, Unknown);
    }

    #[test]
    fn a_backfill_window_listed_in_parts_is_remembered_whole() {
        let at = |day: u32| DateTime::from_timestamp(i64::from(day) * 86_400, 0).unwrap();
        let mut state = PlannerState::default();
        let ms = chrono::Duration::milliseconds(1);
        state.saw_backfill_listing("P", at(120) + ms, at(150));
        state.saw_backfill_listing("P", at(0), at(120));
        assert_eq!(state.backfill_listed["P"], (at(0), at(150)));
        // A window apart from the one recorded replaces it.
        state.saw_backfill_listing("P", at(200), at(210));
        assert_eq!(state.backfill_listed["P"], (at(200), at(210)));
    }

    #[test]
    fn approvals_stay_evidence_until_both_facts_are_seen_to_hold() {
        let mut state = PlannerState::default();
        assert!(!state.evidence_without_approvals());
        assert_eq!(state.saw_corrected_slot(true), None);
        assert_eq!(state.saw_watched_punches(1, 0), None);
        assert!(state.evidence_without_approvals());
    }

    #[test]
    fn a_corrected_slot_without_instance_id_turns_the_fallback_on_for_good() {
        let mut state = PlannerState::default();
        state.saw_corrected_slot(true);
        assert!(state.saw_corrected_slot(false).is_some());
        assert_eq!(state.saw_corrected_slot(true), None);
        assert_eq!(state.slot_names_supply, Fact::Fails);
    }

    #[test]
    fn three_missing_supply_punches_before_any_seen_mean_listrecord_hides_them() {
        let mut state = PlannerState::default();
        assert_eq!(state.saw_watched_punches(0, 2), None);
        assert!(state.saw_watched_punches(0, 1).is_some());
        assert_eq!(state.punch_shows_supply, Fact::Fails);
        let mut seen = PlannerState::default();
        seen.saw_watched_punches(1, 0);
        assert_eq!(seen.saw_watched_punches(0, 5), None);
        assert_eq!(seen.punch_shows_supply, Fact::Holds);
    }

    /// One observation handed to the planner's memory.
    #[derive(Debug, Clone, Copy)]
    enum Seen {
        CorrectedSlot { names_instance: bool },
        WatchedPunches { hits: u32, misses: u32 },
    }

    fn arb_seen() -> impl Strategy<Value = Seen> {
        prop_oneof![
            any::<bool>().prop_map(|names_instance| Seen::CorrectedSlot { names_instance }),
            (prop_oneof![3 => Just(0u32), 1 => 1..3u32], 0..3u32)
                .prop_map(|(hits, misses)| Seen::WatchedPunches { hits, misses }),
        ]
    }

    /// The documented transitions, stated over the whole history rather than step by step.
    /// `slot_names_supply`: `Fails` once any corrected slot lacked the instance id (warning
    /// only the first time), else `Holds` once one named it, else `Unknown`.
    /// `punch_shows_supply`: settled by the first observation that has a hit (`Holds`) or that
    /// brings the misses counted while unsettled to three (`Fails`, with a warning); misses are
    /// counted only while it is unsettled.
    fn expected(history: &[Seen]) -> (PlannerState, Vec<bool>) {
        let mut warned = Vec::new();
        let mut state = PlannerState::default();
        let named: Vec<bool> = history
            .iter()
            .filter_map(|seen| match seen {
                Seen::CorrectedSlot { names_instance } => Some(*names_instance),
                Seen::WatchedPunches { .. } => None,
            })
            .collect();
        state.slot_names_supply = if named.contains(&false) {
            Fact::Fails
        } else if named.contains(&true) {
            Fact::Holds
        } else {
            Fact::Unknown
        };
        let first_unnamed = history.iter().position(|seen| {
            matches!(
                seen,
                Seen::CorrectedSlot {
                    names_instance: false
                }
            )
        });
        let mut misses = 0u32;
        let mut settled = None;
        for (at, seen) in history.iter().enumerate() {
            match *seen {
                Seen::CorrectedSlot { .. } => warned.push(first_unnamed == Some(at)),
                Seen::WatchedPunches { hits, misses: more } => {
                    let mut warn = false;
                    if settled.is_none() {
                        if hits > 0 {
                            settled = Some(Fact::Holds);
                        } else {
                            misses += more;
                            if misses >= 3 {
                                settled = Some(Fact::Fails);
                                warn = true;
                            }
                        }
                    }
                    warned.push(warn);
                }
            }
        }
        state.punch_shows_supply = settled.unwrap_or(Fact::Unknown);
        state.watch_misses = misses;
        (state, warned)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_facts_follow_the_documented_transitions(
            history in proptest::collection::vec(arb_seen(), 0..12),
        ) {
            let mut state = PlannerState::default();
            let mut warned = Vec::new();
            for seen in &history {
                let warning = match *seen {
                    Seen::CorrectedSlot { names_instance } => state.saw_corrected_slot(names_instance),
                    Seen::WatchedPunches { hits, misses } => state.saw_watched_punches(hits, misses),
                };
                warned.push(warning.is_some());
                // What is stored is what is read back.
                prop_assert_eq!(&PlannerState::from_stored(Some(&state.to_text())), &state);
            }
            let (want, want_warned) = expected(&history);
            prop_assert_eq!(&state, &want);
            prop_assert_eq!(warned, want_warned);
            prop_assert_eq!(
                state.evidence_without_approvals(),
                want.punch_shows_supply == Fact::Holds && want.slot_names_supply == Fact::Holds
            );
        }
    }
}
