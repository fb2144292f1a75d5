//! Builds a [`World`] from a [`SimConfig`], deterministically: every employee-day draws from its
//! own ChaCha stream seeded from `(seed, employee, day)`, so the same seed gives the same world
//! whatever the size, and generation is one linear pass (a 2,000-employee month takes about
//! 0.2 s even in a debug build).
//!
//! This module decides *what happens* (punches, missed punches, 补卡 filings and decisions, admin
//! edits, reverts, unexplained changes, vanished days); it does not answer questions about time
//! (see `world`) nor format anything (see `http`).
//!
//! Id schemes (all unique within a world, see the property tests): with
//! `slot = (employee × days + day) × 2 + checkpoint`, `planId = 437·10⁹ + slot` (> 2³²),
//! row `id = 60·10⁹ + slot`, `recordId = 80·10⁹ + slot × 4 + kind` (0 punch, 1 provisional punch,
//! 2 补卡 punch, 3 admin punch).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate, Weekday};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::company::{
    GIVEN, HOSTILE_NAME_SUFFIX, SURNAMES, departments, hostile_user_id, moves, templates, user_id,
};
use super::config::SimConfig;
use super::world::{
    Cause, Change, CheckKind, DAY_MS, Department, Employee, HOUR_MS, Instance, MINUTE_MS, Outcome,
    Punch, RowState, Slot, Source, Template, TimeRes, UserDay, World, local_ms,
};

const REASONS: &[&str] = &["忘记打卡", "手机没电", "外出办事", "打卡机故障", "网络异常"];

/// The reasons under `SimConfig::hostile_text`, one per plain reason (the same draw picks
/// either): terminal escapes, a formula, forged lines, a bidi override, BEL and C1 CSI with
/// table pipes.
const HOSTILE_REASONS: [&str; 5] = [
    "忘记打卡\u{1b}[2J\u{1b}[31m",
    "=HYPERLINK(\"http://evil.example\",\"手机没电\")",
    "外出办事\r\nfindings\n  none",
    "\u{202e}障故机卡打",
    "@SUM(1+1)\u{7}\u{9b}2J|网络异常|",
];

/// A business id as a hostile DingTalk might send it: the plain id (so ids stay unique) inside a
/// formula, a terminal sequence, a forged line, a bidi override with Markdown, or a TAB with HTML
/// and a C1 NEL.
fn hostile_business_id(plain: &str, index: u32) -> String {
    match index % 5 {
        0 => format!("=HYPERLINK(\"http://evil.example/{plain}\",\"{plain}\")"),
        1 => format!("@SUM({plain})\u{1b}]0;pwned\u{7}"),
        2 => format!("+{plain}\r\n  - forged line"),
        3 => format!("-{plain}\u{202e}|`#x`|"),
        _ => format!("\t{plain}\u{85}<b>x</b>"),
    }
}

/// SplitMix64 finaliser: a cheap, well-mixed hash of a few integers.
fn mix(parts: &[u64]) -> u64 {
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15;
    for &p in parts {
        h ^= p;
        h = h.wrapping_add(0x9E37_79B9_7F4A_7C15);
        h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        h ^= h >> 31;
    }
    h
}

pub(super) fn rng_for(seed: u64, tag: u64, a: u64, b: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(mix(&[seed, tag, a, b]))
}

fn alnum(rng: &mut ChaCha8Rng, len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

pub(super) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && rng.random::<f64>() < p
}

fn minutes(rng: &mut ChaCha8Rng, lo: i64, hi: i64) -> i64 {
    rng.random_range(lo..=hi) * MINUTE_MS
}

