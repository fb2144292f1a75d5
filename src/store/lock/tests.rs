//! Tests of the run lock: who holds it, when a holder is gone, the guard and its heartbeat.

use super::process::{boot_id, start_ticks};
use super::*;
use crate::store::test_support::{at, day, new_run, store};

/// A process id no Linux system hands out (above `PID_MAX_LIMIT`).
const DEAD_PID: u32 = u32::MAX - 1;

fn holder(pid: u32, host: &str, hour: u32) -> LockHolder {
    LockHolder {
        pid,
        host: host.to_owned(),
        process_start: None,
        token: new_token(),
        run_id: None,
        acquired_at: at(hour),
    }
}

/// This process as another acquisition would record it, but started `ticks_later` clock
/// ticks after this process really did: what a process reusing this pid looks like.
#[cfg(target_os = "linux")]
fn this_pid_started_later(ticks_later: u64, hour: u32) -> LockHolder {
    let mut holder = LockHolder::current(None, at(hour));
    let start = holder
        .process_start
        .as_mut()
        .expect("Linux tells a process's start");
    start.start_ticks += ticks_later;
    holder
}

fn nothing() {}

#[test]
fn the_start_time_is_field_22_counted_after_the_last_parenthesis() {
    let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                987654 1000 10 18446744073709551615";
    assert_eq!(start_ticks(stat), Some(987_654));
    assert_eq!(start_ticks("4242 (x) S 1 2"), None);
    assert_eq!(start_ticks("no parenthesis"), None);
}

#[cfg(target_os = "linux")]
#[test]
fn this_process_has_a_start_and_a_boot_id() {
    let start = ProcessStart::of(std::process::id()).expect("this process's start");
    assert_eq!(Some(start.boot_id.clone()), boot_id());
    assert!(start.start_ticks > 0);
    assert_eq!(ProcessStart::of(DEAD_PID), None);
}

