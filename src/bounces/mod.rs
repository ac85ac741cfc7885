//! Hearing back from the mail Herald sent: the return path each message
//! carries (VERP), the classifier that reads what comes back, and the
//! intake that applies it to the reader it is about, once.

pub mod classify;
pub mod intake;
pub mod message_id;
mod queries;
pub mod verp;

pub use classify::{classify_failure, inspect, BounceClass, Inspected, Report};
pub use intake::{Intake, Outcome, ProviderEvent, MAX_MESSAGE_SIZE};
pub use message_id::{message_id_for, target_of_message_id};
pub use verp::{ReturnPath, ReturnTarget};