/// Builds the world. Cost is linear in employees × days.
pub fn generate(config: &SimConfig) -> World {
    let seed = config.seed;
    let n = config.employees.max(1);
    let templates = templates(seed);
    let supply_templates: Vec<usize> = (0..templates.len())
        .filter(|&t| templates[t].attendance_type == 1)
        .collect();

    let (departments, primary) = departments(n);
    let mut employees: Vec<Employee> = (0..n)
        .map(|i| {
            let mut rng = rng_for(seed, 1, i as u64, 0);
            let mut name = SURNAMES[rng.random_range(0..SURNAMES.len())].to_owned();
            name.push_str(GIVEN[rng.random_range(0..GIVEN.len())]);
            if rng.random_bool(0.5) {
                name.push_str(GIVEN[rng.random_range(0..GIVEN.len())]);
            }
            let night = i != 0 && chance(&mut rng, config.rates.night_shift);
            if config.hostile_text {
                name.push_str(HOSTILE_NAME_SUFFIX);
            }
            Employee {
                id: if config.hostile_text {
                    hostile_user_id(i)
                } else {
                    user_id(i)
                },
                name,
                departments: Vec::new(),
                night,
                template: supply_templates[i % 3 / 2 % supply_templates.len()],
                days: Vec::new(),
            }
        })
        .collect();
    for dept in &departments {
        for &m in &dept.members {
            employees[m].departments.push(dept.id);
        }
    }
    for (i, e) in employees.iter_mut().enumerate() {
        // Primary department first.
        let p = primary[i];
        e.departments.sort_by_key(|&d| (d != p, d));
    }

    let mut instances = Vec::new();
    for u in 0..n {
        let mut days = Vec::with_capacity(config.days as usize);
        for d in 0..config.days as usize {
            let date = config.from + chrono::Days::new(d as u64);
            days.push(user_day(
                config,
                &employees,
                &departments,
                u,
                d,
                date,
                &mut instances,
            ));
        }
        employees[u].days = days;
    }
    attach_revoke_instances(config, &mut instances);
    let moves = moves(
        seed,
        config.rates.department_move,
        (config.from, config.days),
        &departments,
        &employees,
    );
    let mut world = assemble(config.clone(), employees, departments, templates, instances);
    world.moves = moves;
    world
}

/// Everything that happens on one employee-day.
fn user_day(
    config: &SimConfig,
    employees: &[Employee],
    departments: &[Department],
    u: usize,
    d: usize,
    date: NaiveDate,
    instances: &mut Vec<Instance>,
) -> Option<UserDay> {
    if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
        return None;
    }
    let rates = &config.rates;
    let night = employees[u].night;
    let mut rng = rng_for(config.seed, 3, u as u64, d as u64);
    let source = if u % 5 == 3 {
        Source::Atm
    } else {
        Source::User
    };
    let mut plain_day = true;
    let mut slots = Vec::with_capacity(2);
    for cp in 0..2usize {
        let slot_no = ((u * config.days as usize + d) * 2 + cp) as i64;
        let record = |kind: i64| 80_000_000_000 + slot_no * 4 + kind;
        let mut slot = scheduled_slot(night, date, cp, slot_no);
        let draw = rng.random::<f64>();
        if draw < rates.missed_punch {
            plain_day = false;
            slot.timeline.push(not_signed_at_start(slot.base_ms));
            if chance(&mut rng, rates.filed) {
                let ctx = FileCtx {
                    config,
                    employees,
                    departments,
                    u,
                    d,
                    cp,
                    record: record(2),
                };
                file_supplies(&ctx, &mut rng, &mut slot, instances);
            }
        } else if draw < rates.missed_punch + rates.admin_edit {
            plain_day = false;
            admin_edit_missed_slot(&mut rng, &mut slot, record(3));
        } else {
            let punched = punch_slot(rates, &mut rng, &mut slot, source, record(0), record(1));
            if punched && chance(&mut rng, rates.unexplained) {
                plain_day = false;
                change_unexplained(&mut rng, &mut slot, record(0));
            }
        }
        slots.push(slot);
    }
    let vanish_at = (plain_day && chance(&mut rng, rates.vanish)).then(|| {
        let last = slots.iter().map(|s| s.base_ms).max().unwrap_or_default();
        last + rng.random_range(1..=5) * DAY_MS + minutes(&mut rng, 0, 600)
    });
    Some(UserDay {
        work_date: date,
        night,
        slots,
        vanish_at,
    })
}

