//! The classifier against real bounces from many MTAs: the sisimai project's
//! public collection, kept in tests/fixtures/bounces/corpus with each file's
//! expected class derived from sisimai's own annotations (see the README
//! there). Run `cargo test corpus -- --nocapture` to see the figures.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use super::*;

/// What sisimai's annotation of a message lets us expect of Herald.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Expected {
    /// The address is dead (user or host unknown, moved, disabled).
    Hard,
    /// The domain takes no mail (a null MX, no mail service).
    NoMailHost,
    /// Refused by the recipient's own filter, or "unknown" after DATA.
    Filtered,
    /// A 4.x.x status: a delay, a warning, or a temporary failure given up.
    Temporary,
    /// Refused for the sender, the content or the connection.
    Policy,
    /// A 5xx about the mailbox or the system, not its existence.
    Soft,
    AutoReply,
    Complaint,
    /// Not a bounce: a success notice, a non-abuse feedback report, a reply.
    None,
}

impl Expected {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "hard" => Self::Hard,
            "no-mail-host" => Self::NoMailHost,
            "filtered" => Self::Filtered,
            "temporary" => Self::Temporary,
            "policy" => Self::Policy,
            "soft" => Self::Soft,
            "auto-reply" => Self::AutoReply,
            "complaint" => Self::Complaint,
            "none" => Self::None,
            _ => return None,
        })
    }

    /// Whether Herald's reading is the one this group asks for.
    fn recognised_by(self, got: Option<BounceClass>) -> bool {
        match self {
            Self::Hard | Self::NoMailHost => got == Some(BounceClass::Hard),
            Self::Filtered => matches!(got, Some(BounceClass::Hard | BounceClass::Policy)),
            Self::Temporary => matches!(got, Some(BounceClass::Soft | BounceClass::Delayed)),
            Self::Policy => got == Some(BounceClass::Policy),
            Self::Soft => got == Some(BounceClass::Soft),
            Self::AutoReply => got == Some(BounceClass::AutoReply),
            Self::Complaint => got == Some(BounceClass::Complaint),
            Self::None => got.is_none(),
        }
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hard => "hard (user/host unknown, disabled)",
            Self::NoMailHost => "domain takes no mail",
            Self::Filtered => "filtered (hard or policy)",
            Self::Temporary => "temporary (4.x.x: delays, warnings)",
            Self::Policy => "policy",
            Self::Soft => "soft",
            Self::AutoReply => "auto-reply",
            Self::Complaint => "complaint (ARF abuse)",
            Self::None => "not a bounce",
        })
    }
}

/// The share of permanent failures that must read as hard (issue 12). The
/// corpus gives 95.2 % (157 of 165) under the rule that only a code or text
/// naming the address as dead or shut makes a hard bounce. The 8 it misses
/// name no cause ("Unable to deliver message", "Recipient address rejected."
/// and nothing more, "permanent delivery errors"), say the lock is
/// temporary, or bury the reason in a returned original; sisimai files them
/// by what it knows of each MTA, a guess Herald does not make for a reader.
const HARD_FLOOR_PERCENT: usize = 95;

/// At most this share of policy refusals may read as hard. Those that do
/// carry a 5.1.1 (GoDaddy's rate limit, a Spamhaus listing under Status
/// 5.1.3) or "Unknown user" after DATA (NTT docomo's filter).
const POLICY_READ_AS_HARD_PERCENT: usize = 10;

#[derive(Default)]
struct Tally {
    total: usize,
    recognised: usize,
    read_as_hard: Vec<String>,
    missed: Vec<String>,
}

fn corpus_dir() -> PathBuf {
    std::env::var("CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces/corpus")
        })
}

fn label(got: Option<BounceClass>) -> &'static str {
    got.map_or("no report", |class| class.as_str())
}

#[test]
fn real_bounces_from_many_mtas_are_read_as_their_annotations_say() {
    let dir = corpus_dir();
    let expectations = std::fs::read_to_string(dir.join("expectations.tsv"))
        .expect("tests/fixtures/bounces/corpus/expectations.tsv");
    let mut tallies: BTreeMap<Expected, Tally> = BTreeMap::new();
    for line in expectations.lines().filter(|line| !line.starts_with('#')) {
        let mut fields = line.split('\t');
        let (Some(file), Some(expected), Some(reason)) =
            (fields.next(), fields.next(), fields.next())
        else {
            panic!("a malformed line in expectations.tsv: {line:?}");
        };
        let expected = Expected::parse(expected)
            .unwrap_or_else(|| panic!("an unknown class in expectations.tsv: {line:?}"));
        let raw = std::fs::read(dir.join("messages").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let got = inspect(&raw).report.map(|report| report.class);
        let tally = tallies.entry(expected).or_default();
        tally.total += 1;
        let seen = format!("{file} ({reason}): {}", label(got));
        if expected.recognised_by(got) {
            tally.recognised += 1;
        } else {
            tally.missed.push(seen.clone());
        }
        if got == Some(BounceClass::Hard) && expected != Expected::Hard {
            tally.read_as_hard.push(seen);
        }
    }

    let mut figures = String::from("bounce corpus (sisimai set-of-emails), recognised / total:\n");
    for (expected, tally) in &tallies {
        figures.push_str(&format!(
            "  {expected:<38} {:>3} / {:<3} ({:.1} %), read as hard: {}\n",
            tally.recognised,
            tally.total,
            100.0 * tally.recognised as f64 / tally.total.max(1) as f64,
            tally.read_as_hard.len(),
        ));
    }
    println!("{figures}");
    for (expected, tally) in &tallies {
        for missed in &tally.missed {
            println!("  expected {expected}: {missed}");
        }
    }

    let group = |expected| tallies.get(&expected).expect("every group has messages");
    let hard = group(Expected::Hard);
    assert!(
        hard.total >= 100,
        "the corpus holds {} permanent failures; it should hold at least 100",
        hard.total
    );
    assert!(
        hard.recognised * 100 >= hard.total * HARD_FLOOR_PERCENT,
        "fewer than {HARD_FLOOR_PERCENT} % of permanent failures read as hard:\n{figures}{:#?}",
        hard.missed
    );
    for never_hard in [Expected::Temporary, Expected::AutoReply, Expected::None] {
        let tally = group(never_hard);
        assert!(
            tally.read_as_hard.is_empty(),
            "{never_hard} read as hard:\n{:#?}",
            tally.read_as_hard
        );
    }
    let policy = group(Expected::Policy);
    assert!(
        policy.read_as_hard.len() * 100 <= policy.total * POLICY_READ_AS_HARD_PERCENT,
        "more than {POLICY_READ_AS_HARD_PERCENT} % of policy refusals read as hard:\n{figures}{:#?}",
        policy.read_as_hard
    );
    let auto_replies = group(Expected::AutoReply);
    assert_eq!(
        auto_replies.recognised, auto_replies.total,
        "{:#?}",
        auto_replies.missed
    );
    let complaints = group(Expected::Complaint);
    assert_eq!(
        complaints.recognised, complaints.total,
        "complaints not read as complaints: {:#?}",
        complaints.missed
    );
}
