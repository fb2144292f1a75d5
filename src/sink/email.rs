//! The e-mail sink: sends a report ([`ReportMessage`]) as one mail over SMTP.
//!
//! The mail: `Subject` is the message's subject (RFC 2047-encoded when not ASCII), the body is
//! `multipart/alternative` (the Markdown summary as text/plain, the HTML report as text/html),
//! wrapped in `multipart/mixed` with the xlsx workbook attached when the message has one (its
//! UTF-8 file name encoded per RFC 2231). `Message-ID` is derived from the message key alone
//! ([`message_id`]), so a resend after a crash carries the same id and the receiver can
//! deduplicate it; the key itself travels in [`REPORT_KEY_HEADER`].
//!
//! Transport: lettre over tokio and rustls, one connection per mail; `tls = "starttls"`
//! (STARTTLS required), `"tls"` (TLS from the first byte) or `"none"` (loopback only, checked by
//! the config reader). `ca_file` adds a root certificate (a company CA, the tests' self-signed
//! one) beside the bundled web roots. Every failure is one sentence naming the sink, the server
//! `host:port`, what happened and what to check; the password never appears in it.
//!
//! This module does not retry, journal or decide what to send (the report scheduler does).

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};
use sha2::{Digest, Sha256};

use super::message::ReportMessage;

#[cfg(test)]
pub(crate) mod test_smtp;
#[cfg(test)]
mod tests;

/// The header carrying the report's key (`monthly_report:2026-10`).
pub(crate) const REPORT_KEY_HEADER: &str = "X-Reconcile-Report-Key";
/// The content type of the attached workbook.
pub(crate) const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `kind = "email"`. `S` is the SMTP password: in the config the name of the environment
/// variable holding it (`password_env`), resolved by `SinkConfig::from_setting`.
#[derive(Debug, Clone, Deserialize)]
pub struct EmailSink<S = SecretString> {
    /// Host name (checked against the server's certificate) or IP address.
    pub smtp_host: String,
    /// Default by `tls`: 587 (starttls), 465 (tls), 25 (none); see [`EmailSink::port`].
    #[serde(default)]
    pub smtp_port: Option<u16>,
    #[serde(default)]
    pub tls: EmailTls,
    /// SMTP AUTH user; none sends without authenticating.
    #[serde(default)]
    pub username: Option<String>,
    /// Written `password_env` in the config file; required with `username` (checked by the
    /// config reader).
    #[serde(rename = "password_env", default = "Option::default")]
    pub password: Option<S>,
    #[serde(deserialize_with = "mailbox")]
    pub from: Mailbox,
    /// At least one (checked by the config reader).
    #[serde(deserialize_with = "mailboxes")]
    pub to: Vec<Mailbox>,
    /// Written `timeout_secs`: how long each step of the SMTP conversation may take.
    #[serde(
        rename = "timeout_secs",
        default = "crate::config::default_sink_timeout",
        deserialize_with = "crate::config::de::seconds"
    )]
    pub timeout: Duration,
    /// A PEM file with extra root certificates to trust (a private CA).
    #[serde(default, deserialize_with = "crate::config::de::optional_path")]
    pub ca_file: Option<PathBuf>,
}

/// `tls = "starttls" | "tls" | "none"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTls {
    /// Plain connection upgraded with STARTTLS, which the server must offer.
    #[default]
    Starttls,
    /// TLS from the first byte ("SMTPS").
    Tls,
    /// No encryption: only for a relay on loopback.
    None,
}

impl<S> EmailSink<S> {
    /// `smtp_port`, or the default of the TLS mode.
    pub fn port(&self) -> u16 {
        self.smtp_port.unwrap_or(match self.tls {
            EmailTls::Starttls => 587,
            EmailTls::Tls => 465,
            EmailTls::None => 25,
        })
    }

    /// `host:port`, as errors name the server.
    pub(crate) fn server(&self) -> String {
        if self.smtp_host.contains(':') {
            format!("[{}]:{}", self.smtp_host, self.port())
        } else {
            format!("{}:{}", self.smtp_host, self.port())
        }
    }
}