/// Check point `cp` (0 on duty, 1 off duty) of a day or night shift on `date`, with its ids and
/// nothing happened yet.
fn scheduled_slot(night: bool, date: NaiveDate, cp: usize, slot_no: i64) -> Slot {
    let check = if cp == 0 {
        CheckKind::OnDuty
    } else {
        CheckKind::OffDuty
    };
    let base_ms = match (night, check) {
        (false, CheckKind::OnDuty) => local_ms(date, 9, 0),
        (false, CheckKind::OffDuty) => local_ms(date, 18, 0),
        (true, CheckKind::OnDuty) => local_ms(date, 22, 0),
        (true, CheckKind::OffDuty) => local_ms(date + chrono::Days::new(1), 6, 0),
    };
    Slot {
        check,
        plan_id: 437_000_000_000 + slot_no,
        row_id: 60_000_000_000 + slot_no,
        base_ms,
        timeline: Vec::with_capacity(1),
        punches: Vec::new(),
    }
}

/// The first row of a missed slot: not signed, shown from the check point.
fn not_signed_at_start(base_ms: i64) -> Change {
    Change {
        at: base_ms,
        state: RowState {
            time_result: TimeRes::NotSigned,
            source: Source::System,
            check_ms: base_ms,
            record_id: None,
            supply: None,
        },
        cause: Cause::Initial,
    }
}

/// A missed slot an admin later sets to a normal punch (source `BOSS`) at the check point.
fn admin_edit_missed_slot(rng: &mut ChaCha8Rng, slot: &mut Slot, record: i64) {
    let base_ms = slot.base_ms;
    slot.timeline.push(not_signed_at_start(base_ms));
    let at = base_ms + rng.random_range(1..=5) * DAY_MS + minutes(rng, 0, 600);
    let state = RowState {
        time_result: TimeRes::Normal,
        source: Source::Boss,
        check_ms: base_ms,
        record_id: Some(record),
        supply: None,
    };
    slot.timeline.push(Change {
        at,
        state,
        cause: Cause::AdminEdit,
    });
    slot.punches.push(Punch {
        record_id: record,
        check_ms: base_ms,
        source: Source::Boss,
        time_result: TimeRes::Normal,
        supply: None,
        happened_ms: at,
        gone_ms: None,
    });
}

/// A normal punch that later turns late (on duty) or early (off duty) with no cause in sight.
fn change_unexplained(rng: &mut ChaCha8Rng, slot: &mut Slot, record: i64) {
    let base_ms = slot.base_ms;
    let at = base_ms + rng.random_range(1..=3) * DAY_MS + minutes(rng, 0, 600);
    let (time_result, check_ms) = match slot.check {
        CheckKind::OnDuty => (TimeRes::Late, base_ms + minutes(rng, 5, 20)),
        CheckKind::OffDuty => (TimeRes::Early, base_ms - minutes(rng, 5, 20)),
    };
    let state = RowState {
        time_result,
        source: Source::System,
        check_ms,
        record_id: Some(record),
        supply: None,
    };
    slot.timeline.push(Change {
        at,
        state,
        cause: Cause::Unexplained,
    });
}

