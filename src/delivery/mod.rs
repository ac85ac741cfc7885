//! Delivery: the signup outbox and the issue delivery queue, the engine that
//! empties both over SMTP with bounded concurrency and rate, and the controls
//! editors use to send, pause, resume and cancel an issue.

pub mod deliveries;
pub mod deployment;
mod engine;
pub mod guards;
mod message;
pub mod outbox;
mod send_rate;
mod sends;
mod signals;

pub use engine::{Engine, EngineHandle, EngineSettings, RetryPolicy};
pub use guards::PauseGuards;
pub use message::{Copy as ReaderCopy, PreparedIssue};
pub use sends::{SendControlError, SendProgress, Sends};
pub use signals::DeliverySignals;
