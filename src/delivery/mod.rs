//! Delivery: the durable outbox and the background sender that empties it,
//! retrying with backoff until the mail server takes each message.

pub mod outbox;
mod sender;

pub use sender::{OutboxSender, RetryPolicy, SenderSettings};
