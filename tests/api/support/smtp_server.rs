//! An in-process SMTP server for the integration tests.
//!
//! It speaks just enough RFC 5321 (plus AUTH PLAIN/LOGIN from RFC 4954) for
//! lettre's async client, records every accepted message, and can be told to
//! reject recipients, demand authentication, or stop listening altogether so
//! that delivery failures and retries can be tested without a real relay.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// How the server answers `RCPT TO` for recipients without a per-address rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpMode {
    #[default]
    Accept,
    /// `451 4.3.0` for every recipient.
    RejectTransient,
    /// `550 5.1.1` for every recipient.
    RejectPermanent,
    /// `454 4.7.0` throttling after the data of every `n`th message, which is
    /// then not kept; the others are accepted.
    ThrottleEvery(usize),
}

/// One message the server acknowledged with `250` after `DATA`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The reverse-path without angle brackets; empty for the null sender `<>`.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as transmitted, dot-stuffing undone. It ends with the CRLF
    /// that precedes the terminating `.` line.
    pub data: Vec<u8>,
    /// The user name of a successful `AUTH` on the session, if any.
    pub auth_user: Option<String>,
    /// When the end of its data arrived.
    pub received_at: Instant,
}

pub struct TestSmtpServer {
    port: u16,
    shared: Arc<Shared>,
    // A tokio mutex so that stop/restart run one at a time even across awaits.
    running: tokio::sync::Mutex<Option<Running>>,
}

struct Running {
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

#[derive(Default)]
struct Shared {
    behaviour: Mutex<Behaviour>,
    messages: Mutex<Vec<ReceivedMessage>>,
    arrived: Notify,
    /// Every DATA transaction completed, accepted or not.
    transactions: AtomicUsize,
    /// TCP connections accepted since the server started, across restarts.
    connections: AtomicUsize,
    /// Mail transactions open now (from an accepted MAIL to its end), and the most ever.
    open_transactions: AtomicUsize,
    most_open_transactions: AtomicUsize,
}

#[derive(Default)]
struct Behaviour {
    mode: SmtpMode,
    /// Per-recipient reply codes, keyed by lower-cased address and checked
    /// before `mode`.
    rejected: HashMap<String, u16>,
    /// Per-recipient whole reply lines, checked before `rejected`.
    replies: HashMap<String, String>,
    credentials: Option<(String, String)>,
    /// Leave PIPELINING (RFC 2920) out of the EHLO reply.
    no_pipelining: bool,
    /// Leave SMTPUTF8 (RFC 6531) out of the EHLO reply.
    no_smtputf8: bool,
}

const HOSTNAME: &str = "herald-test";
const REBIND_PATIENCE: Duration = Duration::from_secs(2);
/// How long a stopping server waits for sessions to finish their command.
const SESSION_DRAIN: Duration = Duration::from_secs(5);

impl TestSmtpServer {
    pub async fn start() -> TestSmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("test SMTP server: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("test SMTP server: no local address: {e}"))
            .port();
        let shared = Arc::new(Shared::default());
        let running = Running::spawn(listener, Arc::clone(&shared));
        TestSmtpServer {
            port,
            shared,
            running: tokio::sync::Mutex::new(Some(running)),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub async fn messages(&self) -> Vec<ReceivedMessage> {
        lock(&self.shared.messages).clone()
    }

    /// Waits until at least `n` messages have been accepted and returns all of
    /// them; panics if that does not happen within `timeout`.
    pub async fn wait_for_messages(&self, n: usize, timeout: Duration) -> Vec<ReceivedMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            // Register interest before looking, so a message stored between
            // the check and the wait still wakes us.
            let notified = self.shared.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let messages = self.messages().await;
            if messages.len() >= n {
                return messages;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let messages = self.messages().await;
                if messages.len() >= n {
                    return messages;
                }
                let summary: Vec<String> = messages
                    .iter()
                    .map(|m| format!("<{}> -> {:?}", m.mail_from, m.rcpt_to))
                    .collect();
                panic!(
                    "test SMTP server: expected at least {n} message(s) within {timeout:?}, \
                     but {} arrived: {summary:?}",
                    messages.len()
                );
            }
        }
    }

