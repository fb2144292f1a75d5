//! A local SMTP receiver for tests: real SMTP over loopback (port 0), written with tokio.
//!
//! It greets with 220, answers EHLO with its capabilities (`AUTH PLAIN LOGIN`, and `STARTTLS`
//! when started with a certificate), and takes MAIL FROM, RCPT TO, DATA (dot-unstuffed), RSET,
//! NOOP and QUIT. Each accepted message is recorded ([`Received`]: envelope, raw data, headers,
//! MIME parts decoded by [`parse_mime`]). It can require AUTH with one user and password (535
//! otherwise, 530 for MAIL before AUTH), refuse connections with a 421 greeting, stay silent
//! after accepting (a timeout), hold the answer to a message it took (a client killed meanwhile
//! sent a mail it never saw acknowledged), reject a recipient with 550, and stop listening and
//! start again on the same port.
//!
//! Self-contained on purpose (tokio, tokio-rustls, rcgen, base64 only, nothing from the
//! crate), so the integration tests can include the same file with `#[path]` once they can
//! reach the e-mail sink.

#![allow(dead_code, reason = "a test fixture; not every test uses every knob")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// A test CA and a server certificate it issued for `localhost` and `127.0.0.1`.
pub(crate) struct TestCert {
    /// The CA certificate, PEM: what a client must trust (`ca_file`).
    pub(crate) cert_pem: String,
    cert_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestCert {
    pub(crate) fn generate() -> TestCert {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dingtalk-reconcile test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(
            ca_params,
            rcgen::KeyPair::generate().expect("CA key"),
        )
        .expect("a CA certificate");
        let server_key = rcgen::KeyPair::generate().expect("server key");
        let server = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("server names")
            .signed_by(&server_key, &*ca)
            .expect("a server certificate");
        TestCert {
            cert_pem: ca.pem(),
            cert_der: server.der().to_vec(),
            key_der: server_key.serialize_der(),
        }
    }

    fn acceptor(&self) -> TlsAcceptor {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![self.cert_der.clone().into()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(self.key_der.clone().into()),
            )
            .expect("the test certificate");
        TlsAcceptor::from(Arc::new(config))
    }
}

/// How the receiver is started.
#[derive(Default)]
pub(crate) struct Options {
    /// Offer STARTTLS with this certificate.
    pub(crate) cert: Option<TestCert>,
    /// Require AUTH with this user and password.
    pub(crate) auth: Option<(String, String)>,
    /// Speak TLS from the first byte (SMTPS, `tls = "tls"`) instead of offering STARTTLS.
    pub(crate) implicit_tls: bool,
}

/// One message taken by DATA.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) mail_from: String,
    pub(crate) rcpt_to: Vec<String>,
    /// The data as sent, CRLF line ends, dot-unstuffed, without the final `.`.
    pub(crate) data: String,
    /// The top-level headers, unfolded, in order.
    pub(crate) headers: Vec<(String, String)>,
    /// The user the session authenticated as.
    pub(crate) authenticated_as: Option<String>,
    /// Whether the session had switched to TLS.
    pub(crate) tls: bool,
}

impl Received {
    /// The first header of that name (case-insensitive), unfolded, still encoded.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub(crate) fn message_id(&self) -> Option<&str> {
        self.header("Message-ID")
    }

    /// The leaf parts of the MIME tree, bodies decoded.
    pub(crate) fn parts(&self) -> Vec<Part> {
        parse_mime(&self.data)
    }
}

#[derive(Default)]
struct State {
    refusing: bool,
    silent: bool,
    holding: bool,
    rejected_recipients: Vec<String>,
    received: Vec<Received>,
    failed_logins: u64,
    connections: u64,
}

/// A running receiver; stops listening when dropped.
pub(crate) struct SmtpReceiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    acceptor: Option<TlsAcceptor>,
    auth: Option<(String, String)>,
    implicit_tls: bool,
    listener: Option<JoinHandle<()>>,
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        if let Some(task) = self.listener.take() {
            task.abort();
        }
    }
}

