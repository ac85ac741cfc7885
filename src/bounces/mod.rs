//! Hearing back from the mail Herald sent: the return path each message
//! carries (VERP), the classifier that reads what comes back (and what
//! relays answer at send time), and the intake that applies it to the
//! reader it is about, once.

pub mod classify;
pub mod intake;
mod queries;
pub mod send_time;
pub mod verp;

pub use classify::{classify_reply, inspect, BounceClass, Inspected, ReplyReading, Report};
pub use intake::{Intake, Outcome, MAX_MESSAGE_SIZE};
pub use verp::{ReturnPath, ReturnTarget};
