//! One message over an open SMTP session: lettre's `AsyncSmtpConnection`
//! commands, with the outcome told apart by how it leaves the session.

use std::error::Error as _;
use std::future::Future;

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::time::timeout;

use super::pool::COMMAND_TIMEOUT;
use super::{Refusal, SendError, Stage};

/// How a failed transaction left the session.
pub(super) enum After {
    /// The session was dead before the relay took anything (a relay restart,
    /// a closed idle session): the message may go over another session.
    LostBeforeStart,
    /// The relay refused with a reply; RSET makes the session usable again.
    InStep,
    /// Broken halfway: drop it.
    Lost,
}

pub(super) struct Failure {
    pub error: SendError,
    pub after: After,
}

/// One message over an open session: lettre's `AsyncSmtpConnection::send`,
/// but telling apart where it failed, which that method does not; with
/// MAIL, RCPT and DATA in one write when the relay pipelines, and the
/// message in one write of its own.
pub(super) async fn transaction(
    connection: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    message: &[u8],
    ready: &mut Option<impl Future<Output = ()>>,
) -> Result<String, Failure> {
    let parameters = mail_parameters(connection, envelope, message)?;
    let payload = DataPayload::new(message);
    let mail = Mail::new(envelope.from().cloned(), parameters);
    if pipelining {
        open_pipelined(connection, mail, envelope).await?;
    } else {
        connection
            .command(mail)
            .await
            .map_err(|e| Failure::new(e, After::LostBeforeStart, Stage::Sender))?;
        for recipient in envelope.to() {
            connection
                .command(Rcpt::new(recipient.clone(), vec![]))
                .await
                .map_err(|e| Failure::new(e, After::Lost, Stage::Recipient))?;
        }
        connection
            .command(Data)
            .await
            .map_err(|e| Failure::new(e, After::Lost, Stage::Data))?;
    }
    if let Some(ready) = ready.take() {
        ready.await;
    }
    let response = match payload {
        Some(payload) => connection.command(payload).await,
        None => connection.message(message).await,
    }
    .map_err(|e| Failure::new(e, After::Lost, Stage::Data))?;
    Ok(reply_text(&response))
}

/// MAIL, RCPT and DATA in one write (RFC 2920), then their replies in order.
/// Every reply is read whatever the earlier ones said, so the session stays
/// in step after a refusal.
async fn open_pipelined(
    connection: &mut AsyncSmtpConnection,
    mail: Mail,
    envelope: &Envelope,
) -> Result<(), Failure> {
    let mut commands = mail.to_string();
    for recipient in envelope.to() {
        commands.push_str(&Rcpt::new(recipient.clone(), vec![]).to_string());
    }
    commands.push_str(&Data.to_string());
    let mut refusal = match connection.command(commands).await {
        Ok(_) => None,
        Err(error) => {
            let failure = Failure::new(error, After::LostBeforeStart, Stage::Sender);
            if !matches!(failure.after, After::InStep) {
                return Err(failure);
            }
            Some(failure)
        }
    };
    for _ in envelope.to() {
        if let Err(error) = connection.read_response().await {
            let failure = Failure::new(error, After::Lost, Stage::Recipient);
            if !matches!(failure.after, After::InStep) {
                return Err(failure);
            }
            refusal.get_or_insert(failure);
        }
    }
    match connection.read_response().await {
        // DATA was taken although MAIL or RCPT was refused (RFC 2920 says it
        // must not be): an empty message ends the transaction, with no recipient.
        Ok(_) => match refusal {
            Some(refusal) => {
                connection
                    .command(".\r\n")
                    .await
                    .map_err(|e| Failure::new(e, After::Lost, Stage::Data))?;
                Err(refusal)
            }
            None => Ok(()),
        },
        Err(error) => Err(refusal.unwrap_or_else(|| Failure::new(error, After::Lost, Stage::Data))),
    }
}