/// A punched slot: normal, late, early, or an OffDuty row that shows an early punch until it
/// settles. Returns true when the final state is a plain normal punch.
fn punch_slot(
    rates: &super::config::Rates,
    rng: &mut ChaCha8Rng,
    slot: &mut Slot,
    source: Source,
    record: i64,
    provisional_record: i64,
) -> bool {
    let base = slot.base_ms;
    let punch = |check_ms: i64, time_result: TimeRes, record_id: i64| Punch {
        record_id,
        check_ms,
        source,
        time_result,
        supply: None,
        happened_ms: check_ms,
        gone_ms: None,
    };
    let state = |check_ms: i64, time_result: TimeRes, record_id: i64| RowState {
        time_result,
        source,
        check_ms,
        record_id: Some(record_id),
        supply: None,
    };
    let (check_ms, result) = match slot.check {
        CheckKind::OnDuty if chance(rng, rates.late) => (base + minutes(rng, 1, 40), TimeRes::Late),
        CheckKind::OnDuty => (base - minutes(rng, 0, 30), TimeRes::Normal),
        CheckKind::OffDuty if chance(rng, rates.early) => {
            (base - minutes(rng, 5, 60), TimeRes::Early)
        }
        CheckKind::OffDuty if chance(rng, rates.provisional_off_duty) => {
            let early = base - minutes(rng, 5, 30);
            let last = base + minutes(rng, 1, 40);
            let settle = base + rng.random_range(2..=11) * HOUR_MS + minutes(rng, 0, 59);
            slot.punches
                .push(punch(early, TimeRes::Early, provisional_record));
            slot.punches.push(punch(last, TimeRes::Normal, record));
            let first = state(early, TimeRes::Early, provisional_record);
            slot.timeline.push(Change {
                at: base,
                state: first,
                cause: Cause::Initial,
            });
            let settled = state(last, TimeRes::Normal, record);
            slot.timeline.push(Change {
                at: settle,
                state: settled,
                cause: Cause::Settled,
            });
            return false;
        }
        CheckKind::OffDuty => (base + minutes(rng, 0, 45), TimeRes::Normal),
    };
    slot.punches.push(punch(check_ms, result, record));
    let first = state(check_ms, result, record);
    slot.timeline.push(Change {
        at: base.max(check_ms),
        state: first,
        cause: Cause::Initial,
    });
    result == TimeRes::Normal
}

struct FileCtx<'a> {
    config: &'a SimConfig,
    employees: &'a [Employee],
    departments: &'a [Department],
    u: usize,
    d: usize,
    cp: usize,
    record: i64,
}

/// Files a 补卡 for a missed slot, decides it, and when refused maybe files it again.
fn file_supplies(
    ctx: &FileCtx<'_>,
    rng: &mut ChaCha8Rng,
    slot: &mut Slot,
    out: &mut Vec<Instance>,
) {
    let rates = &ctx.config.rates;
    let base = slot.base_ms;
    let lag_days = i64::from(rng.random_range(0..=rates.max_filing_lag_days));
    let mut created = base + lag_days * DAY_MS + minutes(rng, 30, 600);
    let corrected_ms = match slot.check {
        CheckKind::OnDuty => base - minutes(rng, 0, 10),
        CheckKind::OffDuty => base + minutes(rng, 0, 30),
    };
    let employee = &ctx.employees[ctx.u];
    let approver = supply_approver(ctx);
    let mut attempt = 0;
    loop {
        let (outcome, decided) = decide_supply(ctx, rng, attempt > 0, created);
        let index = out.len() as u32;
        let mut inst = Instance {
            id: String::new(),
            business_id: String::new(),
            template: employee.template,
            user: ctx.u,
            day: ctx.d,
            slot: ctx.cp,
            created_ms: created,
            decided_ms: decided,
            outcome,
            applied_ms: None,
            reverted_ms: None,
            corrected_ms,
            reason: {
                let pick = rng.random_range(0..REASONS.len());
                if ctx.config.hostile_text {
                    HOSTILE_REASONS[pick]
                } else {
                    REASONS[pick]
                }
            },
            photo: ctx_template_photo(ctx) && rng.random_bool(0.5),
            approver,
            task_id: 50_000_000_000 + i64::from(index),
            biz_action: "NONE",
            main: None,
            attached: None,
        };
        inst.id = format!("{}{index:06}{}", alnum(rng, 12), created / 1000);
        inst.business_id = format!(
            "{}{:06}",
            super::world::local_date(created).format("%Y%m%d"),
            index
        );
        if ctx.config.hostile_text {
            inst.business_id = hostile_business_id(&inst.business_id, index);
        }
        if outcome == Outcome::Agree {
            apply_agreed_supply(ctx, rng, slot, &mut inst, index);
        }
        out.push(inst);
        let again = outcome == Outcome::Refuse && chance(rng, rates.refiled_after_refusal);
        if !again {
            return;
        }
        attempt += 1;
        created = decided + minutes(rng, 60, 2880);
    }
}