    /// How many TCP connections the server has accepted, across restarts.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Forgets the messages received so far.
    /// The most mail transactions that were ever open at once: how many
    /// messages the clients had in flight together.
    pub fn most_concurrent_transactions(&self) -> usize {
        self.shared.most_open_transactions.load(Ordering::SeqCst)
    }

    pub fn clear(&self) {
        lock(&self.shared.messages).clear();
    }

    pub fn set_mode(&self, mode: SmtpMode) {
        lock(&self.shared.behaviour).mode = mode;
    }

    /// Answers `RCPT TO:<addr>` (compared case-insensitively) with `code`,
    /// whatever the mode; a 4xx code gives a transient, a 5xx a permanent
    /// failure.
    pub fn reject_recipient(&self, addr: &str, code: u16) {
        assert!(
            (400..600).contains(&code),
            "test SMTP server: reject_recipient needs a 4xx or 5xx code, got {code}"
        );
        lock(&self.shared.behaviour)
            .rejected
            .insert(addr.to_ascii_lowercase(), code);
    }

    /// Answers `RCPT TO:<addr>` with the whole `reply` line, such as
    /// `550 5.7.1 Message refused as spam`, whatever the mode.
    pub fn reject_recipient_with(&self, addr: &str, reply: &str) {
        let code = reply.get(..3).and_then(|code| code.parse::<u16>().ok());
        assert!(
            code.is_some_and(|code| (400..600).contains(&code)) && !reply.contains(['\r', '\n']),
            "test SMTP server: reject_recipient_with needs one 4xx or 5xx reply line, got {reply:?}"
        );
        lock(&self.shared.behaviour)
            .replies
            .insert(addr.to_ascii_lowercase(), reply.to_owned());
    }

    /// Stops offering PIPELINING to sessions opened from now on, so clients
    /// send one command at a time.
    pub fn without_pipelining(&self) {
        lock(&self.shared.behaviour).no_pipelining = true;
    }

    /// Stops offering SMTPUTF8 to sessions opened from now on, as many
    /// relays do: an address with a non-ASCII local part cannot go through.
    pub fn without_smtputf8(&self) {
        lock(&self.shared.behaviour).no_smtputf8 = true;
    }

    /// From now on `MAIL` needs a successful `AUTH` with exactly these
    /// credentials. Without this call any credentials are accepted.
    pub fn require_auth(&self, user: &str, password: &str) {
        lock(&self.shared.behaviour).credentials = Some((user.to_owned(), password.to_owned()));
    }

    /// Closes the listening socket and every open session. When this returns,
    /// connecting to the port is refused by the kernel.
    pub async fn stop(&self) {
        let mut running = self.running.lock().await;
        if let Some(Running { shutdown, task }) = running.take() {
            let _ = shutdown.send(());
            // The accept loop drops the listener and reaps the sessions before
            // it ends; waiting for it makes stop() synchronous for the caller.
            let _ = task.await;
        }
    }

    /// Listens on the same port again after `stop`. Does nothing if running.
    pub async fn restart(&self) {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return;
        }
        let deadline = Instant::now() + REBIND_PATIENCE;
        let listener = loop {
            // Closed sessions may linger in TIME_WAIT for a moment; tokio sets
            // SO_REUSEADDR, but give the kernel some slack all the same.
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if Instant::now() >= deadline => panic!(
                    "test SMTP server: cannot rebind 127.0.0.1:{} within {REBIND_PATIENCE:?}: {e}",
                    self.port
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        *running = Some(Running::spawn(listener, Arc::clone(&self.shared)));
    }
}

impl Running {
    fn spawn(listener: TcpListener, shared: Arc<Shared>) -> Running {
        let (shutdown, shutdown_rx) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, shared, shutdown_rx));
        Running { shutdown, task }
    }
}

