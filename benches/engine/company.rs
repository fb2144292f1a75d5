//! The engine benchmark's synthetic company: who works which days, and the state of every slot
//! in each pass. Deterministic from a seed, one random stream per employee, so any group of
//! employees can be generated alone and the same slots come back on every pass. It does not
//! touch a store.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use dingtalk_reconcile::domain::{CheckType, LocationResult, Slot, SourceType, TimeResult, UserId};
use dingtalk_reconcile::reconcile::apply::USERS_PER_BATCH;

/// Check points per employee-day (one shift: OnDuty and OffDuty).
pub const SLOTS_PER_USER_DAY: usize = 2;

/// Which observation of the company a pass makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Every slot seen for the first time (an empty snapshot).
    First,
    /// The same slots again.
    Unchanged,
    /// The same slots with `changed_percent` of them in a new state.
    Changed,
}

impl Pass {
    pub fn label(self, changed_percent: f64) -> String {
        match self {
            Pass::First => "engine pass 1: first observation".to_owned(),
            Pass::Unchanged => "engine pass 2: nothing changed".to_owned(),
            Pass::Changed => format!("engine pass 3: {changed_percent}% changed"),
        }
    }
}

/// A deterministic synthetic company: who works which days, and every slot's state in a pass.
/// Each employee's slots come from their own seeded stream, so a group of employees can be
/// generated alone and the same slots come back on every pass.
#[derive(Debug, Clone)]
pub struct Company {
    pub seed: u64,
    pub users: usize,
    pub days: usize,
    pub first_date: NaiveDate,
    pub changed_fraction: f64,
}

impl Company {
    /// As many whole employees as `slots` allows over `days` work dates from 2026-09-01.
    pub fn new(seed: u64, slots: usize, days: usize, changed_percent: f64) -> Company {
        Company {
            seed,
            users: slots / (days * SLOTS_PER_USER_DAY),
            days,
            first_date: NaiveDate::from_ymd_opt(2026, 9, 1).expect("2026-09-01 is a date"),
            changed_fraction: changed_percent / 100.0,
        }
    }

    pub fn slot_count(&self) -> usize {
        self.users * self.days * SLOTS_PER_USER_DAY
    }

    pub fn last_date(&self) -> NaiveDate {
        self.first_date + chrono::Duration::days(self.days as i64 - 1)
    }

    /// When the passes run: the day after the last work date, 02:00 Asia/Shanghai.
    pub fn as_of(&self) -> DateTime<Utc> {
        shanghai(self.last_date() + chrono::Duration::days(1), 2, 0)
    }

    pub fn user_id(&self, index: usize) -> UserId {
        UserId::new(format!("0{index:07}")).expect("a zero-padded number is a valid user id")
    }

    /// The employees of batch `batch_index`.
    pub fn batch(&self, batch_index: usize) -> std::ops::Range<usize> {
        let start = batch_index * USERS_PER_BATCH;
        start..(start + USERS_PER_BATCH).min(self.users)
    }

    pub fn batch_count(&self) -> usize {
        self.users.div_ceil(USERS_PER_BATCH)
    }

