//! A relay's reply at send time, read by the same rules as a report's
//! diagnostic: Herald's own SMTP sessions hear bounces too.

use super::{class_of, remote_enhanced_code, BounceClass};

/// What one SMTP reply says about the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyReading {
    pub class: BounceClass,
    /// The reply's RFC 3463 code, `5.1.1`, when it has one.
    pub status: Option<String>,
}

/// Reads a reply: `code` is its basic code (`550`), `text` its text
/// (`5.1.1 <reader@example.org>: User unknown`). The enhanced code decides
/// first, then the words, as for a report: 5.1.x (but X.1.7 and X.1.8,
/// the sender's) and 5.2.1 are hard, 5.7.x and blocklist words policy,
/// anything else soft. A 4xx is soft.
pub fn classify_reply(code: u16, text: &str) -> ReplyReading {
    let reply = format!("{code} {text}");
    let status = remote_enhanced_code(&reply).filter(|status| {
        // A code of another class than the reply's own is not its code.
        status.as_bytes().first() == code.to_string().as_bytes().first()
    });
    let class = if (400..500).contains(&code) {
        BounceClass::Soft
    } else {
        class_of(status.as_deref(), &reply)
    };
    ReplyReading { class, status }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_read_as_reports_do() {
        let read = |code, text| classify_reply(code, text).class;
        assert_eq!(
            read(
                550,
                "5.1.1 <reader@example.org>: Recipient address rejected: User unknown"
            ),
            BounceClass::Hard
        );
        assert_eq!(
            read(
                550,
                "5.2.1 The email account that you tried to reach is disabled"
            ),
            BounceClass::Hard
        );
        assert_eq!(read(550, "No such user here"), BounceClass::Hard);
        assert_eq!(
            read(
                554,
                "5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
            ),
            BounceClass::Policy
        );
        assert_eq!(
            read(550, "5.7.1 Message rejected as spam"),
            BounceClass::Policy
        );
        assert_eq!(
            read(
                553,
                "5.1.8 <news@example.com>: Sender address rejected: Domain not found"
            ),
            BounceClass::Policy
        );
        assert_eq!(read(552, "5.2.2 Mailbox full"), BounceClass::Soft);
        assert_eq!(
            read(554, "5.3.4 Message too big for system"),
            BounceClass::Soft
        );
        assert_eq!(read(550, "Requested action not taken"), BounceClass::Soft);
        assert_eq!(
            read(503, "5.5.1 Bad sequence of commands"),
            BounceClass::Soft
        );
        assert_eq!(
            read(450, "4.1.1 <reader@example.org>: User unknown"),
            BounceClass::Soft
        );
        assert_eq!(
            classify_reply(550, "5.1.1 <reader@example.org>: User unknown")
                .status
                .as_deref(),
            Some("5.1.1")
        );
        assert_eq!(classify_reply(550, "No such user here").status, None);
    }
}