impl SmtpReceiver {
    pub(crate) async fn start(options: Options) -> SmtpReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let mut receiver = SmtpReceiver {
            addr,
            state: Arc::default(),
            acceptor: options.cert.as_ref().map(TestCert::acceptor),
            auth: options.auth,
            implicit_tls: options.implicit_tls,
            listener: None,
        };
        receiver.listen(listener);
        receiver
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every message accepted so far, oldest first.
    pub(crate) fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub(crate) fn failed_logins(&self) -> u64 {
        self.lock().failed_logins
    }

    pub(crate) fn connections(&self) -> u64 {
        self.lock().connections
    }

    /// Greet new connections with `421` and close them (true), or serve them again (false).
    pub(crate) fn set_refusing(&self, refusing: bool) {
        self.lock().refusing = refusing;
    }

    /// Accept connections but never say a word (true): the client times out.
    pub(crate) fn set_silent(&self, silent: bool) {
        self.lock().silent = silent;
    }

    /// Take each message, then hold the `250` that acknowledges it until this is set back to
    /// false (a client killed meanwhile has sent a mail it never saw acknowledged).
    pub(crate) fn set_holding(&self, holding: bool) {
        self.lock().holding = holding;
    }

    /// Answer `550` to `RCPT TO` for this address.
    pub(crate) fn reject_recipient(&self, address: &str) {
        self.lock().rejected_recipients.push(address.to_owned());
    }

    /// Stop listening: connecting is refused until [`SmtpReceiver::restart`].
    pub(crate) fn stop(&mut self) {
        if let Some(task) = self.listener.take() {
            task.abort();
        }
    }

    /// Listen again on the same port.
    pub(crate) async fn restart(&mut self) {
        self.stop();
        let listener = TcpListener::bind(self.addr).await.expect("bind again");
        self.listen(listener);
    }

    fn listen(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        let acceptor = self.acceptor.clone();
        let auth = self.auth.clone();
        let implicit_tls = self.implicit_tls;
        self.listener = Some(tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let session = Session {
                    state: Arc::clone(&state),
                    acceptor: acceptor.clone(),
                    auth: auth.clone(),
                    authenticated_as: None,
                    tls: false,
                };
                if implicit_tls {
                    tokio::spawn(session.run_tls(stream));
                } else {
                    tokio::spawn(session.run(stream));
                }
            }
        }));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Session {
    state: Arc<Mutex<State>>,
    acceptor: Option<TlsAcceptor>,
    auth: Option<(String, String)>,
    authenticated_as: Option<String>,
    tls: bool,
}

/// What a command loop ended with.
enum End<S> {
    Closed,
    StartTls(S),
}

impl Session {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// SMTPS: the TLS handshake first, then the greeting and the commands.
    async fn run_tls(mut self, stream: tokio::net::TcpStream) {
        self.lock().connections += 1;
        let Some(acceptor) = self.acceptor.clone() else {
            return;
        };
        let Ok(mut tls_stream) = acceptor.accept(stream).await else {
            return;
        };
        self.tls = true;
        if tls_stream
            .write_all(b"220 localhost ESMTP test receiver (TLS)\r\n")
            .await
            .is_err()
        {
            return;
        }
        let _ = self.commands(tls_stream).await;
    }

    async fn run(mut self, mut stream: tokio::net::TcpStream) {
        let (refusing, silent) = {
            let mut state = self.lock();
            state.connections += 1;
            (state.refusing, state.silent)
        };
        if silent {
            tokio::time::sleep(std::time::Duration::from_secs(3600)).await;
            return;
        }
        if refusing {
            let _ = stream
                .write_all(b"421 4.3.2 test receiver refusing connections\r\n")
                .await;
            return;
        }
        if stream
            .write_all(b"220 localhost ESMTP test receiver\r\n")
            .await
            .is_err()
        {
            return;
        }
        let End::StartTls(stream) = self.commands(stream).await else {
            return;
        };
        let Some(acceptor) = self.acceptor.clone() else {
            return;
        };
        let Ok(tls_stream) = acceptor.accept(stream).await else {
            return;
        };
        self.tls = true;
        self.authenticated_as = None;
        let _ = self.commands(tls_stream).await;
    }

