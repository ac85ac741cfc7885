//! Metrics for `/metrics` in the Prometheus text format, through the `metrics`
//! facade and its Prometheus exporter (no HTTP listener of its own: the page
//! is served by our router).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The log filter when `RUST_LOG` is unset: Herald's own lines from `info`,
/// other crates' only when they are errors. A dependency's warnings are
/// about its input, which may come from anyone: html5ever warns once per
/// malformed tag, so an issue full of them turned each page view into
/// thousands of lines. `RUST_LOG=info` shows them again when wanted.
pub const DEFAULT_LOG_FILTER: &str = "error,herald=info";

/// Added to every filter, whatever `RUST_LOG` says: async-imap traces each
/// command it sends through the `log` bridge, the bounce mailbox's LOGIN
/// with its password among them.
pub const NEVER_LOGGED: &str = "async_imap=off";

pub const SIGNUPS: &str = "herald_signups_total";
pub const SIGNUPS_DROPPED: &str = "herald_signups_dropped_total";
pub const CONFIRMATIONS: &str = "herald_confirmations_total";
pub const UNSUBSCRIBES: &str = "herald_unsubscribes_total";
pub const MESSAGES_SENT: &str = "herald_messages_sent_total";
pub const MESSAGES_RETRIED: &str = "herald_messages_retried_total";
pub const MESSAGES_FAILED: &str = "herald_messages_failed_total";
pub const SEND_DURATION: &str = "herald_send_duration_seconds";
pub const QUEUE_DEPTH: &str = "herald_outbox_queue_depth";
pub const DELIVERY_QUEUE_DEPTH: &str = "herald_delivery_queue_depth";
pub const RELAY_UP: &str = "herald_relay_up";
pub const BOUNCES: &str = "herald_bounces_total";
pub const COMPLAINTS: &str = "herald_complaints_total";

/// The bounce classes `herald_bounces_total` is labelled with.
const BOUNCE_CLASSES: [&str; 3] = ["hard", "soft", "policy"];

/// Sets the bounce and complaint counters to the totals recorded in the
/// database (`class`, count). They are read when scraped rather than counted
/// in memory because `herald bounces ingest` runs as a process of its own,
/// whose counts would die with it; the database holds every channel's, across
/// restarts, and only grows.
pub fn set_report_totals(totals: &[(String, i64)]) {
    let total_of = |class: &str| {
        totals
            .iter()
            .find(|(name, _)| name == class)
            .map_or(0, |(_, count)| u64::try_from(*count).unwrap_or(0))
    };
    for class in BOUNCE_CLASSES {
        metrics::counter!(BOUNCES, "class" => class).absolute(total_of(class));
    }
    metrics::counter!(COMPLAINTS).absolute(total_of("complaint"));
}

/// Seconds from handing a message to the transport until it is accepted.
const SEND_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide recorder, installed on first use. `None` when another
/// recorder was installed first (an embedding program's own).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(SEND_DURATION.to_owned()), SEND_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(error) => {
                    tracing::warn!(%error, "metrics recorder not installed; /metrics is unavailable");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(SIGNUPS, "Signups accepted, by outcome");
    metrics::describe_counter!(SIGNUPS_DROPPED, "Signups dropped, by reason");
    metrics::describe_counter!(CONFIRMATIONS, "Subscriptions confirmed");
    metrics::describe_counter!(UNSUBSCRIBES, "Subscribers who left");
    metrics::describe_counter!(MESSAGES_SENT, "Messages the mail server accepted, by kind");
    metrics::describe_counter!(
        MESSAGES_RETRIED,
        "Temporary send failures that will be retried, by kind"
    );
    metrics::describe_counter!(MESSAGES_FAILED, "Messages given up for good, by kind");
    metrics::describe_histogram!(
        SEND_DURATION,
        metrics::Unit::Seconds,
        "Time for the mail server to accept a message, by kind"
    );
    metrics::describe_gauge!(QUEUE_DEPTH, "Messages waiting in the outbox");
    metrics::describe_counter!(
        BOUNCES,
        "Bounces taken in for the whole deployment, by class (hard, soft, policy)"
    );
    metrics::describe_counter!(
        COMPLAINTS,
        "Complaints (a reader marked a copy as spam) taken in for the whole deployment"
    );
    metrics::describe_gauge!(
        RELAY_UP,
        "1 while the SMTP relay can be reached, 0 while it cannot (mail waits)"
    );
    metrics::describe_gauge!(
        DELIVERY_QUEUE_DEPTH,
        "Copies of issues queued or waiting to retry, paused sends included"
    );
}
