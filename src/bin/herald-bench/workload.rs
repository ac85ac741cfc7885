//! What every run sends: N confirmed subscribers and one issue of about
//! 20 KB of HTML, made once in a template database that each run copies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use herald::config::{Config, SecretKey};
use herald::delivery::{PreparedIssue, ReaderCopy};
use herald::issues::{
    HeaderInput, Issue, IssueContent, IssueStatus, Issues, Item, ItemInput, RenderedIssue,
    Renderings,
};
use herald::mail::{recipient, MailIdentity};
use herald::store::{now_millis, Store};
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{
    LinkKey, SubscriberEmail, SubscriberName, SubscriberStatus, UnsubscribeToken,
};
use indicatif::ProgressBar;
use secrecy::SecretString;

/// The sample article every item quotes; the same text as the tests' fixture.
const ARTICLE: &str = include_str!("../../../tests/fixtures/article.txt");
/// "About 20 KB of rendered HTML": a typical digest of half a dozen stories.
const TARGET_HTML_BYTES: usize = 20 * 1024;
/// Subscribers per transaction.
const SEED_BATCH: usize = 50_000;

const FIRST_NAMES: &[&str] = &[
    "Ada", "Alan", "Grace", "Linus", "Ursula", "Mary", "John", "Emma", "Olivia", "Noah", "Liam",
    "Sophia", "Mia", "Lucas", "Amelia", "Ethan", "Harper", "Elijah", "Zoe", "Hugo", "Jonas",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace", "Turing", "Hopper", "Torvalds", "Smith", "Johnson", "Williams", "Brown", "Jones",
    "Garcia", "Miller", "Davis", "Martinez", "Lopez", "Wilson", "Anderson", "Thomas", "Moore",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "example.net", "mail.example"];

/// What the runs send: the seeded list and the issue.
pub struct Template {
    pub issue_id: i64,
    pub items: usize,
    pub html_bytes: usize,
    /// One reader's message as Herald's renderer and lettre build it; what
    /// `smtp-source` sends when Herald did not run.
    pub estimated_message_bytes: u64,
    pub seed_time: Duration,
}

/// The environment of every `herald` command: what an operator would set,
/// and nothing inherited.
pub fn herald_env(
    run_dir: &Path,
    database_url: &str,
    smtp_url: &str,
    concurrency: usize,
) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", database_url.to_owned()),
        ("SMTP_URL", smtp_url.to_owned()),
        ("HERALD_SEND_CONCURRENCY", concurrency.to_string()),
        (
            "HERALD_SECRET_FILE",
            run_dir.join("herald.secret").display().to_string(),
        ),
        (
            "HERALD_OUTBOX_DIR",
            run_dir.join("outbox").display().to_string(),
        ),
        ("HERALD_BASE_URL", "https://news.example.com".to_owned()),
        (
            "HERALD_FROM",
            "The Weekly Herald <news@example.com>".to_owned(),
        ),
        ("HERALD_NEWSLETTER_NAME", "The Weekly Herald".to_owned()),
        (
            "HERALD_POSTAL_ADDRESS",
            "1 Example Street, 75336 Dallas, Texas".to_owned(),
        ),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// The SQLite file each run gets a copy of.
const TEMPLATE_FILE: &str = "template.db";

/// Seeds `subscribers` confirmed readers and creates the issue in the
/// SQLite template file of `dir`, which `copy_for_run` copies.
pub async fn prepare(dir: &Path, subscribers: u64) -> anyhow::Result<Template> {
    let url = format!("sqlite://{}", dir.join(TEMPLATE_FILE).display());
    let template = prepare_at(dir, &url, subscribers).await?;
    let store = Store::connect(&url, 1).await?;
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await?;
    store.close().await;
    Ok(template)
}

/// Seeds `subscribers` and the issue into the (empty) database at `url`.
pub async fn prepare_at(dir: &Path, url: &str, subscribers: u64) -> anyhow::Result<Template> {
    let env = herald_env(dir, url, "smtp://127.0.0.1:25", 1);
    let config = Config::from_vars(&env.iter().cloned().collect::<HashMap<_, _>>())
        .context("the benchmark's own Herald configuration is refused")?;
    let store = Store::connect(&config.database_url, 1).await?;
    store.migrate().await?;

    let started = Instant::now();
    seed(&store, subscribers).await?;
    let seed_time = started.elapsed();

    let identity = MailIdentity::from_config(&config);
    let content = digest_of_size(&identity, TARGET_HTML_BYTES)?;
    let issues = Issues::new(store.clone());
    let issue_id = issues.create(&content).await?;
    let issue = issues.get(issue_id).await?;
    let rendered = RenderedIssue::render(&issue, &identity)?;
    let estimated_message_bytes = one_message_bytes(&rendered, &identity)?;

    // Everything into the main file, so a plain copy is the whole database.
    store.close().await;
    Ok(Template {
        issue_id,
        items: issue.items.len(),
        html_bytes: rendered.html_bytes(),
        estimated_message_bytes,
        seed_time,
    })
}