/// The message as DATA carries it: dot-stuffed (RFC 5321 4.5.2) and ended
/// with the lone dot, ready to go out in one write. lettre's own `message`
/// stuffs byte by byte and writes the closing dot separately; at 4,800
/// copies a second that loop alone took 24 % of Herald's CPU (perf, the
/// delivery benchmark). None for a message that is not UTF-8, which then
/// goes the lettre way.
struct DataPayload(String);

impl DataPayload {
    fn new(message: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(message).ok()?;
        let mut payload = String::with_capacity(text.len() + 64);
        if text.starts_with('.') {
            payload.push('.');
        }
        let mut rest = text;
        while let Some(at) = memchr::memmem::find(rest.as_bytes(), b"\n.") {
            payload.push_str(&rest[..=at]);
            payload.push('.');
            rest = &rest[at + 1..];
        }
        payload.push_str(rest);
        if !payload.ends_with("\r\n") {
            payload.push_str("\r\n");
        }
        payload.push_str(".\r\n");
        Some(Self(payload))
    }
}

impl std::fmt::Display for DataPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// SMTPUTF8 and 8BITMIME as lettre asks for them; a message that needs one
/// the relay lacks cannot go (RFC 6531, RFC 6152).
fn mail_parameters(
    connection: &AsyncSmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<Vec<MailParameter>, Failure> {
    let server = connection.server_info();
    let mut parameters = Vec::new();
    let non_ascii_address = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    if non_ascii_address {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::unsendable(
                "the relay does not support SMTPUTF8, which this address needs",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(Failure::unsendable(
                "the relay does not support 8BITMIME, which this message needs",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

impl Failure {
    /// `after` is how the session stands if the error is not a reply of
    /// the relay's; a reply other than 421 (closing) leaves it in step.
    /// `stage` is the command the reply answers.
    fn new(error: lettre::transport::smtp::Error, after: After, stage: Stage) -> Self {
        let closing = error.status().is_some_and(|code| u16::from(code) == 421);
        let (after, text) = if error.status().is_some() && !closing {
            (After::InStep, error.to_string())
        } else {
            (after, format!("the session broke off: {error}"))
        };
        let error = match error.status() {
            Some(code) if error.is_permanent() => SendError::Refused(Refusal {
                stage,
                code: code.into(),
                // lettre keeps the reply's lines as the error's source.
                text: error
                    .source()
                    .map_or_else(String::new, |reply| reply.to_string()),
            }),
            _ if error.is_permanent() => SendError::Permanent(text),
            _ => SendError::Transient(text),
        };
        Self { error, after }
    }

    /// The relay lacks what the message needs: it cannot take this message
    /// on any attempt, so it fails for good, but not as a bounce: the address
    /// is fine. Nothing was sent: the session is untouched.
    fn unsendable(reason: &str) -> Self {
        Self {
            error: SendError::Unsupported(reason.to_owned()),
            after: After::InStep,
        }
    }
}

/// `250 2.0.0 Ok: queued as 4F2D1`
fn reply_text(response: &Response) -> String {
    let mut text = response.code().to_string();
    for line in response.message() {
        text.push(' ');
        text.push_str(line);
    }
    text
}

pub(super) async fn reset(connection: &mut AsyncSmtpConnection) -> bool {
    matches!(
        timeout(COMMAND_TIMEOUT, connection.command(Rset)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::DataPayload;

    #[test]
    fn lines_starting_with_a_dot_get_another_and_the_lone_dot_ends_it() {
        let payload = DataPayload::new(b".hidden\r\nplain\r\n..two\r\n.").unwrap();
        assert_eq!(payload.0, "..hidden\r\nplain\r\n...two\r\n..\r\n.\r\n");
        let payload = DataPayload::new(b"Subject: x\r\n\r\nbody\r\n").unwrap();
        assert_eq!(payload.0, "Subject: x\r\n\r\nbody\r\n.\r\n");
        assert!(DataPayload::new(&[0xff, 0xfe]).is_none());
    }
}
