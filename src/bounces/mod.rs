//! Hearing back from the mail Herald sent: the return path each message
//! carries (VERP), the classifier that reads what comes back (and what
//! relays answer at send time), the intake that applies it to the reader it
//! is about, once, and the mailbox the worker reads reports from.

pub mod classify;
pub mod intake;
pub mod mailbox;
mod queries;
pub mod send_time;
pub mod verp;

pub use classify::{classify_reply, inspect, BounceClass, Inspected, ReplyReading, Report};
pub use intake::{Intake, Outcome, MAX_MESSAGE_SIZE};
pub use mailbox::{MailboxReader, MailboxSetupError};
pub use verp::{ReturnPath, ReturnTarget};
