//! The e-mail sink, end to end: the real binary against the simulator, mailing the monthly
//! report to a local SMTP receiver that speaks real SMTP over loopback (with a password). The
//! month's report comes once, on `[report] monthly_day`, with the HTML body and the workbook
//! attached; while the mail server refuses, it waits, and a later night delivers it, once by
//! key (Message-ID); and after a crash between mailing and recording, the rerun mails the same
//! key again (at least once), nothing lost.

use chrono::TimeZone;

use crate::support::SHANGHAI;
use crate::support::bin::{Rig, assert_code, stderr};
use crate::support::smtp::{Options, SmtpReceiver};
use crate::support::stop;

const PASSWORD_ENV: &str = "RECONCILE_TEST_SMTP_PASSWORD";
const PASSWORD: &str = "smtp-pass-8642";

fn at(day: u32) -> chrono::DateTime<chrono::Utc> {
    SHANGHAI
        .with_ymd_and_hms(2026, 11, day, 2, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monthly_report_is_mailed_once_with_its_workbook_even_after_an_outage() {
    // Arrange: October in full; a mail server requiring a login; an e-mail sink for HR.
    let mut receiver = SmtpReceiver::start(Options {
        cert: None,
        auth: Some(("reconcile".to_owned(), PASSWORD.to_owned())),
        implicit_tls: false,
    })
    .await;
    let mut rig = Rig::with(75, |config| config.days = 31).await;
    rig.env.push((PASSWORD_ENV.to_owned(), PASSWORD.to_owned()));
    rig.write_config(&format!(
        "[report]\nmonthly_day = 3\n\n[[sink]]\nname = \"hr-mail\"\nkind = \"email\"\n\
         smtp_host = \"127.0.0.1\"\nsmtp_port = {}\ntls = \"none\"\nusername = \"reconcile\"\n\
         password_env = \"{PASSWORD_ENV}\"\nfrom = \"考勤核对 <reconcile@example.com>\"\n\
         to = [\"人事部 <hr@example.com>\"]\ntimeout_secs = 5\n",
        receiver.port()
    ));
    rig.as_of = at(2);
    let backfill = rig
        .bin(&[
            "backfill",
            "--from",
            "2026-10-01",
            "--to",
            "2026-10-31",
            "--yes",
        ])
        .await;
    assert_code(&backfill, 0);

    // Act + assert: on the day, the mail server is down: the run is not failed, nothing arrives.
    receiver.stop();
    rig.as_of = at(3);
    let down = rig.bin(&["run"]).await;
    assert_code(&down, 0);
    assert!(receiver.received().is_empty());
    assert!(!stderr(&down).contains(PASSWORD), "{}", stderr(&down));
    // As though the backoff had passed; the server is back: the next night mails it.
    let conn = rusqlite::Connection::open(rig.store_path()).unwrap();
    conn.execute(
        "UPDATE report_deliveries SET next_attempt_ms = 0 WHERE delivered_at_ms IS NULL",
        [],
    )
    .unwrap();
    receiver.restart().await;
    rig.as_of = at(4);
    assert_code(&rig.bin(&["run"]).await, 0);
    rig.as_of = at(5);
    assert_code(&rig.bin(&["run"]).await, 0);

    // Once, by key, with the HTML report and the workbook.
    let mails = receiver.received();
    assert_eq!(mails.len(), 1, "one mail: {mails:?}");
    let mail = &mails[0];
    assert_eq!(mail.authenticated_as.as_deref(), Some("reconcile"));
    assert_eq!(mail.rcpt_to, vec!["hr@example.com".to_owned()]);
    assert_eq!(
        mail.header("X-Reconcile-Report-Key"),
        Some("monthly_report:2026-10")
    );
    assert!(mail.message_id().is_some());
    let parts = mail.parts();
    let html = parts
        .iter()
        .find(|part| part.content_type().starts_with("text/html"))
        .expect("an HTML part");
    assert!(html.text().contains("考勤核对报告"), "{}", html.text());
    let workbook = parts
        .iter()
        .find(|part| part.file_name().is_some())
        .expect("an attachment");
    assert_eq!(
        workbook.file_name().as_deref(),
        Some("考勤核对-2026-10.xlsx")
    );
    assert!(
        workbook
            .content_type()
            .starts_with("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    );
    // The password is in no file of the run's directory (store, its WAL, the metrics).
    for entry in std::fs::read_dir(rig.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(PASSWORD.len())
                    .any(|w| w == PASSWORD.as_bytes()),
                "{} holds the SMTP password",
                path.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_mailing_and_recording_mails_the_same_key_again_and_loses_nothing() {
    // Arrange: an e-mail sink taking the nightly summary; the mail server takes each message,
    // then holds its acknowledgement.
    let receiver = SmtpReceiver::start(Options::default()).await;
    let mut rig = Rig::new(76).await;
    rig.write_config(&format!(
        "[[sink]]\nname = \"hr-mail\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\n\
         smtp_port = {}\ntls = \"none\"\nfrom = \"reconcile@example.com\"\n\
         to = [\"hr@example.com\"]\nsend = [\"nightly_summary\"]\n",
        receiver.port()
    ));
    receiver.set_holding(true);

    // Act: killed while the server holds the acknowledgement: mailed, not recorded.
    let mut running = stop::spawn(rig.args(&["run"]), rig.env.clone());
    running
        .until("the mail server took the summary", || {
            !receiver.received().is_empty()
        })
        .await;
    running.signal("KILL");
    let finished = running.finish().await;
    assert_eq!(finished.code, None, "killed: {}", finished.stderr);
    receiver.set_holding(false);
    // The rerun (the killed run's lock goes stale with its process) mails it again.
    rig.as_of += chrono::Duration::minutes(10);
    assert_code(&rig.bin(&["run"]).await, 0);

    // Assert: the first night's summary came twice under one key and one Message-ID (a
    // receiver deduplicates on either); deduplicated, nothing is lost and nothing is extra.
    let mut by_key: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for mail in receiver.received() {
        let key = mail
            .header("X-Reconcile-Report-Key")
            .expect("every mail names its report")
            .to_owned();
        let id = mail.message_id().expect("a Message-ID").to_owned();
        by_key.entry(key).or_default().push(id);
    }
    let first = &by_key["nightly_summary:run:1"];
    assert_eq!(first.len(), 2, "{by_key:?}");
    assert_eq!(first[0], first[1], "one Message-ID for one report");
    assert_eq!(
        by_key.keys().collect::<Vec<_>>(),
        vec!["nightly_summary:run:1", "nightly_summary:run:2"],
        "{by_key:?}"
    );
    assert_eq!(by_key["nightly_summary:run:2"].len(), 1);
}