/// The approver of the employee's 补卡: another member of their primary department, else
/// employee 0 (or 1 for employee 0 itself).
fn supply_approver(ctx: &FileCtx<'_>) -> usize {
    let team = ctx.employees[ctx.u]
        .departments
        .first()
        .copied()
        .unwrap_or(1);
    ctx.departments
        .iter()
        .find(|dept| dept.id == team)
        .and_then(|dept| dept.members.iter().copied().find(|&m| m != ctx.u))
        .unwrap_or(if ctx.u == 0 {
            1.min(ctx.employees.len() - 1)
        } else {
            0
        })
}

/// How a 补卡 filed at `created` ends, and when: a refiling is always agreed.
fn decide_supply(
    ctx: &FileCtx<'_>,
    rng: &mut ChaCha8Rng,
    refiled: bool,
    created: i64,
) -> (Outcome, i64) {
    let rates = &ctx.config.rates;
    let draw = rng.random::<f64>();
    let outcome = if refiled || draw >= rates.refused + rates.withdrawn {
        Outcome::Agree
    } else if draw < rates.refused {
        Outcome::Refuse
    } else {
        Outcome::Withdrawn
    };
    let decided = match outcome {
        Outcome::Withdrawn => created + minutes(rng, 10, 2880),
        _ => created + minutes(rng, 60, 4320),
    };
    (outcome, decided)
}

/// An agreed 补卡 shows on the slot (and as an approve punch) a little after the decision, and is
/// sometimes revoked later, which brings the slot back to its first state.
fn apply_agreed_supply(
    ctx: &FileCtx<'_>,
    rng: &mut ChaCha8Rng,
    slot: &mut Slot,
    inst: &mut Instance,
    index: u32,
) {
    let never_shown = ctx.config.rates.never_shown;
    if never_shown > 0.0 {
        let mut own = rng_for(
            ctx.config.seed,
            12,
            inst.created_ms as u64,
            u64::from(index),
        );
        if own.random_bool(never_shown.min(1.0)) {
            return;
        }
    }
    let applied = inst.decided_ms + minutes(rng, 2, 120);
    inst.applied_ms = Some(applied);
    let state = RowState {
        time_result: TimeRes::Normal,
        source: Source::Approve,
        check_ms: inst.corrected_ms,
        record_id: Some(ctx.record),
        supply: Some(index),
    };
    slot.timeline.push(Change {
        at: applied,
        state,
        cause: Cause::Supply(index),
    });
    let mut punch = Punch {
        record_id: ctx.record,
        check_ms: inst.corrected_ms,
        source: Source::Approve,
        time_result: TimeRes::Normal,
        supply: Some(index),
        happened_ms: applied,
        gone_ms: None,
    };
    if chance(rng, ctx.config.rates.revert) {
        let at = applied + rng.random_range(1..=5) * DAY_MS + minutes(rng, 0, 600);
        inst.reverted_ms = Some(at);
        punch.gone_ms = Some(at);
        let back = slot.timeline[0].state;
        slot.timeline.push(Change {
            at,
            state: back,
            cause: Cause::Revert(index),
        });
    }
    slot.punches.push(punch);
}

/// What an employee writes when revoking an approved 补卡 (the remark of the revoke instance's
/// start), picked by the original's index.
const REVOKE_REASONS: [&str; 3] = ["撤销补卡", "已找到打卡记录，撤销补卡", "补卡时间填错，撤销"];

/// [`REVOKE_REASONS`] under `SimConfig::hostile_text`: a terminal escape, a formula, forged
/// lines.
const HOSTILE_REVOKE_REASONS: [&str; 3] = [
    "撤销补卡\u{1b}[2J\u{1b}[31m",
    "=HYPERLINK(\"http://evil.example\",\"撤销补卡\")",
    "补卡时间填错\r\nfindings\n  none",
];

