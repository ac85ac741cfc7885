//! Every kind of mail, read by Python's email package with policy=default:
//! no defect on the message or any part, every header 7-bit, no line over
//! 998 characters, From, To, Subject, Date, Message-ID and MIME-Version once
//! each (tests/mail_filters/check_mail.py).

use super::{every_kind, run_tool};
use crate::support::Backend;

const CHECKER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/mail_filters/check_mail.py"
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_mail_parses_without_a_defect() {
    let mails = every_kind(Backend::Sqlite).await;
    let mut failures = Vec::new();
    for (kind, mail) in mails.all() {
        let Some(output) = run_tool(
            "python3",
            &[CHECKER],
            &mail.raw,
            "the mail conformance check (Python's email package)",
        ) else {
            return;
        };
        let report = String::from_utf8_lossy(&output.stdout);
        let errors = String::from_utf8_lossy(&output.stderr);
        println!(
            "{kind}: {}",
            if report.is_empty() {
                "no defects"
            } else {
                &report
            }
        );
        if !output.status.success() {
            failures.push(format!(
                "{kind}:\n{report}{errors}\n--- message ---\n{}",
                String::from_utf8_lossy(&mail.raw)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