    async fn commands<S: AsyncRead + AsyncWrite + Unpin>(&mut self, stream: S) -> End<S> {
        let mut io = BufReader::new(stream);
        let mut mail_from: Option<String> = None;
        let mut rcpt_to: Vec<String> = Vec::new();
        loop {
            let Some(line) = read_line(&mut io).await else {
                return End::Closed;
            };
            let upper = line.to_ascii_uppercase();
            let verb = upper.split(' ').next().unwrap_or("");
            let reply: String = match verb {
                "EHLO" => {
                    let mut reply = String::from("250-localhost greets you\r\n");
                    reply.push_str("250-8BITMIME\r\n250-SMTPUTF8\r\n250-AUTH PLAIN LOGIN\r\n");
                    if self.acceptor.is_some() && !self.tls {
                        reply.push_str("250-STARTTLS\r\n");
                    }
                    reply.push_str("250 SIZE 52428800\r\n");
                    reply
                }
                "HELO" => "250 localhost\r\n".into(),
                "STARTTLS" if self.acceptor.is_some() && !self.tls => {
                    if write(&mut io, "220 2.0.0 ready to start TLS\r\n").await {
                        if !io.buffer().is_empty() {
                            return End::Closed;
                        }
                        return End::StartTls(io.into_inner());
                    }
                    return End::Closed;
                }
                "AUTH" => self.auth_exchange(&mut io, &line).await,
                "MAIL" => {
                    if self.auth.is_some() && self.authenticated_as.is_none() {
                        "530 5.7.0 authentication required\r\n".into()
                    } else {
                        mail_from = Some(address_of(&line));
                        rcpt_to.clear();
                        "250 2.1.0 sender ok\r\n".into()
                    }
                }
                "RCPT" if mail_from.is_some() => {
                    let address = address_of(&line);
                    if self.lock().rejected_recipients.contains(&address) {
                        format!("550 5.1.1 <{address}>: recipient unknown\r\n")
                    } else {
                        rcpt_to.push(address);
                        "250 2.1.5 recipient ok\r\n".into()
                    }
                }
                "DATA" if mail_from.is_some() && !rcpt_to.is_empty() => {
                    if !write(&mut io, "354 end data with <CR><LF>.<CR><LF>\r\n").await {
                        return End::Closed;
                    }
                    let Some(data) = read_data(&mut io).await else {
                        return End::Closed;
                    };
                    let received = Received {
                        mail_from: mail_from.take().unwrap_or_default(),
                        rcpt_to: std::mem::take(&mut rcpt_to),
                        headers: parse_headers(&data),
                        data,
                        authenticated_as: self.authenticated_as.clone(),
                        tls: self.tls,
                    };
                    let queued = {
                        let mut state = self.lock();
                        state.received.push(received);
                        state.received.len()
                    };
                    while self.lock().holding {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                    format!("250 2.0.0 queued as {queued}\r\n")
                }
                "RCPT" | "DATA" => "503 5.5.1 bad sequence of commands\r\n".into(),
                "RSET" => {
                    mail_from = None;
                    rcpt_to.clear();
                    "250 2.0.0 ok\r\n".into()
                }
                "NOOP" => "250 2.0.0 ok\r\n".into(),
                "QUIT" => {
                    let _ = write(&mut io, "221 2.0.0 bye\r\n").await;
                    return End::Closed;
                }
                _ => "500 5.5.2 command not recognised\r\n".into(),
            };
            if !write(&mut io, &reply).await {
                return End::Closed;
            }
        }
    }

    /// `AUTH PLAIN [initial]` or `AUTH LOGIN [user]`; the reply to send.
    async fn auth_exchange<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        line: &str,
    ) -> String {
        let mut words = line.split_whitespace().skip(1);
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_owned);
        let decode = |text: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .ok()
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        };
        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(text) => Some(text),
                    None => {
                        if !write(io, "334 \r\n").await {
                            return String::new();
                        }
                        read_line(io).await
                    }
                };
                response.and_then(|text| decode(&text)).and_then(|plain| {
                    let mut fields = plain.split('\0').skip(1);
                    Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
                })
            }
            "LOGIN" => {
                let user = match initial {
                    Some(text) => decode(&text),
                    None => {
                        if !write(io, "334 VXNlcm5hbWU6\r\n").await {
                            return String::new();
                        }
                        read_line(io).await.and_then(|text| decode(&text))
                    }
                };
                if !write(io, "334 UGFzc3dvcmQ6\r\n").await {
                    return String::new();
                }
                let password = read_line(io).await.and_then(|text| decode(&text));
                user.zip(password)
            }
            _ => return "504 5.5.4 unrecognised authentication type\r\n".into(),
        };
        let accepted = match (&self.auth, &credentials) {
            (None, Some((user, _))) => Some(user.clone()),
            (Some((want_user, want_password)), Some((user, password)))
                if user == want_user && password == want_password =>
            {
                Some(user.clone())
            }
            _ => None,
        };
        match accepted {
            Some(user) => {
                self.authenticated_as = Some(user);
                "235 2.7.0 authentication successful\r\n".into()
            }
            None => {
                self.lock().failed_logins += 1;
                "535 5.7.8 authentication credentials invalid\r\n".into()
            }
        }
    }
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(io: &mut BufReader<S>, text: &str) -> bool {
    let stream = io.get_mut();
    stream.write_all(text.as_bytes()).await.is_ok() && stream.flush().await.is_ok()
}

