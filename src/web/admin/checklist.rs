//! Checklists the admin pages show: the one before a send (on the send
//! page) and the first-run one on the dashboard. Each line says how it
//! stands in words; the colour only repeats it.

use crate::delivery::SendControlError;
use crate::format::counted;
use crate::issues::Issue;
use crate::store::timestamps;
use crate::web::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CheckState {
    Done,
    Warning,
    Missing,
}

impl CheckState {
    pub(crate) fn word(self) -> &'static str {
        match self {
            Self::Done => "Done",
            Self::Warning => "Warning",
            Self::Missing => "Missing",
        }
    }

    pub(crate) fn class(self) -> &'static str {
        match self {
            Self::Done => "check-done",
            Self::Warning => "check-warning",
            Self::Missing => "check-missing",
        }
    }
}

/// One line of a checklist: what is checked, how it stands, and where to
/// put it right.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) state: CheckState,
    pub(crate) title: &'static str,
    pub(crate) detail: String,
    /// A link (address, text) to where it is done, if there is a page for it.
    pub(crate) link: Option<(String, String)>,
}

impl Check {
    fn done(title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            state: CheckState::Done,
            title,
            detail: detail.into(),
            link: None,
        }
    }

    fn missing(title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            state: CheckState::Missing,
            ..Self::done(title, detail)
        }
    }

    fn warning(title: &'static str, detail: impl Into<String>) -> Self {
        Self {
            state: CheckState::Warning,
            ..Self::done(title, detail)
        }
    }

    fn with_link(mut self, href: impl Into<String>, text: impl Into<String>) -> Self {
        self.link = Some((href.into(), text.into()));
        self
    }
}

/// Where mail goes while it is not delivered (SMTP_URL unset): the outbox
/// folder. `None` once mail goes to an SMTP server.
pub(crate) fn mail_to_files(state: &AppState) -> Option<String> {
    state
        .config
        .smtp_url
        .is_none()
        .then(|| state.config.outbox_dir.display().to_string())
}

/// What the first-run checklist looks at besides the settings.
pub(crate) struct FirstRunFacts {
    pub(crate) subscribers: i64,
    pub(crate) test_sent: bool,
    /// Links to the subscriber pages only for admins, who can open them.
    pub(crate) is_admin: bool,
}

/// The first-run checklist of the dashboard; empty once everything is done.
pub(crate) fn first_run(state: &AppState, facts: &FirstRunFacts) -> Vec<Check> {
    let config = &state.config;
    let mut checks = Vec::new();
    checks.push(if config.from_is_set {
        Check::done("Sender", format!("Mail goes out from {}.", config.from))
    } else {
        Check::missing(
            "Sender",
            format!(
                "Set HERALD_FROM to the name and address readers see, like \
                 “Morning Brief <news@example.com>”; until then mail is from {}.",
                config.from
            ),
        )
    });
    checks.push(match &config.smtp_url {
        Some(_) => Check::done("SMTP", format!("Mail goes to {}.", state.mailer.describe())),
        None => Check::missing(
            "SMTP",
            format!(
                "Set SMTP_URL to your mail server; until then mail is only written to files in {}.",
                config.outbox_dir.display()
            ),
        ),
    });
    checks.push(match &config.dkim {
        Some(dkim) => Check::done("DKIM", format!("Mail is signed for {}.", dkim.domain)),
        None => Check::missing(
            "DKIM",
            "Set DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY so that mail servers trust \
             your mail.",
        ),
    });
    checks.push(if config.postal_address.trim().is_empty() {
        Check::missing(
            "Postal address",
            "Set HERALD_POSTAL_ADDRESS: anti-spam laws such as CAN-SPAM ask for one in every mail.",
        )
    } else {
        Check::done("Postal address", config.postal_address.clone())
    });
    checks.push(if facts.subscribers > 0 {
        Check::done(
            "First subscribers",
            format!("{} so far.", facts.subscribers),
        )
    } else {
        if facts.is_admin {
            Check::missing(
                "First subscribers",
                "Import your list, or share the signup page for the first readers to sign up.",
            )
            .with_link("/admin/subscribers/import", "Import subscribers")
        } else {
            // Editors cannot open the subscriber pages: say who can.
            Check::missing(
                "First subscribers",
                "An admin imports the list (Subscribers, then Import), or readers sign up on \
                 the signup page.",
            )
        }
    });
    checks.push(if facts.test_sent {
        Check::done("First test", "A test copy was sent.")
    } else {
        Check::missing(
            "First test",
            "Send a test copy of an issue to yourself from its preview.",
        )
        .with_link("/admin/issues", "Open the issues to send a test")
    });
    if checks.iter().all(|check| check.state == CheckState::Done) {
        checks.clear();
    }
    checks
}