/// Runs until told to stop (or until the server is dropped, which drops the
/// sender), then closes the listener and all sessions.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let mut sessions = JoinSet::new();
    let (closing, closing_rx) = watch::channel(false);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    let session = Session::new(stream, Arc::clone(&shared), closing_rx.clone());
                    sessions.spawn(session.run());
                }
                // Transient failures such as EMFILE; back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            // Reap finished sessions so the set does not grow without bound.
            Some(_) = sessions.join_next() => {}
        }
    }
    drop(listener);
    // Like a server going down: each session finishes the command it is
    // answering, then hangs up. A message is never kept without its 250 going out.
    let _ = closing.send(true);
    let drained = tokio::time::timeout(SESSION_DRAIN, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        sessions.shutdown().await;
    }
}

struct Session {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    shared: Arc<Shared>,
    greeted: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    closing: watch::Receiver<bool>,
}

impl Session {
    fn new(stream: TcpStream, shared: Arc<Shared>, closing: watch::Receiver<bool>) -> Session {
        let (reader, writer) = stream.into_split();
        Session {
            reader: BufReader::new(reader),
            writer,
            shared,
            greeted: false,
            auth_user: None,
            mail_from: None,
            rcpt_to: Vec::new(),
            closing,
        }
    }

    async fn run(mut self) {
        // Clients may hang up at any point (lettre drops pooled connections
        // without QUIT), so an I/O error simply ends the session.
        let _ = self.converse().await;
        self.reset_transaction();
    }

