//! Chaos: a backfill against a simulator answering with random faults (the hostile kinds too),
//! killed (SIGKILL) at random moments, resumed until done, for several seeds. Whatever happened
//! on the way, it must end with exactly what an undisturbed backfill of the same world leaves
//! (journal, ledger, snapshot) and with the simulator's truth; a file sink holds each correction
//! exactly once; a webhook receiver failing 40 % of its requests has every correction
//! acknowledged or still queued; and the store never counts fewer metered calls than the
//! simulator metered.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dingtalk_sim::{FaultKind, FaultRule, ForeignMode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::support::bin::{Rig, assert_code, run_binary};
use crate::support::outcome::outcome;
use crate::support::truth::{assert_journal_is_the_truth, journaled, visible_to_a_backfill};
use crate::support::webhook::{Mode, set_mode, spawn_receiver};
use crate::support::{SHANGHAI, stop};

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-21";
/// Days of the simulated world: 2026-10-01 ..= 2026-10-21, three backfill chunks.
const DAYS: u32 = 21;
const SECRET: &str = "chaos-webhook-secret";
const SECRET_ENV: &str = "RECONCILE_TEST_CHAOS_WEBHOOK_SECRET";
/// How long the call chosen for a kill is held (the process is killed while it waits).
const HELD_MS: u64 = 7_000;
/// Disturbed attempts per seed before the faults are switched off.
const ATTEMPTS: usize = 6;
/// Enough employees for every seed's world to hold corrections of several classes.
const EMPLOYEES: usize = 60;

fn world(config: &mut dingtalk_sim::SimConfig) {
    config.employees = EMPLOYEES;
    config.days = DAYS;
}

fn backfill_args(rig: &Rig, resume: bool) -> Vec<String> {
    let mut args = vec!["backfill", "--from", FROM, "--to", TO, "--yes"];
    if resume {
        args.push("--resume");
    }
    rig.args(&args)
}

/// The paths a fault may target (`None`: any DingTalk path, token calls included).
const PATHS: [Option<&str>; 5] = [
    None,
    Some("/attendance/list"),
    Some("/attendance/listRecord"),
    Some("/v1.0/workflow/processes/instanceIds/query"),
    Some("/v1.0/workflow/processInstances"),
];

/// One random fault rule: a kind DingTalk, the network or something in between really produces
/// (the hostile kinds included), on a random path, after a random number of calls, a few times.
/// Left out: `empty_pages`, which a job cannot tell from a schedule really removed, and the
/// IP ban, which only a wait ends.
fn random_fault(rng: &mut ChaCha8Rng) -> FaultRule {
    let mode = [
        ForeignMode::User,
        ForeignMode::Date,
        ForeignMode::Time,
        ForeignMode::Number,
    ][rng.random_range(0..4)];
    let kind = match rng.random_range(0..16) {
        0 | 1 => FaultKind::ServerError {
            status: [500, 502, 503][rng.random_range(0..3)],
        },
        2 => FaultKind::Throttle,
        3 => FaultKind::Throttle429Json,
        4 | 5 => FaultKind::Malformed,
        6 | 7 => FaultKind::InvalidateTokens,
        8 => FaultKind::Slow {
            delay_ms: rng.random_range(10..200),
        },
        9 => FaultKind::QuotaExhausted,
        10 => FaultKind::Redirect {
            status: [302, 307][rng.random_range(0..2)],
            location: "http://127.0.0.1:9/elsewhere".to_owned(),
        },
        11 => FaultKind::HtmlPage,
        12 => FaultKind::EndlessPages {
            repeat: rng.random_bool(0.5),
        },
        13 => FaultKind::EndlessCursor,
        14 => FaultKind::ForeignRows { mode },
        _ => FaultKind::HostileStrings,
    };
    let mut rule = FaultRule::new(PATHS[rng.random_range(0..PATHS.len())], kind);
    rule.skip = rng.random_range(0..25);
    rule.times = rng.random_range(1..4);
    rule
}

