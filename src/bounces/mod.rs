//! Hearing back from the mail Herald sent: the return path each message
//! carries (VERP), so that a bounce names the exact copy it is about, and
//! the classifier that reads what comes back.

pub mod classify;
pub mod verp;

pub use classify::{inspect, BounceClass, Inspected, Report};
pub use verp::{ReturnPath, ReturnTarget};
