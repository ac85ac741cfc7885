//! The words remote servers use, where their codes say too little: what
//! names the address as dead, what names the sender as refused, and what
//! says a message is only late. Lower-case; matched as substrings of a
//! lower-cased text. Each list is read against the corpus in
//! tests/fixtures/bounces/corpus: a word that made a policy refusal or a
//! warning look like a dead address is not here.

/// The sender, its server or its content was refused, not the address.
pub(super) const POLICY: &[&str] = &[
    "blocklist",
    "blacklist",
    "block list",
    "blocked",
    "spamhaus",
    "spamcop",
    "barracuda",
    "spam",
    "reputation",
    "dmarc",
    "dkim",
    "spf ",
    "spf:",
    "sender policy",
    "policy",
    "relay access denied",
    "relaying denied",
    "relay not permitted",
    "relaying not allowed",
    "not permitted to relay",
    "unable to relay",
    "access denied",
    "not authorized",
    "authentication required",
    "reverse dns",
    "reverse lookup",
    "ptr record",
    "no ptr",
    "rdns",
    "virus",
    "malware",
    "content rejected",
    "message content",
    "sender address rejected",
    "sender rejected",
    "sender verify failed",
    "sender domain",
    "rate limit",
    "too many",
    "too much mail",
    "suspicious",
    "not accepted for policy",
    "bulk mail",
];

/// The mailbox or its domain does not exist, or is shut for good.
pub(super) const DEAD_ADDRESS: &[&str] = &[
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "unknown address",
    "address unknown",
    "unknown mailbox",
    "mailbox unknown",
    "unknown local part",
    "unknown or illegal alias",
    "no such user",
    "no such mailbox",
    "no such recipient",
    "no such address",
    "no such account",
    "no mailbox here",
    "mailbox not found",
    "does not exist",
    "user not found",
    "user doesn't exist",
    "recipient not found",
    "address not found",
    "does not have an account",
    "doesn't have a",
    "invalid recipient",
    "invalid mailbox",
    "invalid address",
    "not a valid mailbox",
    "not a known user",
    "recipient name is not recognized",
    "invalid final delivery userid",
    "not listed in",
    "unrouteable address",
    "account has been disabled",
    "account is disabled",
    "account disabled",
    "disabled recipient",
    "mailbox disabled",
    "is disabled",
    "is inactive",
    "account is inactive",
    "deactivated",
    "discontinued",
    "no longer available",
    "no longer active",
    "no longer valid",
    "no longer on server",
    "has been closed",
    "host unknown",
    "unknown host",
    "host not found",
    "couldn't find any host",
    "couldn't find a mail exchanger",
    "mailbox unavailable",
    "could not find any host",
    "no such domain",
    "domain not found",
    "unknown domain",
    "invalid domain",
    "illegal host",
    "name or service not known",
    "nxdomain",
    "domain has no mx",
    "does not accept mail",
    "does not accept email",
    "null mx",
    "no smtp service",
    "no mx record",
    "non-existent host",
    // Outlook.com's words for a recipient domain that does not resolve.
    "domain is not reachable",
];

/// The reader's own account is shut (RFC 3463's X.2.1, "mailbox disabled"),
/// in words that would otherwise read as a policy refusal ("blocked") or
/// say nothing: checked before the policy words, and never when the text
/// also says it is temporary.
pub(super) const DISABLED_ACCOUNT: &[&str] = &[
    "recipient account is blocked",
    "account is locked",
    "mailbox is frozen",
    "account is frozen",
    "mailbox is locked",
];

/// Replies that name the recipient as unknown whatever code the relay put
/// over them: a 553 "Invalid recipient" under a relay's `5.7.1`, and
/// Exchange Online's "Recipient address rejected: Access denied", which
/// Microsoft documents as "the recipient does not exist" under 5.4.1 and
/// 5.7.1 alike.
pub(super) const UNKNOWN_WHATEVER_THE_CODE: &[&str] = &[
    "invalid recipient",
    "recipient address rejected: access denied",
];

/// True when `text` (lower-case) says the reader's account is shut for good.
pub(super) fn names_disabled_account(text: &str) -> bool {
    says(text, DISABLED_ACCOUNT) && !text.contains("temporar")
}

/// A notice that the message is only late and still being tried.
pub(super) const STILL_TRYING: &[&str] = &[
    "this is a warning message only",
    "will continue to try",
    "will keep trying",
    "will be retried",
    "will retry",
    "still trying",
    "delivery has been delayed",
    "delivery delayed",
    "delayed mail",
    "has not yet been delivered",
    "not been delivered yet",
    "warning: could not send message for past",
    "no action is required on your part",
    "only a temporary failure",
];

/// True when `text` (lower-case) holds any of `words`.
pub(super) fn says(text: &str, words: &[&str]) -> bool {
    words.iter().any(|word| text.contains(word))
}

/// True when `text` (lower-case) names the address as dead: one of
/// [`DEAD_ADDRESS`], or `host NAME not found` (a DNS answer that the
/// recipient's domain does not exist, with the name in between).
pub(super) fn names_dead_address(text: &str) -> bool {
    says(text, DEAD_ADDRESS)
        || text.split("host ").skip(1).any(|rest| {
            let mut words = rest.split_whitespace();
            words.next().is_some_and(|name| name.contains('.'))
                && words.next() == Some("not")
                && words.next().is_some_and(|word| word.starts_with("found"))
        })
}
