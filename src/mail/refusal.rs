//! A relay's 5xx answer to one message, with where in the transaction it
//! came: what the bounce classifier reads at send time.

use std::fmt;

/// The step of the SMTP transaction a relay refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `MAIL FROM`: the sender was refused, never the reader.
    Sender,
    /// `RCPT TO`: the reader's address.
    Recipient,
    /// `DATA` or the message after it: the content, or (for relays that
    /// check late) the address.
    Data,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "MAIL FROM",
            Self::Recipient => "RCPT TO",
            Self::Data => "DATA",
        }
    }
}

/// A permanent (5xx) reply to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub stage: Stage,
    /// The basic reply code, `550`.
    pub code: u16,
    /// The reply's text, every line joined: `5.1.1 <reader@example.org>:
    /// Recipient address rejected: User unknown`.
    pub text: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (refused at {})",
            self.code,
            self.text,
            self.stage.as_str()
        )
    }
}