/// Whether `host` is this machine (`localhost`, 127.0.0.0/8, ::1): where `tls = "none"` is
/// allowed.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn mailbox<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Mailbox, D::Error> {
    let text = String::deserialize(deserializer)?;
    parse_mailbox(&text).map_err(serde::de::Error::custom)
}

fn mailboxes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Mailbox>, D::Error> {
    let texts = Vec::<String>::deserialize(deserializer)?;
    texts
        .iter()
        .map(|text| parse_mailbox(text))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

fn parse_mailbox(text: &str) -> Result<Mailbox, String> {
    text.parse::<Mailbox>().map_err(|_| {
        format!(
            "expected a mailbox such as \"hr@example.com\" or \"人事部 <hr@example.com>\", \
             found {text:?}"
        )
    })
}

/// `<{first 32 hex digits of sha256(key)}@dingtalk-reconcile>`: the same key always gives the
/// same id, so a receiver can drop a resend.
pub(crate) fn message_id(key: &str) -> String {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    format!("<{}@dingtalk-reconcile>", &digest[..32])
}

/// The `X-Reconcile-Report-Key` header.
#[derive(Debug, Clone)]
struct ReportKey(String);

impl Header for ReportKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(REPORT_KEY_HEADER)
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(ReportKey(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The mail for `message`, as it is sent.
pub(crate) fn build_mail(sink: &EmailSink, message: &ReportMessage) -> Result<Message, String> {
    let mut builder = Message::builder()
        .from(sink.from.clone())
        .subject(message.subject.clone())
        .message_id(Some(message_id(&message.key)))
        .header(ReportKey(message.key.clone()));
    for to in &sink.to {
        builder = builder.to(to.clone());
    }
    let alternative =
        MultiPart::alternative_plain_html(message.markdown.clone(), message.html.clone());
    let body = match &message.attachment {
        None => alternative,
        Some((file_name, bytes)) => {
            let content_type = ContentType::parse(XLSX_CONTENT_TYPE)
                .map_err(|err| format!("the xlsx content type is refused: {err}"))?;
            let attachment: SinglePart =
                Attachment::new(file_name.clone()).body(bytes.clone(), content_type);
            MultiPart::mixed()
                .multipart(alternative)
                .singlepart(attachment)
        }
    };
    builder.multipart(body).map_err(|err| err.to_string())
}

/// Sends `message` to the sink's recipients. `Err` is one sentence for the delivery journal
/// and the logs.
pub(crate) async fn send(
    sink_name: &str,
    sink: &EmailSink,
    message: &ReportMessage,
) -> Result<(), String> {
    let server = sink.server();
    let mail = build_mail(sink, message).map_err(|err| {
        format!(
            "email sink {sink_name}: could not build the mail for report {}: {err}",
            message.key
        )
    })?;
    let transport = transport(sink_name, sink).await?;
    // lettre bounds the connect and each write; a server that accepts and then says nothing
    // is bounded here: the whole exchange gets `EXCHANGE_STEPS` times the step timeout.
    let whole = sink.timeout.saturating_mul(EXCHANGE_STEPS);
    match tokio::time::timeout(whole, transport.send(mail)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(describe(sink_name, &server, sink, &err)),
        Err(_) => Err(format!(
            "email sink {sink_name}: SMTP server {server} did not finish the exchange within \
             {}s (timeout_secs {} × {EXCHANGE_STEPS}); check that smtp_host and smtp_port point \
             at a mail server that answers, or raise timeout_secs",
            whole.as_secs(),
            sink.timeout.as_secs()
        )),
    }
}

/// How many step timeouts one whole mail may take (greeting, EHLO, STARTTLS, AUTH, MAIL, RCPT,
/// DATA, the body, QUIT: rarely all slow at once).
const EXCHANGE_STEPS: u32 = 6;

async fn transport(
    sink_name: &str,
    sink: &EmailSink,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&sink.smtp_host)
        .port(sink.port())
        .timeout(Some(sink.timeout));
    if sink.tls != EmailTls::None {
        let mut parameters = TlsParameters::builder(
            sink.smtp_host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
        );
        if let Some(path) = &sink.ca_file {
            parameters = parameters.add_root_certificate(ca_certificate(sink_name, path).await?);
        }
        let parameters = parameters.build_rustls().map_err(|err| {
            format!(
                "email sink {sink_name}: could not set up TLS for {}: {}; check smtp_host and \
                 ca_file",
                sink.server(),
                one_line(&err)
            )
        })?;
        builder = builder.tls(match sink.tls {
            EmailTls::Tls => Tls::Wrapper(parameters),
            _ => Tls::Required(parameters),
        });
    }
    if let (Some(username), Some(password)) = (&sink.username, &sink.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose_secret().to_owned(),
        ));
    }
    Ok(builder.build())
}