/// Who readers see the mail from and who their replies reach, as their mail
/// program shows it.
pub(crate) fn sender_lines(state: &AppState) -> (String, String) {
    let from = state.identity.from.to_string();
    // Without HERALD_REPLY_TO there is no Reply-To header, so a reply goes to the From address.
    let reply_to = match &state.identity.reply_to {
        Some(reply_to) => reply_to.to_string(),
        None => format!(
            "not set: replies go to the From address, {}",
            state.identity.from.email
        ),
    };
    (from, reply_to)
}

/// The pre-send checklist. Only the first check, something to read, blocks
/// a send; the others warn.
pub(crate) fn send_checklist(
    state: &AppState,
    issue: &Issue,
    last_test: Option<i64>,
) -> Vec<Check> {
    const CONTENT: &str = "Subject and content";
    const SENDER: &str = "From and Reply-To";
    const TESTED: &str = "A test copy since the last change";
    const POSTAL: &str = "Postal address";
    let id = issue.id;
    let content = if issue.has_content() {
        let intro = if issue.header.intro.is_empty() {
            "no intro"
        } else {
            "an intro"
        };
        let items = u32::try_from(issue.items.len()).unwrap_or(u32::MAX);
        Check::done(
            CONTENT,
            format!(
                "“{}”, with {intro} and {}.",
                issue.header.subject.as_str(),
                counted(items, "item", "items")
            ),
        )
    } else {
        Check::missing(CONTENT, SendControlError::Empty.to_string()).with_link(
            format!("/admin/issues/{id}"),
            format!("Edit issue {id} in the composer"),
        )
    };
    let (from, reply_to) = sender_lines(state);
    let sender = if state.config.from_is_set {
        Check::done(SENDER, format!("From: {from}. Reply-To: {reply_to}."))
    } else {
        Check::warning(
            SENDER,
            format!(
                "From: {from}. Reply-To: {reply_to}. HERALD_FROM is not set, so the address \
                 is a placeholder that readers cannot reply to and that mail servers distrust: \
                 set HERALD_FROM to a real address, like “Morning Brief <news@example.com>”."
            ),
        )
    };
    let tested = match last_test {
        Some(at) if at >= issue.updated_at => Check::done(
            TESTED,
            format!(
                "The latest test copy went out {}, after the last change.",
                timestamps::date_time(at)
            ),
        ),
        Some(at) => Check::warning(
            TESTED,
            format!(
                "The latest test copy went out {}, before the last change ({}): look at one more.",
                timestamps::date_time(at),
                timestamps::date_time(issue.updated_at)
            ),
        ),
        None => Check::warning(TESTED, "No test copy of this issue was sent yet."),
    };
    let tested = if tested.state == CheckState::Done {
        tested
    } else {
        tested.with_link(
            format!("/admin/issues/{id}/preview"),
            format!("Preview issue {id} and send a test copy"),
        )
    };
    let unsubscribe = Check::done(
        "Unsubscribe link",
        "Herald adds it to every copy, in the footer and in the List-Unsubscribe header, \
         one per reader.",
    );
    let postal = if state.identity.postal_address.trim().is_empty() {
        Check::warning(
            POSTAL,
            "HERALD_POSTAL_ADDRESS is empty, so the footer shows no postal address, \
             which anti-spam laws such as CAN-SPAM ask for: set HERALD_POSTAL_ADDRESS.",
        )
    } else {
        Check::done(
            POSTAL,
            format!("The footer shows {}.", state.identity.postal_address),
        )
    };
    vec![content, sender, tested, unsubscribe, postal]
}
