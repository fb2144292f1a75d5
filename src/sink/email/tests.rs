//! The e-mail sink against the local SMTP receiver ([`super::test_smtp`]): real SMTP over
//! loopback, lettre unmocked.

use std::time::Duration;

use secrecy::SecretString;

use super::test_smtp::{Options, SmtpReceiver, TestCert, decode_words};
use super::*;
use crate::sink::message::{ReportKind, ReportMessage};

const PASSWORD: &str = "pa55-w0rd-never-shown";

fn sink(port: u16) -> EmailSink {
    EmailSink {
        smtp_host: "127.0.0.1".into(),
        smtp_port: Some(port),
        tls: EmailTls::None,
        username: None,
        password: None,
        from: "考勤核对 <reconcile@example.com>".parse().unwrap(),
        to: vec![
            "人事部 <hr@example.com>".parse().unwrap(),
            "payroll@example.com".parse().unwrap(),
        ],
        timeout: Duration::from_secs(5),
        ca_file: None,
    }
}

/// Bytes no text encoding would leave alone: every byte value, twice, and a zip-like header.
fn workbook_bytes() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04".to_vec();
    bytes.extend((0..=255u8).chain((0..=255u8).rev()));
    bytes
}

fn monthly(key: &str) -> ReportMessage {
    ReportMessage {
        key: key.into(),
        kind: ReportKind::MonthlyReport,
        subject: "考勤核对月报 2026-10：补卡 12 条，待处理 3 条".into(),
        markdown: "# 考勤核对 2026-10\n\n- 补卡已应用：12\n- 需要关注：3\n".into(),
        html: "<!doctype html><html><body><h1>考勤核对 2026-10</h1><p>需要关注：3</p>\
               <p>.a line starting with a dot</p></body></html>"
            .into(),
        attachment: Some(("考勤核对-2026-10.xlsx".into(), workbook_bytes())),
    }
}

#[tokio::test]
async fn a_monthly_report_arrives_with_its_html_text_attachment_and_key() {
    let receiver = SmtpReceiver::start(Options::default()).await;
    let sink = sink(receiver.port());
    let message = monthly("monthly_report:2026-10");
    send("hr-mail", &sink, &message).await.unwrap();

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let mail = &received[0];
    assert_eq!(mail.mail_from, "reconcile@example.com");
    assert_eq!(mail.rcpt_to, ["hr@example.com", "payroll@example.com"]);
    assert!(!mail.tls);
    assert_eq!(
        decode_words(mail.header("Subject").unwrap()),
        message.subject,
        "raw: {:?}",
        mail.header("Subject")
    );
    assert!(decode_words(mail.header("From").unwrap()).contains("考勤核对"));
    assert_eq!(
        mail.message_id(),
        Some(message_id("monthly_report:2026-10").as_str())
    );
    assert_eq!(
        mail.header(REPORT_KEY_HEADER),
        Some("monthly_report:2026-10")
    );
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/mixed")
    );

    let parts = mail.parts();
    let types: Vec<String> = parts.iter().map(|part| part.content_type()).collect();
    assert_eq!(types, ["text/plain", "text/html", XLSX_CONTENT_TYPE]);
    assert_eq!(parts[0].text().replace("\r\n", "\n"), message.markdown);
    assert_eq!(parts[1].text().replace("\r\n", "\n"), message.html);
    let attachment = &parts[2];
    assert_eq!(attachment.body, workbook_bytes());
    assert_eq!(
        attachment.file_name().as_deref(),
        Some("考勤核对-2026-10.xlsx"),
        "raw: {:?}",
        attachment.header("Content-Disposition")
    );
}

#[tokio::test]
async fn a_summary_without_attachment_is_a_plain_alternative() {
    let receiver = SmtpReceiver::start(Options::default()).await;
    let mut message = monthly("nightly_summary:run:42");
    message.kind = ReportKind::NightlySummary;
    message.attachment = None;
    send("hr-mail", &sink(receiver.port()), &message)
        .await
        .unwrap();
    let mail = &receiver.received()[0];
    assert!(
        mail.header("Content-Type")
            .unwrap()
            .starts_with("multipart/alternative")
    );
    let types: Vec<String> = mail
        .parts()
        .iter()
        .map(|part| part.content_type())
        .collect();
    assert_eq!(types, ["text/plain", "text/html"]);
}

