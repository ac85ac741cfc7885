//! Reading received mail as a person's mail client would.

use mail_parser::MessageParser;

use super::smtp_server::ReceivedMessage;

#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: Vec<u8>,
    pub rcpt_to: Vec<String>,
    pub subject: String,
    pub to: String,
    pub text: String,
    pub html: String,
    pub headers: Vec<(String, String)>,
}

impl Mail {
    pub fn from_received(message: &ReceivedMessage) -> Self {
        let mut mail = Self::parse(&message.data);
        mail.rcpt_to = message.rcpt_to.clone();
        mail
    }

    pub fn parse(raw: &[u8]) -> Self {
        let parsed = MessageParser::default()
            .parse(raw)
            .expect("the message is parsable MIME");
        let headers = parsed
            .headers_raw()
            .map(|(name, value)| (name.to_owned(), value.trim().to_owned()))
            .collect();
        Self {
            raw: raw.to_vec(),
            rcpt_to: Vec::new(),
            subject: parsed.subject().unwrap_or_default().to_owned(),
            to: parsed
                .to()
                .and_then(|to| to.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned(),
            text: parsed
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            html: parsed
                .body_html(0)
                .map(|t| t.into_owned())
                .unwrap_or_default(),
            headers,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first link in the text part that starts with `prefix`, if any.
    pub fn find_link(&self, prefix: &str) -> Option<String> {
        let start = self.text.find(prefix)?;
        Some(
            self.text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect(),
        )
    }

    /// The first link in the text part that starts with `prefix`; the HTML part
    /// must carry the same link.
    pub fn link_starting_with(&self, prefix: &str) -> String {
        let link = self
            .find_link(prefix)
            .unwrap_or_else(|| panic!("no link starting with {prefix} in:\n{}", self.text));
        // In HTML the `&` between query parameters is written `&amp;`.
        assert!(
            self.html.contains(&link) || self.html.contains(&link.replace('&', "&amp;")),
            "the HTML part lacks the link {link}"
        );
        link
    }

    pub fn confirmation_link(&self, address: &str) -> String {
        self.link_starting_with(&format!("{address}/subscriptions/confirm?token="))
    }

    pub fn unsubscribe_link(&self, address: &str) -> String {
        self.link_starting_with(&format!("{address}/unsubscribe?token="))
    }
}