/// Appends, after every 补卡, the instance DingTalk attaches to each revoked one (kb:1517), and
/// links the two (`Instance::main` / `Instance::attached`). Nothing is drawn from the employee-day
/// streams: each revoke instance's numbers come from a stream of its own seeded from the seed and
/// the original's index, so the 补卡 and slots are the same whatever the revert rate.
///
/// The revoke is created 2 to 8 hours and agreed 5 to 110 minutes before the revert shows on
/// the slot (so the revert follows its approval by an apply lag, like a 补卡's correction).
fn attach_revoke_instances(config: &SimConfig, instances: &mut Vec<Instance>) {
    let reverted: Vec<(usize, i64)> = instances
        .iter()
        .enumerate()
        .filter_map(|(i, inst)| inst.reverted_ms.map(|at| (i, at)))
        .collect();
    for (original, at) in reverted {
        let mut rng = rng_for(config.seed, 11, original as u64, 0);
        let index = instances.len() as u32;
        let main = &instances[original];
        let created = at - minutes(&mut rng, 120, 480);
        let decided = at - minutes(&mut rng, 5, 110);
        let pick = original % REVOKE_REASONS.len();
        let mut inst = Instance {
            id: String::new(),
            business_id: format!(
                "{}{:06}",
                super::world::local_date(created).format("%Y%m%d"),
                index
            ),
            created_ms: created,
            decided_ms: decided,
            outcome: Outcome::Agree,
            applied_ms: None,
            reverted_ms: None,
            reason: if config.hostile_text {
                HOSTILE_REVOKE_REASONS[pick]
            } else {
                REVOKE_REASONS[pick]
            },
            task_id: 50_000_000_000 + i64::from(index),
            biz_action: "REVOKE",
            main: Some(original as u32),
            attached: None,
            ..main.clone()
        };
        inst.id = format!("{}{index:06}{}", alnum(&mut rng, 12), created / 1000);
        if config.hostile_text {
            inst.business_id = hostile_business_id(&inst.business_id, index);
        }
        instances[original].attached = Some(index);
        instances.push(inst);
    }
}

fn ctx_template_photo(ctx: &FileCtx<'_>) -> bool {
    // Template 1 (the second 补卡 template) has a photo field.
    ctx.employees[ctx.u].template == 1
}