    /// Every slot of one employee as DingTalk would report it in `pass`.
    pub fn user_slots(&self, index: usize, pass: Pass) -> Vec<Slot> {
        let user_id = self.user_id(index);
        let mut states = ChaCha8Rng::seed_from_u64(
            self.seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let mut changes = ChaCha8Rng::seed_from_u64(
            !self.seed ^ (index as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F),
        );
        let mut slots = Vec::with_capacity(self.days * SLOTS_PER_USER_DAY);
        for day in 0..self.days {
            let work_date = self.first_date + chrono::Duration::days(day as i64);
            for (point, check_type) in [CheckType::OnDuty, CheckType::OffDuty]
                .into_iter()
                .enumerate()
            {
                let ordinal = (index * self.days + day) * SLOTS_PER_USER_DAY + point;
                let base = if point == 0 {
                    shanghai(work_date, 9, 0)
                } else {
                    shanghai(work_date, 18, 0)
                };
                let mut slot = Slot {
                    user_id: user_id.clone(),
                    work_date,
                    check_type,
                    plan_id: Some(437_360_000_000 + ordinal as i64),
                    base_check_time: base,
                    user_check_time: None,
                    time_result: TimeResult::Normal,
                    location_result: LocationResult::Normal,
                    source_type: SourceType::User,
                    process_instance_id: None,
                    approve_id: None,
                    record_id: None,
                    group_id: Some(1),
                    row_id: Some(90_000_000_000 + ordinal as i64),
                };
                first_state(&mut slot, &mut states, ordinal);
                let change = changes.random_bool(self.changed_fraction);
                let variant = changes.random_range(0..3u8);
                if pass == Pass::Changed && change {
                    changed_state(&mut slot, variant, ordinal);
                }
                slots.push(slot);
            }
        }
        slots
    }

    /// The slots and complete user-days of one batch of employees.
    pub fn batch_slots(
        &self,
        batch_index: usize,
        pass: Pass,
    ) -> (Vec<UserId>, Vec<Slot>, BTreeSet<(UserId, NaiveDate)>) {
        let range = self.batch(batch_index);
        let users: Vec<UserId> = range.clone().map(|index| self.user_id(index)).collect();
        let slots: Vec<Slot> = range
            .flat_map(|index| self.user_slots(index, pass))
            .collect();
        let complete = users
            .iter()
            .flat_map(|user| {
                self.first_date
                    .iter_days()
                    .take(self.days)
                    .map(move |date| (user.clone(), date))
            })
            .collect();
        (users, slots, complete)
    }
}

/// A first observation close to the standard benchmark month: 3% of check points missed, most of
/// them already corrected by an approved 补卡 (a backfill of an old month), 0.5% signed by an
/// administrator, some late or early punches, the rest normal.
fn first_state(slot: &mut Slot, states: &mut ChaCha8Rng, ordinal: usize) {
    let draw: f64 = states.random();
    let offset_minutes: i64 = states.random_range(1..40);
    let base = slot.base_check_time;
    let on_duty = slot.check_type == CheckType::OnDuty;
    if draw < 0.025 {
        slot.source_type = SourceType::Approve;
        slot.user_check_time = Some(base);
        slot.process_instance_id = Some(format!("bench-supply-{ordinal}"));
    } else if draw < 0.030 {
        slot.time_result = TimeResult::NotSigned;
        slot.location_result = LocationResult::NotSigned;
        slot.source_type = SourceType::System;
        slot.user_check_time = Some(base);
    } else if draw < 0.035 {
        slot.source_type = SourceType::Boss;
        slot.user_check_time = Some(base);
    } else {
        let minutes = chrono::Duration::minutes(offset_minutes);
        let late_or_early = draw < 0.075;
        slot.user_check_time = Some(match (on_duty, late_or_early) {
            (true, false) | (false, true) => base - minutes,
            (true, true) | (false, false) => base + minutes,
        });
        if late_or_early {
            slot.time_result = if on_duty {
                TimeResult::Late
            } else {
                TimeResult::Early
            };
        }
        slot.record_id = Some(70_000_000_000 + ordinal as i64);
    }
}

/// A later state of a changed slot: an approval's correction, an administrator's edit, or a
/// change with no cause.
fn changed_state(slot: &mut Slot, variant: u8, ordinal: usize) {
    let base = slot.base_check_time;
    match variant {
        0 => {
            slot.time_result = TimeResult::Normal;
            slot.location_result = LocationResult::Normal;
            slot.source_type = SourceType::Approve;
            slot.user_check_time = Some(base);
            slot.process_instance_id = Some(format!("bench-later-supply-{ordinal}"));
            slot.record_id = None;
        }
        1 => {
            slot.time_result = TimeResult::Normal;
            slot.source_type = SourceType::Boss;
            slot.user_check_time = Some(base + chrono::Duration::minutes(1));
            slot.record_id = Some(80_000_000_000 + ordinal as i64);
        }
        _ => {
            slot.time_result = TimeResult::SeriousLate;
            slot.source_type = SourceType::System;
            slot.record_id = Some(81_000_000_000 + ordinal as i64);
        }
    }
}

pub fn shanghai(date: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    let time = NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid wall-clock time");
    chrono_tz::Asia::Shanghai
        .from_local_datetime(&date.and_time(time))
        .single()
        .expect("Asia/Shanghai has no DST gaps")
        .with_timezone(&Utc)
}