#[test]
fn a_second_acquire_fails_naming_the_live_holder() {
    let mut store = store();
    let first = LockHolder::current(Some(4), at(1));
    let second = LockHolder::current(None, at(1) + Duration::minutes(1));
    assert_eq!(store.acquire_lock(&first).unwrap(), LockAcquired::Fresh);

    let err = store.acquire_lock(&second).unwrap_err();
    match &err {
        Error::Locked { holder } => assert_eq!(**holder, first),
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains(&format!("run 4, pid {}", first.pid)),
        "{err}"
    );
    assert_eq!(
        store.acquire_lock(&first).unwrap(),
        LockAcquired::AlreadyHeld
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_lock_held_by_a_dead_process_on_this_host_is_taken_over() {
    let mut store = store();
    // Dead, in this very pid namespace: its pid is evidence at once.
    let mut dead = holder(DEAD_PID, &current_host(), 1);
    dead.process_start = Some(ProcessStart {
        boot_id: boot_id().expect("Linux tells its boot id"),
        start_ticks: 1,
        pid_ns: process::own_pid_namespace(),
    });
    assert!(dead.process_start.as_ref().unwrap().pid_ns.is_some());
    store.acquire_lock(&dead).unwrap();
    let me = LockHolder::current(None, at(1));

    let acquired = store.acquire_lock(&me).unwrap();

    assert_eq!(
        acquired,
        LockAcquired::TookOver {
            previous: dead.clone(),
            gone: Gone::NoProcess,
        }
    );
    assert_eq!(store.lock_holder().unwrap(), Some(me));
    assert!(!store.heartbeat_lock(&dead, at(2)).unwrap());
}

#[cfg(target_os = "linux")]
#[test]
fn a_holder_in_another_pid_namespace_is_not_judged_by_this_proc_until_it_missed_three_beats() {
    // A container sharing the host name and the store: its pid means nothing to our /proc.
    let mut store = store();
    let mut elsewhere = holder(DEAD_PID, &current_host(), 1);
    elsewhere.process_start = Some(ProcessStart {
        boot_id: boot_id().expect("Linux tells its boot id"),
        start_ticks: 1,
        pid_ns: Some("pid:[1]".to_owned()),
    });
    store.acquire_lock(&elsewhere).unwrap();
    let beats = Duration::seconds(30 * i64::from(PROCESS_EVIDENCE_AFTER_BEATS));

    let early = LockHolder::current(None, at(1) + beats);
    assert!(matches!(
        store.acquire_lock(&early),
        Err(Error::Locked { .. })
    ));
    // Not known either (a lock row from before pid namespaces were recorded): the same.
    let late = LockHolder::current(None, at(1) + beats + Duration::seconds(1));
    assert_eq!(
        store.acquire_lock(&late).unwrap(),
        LockAcquired::TookOver {
            previous: elsewhere,
            gone: Gone::NoProcess,
        }
    );
    let mut store = self::store();
    let unknown = holder(DEAD_PID, &current_host(), 1);
    store.acquire_lock(&unknown).unwrap();
    assert!(matches!(
        store.acquire_lock(&early),
        Err(Error::Locked { .. })
    ));
    assert!(store.acquire_lock(&late).is_ok());
}

#[cfg(target_os = "linux")]
#[test]
fn a_lock_whose_pid_now_belongs_to_a_process_started_later_is_taken_over() {
    let mut store = store();
    // This very pid, alive, but not the process that took the lock: its heartbeat is fresh.
    let reused = this_pid_started_later(1, 1);
    store.acquire_lock(&reused).unwrap();
    let me = LockHolder::current(None, at(1));

    let acquired = store.acquire_lock(&me).unwrap();

    assert_eq!(
        acquired,
        LockAcquired::TookOver {
            previous: reused,
            gone: Gone::PidReused,
        }
    );
}

#[cfg(target_os = "linux")]
#[test]
fn a_lock_taken_before_a_reboot_is_taken_over() {
    let mut store = store();
    let mut before_reboot = LockHolder::current(None, at(1));
    before_reboot
        .process_start
        .as_mut()
        .expect("Linux tells a process's start")
        .boot_id = "00000000-0000-0000-0000-000000000000".into();
    store.acquire_lock(&before_reboot).unwrap();

    let acquired = store
        .acquire_lock(&LockHolder::current(None, at(1)))
        .unwrap();
    assert!(
        matches!(
            acquired,
            LockAcquired::TookOver {
                gone: Gone::Rebooted,
                ..
            }
        ),
        "{acquired:?}"
    );
}

#[test]
fn a_live_holder_with_a_stale_heartbeat_is_taken_over_even_on_this_host() {
    let mut store = store();
    // This very process, its start and all: only the heartbeat says it is gone.
    let wedged = LockHolder::current(None, at(1));
    store.acquire_lock(&wedged).unwrap();
    let too_early = LockHolder::current(None, at(1) + LOCK_STALE_AFTER);
    assert!(matches!(
        store.acquire_lock(&too_early),
        Err(Error::Locked { .. })
    ));

    let late_enough = LockHolder::current(None, at(1) + LOCK_STALE_AFTER + Duration::seconds(1));
    let acquired = store.acquire_lock(&late_enough).unwrap();
    assert_eq!(
        acquired,
        LockAcquired::TookOver {
            previous: wedged,
            gone: Gone::StaleHeartbeat {
                age: LOCK_STALE_AFTER + Duration::seconds(1)
            },
        }
    );
}

#[test]
fn a_holder_on_another_host_is_presumed_gone_only_after_its_heartbeat_goes_stale() {
    let mut store = store();
    let remote = holder(1, "other-host", 1);
    store.acquire_lock(&remote).unwrap();
    assert!(store.heartbeat_lock(&remote, at(3)).unwrap());

    let mut too_early = holder(2, "this-host", 3);
    too_early.acquired_at += LOCK_STALE_AFTER;
    assert!(matches!(
        store.acquire_lock(&too_early),
        Err(Error::Locked { .. })
    ));

    let late_enough = holder(2, "this-host", 4);
    let acquired = store.acquire_lock(&late_enough).unwrap();
    assert!(
        matches!(acquired, LockAcquired::TookOver { .. }),
        "{acquired:?}"
    );
}

#[test]
fn taking_the_lock_marks_runs_left_running_abandoned_and_leaves_finished_ones_alone() {
    let mut store = store();
    let finished = store.begin_run(&new_run(day(1), day(7))).unwrap();
    store
        .finish_run(
            finished,
            &runs::RunEnd {
                outcome: runs::RunOutcome::Done,
                counts: Default::default(),
                errors: vec![],
                deferred_json: "[]".into(),
                finished_at: at(3),
            },
        )
        .unwrap();
    let gone = holder(1, "other-host", 4);
    store.acquire_lock(&gone).unwrap();
    let killed = store.begin_run(&new_run(day(8), day(14))).unwrap();
    let taker = holder(2, "this-host", 5);

    store.acquire_lock(&taker).unwrap();

    let killed = store.run(killed).unwrap().unwrap();
    assert_eq!(killed.outcome, Some(runs::RunOutcome::Abandoned));
    assert_eq!(killed.outcome_name(), "abandoned");
    assert_eq!(killed.finished_at, Some(at(5)), "when it was taken over");
    assert_eq!(killed.errors.len(), 1);
    assert!(
        killed.errors[0].contains("taken over") && killed.errors[0].contains("heartbeat"),
        "{:?}",
        killed.errors
    );
    let finished = store.run(finished).unwrap().unwrap();
    assert_eq!(finished.outcome, Some(runs::RunOutcome::Done));
    assert_eq!(finished.finished_at, Some(at(3)));
}

#[test]
fn a_run_left_running_under_a_released_lock_is_abandoned_by_the_next_lock() {
    let mut store = store();
    let killed = store.begin_run(&new_run(day(1), day(7))).unwrap();
    assert_eq!(
        store.acquire_lock(&holder(2, "this-host", 5)).unwrap(),
        LockAcquired::Fresh
    );
    let killed = store.run(killed).unwrap().unwrap();
    assert_eq!(killed.outcome, Some(runs::RunOutcome::Abandoned));
    assert!(
        killed.errors[0].contains("no run holding the lock"),
        "{:?}",
        killed.errors
    );
}

#[test]
fn release_by_a_non_holder_does_nothing() {
    let mut store = store();
    let holder_now = LockHolder::current(Some(1), at(1));
    let stranger = LockHolder::current(Some(2), at(1));
    store.acquire_lock(&holder_now).unwrap();

    assert!(!store.release_lock(&stranger).unwrap());
    assert_eq!(store.lock_holder().unwrap(), Some(holder_now.clone()));
    assert!(store.release_lock(&holder_now).unwrap());
    assert_eq!(store.lock_holder().unwrap(), None);
    assert_eq!(store.acquire_lock(&stranger).unwrap(), LockAcquired::Fresh);
}

#[test]
fn a_heartbeat_records_the_run_id_once_known() {
    let mut store = store();
    let mut me = LockHolder::current(None, at(1));
    store.acquire_lock(&me).unwrap();
    me.run_id = Some(9);
    assert!(store.heartbeat_lock(&me, at(2)).unwrap());
    assert_eq!(store.lock_holder().unwrap().unwrap().run_id, Some(9));
}

#[test]
fn the_guard_renews_the_heartbeat_and_releases_the_lock_when_dropped() {
    let mut store = store();
    let lock = store
        .lock_run(LockHolder::current(None, at(1)), nothing)
        .unwrap();
    let soon = at(1) + Duration::minutes(1);
    assert!(
        store
            .acquire_lock(&LockHolder::current(None, soon))
            .is_err()
    );
    assert!(lock.heartbeat(soon).unwrap());
    drop(lock);
    assert_eq!(store.lock_holder().unwrap(), None);

    let lock = store
        .lock_run(LockHolder::current(None, at(3)), nothing)
        .unwrap();
    assert!(lock.release().unwrap());
    assert_eq!(store.lock_holder().unwrap(), None);
}

/// Polls `ready` every millisecond for up to 10 s.
fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + StdDuration::from_secs(10);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(StdDuration::from_millis(1));
    }
}

