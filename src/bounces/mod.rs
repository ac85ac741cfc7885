//! Hearing back from the mail Herald sent: the return path each message
//! carries (VERP), the classifier that reads what comes back, and the
//! intake that applies it to the reader it is about, once, and the mailbox
//! the worker reads reports from.

pub mod classify;
pub mod intake;
pub mod mailbox;
mod queries;
pub mod verp;

pub use classify::{inspect, BounceClass, Inspected, Report};
pub use intake::{Intake, Outcome, MAX_MESSAGE_SIZE};
pub use mailbox::{MailboxReader, MailboxSetupError};
pub use verp::{ReturnPath, ReturnTarget};