/// Whether the call chosen for the kill has arrived (its rule fired and disarmed).
fn kill_call_reached(sim: &dingtalk_sim::SimState) -> bool {
    !sim.armed_faults()
        .iter()
        .any(|rule| rule.kind == FaultKind::Slow { delay_ms: HELD_MS })
}

/// What the disturbed attempts of one seed went through.
#[derive(Debug, Default)]
struct Disturbed {
    kills: usize,
    faults_fired: usize,
}

async fn chaos(seed: u64) -> Disturbed {
    // Arrange: an undisturbed backfill of the same world is the reference.
    let reference = Rig::with(seed, world).await;
    assert_code(
        &run_binary(backfill_args(&reference, false), Vec::new()).await,
        0,
    );
    let expected = outcome(&reference, FROM, TO);
    assert!(
        !expected.corrections.is_empty(),
        "seed {seed}: nothing to find"
    );

    let (url, receiver) = spawn_receiver(SECRET).await;
    let mut rig = Rig::with(seed, world).await;
    rig.env.push((SECRET_ENV.to_owned(), SECRET.to_owned()));
    let file = rig.dir.path().join("corrections.jsonl");
    rig.write_config(&format!(
        "[[sink]]\nname = \"hr\"\nkind = \"webhook\"\nurl = {url:?}\nsecret_env = \"{SECRET_ENV}\"\n\
         [[sink]]\nname = \"archive\"\nkind = \"file\"\npath = {file:?}\n",
        url = url.as_str(),
        file = file.display().to_string(),
    ));
    set_mode(
        &receiver,
        Mode::Flaky {
            percent: 40,
            seed: seed ^ 0x5EED,
        },
    );

    // Act: disturbed attempts, each with fresh random faults and, most of the time, a kill
    // inside a random call.
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut log = Vec::new();
    let mut disturbed = Disturbed::default();
    for attempt in 0..ATTEMPTS {
        let mut rules: Vec<FaultRule> = (0..rng.random_range(1..5))
            .map(|_| random_fault(&mut rng))
            .collect();
        let kill_at = rng.random_bool(0.8).then(|| rng.random_range(0..60u32));
        if let Some(depth) = kill_at {
            let mut held = FaultRule::new(None, FaultKind::Slow { delay_ms: HELD_MS });
            held.skip = depth;
            rules.insert(0, held);
        }
        let kinds: Vec<String> = rules
            .iter()
            .map(|rule| format!("{:?}", rule.kind))
            .collect();
        let armed_times: u32 = rules.iter().map(|rule| rule.times).sum();
        rig.sim.arm_faults(rules);
        let mut running = stop::spawn(backfill_args(&rig, attempt > 0), rig.env.clone());
        let sim = rig.sim.state();
        let killed = match kill_at {
            Some(_) => {
                let held = running
                    .until_or_exit("held inside the call, or finished", || {
                        kill_call_reached(&sim)
                    })
                    .await;
                if held {
                    running.signal("KILL");
                }
                held
            }
            None => false,
        };
        let ended = running.finish().await;
        let left_times: u32 = rig
            .sim
            .state()
            .armed_faults()
            .iter()
            .map(|rule| rule.times)
            .sum();
        disturbed.faults_fired += (armed_times - left_times) as usize - usize::from(killed);
        disturbed.kills += usize::from(killed);
        if !killed {
            // Faults may leave it partial (2) or stop it as unavailable (3); nothing else.
            assert!(
                matches!(ended.code, Some(0 | 2 | 3)),
                "seed {seed} attempt {attempt}: exit {:?}; stderr:\n{}",
                ended.code,
                ended.stderr
            );
        }
        log.push(format!(
            "attempt {attempt}: faults {kinds:?}, kill at {kill_at:?}, killed {killed}, exit {:?}",
            ended.code
        ));
        if ended.code == Some(0) {
            break;
        }
    }
    rig.sim.arm_faults(Vec::new());
    // A 90020 blocks the rest of the quota month (`reconcile::blocked`); the simulator's were
    // one-off faults, not the month's quota spent: forget it, as the next month would.
    let month = rig
        .as_of
        .with_timezone(&SHANGHAI)
        .format("%Y-%m")
        .to_string();
    if rig.store().lift_quota_exhaustion(&month).unwrap() {
        log.push(format!("quota block of {month} lifted"));
    }
    // Undisturbed resumes until done (a resume may still meet the flaky webhook: that does not
    // make the backfill partial).
    let mut done = false;
    for _ in 0..3 {
        let output = run_binary(backfill_args(&rig, true), rig.env.clone()).await;
        if output.status.code() == Some(0) {
            done = true;
            break;
        }
        log.push(format!("resume exit {:?}", output.status.code()));
    }
    assert!(
        done,
        "seed {seed}: the backfill finishes once undisturbed\n{log:#?}"
    );
    eprintln!("seed {seed}:\n{}", log.join("\n"));

    // Assert: the same result as the undisturbed backfill, and the world's truth.
    let actual = outcome(&rig, FROM, TO);
    assert_eq!(
        actual.corrections, expected.corrections,
        "seed {seed}\n{log:#?}"
    );
    assert_eq!(actual.ledger, expected.ledger, "seed {seed}");
    assert_eq!(actual.snapshot, expected.snapshot, "seed {seed}");
    let store = rig.store();
    let visible = visible_to_a_backfill(&rig.sim, rig.as_of).await;
    assert_journal_is_the_truth(&journaled(&store), &visible);
    let journal: BTreeSet<String> = actual.corrections.keys().cloned().collect();

    // The file sink: each correction exactly once.
    let mut in_file: BTreeMap<String, u32> = BTreeMap::new();
    for line in std::fs::read_to_string(&file).unwrap_or_default().lines() {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let key = value["idempotency_key"].as_str().unwrap().to_owned();
        *in_file.entry(key).or_default() += 1;
    }
    assert!(
        in_file.values().all(|&n| n == 1),
        "seed {seed}: {in_file:?}"
    );
    let file_keys: BTreeSet<String> = in_file.keys().cloned().collect();
    let queued = |sink: &str| -> BTreeSet<String> {
        let db = rusqlite::Connection::open(rig.store_path()).unwrap();
        db.prepare("SELECT idempotency_key FROM outbox WHERE sink = ?1 AND delivered_at_ms IS NULL")
            .unwrap()
            .query_map([sink], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(
        file_keys
            .union(&queued("archive"))
            .cloned()
            .collect::<BTreeSet<_>>(),
        journal,
        "seed {seed}: the file holds every correction, or it is still queued for it"
    );

    // The webhook: every correction acknowledged or still queued; none lost, none unsigned.
    let receiver = receiver.lock().unwrap();
    let reached: BTreeSet<String> = receiver
        .acknowledged
        .union(&queued("hr"))
        .cloned()
        .collect();
    assert_eq!(
        reached, journal,
        "seed {seed}: every key acknowledged or queued"
    );
    assert_eq!(receiver.bad_signatures, 0);

    // The month: the store never counts fewer metered calls than DingTalk metered.
    let month = "2026-10";
    let counted = store.month_usage(month).unwrap().metered;
    let metered = rig
        .sim
        .stats()
        .metered_by_month
        .get(month)
        .copied()
        .unwrap_or(0);
    assert!(
        counted >= metered,
        "seed {seed}: the store counted {counted} metered calls, the simulator metered {metered}"
    );
    disturbed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfills_killed_and_faulted_at_random_end_like_an_undisturbed_one() {
    let mut kills = 0;
    let mut faults_fired = 0;
    for seed in [33, 41, 52, 7, 61] {
        let disturbed = tokio::time::timeout(Duration::from_secs(240), chaos(seed))
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: chaos within 4 minutes"));
        kills += disturbed.kills;
        faults_fired += disturbed.faults_fired;
    }
    eprintln!("chaos: {kills} kills and {faults_fired} faults met over five seeds");
    // The chaos really happened: processes were killed and faults met.
    assert!(kills >= 3, "{kills} kills");
    assert!(faults_fired >= 10, "{faults_fired} faults fired");
}