/// Reads `ca_file`: PEM with at least one certificate.
async fn ca_certificate(sink_name: &str, path: &std::path::Path) -> Result<Certificate, String> {
    let unusable = |problem: String| {
        format!(
            "email sink {sink_name}: ca_file {} {problem}; expected a PEM file with the CA \
             certificate(s) to trust",
            path.display()
        )
    };
    let pem = tokio::fs::read(path)
        .await
        .map_err(|err| unusable(format!("cannot be read ({err})")))?;
    if !pem
        .windows(b"-----BEGIN CERTIFICATE-----".len())
        .any(|window| window == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(unusable("holds no PEM certificate".to_owned()));
    }
    Certificate::from_pem(&pem).map_err(|err| unusable(format!("is not valid PEM ({err})")))
}

/// One sentence for a failed SMTP exchange: what happened, then what to check.
fn describe(
    sink_name: &str,
    server: &str,
    sink: &EmailSink,
    err: &lettre::transport::smtp::Error,
) -> String {
    let detail = one_line(err);
    let head = format!("email sink {sink_name}: SMTP server {server}");
    if err.is_timeout() {
        return format!(
            "{head} did not answer within {}s ({detail}); check that smtp_host and smtp_port \
             point at a mail server and that the network lets the connection through, or raise \
             timeout_secs",
            sink.timeout.as_secs()
        );
    }
    let lower = detail.to_ascii_lowercase();
    if err.is_tls() || lower.contains("certificate") || lower.contains("handshake") {
        return format!(
            "{head}: the TLS handshake failed ({detail}); check tls (\"starttls\" on 587, \"tls\" \
             on 465), that smtp_host is the name on the server's certificate, and ca_file for a \
             private CA"
        );
    }
    if let Some(code) = err.status() {
        let code_text = code.to_string();
        return match code_text.as_str() {
            "530" | "534" | "535" | "538" => format!(
                "{head} rejected the login of user {:?} ({detail}); check username and the \
                 password in the environment variable named by password_env",
                sink.username.as_deref().unwrap_or("")
            ),
            "550" | "551" | "552" | "553" | "501" | "554" => format!(
                "{head} refused the mail, its sender {} or a recipient ({detail}); check from \
                 and to, and that the account may send as from",
                sink.from.email
            ),
            _ if err.is_transient() => format!(
                "{head} answered with a temporary failure ({detail}); it will be tried again; \
                 check the server if this persists"
            ),
            _ => format!(
                "{head} refused the mail ({detail}); check the server's message and the sink's \
                 settings"
            ),
        };
    }
    if err.is_client() && detail.contains("authentication mechanism") {
        return format!(
            "{head} offers no authentication lettre supports (PLAIN, LOGIN) ({detail}); check \
             whether the server needs tls = \"starttls\" or \"tls\" before it offers AUTH"
        );
    }
    format!(
        "{head} could not be reached or dropped the connection ({detail}); check smtp_host, \
         smtp_port and tls, and that the server is up"
    )
}

/// An error and its causes on one line, control characters removed, at most 300 characters
/// (a server's reply is outside data).
fn one_line(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let words = cause.to_string();
        if !text.contains(&words) {
            text.push_str(": ");
            text.push_str(&words);
        }
        source = cause.source();
    }
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.chars().count() > 300 {
        let mut short: String = cleaned.chars().take(300).collect();
        short.push('…');
        short
    } else {
        cleaned
    }
}
