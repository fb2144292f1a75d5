use super::*;
use crate::dingtalk::MemoryRecorder;
use crate::domain::FixedClock;

fn client(ip_ban: IpBanPolicy) -> Client {
    let base = url::Url::parse("http://127.0.0.1:9").unwrap();
    let mut config = ClientConfig::new(base.clone(), base, "key", "secret".to_owned().into());
    config.ip_ban = ip_ban;
    config.throttle_retry_delay = Duration::from_secs(1);
    config.retry_base_delay = Duration::from_millis(100);
    let clock = Arc::new(FixedClock(chrono::DateTime::UNIX_EPOCH));
    Client::new(config, clock, Arc::new(MemoryRecorder::default())).unwrap()
}

#[test]
fn a_budget_carved_out_of_another_counts_against_both_and_a_raised_stop_refuses_all() {
    let stop = StopFlag::new();
    let run = Budget::new(3, stop.clone());
    let step = run.within(5);
    assert_eq!((step.take(), step.take()), (Ok(()), Ok(())));
    assert_eq!((run.spent(), step.spent()), (2, 2));
    assert_eq!(run.take(), Ok(()));
    assert_eq!(
        step.take(),
        Err(3),
        "the run's limit refuses the step's call"
    );
    assert_eq!(step.spent(), 2, "a refused claim is rolled back");
    step.give_back();
    assert_eq!((run.spent(), run.left(), step.left()), (2, 1, 4));
    assert!(stop.raise());
    assert!(!stop.raise(), "the flag is raised once");
    assert_eq!(run.take(), Err(3));
    assert_eq!(step.take(), Err(5));
    assert_eq!(run.spent(), 2);
}

fn error(kind: &str) -> Error {
    let endpoint = "/attendance/list".to_owned();
    match kind {
        "throttled" => Error::Throttled {
            endpoint,
            code: "90018".into(),
        },
        "server" => Error::Server {
            endpoint,
            status: 503,
        },
        "ban" => Error::IpBanned {
            endpoint,
            wait: Duration::from_secs(300),
        },
        _ => Error::NotFound {
            endpoint,
            code: "x".into(),
            what: "y".into(),
        },
    }
}

#[test]
fn throttling_waits_about_a_second_and_other_transient_errors_back_off_exponentially() {
    let client = client(IpBanPolicy::GiveUp);
    let throttled = client.retry_delay(&error("throttled"), 3).unwrap();
    assert!((Duration::from_secs(1)..Duration::from_millis(1_200)).contains(&throttled));
    let first = client.retry_delay(&error("server"), 1).unwrap();
    let third = client.retry_delay(&error("server"), 3).unwrap();
    assert!((Duration::from_millis(100)..Duration::from_millis(150)).contains(&first));
    assert!((Duration::from_millis(400)..Duration::from_millis(600)).contains(&third));
    assert!(client.retry_delay(&error("server"), 40).unwrap() <= MAX_BACKOFF * 2);
    assert_eq!(client.retry_delay(&error("not found"), 1), None);
}

#[test]
fn an_ip_ban_is_waited_out_only_when_the_policy_allows_that_long() {
    assert_eq!(
        client(IpBanPolicy::GiveUp).retry_delay(&error("ban"), 1),
        None
    );
    let patient = client(IpBanPolicy::Wait {
        max: Duration::from_secs(600),
    });
    assert_eq!(
        patient.retry_delay(&error("ban"), 1),
        Some(Duration::from_secs(300))
    );
    let impatient = client(IpBanPolicy::Wait {
        max: Duration::from_secs(60),
    });
    assert_eq!(impatient.retry_delay(&error("ban"), 1), None);
}

#[test]
fn invalid_limits_are_refused_when_the_client_is_built() {
    let base = url::Url::parse("http://127.0.0.1:9").unwrap();
    let mut config = ClientConfig::new(base.clone(), base, "key", "secret".to_owned().into());
    config.qps_per_api = 0;
    let clock = Arc::new(FixedClock(chrono::DateTime::UNIX_EPOCH));
    let err = Client::new(config, clock, Arc::new(MemoryRecorder::default())).unwrap_err();
    assert!(err.to_string().contains("qps_per_api"), "{err}");
    assert!(err.is_fatal());
}
