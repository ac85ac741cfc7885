//! Checklists the admin pages show: the one before a send (on the send
//! page) and the first-run one on the dashboard. Each line says how it
//! stands in words; the colour only repeats it.

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
            title,
            detail: detail.into(),
            link: None,
        }
    }

    fn with_link(mut self, href: &str, text: &str) -> Self {
        self.link = Some((href.to_owned(), text.to_owned()));
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
        let check = Check::missing(
            "First subscribers",
            "Import your list, or share the signup page for the first readers to sign up.",
        );
        if facts.is_admin {
            check.with_link("/admin/subscribers/import", "Import subscribers")
        } else {
            check
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