    async fn converse(&mut self) -> io::Result<()> {
        self.reply(&format!("220 {HOSTNAME} ESMTP ready")).await?;
        let mut line = Vec::new();
        loop {
            line.clear();
            if *self.closing.borrow() {
                return Ok(());
            }
            tokio::select! {
                read = self.reader.read_until(b'\n', &mut line) => {
                    if read? == 0 {
                        return Ok(());
                    }
                }
                _ = self.closing.changed() => return Ok(()),
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let (verb, arg) = match text.split_once(' ') {
                Some((verb, arg)) => (verb, arg.trim()),
                None => (text, ""),
            };
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" => {
                    self.greet();
                    let (pipelining, smtputf8) = {
                        let behaviour = lock(&self.shared.behaviour);
                        (
                            if behaviour.no_pipelining {
                                ""
                            } else {
                                "250-PIPELINING\r\n"
                            },
                            if behaviour.no_smtputf8 {
                                ""
                            } else {
                                "250-SMTPUTF8\r\n"
                            },
                        )
                    };
                    let reply = format!(
                        "250-{HOSTNAME} greets {arg}\r\n\
                         {pipelining}\
                         {smtputf8}\
                         250-AUTH PLAIN LOGIN\r\n\
                         250-8BITMIME\r\n\
                         250 ENHANCEDSTATUSCODES"
                    );
                    self.reply(&reply).await?;
                }
                "HELO" => {
                    self.greet();
                    self.reply(&format!("250 {HOSTNAME}")).await?;
                }
                "AUTH" => self.auth(arg).await?,
                "MAIL" => self.mail(arg).await?,
                "RCPT" => self.rcpt(arg).await?,
                "DATA" => self.data().await?,
                "RSET" => {
                    self.reset_transaction();
                    self.reply("250 2.0.0 OK").await?;
                }
                "NOOP" => self.reply("250 2.0.0 OK").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye").await?;
                    return Ok(());
                }
                _ => self.reply("500 5.5.2 Command not recognized").await?,
            }
        }
    }

    fn greet(&mut self) {
        self.greeted = true;
        self.reset_transaction();
    }

    fn reset_transaction(&mut self) {
        if self.mail_from.take().is_some() {
            self.shared.open_transactions.fetch_sub(1, Ordering::SeqCst);
        }
        self.rcpt_to.clear();
    }

    async fn reply(&mut self, reply: &str) -> io::Result<()> {
        // One write per reply: a reply split over two small segments meets the
        // client's delayed ACK (Nagle) and costs about 40 ms each time.
        let line = format!("{reply}\r\n");
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.flush().await
    }

    async fn mail(&mut self, arg: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply("503 5.5.1 Send EHLO or HELO first").await;
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Nested MAIL command").await;
        }
        let auth_required = lock(&self.shared.behaviour).credentials.is_some();
        if auth_required && self.auth_user.is_none() {
            return self.reply("530 5.7.0 Authentication required").await;
        }
        // Parameters such as BODY=8BITMIME or SMTPUTF8 are accepted and ignored.
        match parse_path(arg, "FROM:") {
            Some(from) => {
                self.mail_from = Some(from);
                let open = self.shared.open_transactions.fetch_add(1, Ordering::SeqCst) + 1;
                self.shared
                    .most_open_transactions
                    .fetch_max(open, Ordering::SeqCst);
                self.reply("250 2.1.0 OK").await
            }
            None => self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await,
        }
    }

    async fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL before RCPT").await;
        }
        let Some(to) = parse_path(arg, "TO:").filter(|to| !to.is_empty()) else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        let refusal = {
            let behaviour = lock(&self.shared.behaviour);
            let key = to.to_ascii_lowercase();
            match behaviour.rejected.get(&key) {
                _ if behaviour.replies.contains_key(&key) => behaviour.replies.get(&key).cloned(),
                Some(&code) if code < 500 => Some(format!(
                    "{code} 4.3.0 <{to}>: Recipient temporarily unavailable"
                )),
                // Postfix's own words for an unknown local user.
                Some(&code) => Some(format!(
                    "{code} 5.1.1 <{to}>: Recipient address rejected: User unknown"
                )),
                None => match behaviour.mode {
                    SmtpMode::Accept => None,
                    SmtpMode::RejectTransient => {
                        Some("451 4.3.0 Temporary failure, try again later".to_owned())
                    }
                    SmtpMode::RejectPermanent => {
                        Some(format!("550 5.1.1 <{to}>: Recipient address rejected"))
                    }
                    SmtpMode::ThrottleEvery(_) => None,
                },
            }
        };
        match refusal {
            Some(reply) => self.reply(&reply).await,
            None => {
                self.rcpt_to.push(to);
                self.reply("250 2.1.5 OK").await
            }
        }
    }

    async fn data(&mut self) -> io::Result<()> {
        let Some(mail_from) = self.mail_from.clone() else {
            return self.reply("503 5.5.1 Need MAIL before DATA").await;
        };
        if self.rcpt_to.is_empty() {
            return self.reply("554 5.5.1 No valid recipients").await;
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let data = self.read_data().await?;
        let transactions = self.shared.transactions.fetch_add(1, Ordering::SeqCst) + 1;
        let throttle = matches!(
            lock(&self.shared.behaviour).mode,
            SmtpMode::ThrottleEvery(n) if n > 0 && transactions.is_multiple_of(n)
        );
        if throttle {
            self.reset_transaction();
            return self
                .reply("454 4.7.0 Throttling: too many messages, try again later")
                .await;
        }

        let message = ReceivedMessage {
            mail_from,
            rcpt_to: std::mem::take(&mut self.rcpt_to),
            data,
            auth_user: self.auth_user.clone(),
            received_at: Instant::now(),
        };
        self.reset_transaction();
        // Stored before the 250 goes out, so a test that saw the send succeed
        // always finds the message.
        let queued = {
            let mut messages = lock(&self.shared.messages);
            messages.push(message);
            messages.len()
        };
        self.shared.arrived.notify_waiters();
        self.reply(&format!("250 2.0.0 OK: queued as {queued}"))
            .await
    }

    /// Reads mail data up to the lone `.` line and undoes dot-stuffing.
    async fn read_data(&mut self) -> io::Result<Vec<u8>> {
        let mut data = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            // Only CRLF ends a line in SMTP; a bare LF stays inside it, or a
            // "\n." in the content would be mistaken for a stuffed dot.
            loop {
                if self.reader.read_until(b'\n', &mut line).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                if line.ends_with(b"\r\n") {
                    break;
                }
            }
            if line == b".\r\n" {
                return Ok(data);
            }
            let unstuffed = line.strip_prefix(b".".as_slice()).unwrap_or(&line);
            data.extend_from_slice(unstuffed);
        }
    }

    async fn auth(&mut self, arg: &str) -> io::Result<()> {
        if self.auth_user.is_some() {
            return self.reply("503 5.5.1 Already authenticated").await;
        }
        if self.mail_from.is_some() {
            return self
                .reply("503 5.5.1 AUTH not allowed during a mail transaction")
                .await;
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim())),
            None => (arg, None),
        };
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => self.plain_credentials(initial).await?,
            "LOGIN" => self.login_credentials(initial).await?,
            _ => {
                return self
                    .reply("504 5.5.4 Unrecognized authentication type")
                    .await;
            }
        };
        let Some((user, password)) = credentials else {
            return Ok(());
        };

        let accepted = match &lock(&self.shared.behaviour).credentials {
            Some((expected_user, expected_password)) => {
                user == *expected_user && password == *expected_password
            }
            None => true,
        };
        if accepted {
            self.auth_user = Some(user);
            self.reply("235 2.7.0 Authentication successful").await
        } else {
            self.reply("535 5.7.8 Authentication credentials invalid")
                .await
        }
    }

    /// `None` means the exchange has already been answered with an error.
    async fn plain_credentials(
        &mut self,
        initial: Option<&str>,
    ) -> io::Result<Option<(String, String)>> {
        let response = match initial {
            Some(response) => response.to_owned(),
            None => match self.challenge("").await? {
                Some(response) => response,
                None => return Ok(None),
            },
        };
        // authzid NUL authcid NUL password
        let decoded = decode_base64(&response);
        let parts = decoded
            .as_deref()
            .map(|d| d.splitn(3, '\0').collect::<Vec<_>>());
        match parts.as_deref() {
            Some([_authzid, user, password]) => {
                Ok(Some(((*user).to_owned(), (*password).to_owned())))
            }
            _ => {
                self.reply("501 5.5.2 Malformed AUTH PLAIN response")
                    .await?;
                Ok(None)
            }
        }
    }

    /// `None` means the exchange has already been answered with an error.
    async fn login_credentials(
        &mut self,
        initial: Option<&str>,
    ) -> io::Result<Option<(String, String)>> {
        // The prompts are "Username:" and "Password:" in base64; lettre
        // decodes them and matches on the text.
        let user = match initial {
            Some(user) => user.to_owned(),
            None => match self.challenge("VXNlcm5hbWU6").await? {
                Some(user) => user,
                None => return Ok(None),
            },
        };
        let Some(password) = self.challenge("UGFzc3dvcmQ6").await? else {
            return Ok(None);
        };
        match (decode_base64(&user), decode_base64(&password)) {
            (Some(user), Some(password)) => Ok(Some((user, password))),
            _ => {
                self.reply("501 5.5.2 Cannot decode AUTH LOGIN response")
                    .await?;
                Ok(None)
            }
        }
    }

    /// Sends a `334` challenge and returns the client's answer, or `None` if
    /// the client cancelled with `*` (which has been answered already).
    async fn challenge(&mut self, prompt: &str) -> io::Result<Option<String>> {
        self.reply(&format!("334 {prompt}")).await?;
        let mut line = Vec::new();
        if self.reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let answer = String::from_utf8_lossy(&line).trim().to_owned();
        if answer == "*" {
            self.reply("501 5.0.0 Authentication cancelled").await?;
            return Ok(None);
        }
        Ok(Some(answer))
    }
}

/// Extracts the address from `FROM:<addr> params` / `TO:<addr> params`;
/// `keyword` is matched case-insensitively and a space after it is tolerated.
fn parse_path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let path = match rest.strip_prefix('<') {
        Some(inner) => &inner[..inner.find('>')?],
        None => rest.split_whitespace().next()?,
    };
    Some(path.to_owned())
}

fn decode_base64(text: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// A panicking test must not take every later assertion down with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