/// A fresh copy of the template for one run, in its own directory.
pub fn copy_for_run(dir: &Path, run_dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(run_dir)?;
    let template = dir.join(TEMPLATE_FILE);
    let database = run_dir.join("herald.db");
    std::fs::copy(&template, &database).with_context(|| {
        format!(
            "cannot copy {} to {}",
            template.display(),
            database.display()
        )
    })?;
    Ok(database)
}

async fn seed(store: &Store, count: u64) -> anyhow::Result<()> {
    let progress = ProgressBar::new(count).with_message("seeding");
    let now = now_millis();
    let mut batch = Vec::with_capacity(SEED_BATCH);
    let mut inserted = 0;
    for n in 1..=count {
        batch.push(subscriber(n, now)?);
        if batch.len() == SEED_BATCH || n == count {
            inserted += insert_samples(store, &batch).await?;
            progress.inc(batch.len() as u64);
            batch.clear();
        }
    }
    progress.finish_and_clear();
    if inserted != count {
        bail!("seeded {inserted} subscribers instead of {count}");
    }
    Ok(())
}

/// Reader `n`: a distinct address and, for nine in ten, a name.
fn subscriber(n: u64, now: i64) -> anyhow::Result<SampleSubscriber> {
    let pick = |list: &[&'static str], salt: u64| list[((n / salt) % list.len() as u64) as usize];
    let (first, last) = (pick(FIRST_NAMES, 1), pick(LAST_NAMES, 7));
    let address = format!(
        "{}.{}{n}@{}",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        pick(DOMAINS, 3)
    );
    let name = if n.is_multiple_of(10) {
        None
    } else {
        SubscriberName::parse(&format!("{first} {last}"))?
    };
    Ok(SampleSubscriber {
        email: SubscriberEmail::parse(&address)?,
        name,
        status: SubscriberStatus::Confirmed,
        created_at: now,
    })
}

/// The article's body paragraphs: past the source line, headline and photo
/// credit, up to the site's footer.
fn article_paragraphs() -> (&'static str, Vec<&'static str>) {
    let blocks: Vec<&str> = ARTICLE
        .split("\n\n")
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    let headline = blocks.get(1).copied().unwrap_or("Today's story");
    let body = blocks
        .iter()
        .skip(3)
        .copied()
        .filter(|b| b.len() > 100)
        .collect();
    (headline, body)
}

/// A digest with as many items as it takes for its HTML to reach `target` bytes.
fn digest_of_size(identity: &MailIdentity, target: usize) -> anyhow::Result<IssueContent> {
    let (headline, paragraphs) = article_paragraphs();
    if paragraphs.len() < 2 {
        bail!("the sample article has too few paragraphs");
    }
    let header = HeaderInput {
        subject: "The Weekly Herald: Russia, Venezuela and the week's other stories".into(),
        preheader: "Seven stories worth your time this week".into(),
        intro: format!("Good morning. This week's lead story:\n\n{}", paragraphs[0]),
    };
    let mut items: Vec<ItemInput> = Vec::new();
    for k in 0..herald::issues::domain::MAX_ITEMS {
        // Two paragraphs per item, walking through the article.
        let first = paragraphs[(2 * k) % paragraphs.len()];
        let second = paragraphs[(2 * k + 1) % paragraphs.len()];
        items.push(ItemInput {
            title: format!("{headline} ({})", k + 1),
            url: format!("https://www.example.com/world/2019/03/28/story-{}", k + 1),
            source: "CTM News".into(),
            date: "2019-03-28".into(),
            summary: format!("{first}\n\n{second}"),
        });
        let content = IssueContent::parse(&header, &items)?;
        let draft = unsaved(&content);
        if RenderedIssue::render(&draft, identity)?.html_bytes() >= target {
            return Ok(content);
        }
    }
    bail!("{} items still render under {target} bytes", items.len())
}

fn unsaved(content: &IssueContent) -> Issue {
    Issue {
        id: 1,
        status: IssueStatus::Draft,
        header: content.header.clone(),
        items: content
            .items
            .iter()
            .zip(1..)
            .map(|(content, id)| Item {
                id,
                content: content.clone(),
            })
            .collect(),
        created_at: 0,
        updated_at: 0,
        sent_at: None,
        renderings: Renderings::default(),
        topics: Vec::new(),
    }
}

/// The size of one reader's message, headers included, as it goes over SMTP.
fn one_message_bytes(rendered: &RenderedIssue, identity: &MailIdentity) -> anyhow::Result<u64> {
    let key = SecretKey::from_secret(&SecretString::from("herald-bench".repeat(4)));
    let token = UnsubscribeToken::for_link_key(&key, &LinkKey::generate());
    let unsubscribe_url = identity
        .site_url
        .join(&format!("/unsubscribe?token={}", token.as_str()));
    let reader = subscriber(123_456, 0)?;
    let message = PreparedIssue::new(1, rendered, identity).message(
        identity,
        &key,
        &ReaderCopy {
            to: recipient(&reader.email, reader.name.as_ref()),
            subscriber_id: 123_456,
            unsubscribe_url: &unsubscribe_url,
            token: token.as_str(),
            unsubscribe_mailto: None,
            name: None,
            fields: None,
        },
    )?;
    Ok(message.formatted().len() as u64)
}