#[test]
fn the_guard_beats_on_its_own_while_the_run_does_nothing_with_it() {
    let mut store = store();
    // Acquired two years ago: only the guard's own beats can make the heartbeat fresh.
    let long_ago = Utc::now() - Duration::days(730);
    let lock = store
        .lock_run_beating(
            LockHolder::current(None, long_ago),
            StdDuration::from_millis(5),
            nothing,
        )
        .unwrap();
    eventually("the heartbeat is renewed", || {
        let (_, heartbeat) = read_lock(&store.conn, &store.location).unwrap().unwrap();
        Utc::now() - heartbeat < LOCK_STALE_AFTER
    });
    assert!(matches!(
        store.acquire_lock(&LockHolder::current(None, Utc::now())),
        Err(Error::Locked { .. })
    ));
    assert!(lock.release().unwrap());
}

#[test]
fn a_guard_whose_lock_was_taken_over_calls_on_lost_and_stops_beating() {
    let mut store = store();
    let lost = Arc::new(AtomicBool::new(false));
    let lock = store
        .lock_run_beating(
            LockHolder::current(None, at(1)),
            StdDuration::from_millis(5),
            {
                let lost = lost.clone();
                move || lost.store(true, Ordering::SeqCst)
            },
        )
        .unwrap();
    let holder = store.lock_holder().unwrap().unwrap();
    assert!(store.release_lock(&holder).unwrap());
    let taker = LockHolder::current(None, at(2));
    store.acquire_lock(&taker).unwrap();

    eventually("on_lost is called", || lost.load(Ordering::SeqCst));
    assert!(!lock.heartbeat(at(3)).unwrap());
    assert!(!lock.release().unwrap(), "the taker's lock is not released");
    assert_eq!(store.lock_holder().unwrap(), Some(taker));
}

#[test]
fn the_lock_state_says_whether_and_why_its_holder_is_presumed_gone() {
    let mut store = store();
    assert_eq!(store.lock_state(at(1)).unwrap(), None);
    let me = LockHolder::current(None, at(1));
    store.acquire_lock(&me).unwrap();

    let alive = store
        .lock_state(at(1) + Duration::minutes(1))
        .unwrap()
        .unwrap();
    assert_eq!(
        (alive.holder, alive.heartbeat, alive.gone),
        (me, at(1), None)
    );
    let stale = store.lock_state(at(2)).unwrap().unwrap();
    assert_eq!(
        stale.gone,
        Some(Gone::StaleHeartbeat {
            age: Duration::hours(1)
        })
    );
}
