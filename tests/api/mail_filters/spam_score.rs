//! SpamAssassin (Debian's package, local tests only: `spamassassin -L -t`)
//! on the mails a new reader gets first: the confirmation, the welcome, and
//! an issue of the sample article with a preheader (and the test copy and the
//! password reset mail too). Each must score at most 0.0, and no rule may add
//! points: the list headers earn -1.0 (MAILING_LIST_MULTI), which would
//! otherwise hide a rule such as HTML_FONT_LOW_CONTRAST (+0.7). The rules
//! that hit are printed, so a regression says what it is.

use super::{every_kind, run_tool};
use crate::support::{Backend, Mail};

/// What SpamAssassin thought of one message.
struct Verdict {
    score: f64,
    /// `points RULE_NAME`, as the report lists them.
    rules: Vec<String>,
    /// The rules that added points.
    penalties: Vec<String>,
}

fn judge(mail: &Mail) -> Option<Verdict> {
    let output = run_tool(
        "spamassassin",
        &["-L", "-t"],
        &mail.raw,
        "the SpamAssassin score check",
    )?;
    assert!(
        output.status.success() || output.status.code() == Some(1),
        "spamassassin failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let checked = String::from_utf8_lossy(&output.stdout).into_owned();
    let status = checked
        .split("\nX-Spam-Status: ")
        .nth(1)
        .map(|rest| {
            // The header goes on over folded lines (starting with white space).
            let mut value = String::new();
            for (n, line) in rest.split('\n').enumerate() {
                if n > 0 && !line.starts_with([' ', '\t']) {
                    break;
                }
                value.push_str(line.trim());
                value.push(' ');
            }
            value
        })
        .unwrap_or_else(|| panic!("no X-Spam-Status in:\n{checked}"));
    let score = status
        .split("score=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|score| score.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no score in X-Spam-Status: {status}"));
    let rules = checked
        .lines()
        .skip_while(|line| !line.contains("Content analysis details:"))
        .filter(|line| {
            let mut words = line.split_whitespace();
            words
                .next()
                .is_some_and(|points| points.parse::<f64>().is_ok())
                && words.next().is_some_and(|rule| {
                    rule.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                })
        })
        .map(|line| {
            line.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<String>>();
    let penalties = rules
        .iter()
        .filter(|rule| {
            rule.split_whitespace()
                .next()
                .and_then(|points| points.parse::<f64>().ok())
                .is_some_and(|points| points > 0.0)
        })
        .cloned()
        .collect();
    Some(Verdict {
        score,
        rules,
        penalties,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_mails_a_reader_gets_score_at_most_zero() {
    let mails = every_kind(Backend::Sqlite).await;
    let mut over = Vec::new();
    for (kind, mail) in mails.all() {
        let Some(verdict) = judge(mail) else {
            return;
        };
        println!(
            "SpamAssassin, {kind}: score {:.1}, rules: {}",
            verdict.score,
            verdict.rules.join(", ")
        );
        if verdict.score > 0.0 || !verdict.penalties.is_empty() {
            over.push(format!(
                "{kind} scores {:.1}; rules adding points: {}",
                verdict.score,
                verdict.penalties.join(", ")
            ));
        }
    }
    assert!(over.is_empty(), "{}", over.join("\n"));
}