#[tokio::test]
async fn a_resend_of_the_same_report_carries_the_same_message_id_another_report_another() {
    let receiver = SmtpReceiver::start(Options::default()).await;
    let sink = sink(receiver.port());
    send("hr-mail", &sink, &monthly("monthly_report:2026-10"))
        .await
        .unwrap();
    send("hr-mail", &sink, &monthly("monthly_report:2026-10"))
        .await
        .unwrap();
    send("hr-mail", &sink, &monthly("monthly_report:2026-11"))
        .await
        .unwrap();
    let ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|mail| mail.message_id().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[0], ids[1], "a resend is recognisable");
    assert_ne!(ids[0], ids[2]);
    // Stable across versions: sha256("monthly_report:2026-10"), first 32 hex digits.
    assert_eq!(ids[0], message_id("monthly_report:2026-10"));
    assert!(ids[0].starts_with('<') && ids[0].ends_with("@dingtalk-reconcile>"));
    assert_eq!(ids[0].len(), "<@dingtalk-reconcile>".len() + 32);
}

#[test]
fn the_message_id_is_a_digest_of_the_key() {
    // printf 'monthly_report:2026-10' | sha256sum
    let digest = hex::encode(Sha256::digest(b"monthly_report:2026-10"));
    assert_eq!(
        message_id("monthly_report:2026-10"),
        format!("<{}@dingtalk-reconcile>", &digest[..32])
    );
}

fn with_login(port: u16, password: &str) -> EmailSink {
    EmailSink {
        username: Some("reconcile".into()),
        password: Some(SecretString::from(password.to_owned())),
        ..sink(port)
    }
}

#[tokio::test]
async fn auth_with_the_right_password_delivers() {
    let receiver = SmtpReceiver::start(Options {
        auth: Some(("reconcile".into(), PASSWORD.into())),
        ..Options::default()
    })
    .await;
    send(
        "hr-mail",
        &with_login(receiver.port(), PASSWORD),
        &monthly("k1"),
    )
    .await
    .unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].authenticated_as.as_deref(), Some("reconcile"));
}

#[tokio::test]
async fn a_rejected_login_is_one_sentence_without_the_password() {
    let receiver = SmtpReceiver::start(Options {
        auth: Some(("reconcile".into(), PASSWORD.into())),
        ..Options::default()
    })
    .await;
    let wrong = "wr0ng-secret-value";
    let err = send(
        "hr-mail",
        &with_login(receiver.port(), wrong),
        &monthly("k1"),
    )
    .await
    .unwrap_err();
    assert!(receiver.received().is_empty());
    assert_eq!(receiver.failed_logins(), 1);
    let server = format!("127.0.0.1:{}", receiver.port());
    assert!(err.starts_with("email sink hr-mail: SMTP server "), "{err}");
    assert!(err.contains(&server), "{err}");
    assert!(err.contains("rejected the login"), "{err}");
    assert!(err.contains("535"), "{err}");
    assert!(err.contains("password_env"), "{err}");
    assert!(!err.contains(wrong) && !err.contains(PASSWORD), "{err}");
    assert!(!err.contains('\n'), "{err}");
    // Without any login the server wants one: also named, also without a secret.
    let err = send("hr-mail", &sink(receiver.port()), &monthly("k1"))
        .await
        .unwrap_err();
    assert!(err.contains("530"), "{err}");
}

