//! Hearing back from the mail Herald sent: the return path each message
//! carries (VERP), the classifier that reads what comes back (and what
//! relays answer at send time), the intake that applies it to the reader it
//! is about, once, and the mailbox the worker reads reports from.

pub mod classify;
pub mod intake;
pub mod mailbox;
pub mod message_id;
mod queries;
pub mod send_time;
pub mod verp;

pub use classify::{
    classify_failure, classify_reply, inspect, BounceClass, Inspected, ReplyReading, Report,
};
pub use intake::{Intake, Outcome, ProviderEvent, MAX_MESSAGE_SIZE};
pub use mailbox::{MailboxReader, MailboxSetupError};
pub use message_id::{message_id_for, target_of_message_id};
pub use verp::{ReturnPath, ReturnTarget};
