//! One message over an open SMTP session: lettre's `AsyncSmtpConnection`
//! commands, with the outcome told apart by how it leaves the session.

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;
use tokio::time::timeout;

use super::pool::COMMAND_TIMEOUT;
use super::SendError;

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
/// but telling apart where it failed, which that method does not.
pub(super) async fn transaction(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    message: &[u8],
) -> Result<String, Failure> {
    let parameters = mail_parameters(connection, envelope, message)?;
    connection
        .command(Mail::new(envelope.from().cloned(), parameters))
        .await
        .map_err(|e| Failure::new(e, After::LostBeforeStart))?;
    for recipient in envelope.to() {
        connection
            .command(Rcpt::new(recipient.clone(), vec![]))
            .await
            .map_err(|e| Failure::new(e, After::Lost))?;
    }
    connection
        .command(Data)
        .await
        .map_err(|e| Failure::new(e, After::Lost))?;
    let response = connection
        .message(message)
        .await
        .map_err(|e| Failure::new(e, After::Lost))?;
    Ok(reply_text(&response))
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
                "the envelope has non-ASCII addresses but the SMTP server lacks SMTPUTF8",
            ));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !message.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(Failure::unsendable(
                "the message is not ASCII but the SMTP server lacks 8BITMIME",
            ));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

impl Failure {
    /// `after` is how the session stands if the error is not a reply of
    /// the relay's; a reply other than 421 (closing) leaves it in step.
    fn new(error: lettre::transport::smtp::Error, after: After) -> Self {
        let closing = error.status().is_some_and(|code| u16::from(code) == 421);
        let (after, text) = if error.status().is_some() && !closing {
            (After::InStep, error.to_string())
        } else {
            (after, format!("the session broke off: {error}"))
        };
        let error = if error.is_permanent() {
            SendError::Permanent(text)
        } else {
            SendError::Transient(text)
        };
        Self { error, after }
    }

    /// Nothing was sent: the session is untouched.
    fn unsendable(reason: &str) -> Self {
        Self {
            error: SendError::Transient(reason.to_owned()),
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