#[tokio::test]
async fn starttls_with_a_private_ca_delivers_encrypted() {
    let cert = TestCert::generate();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert.cert_pem).unwrap();
    let receiver = SmtpReceiver::start(Options {
        cert: Some(cert),
        auth: Some(("reconcile".into(), PASSWORD.into())),
        ..Options::default()
    })
    .await;
    let sink = EmailSink {
        tls: EmailTls::Starttls,
        ca_file: Some(ca_file),
        ..with_login(receiver.port(), PASSWORD)
    };
    send("hr-mail", &sink, &monthly("monthly_report:2026-10"))
        .await
        .unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].tls, "the mail travelled after STARTTLS");
    assert_eq!(received[0].authenticated_as.as_deref(), Some("reconcile"));

    // Without the CA the certificate is not trusted: a TLS sentence, nothing delivered.
    let untrusting = EmailSink {
        ca_file: None,
        ..sink.clone()
    };
    let err = send("hr-mail", &untrusting, &monthly("k2"))
        .await
        .unwrap_err();
    assert!(err.contains("TLS handshake failed"), "{err}");
    assert!(err.contains("ca_file"), "{err}");
    assert!(!err.contains(PASSWORD), "{err}");
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn starttls_required_but_not_offered_is_refused_before_any_password_is_sent() {
    let receiver = SmtpReceiver::start(Options {
        auth: Some(("reconcile".into(), PASSWORD.into())),
        ..Options::default()
    })
    .await;
    let sink = EmailSink {
        tls: EmailTls::Starttls,
        ..with_login(receiver.port(), PASSWORD)
    };
    let err = send("hr-mail", &sink, &monthly("k1")).await.unwrap_err();
    assert!(
        err.contains(&format!("127.0.0.1:{}", receiver.port())),
        "{err}"
    );
    assert!(!err.contains(PASSWORD), "{err}");
    assert_eq!(receiver.failed_logins(), 0);
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn a_receiver_that_is_down_or_refusing_is_named_and_can_come_back() {
    let mut receiver = SmtpReceiver::start(Options::default()).await;
    let sink = sink(receiver.port());
    let server = format!("127.0.0.1:{}", receiver.port());

    receiver.stop();
    let err = send("hr-mail", &sink, &monthly("k1")).await.unwrap_err();
    assert!(err.contains(&server), "{err}");
    assert!(err.contains("could not be reached"), "{err}");
    assert!(err.contains("smtp_host"), "{err}");

    receiver.restart().await;
    receiver.set_refusing(true);
    let err = send("hr-mail", &sink, &monthly("k1")).await.unwrap_err();
    assert!(err.contains(&server), "{err}");
    assert!(err.contains("421"), "{err}");

    receiver.set_refusing(false);
    send("hr-mail", &sink, &monthly("k1")).await.unwrap();
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_silent_server_times_out_with_a_sentence() {
    let receiver = SmtpReceiver::start(Options::default()).await;
    receiver.set_silent(true);
    let sink = EmailSink {
        timeout: Duration::from_secs(1),
        ..sink(receiver.port())
    };
    let started = std::time::Instant::now();
    let err = send("hr-mail", &sink, &monthly("k1")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        err.contains("did not answer within 1s") || err.contains("did not finish the exchange"),
        "{err}"
    );
    assert!(
        err.contains(&format!("127.0.0.1:{}", receiver.port())),
        "{err}"
    );
}

#[tokio::test]
async fn a_rejected_recipient_says_to_check_the_addresses() {
    let receiver = SmtpReceiver::start(Options::default()).await;
    receiver.reject_recipient("payroll@example.com");
    let err = send("hr-mail", &sink(receiver.port()), &monthly("k1"))
        .await
        .unwrap_err();
    assert!(err.contains("550"), "{err}");
    assert!(err.contains("check from and to"), "{err}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn an_unreadable_ca_file_is_named() {
    let sink = EmailSink {
        tls: EmailTls::Starttls,
        ca_file: Some("/nonexistent/ca.pem".into()),
        ..sink(1)
    };
    let err = send("hr-mail", &sink, &monthly("k1")).await.unwrap_err();
    assert!(
        err.contains("ca_file /nonexistent/ca.pem cannot be read"),
        "{err}"
    );
}

#[tokio::test]
async fn implicit_tls_with_a_private_ca_delivers_encrypted() {
    let cert = TestCert::generate();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert.cert_pem).unwrap();
    let receiver = SmtpReceiver::start(Options {
        cert: Some(cert),
        implicit_tls: true,
        ..Options::default()
    })
    .await;
    let sink = EmailSink {
        tls: EmailTls::Tls,
        smtp_host: "localhost".into(),
        ca_file: Some(ca_file),
        ..sink(receiver.port())
    };
    send("hr-mail", &sink, &monthly("monthly_report:2026-10"))
        .await
        .unwrap();
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert!(received[0].tls);
    assert_eq!(
        received[0].message_id(),
        Some(message_id("monthly_report:2026-10").as_str())
    );
}

#[tokio::test]
async fn an_email_sink_handed_corrections_says_it_takes_reports() {
    let config = crate::sink::SinkConfig {
        name: "hr-mail".into(),
        kind: crate::sink::SinkKind::Email(sink(1)),
        send: vec![crate::sink::Delivers::MonthlyReport],
    };
    let now = "2026-11-04T18:00:00Z".parse().unwrap();
    let err = crate::sink::send(&config, &[], now, &reqwest::Client::new())
        .await
        .unwrap_err();
    assert!(
        err.starts_with("email sink hr-mail delivers reports, not corrections"),
        "{err}"
    );
}

#[tokio::test]
async fn a_ca_file_without_a_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, "not a certificate").unwrap();
    let sink = EmailSink {
        tls: EmailTls::Starttls,
        ca_file: Some(ca_file),
        ..sink(1)
    };
    let err = send("hr-mail", &sink, &monthly("k1")).await.unwrap_err();
    assert!(err.contains("holds no PEM certificate"), "{err}");
}