/// One command line without its CRLF; `None` at the end of the stream or past 64 KiB.
async fn read_line<R: AsyncRead + Unpin>(io: &mut BufReader<R>) -> Option<String> {
    let mut line = Vec::new();
    let read = io.read_until(b'\n', &mut line).await.ok()?;
    if read == 0 || line.len() > 65_536 {
        return None;
    }
    while line
        .last()
        .is_some_and(|byte| *byte == b'\n' || *byte == b'\r')
    {
        line.pop();
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

/// The DATA lines up to the lone `.`, dot-unstuffed, joined with CRLF.
async fn read_data<R: AsyncRead + Unpin>(io: &mut BufReader<R>) -> Option<String> {
    let mut data = String::new();
    loop {
        let line = read_line(io).await?;
        if line == "." {
            return Some(data);
        }
        data.push_str(line.strip_prefix('.').unwrap_or(&line));
        data.push_str("\r\n");
        if data.len() > 64 << 20 {
            return None;
        }
    }
}

/// `MAIL FROM:<a@b> SIZE=1` → `a@b`.
fn address_of(line: &str) -> String {
    match (line.find('<'), line.find('>')) {
        (Some(start), Some(end)) if start < end => line[start + 1..end].to_owned(),
        _ => line
            .split_once(':')
            .map(|(_, rest)| rest.trim().to_owned())
            .unwrap_or_default(),
    }
}

/// The header block of `text` (up to the first empty line), unfolded.
pub(crate) fn parse_headers(text: &str) -> Vec<(String, String)> {
    let block = text.split("\r\n\r\n").next().unwrap_or("");
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    headers
}

/// A leaf MIME part: its headers and its body, transfer encoding undone.
#[derive(Debug, Clone)]
pub(crate) struct Part {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Part {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The media type, lower case, without parameters.
    pub(crate) fn content_type(&self) -> String {
        self.header("Content-Type")
            .unwrap_or("text/plain")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `filename` of its Content-Disposition, RFC 2231 (`filename*`, continuations) or
    /// RFC 2047 decoded.
    pub(crate) fn file_name(&self) -> Option<String> {
        let disposition = self.header("Content-Disposition")?;
        let mut pieces: Vec<(usize, String)> = Vec::new();
        let mut plain = None;
        for param in disposition.split(';').skip(1) {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim().trim_matches('"');
            if key == "filename" {
                plain = Some(decode_words(value));
            } else if let Some(rest) = key.strip_prefix("filename*") {
                let encoded = rest.ends_with('*') || rest.is_empty();
                let index: usize = rest.trim_end_matches('*').parse().unwrap_or(0);
                let text = if encoded {
                    let value = match value.splitn(3, '\'').collect::<Vec<_>>().as_slice() {
                        [_, _, text] => *text,
                        _ => value,
                    };
                    percent_decode(value)
                } else {
                    value.to_owned()
                };
                pieces.push((index, text));
            }
        }
        if pieces.is_empty() {
            return plain;
        }
        pieces.sort_by_key(|(index, _)| *index);
        Some(pieces.into_iter().map(|(_, text)| text).collect())
    }
}

/// The leaf parts of a message (headers and body), multiparts walked depth first.
pub(crate) fn parse_mime(data: &str) -> Vec<Part> {
    let (head, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let headers = parse_headers(&format!("{head}\r\n\r\n"));
    let part = Part {
        headers,
        body: Vec::new(),
    };
    let content_type = part.header("Content-Type").unwrap_or("text/plain");
    if content_type.to_ascii_lowercase().starts_with("multipart/") {
        let Some(boundary) = parameter(content_type, "boundary") else {
            return Vec::new();
        };
        let delimiter = format!("--{boundary}");
        let mut parts = Vec::new();
        for chunk in body.split(&delimiter).skip(1) {
            if chunk.starts_with("--") {
                break;
            }
            let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
            let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
            parts.extend(parse_mime(chunk));
        }
        return parts;
    }
    let encoding = part
        .header("Content-Transfer-Encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    let body = match encoding.as_str() {
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap_or_default()
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.as_bytes().to_vec(),
    };
    vec![Part { body, ..part }]
}

/// A parameter of a header value (`boundary="x"`).
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then(|| value.trim().trim_matches('"').to_owned())
    })
}

fn quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.split("\r\n").collect();
    for (index, line) in lines.iter().enumerate() {
        let (line, soft) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (*line, false),
        };
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(hex) = line.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        if !soft && index + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`); whitespace between two
/// encoded words is dropped, other text kept.
pub(crate) fn decode_words(text: &str) -> String {
    let mut out = String::new();
    let mut pending_space = String::new();
    let mut previous_encoded = false;
    for token in text.split_inclusive([' ', '\t']) {
        let word = token.trim_end_matches([' ', '\t']);
        let space = &token[word.len()..];
        match decode_word(word) {
            Some(decoded) => {
                if !previous_encoded {
                    out.push_str(&pending_space);
                }
                out.push_str(&decoded);
                previous_encoded = true;
            }
            None => {
                out.push_str(&pending_space);
                out.push_str(word);
                previous_encoded = false;
            }
        }
        pending_space = space.to_owned();
    }
    out
}

fn decode_word(word: &str) -> Option<String> {
    let inner = word.strip_prefix("=?")?.strip_suffix("?=")?;
    let mut fields = inner.splitn(3, '?');
    let _charset = fields.next()?;
    let encoding = fields.next()?;
    let text = fields.next()?;
    let bytes = match encoding {
        "b" | "B" => base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?,
        "q" | "Q" => quoted_printable(&text.replace('_', " ")),
        _ => return None,
    };
    String::from_utf8(bytes).ok()
}