fn assemble(
    config: SimConfig,
    employees: Vec<Employee>,
    departments: Vec<Department>,
    templates: Vec<Template>,
    instances: Vec<Instance>,
) -> World {
    let user_index: HashMap<String, usize> = employees
        .iter()
        .enumerate()
        .map(|(i, e)| (e.id.clone(), i))
        .collect();
    let dept_index = departments
        .iter()
        .enumerate()
        .map(|(i, d)| (d.id, i))
        .collect();
    let instance_index = instances
        .iter()
        .enumerate()
        .map(|(i, inst)| (inst.id.clone(), i as u32))
        .collect();
    let mut by_template = vec![Vec::new(); templates.len()];
    for (i, inst) in instances.iter().enumerate() {
        by_template[inst.template].push(i as u32);
    }
    for list in &mut by_template {
        list.sort_by(|&a, &b| {
            let (a, b) = (&instances[a as usize], &instances[b as usize]);
            (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id))
        });
    }
    let mut check_events: Vec<i64> = employees
        .iter()
        .flat_map(|e| e.days.iter().flatten())
        .flat_map(|day| day.slots.iter())
        .flat_map(|slot| slot.punches.iter().map(|p| p.happened_ms))
        .collect();
    check_events.sort_unstable();
    let mut supply_events: Vec<i64> = instances.iter().map(|i| i.decided_ms).collect();
    supply_events.sort_unstable();
    World {
        config,
        employees,
        departments,
        templates,
        instances,
        moves: Vec::new(),
        admin: 0,
        user_index,
        dept_index,
        instance_index,
        by_template,
        check_events,
        supply_events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the job rejects in a user id: control characters and the slot-key separator `|`.
    fn valid_user_id(id: &str) -> bool {
        !id.is_empty()
            && id.chars().count() <= 64
            && !id.chars().any(|c| c.is_control() || c == '|')
    }

    fn hostile(text: &str) -> bool {
        text.starts_with(['=', '+', '-', '@', '\t'])
            || text.chars().any(|c| {
                c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            })
    }

    #[test]
    fn hostile_text_changes_the_strings_and_nothing_else() {
        let plain_config = SimConfig::new(7, 40);
        let hostile_config = SimConfig {
            hostile_text: true,
            ..plain_config.clone()
        };
        let (plain, hostile_world) = (generate(&plain_config), generate(&hostile_config));
        assert_eq!(plain.instances.len(), hostile_world.instances.len());
        assert!(plain.instances.len() > 10, "the world files 补卡");
        for (p, h) in plain.instances.iter().zip(&hostile_world.instances) {
            assert_eq!(
                (
                    &p.id,
                    p.user,
                    p.day,
                    p.slot,
                    p.created_ms,
                    p.decided_ms,
                    p.outcome
                ),
                (
                    &h.id,
                    h.user,
                    h.day,
                    h.slot,
                    h.created_ms,
                    h.decided_ms,
                    h.outcome
                )
            );
            assert!(
                h.business_id.contains(&p.business_id),
                "{:?}",
                h.business_id
            );
            assert!(hostile(&h.business_id), "{:?}", h.business_id);
            assert!(hostile(h.reason), "{:?}", h.reason);
            let plain_reason = REASONS.iter().position(|r| *r == p.reason);
            let hostile_reason = HOSTILE_REASONS.iter().position(|r| *r == h.reason);
            assert_eq!(plain_reason, hostile_reason);
        }
        for (p, h) in plain.employees.iter().zip(&hostile_world.employees) {
            assert!(h.id.contains(&p.id) && valid_user_id(&h.id), "{:?}", h.id);
            assert!(h.name.starts_with(&p.name) && h.name.contains('\u{1b}'));
            assert_eq!(p.days, h.days);
        }
        let shapes = hostile_world
            .employees
            .iter()
            .filter(|e| hostile(&e.id))
            .count();
        assert!(shapes >= 30, "three of four user ids are hostile: {shapes}");
        let business: std::collections::HashSet<&str> = hostile_world
            .instances
            .iter()
            .map(|inst| inst.business_id.as_str())
            .collect();
        assert_eq!(
            business.len(),
            hostile_world.instances.len(),
            "business ids unique"
        );
    }

    #[test]
    fn department_moves_change_the_directory_over_time_and_nothing_else() {
        let mut still = SimConfig::new(7, 200);
        still.rates.department_move = 0.0;
        let mut moving = still.clone();
        moving.rates.department_move = 0.3;
        let (still, moving) = (generate(&still), generate(&moving));
        assert!(still.moves.is_empty());
        assert!(moving.moves.len() > 20, "{} moves", moving.moves.len());
        assert_eq!(still.employees, moving.employees);
        assert_eq!(still.departments, moving.departments);
        assert_eq!(still.instances, moving.instances);
        let (start, end) = (
            local_ms(moving.config.from, 0, 0),
            local_ms(moving.config.from, 0, 0) + i64::from(moving.config.days) * DAY_MS,
        );
        for made in &moving.moves {
            assert!(made.user != moving.admin && (start..end).contains(&made.at_ms));
            assert_eq!(moving.employees[made.user].departments[0], made.from);
            assert!(!moving.employees[made.user].departments.contains(&made.to));
            let before = moving.departments_at(made.user, made.at_ms - 1);
            let after = moving.departments_at(made.user, made.at_ms);
            assert_eq!((before[0], after[0]), (made.from, made.to));
            let (from, to) = (
                moving.department(made.from).unwrap(),
                moving.department(made.to).unwrap(),
            );
            assert!(moving.members_at(from, made.at_ms - 1).contains(&made.user));
            assert!(!moving.members_at(from, made.at_ms).contains(&made.user));
            assert!(!moving.members_at(to, made.at_ms - 1).contains(&made.user));
            assert!(moving.members_at(to, made.at_ms).contains(&made.user));
        }
    }

    #[test]
    fn departments_have_unique_chinese_names() {
        let world = generate(&SimConfig::new(3, 2_000));
        let names: std::collections::HashSet<&str> =
            world.departments.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), world.departments.len());
        assert!(world.departments.iter().all(|d| {
            d.name
                .chars()
                .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
        }));
    }
}
