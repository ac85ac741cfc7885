//! The renderer on the look-and-feel fixture: the sample article of
//! `tests/fixtures/article.txt` (a copy of `shared/samples/article.txt`).

use lettre::message::Mailbox;

use super::*;
use crate::config::BaseUrl;
use crate::issues::domain::{HeaderInput, IssueContent, IssueStatus, Item, ItemInput, Renderings};

const ARTICLE: &str = include_str!("../../../tests/fixtures/article.txt");

fn identity() -> MailIdentity {
    MailIdentity {
        from: "The Daily Herald <news@example.com>"
            .parse::<Mailbox>()
            .expect("valid mailbox"),
        newsletter_name: "The Daily Herald".into(),
        postal_address: "1 Test Street, Testville".into(),
        site_url: BaseUrl::parse("https://herald.example").expect("valid URL"),
        reply_to: None,
        language: crate::config::Language::default(),
    }
}

/// The article as an editor would put it in a digest: its headline, source,
/// date and body as the summary.
fn article_item() -> ItemInput {
    let paragraphs: Vec<&str> = ARTICLE
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    let source = paragraphs[0].trim_start_matches('•').trim();
    let title = paragraphs[1];
    let body_end = paragraphs
        .iter()
        .position(|p| p.starts_with("CTM News |"))
        .expect("the article has a dateline");
    ItemInput {
        title: title.into(),
        url: "https://ctmnews.example/2019/03/28/russian-military-venezuela".into(),
        source: source.into(),
        date: "2019-03-28".into(),
        summary: paragraphs[3..body_end].join("\n\n"),
    }
}

/// An issue made from `header` and `items`, as the composer would save it
/// (also used by the delivery tests).
pub(crate) fn issue(header: HeaderInput, items: Vec<ItemInput>) -> Issue {
    let content = IssueContent::parse(&header, &items).expect("valid issue");
    Issue {
        id: 7,
        status: IssueStatus::Draft,
        header: content.header,
        items: content
            .items
            .into_iter()
            .enumerate()
            .map(|(i, content)| Item {
                id: i64::try_from(i).expect("small"),
                content,
            })
            .collect(),
        created_at: 0,
        updated_at: 0,
        sent_at: None,
        renderings: Renderings::default(),
        topics: Vec::new(),
    }
}

fn sample_issue() -> Issue {
    issue(
        HeaderInput {
            subject: "This week: Russian specialists in Caracas".into(),
            preheader: "What Moscow says its soldiers are doing in Venezuela".into(),
            intro: "Good morning. One story dominated the week; here is **what we know**, \
                    and [our earlier coverage](https://herald.example/venezuela) for context."
                .into(),
        },
        vec![
            article_item(),
            ItemInput {
                title: "Second <script>alert('title')</script> story".into(),
                url: "https://example.com/second".into(),
                source: "Wire <img src=x onerror=alert(1)>".into(),
                date: String::new(),
                summary: "Short. <script>alert(1)</script><img src=x onerror=alert(2)> \
                          [click](javascript:alert(3)) <a href=\"javascript:alert(4)\">x</a>"
                    .into(),
            },
        ],
    )
}

#[test]
fn the_html_part_is_a_600px_table_layout_with_inlined_css() {
    let rendered = RenderedIssue::render(&sample_issue(), &identity()).expect("renders");
    let (html, _) = rendered.personalize_sample("abc");
    if let Ok(path) = std::env::var("HERALD_WRITE_SAMPLE") {
        std::fs::write(&path, &html).expect("write the sample");
        let (_, text) = rendered.personalize_sample("abc");
        std::fs::write(format!("{path}.txt"), text).expect("write the sample");
    }
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80]);
    assert!(html.contains(r#"<table class="sheet" role="presentation" border="0" width="600""#));
    assert!(html.contains("max-width: 600px") || html.contains("max-width:600px"));
    assert!(html.contains(r#"<meta name="color-scheme" content="light dark">"#));
    assert!(html.contains("<meta name=\"viewport\""));
    // The dark-mode and phone rules stay in a <style>; the rest is inlined.
    assert!(html.contains("@media (prefers-color-scheme: dark)"));
    assert!(html.contains("@media only screen and (max-width: 620px)"));
    assert_eq!(
        html.matches("<style").count(),
        1,
        "only the media-query style stays"
    );
    assert!(
        html.contains(r#"<h1 class="subject" style=""#),
        "the subject has inline style"
    );
    assert!(html.contains(r#"class="preheader" style="display: none"#));
    // Hidden without a colour: text the colour of its background is what
    // SpamAssassin's HTML_FONT_LOW_CONTRAST counts against a mail.
    let preheader_style = html
        .split(r#"class="preheader" style=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the preheader's style");
    assert!(!preheader_style.contains("color"), "{preheader_style}");
    for hiding in [
        "display: none",
        "max-height: 0",
        "overflow: hidden",
        "mso-hide: all",
        "opacity: 0",
    ] {
        assert!(
            preheader_style.contains(hiding),
            "{hiding} in {preheader_style}"
        );
    }
    assert!(html.contains("What Moscow says its soldiers are doing in Venezuela"));
    // The item: title linked, byline, summary, a link with clear text.
    assert!(html.contains(
        "href=\"https://ctmnews.example/2019/03/28/russian-military-venezuela\" style=\"color: #111827;text-decoration: none;\">Russian military have arrived in Venezuela but will not take part in military operations</a>"
    ), "{html}");
    assert!(html.contains("CTM News · 28 March 2019"));
    // Each item's link names its article, so two links never share a text.
    assert!(html.contains("Read “Russian military have arrived in Venezuela but will not take part in military operations” at ctmnews.example"));
    assert!(html.contains("Jose Rafael Torrealba Perez"));
    assert!(html.contains("<strong>what we know</strong>"));
    // The footer: name, postal address, why, unsubscribe.
    assert!(html.contains("1 Test Street, Testville"));
    assert!(html.contains(
        "You are receiving this because your address is on the list of The Daily Herald"
    ));
    // True for imported readers too: they did not sign up and confirm.
    assert!(!html.contains("and confirmed your address"));
    // The footer's three links share the reader's one token.
    assert!(html.contains(r#"href="https://herald.example/unsubscribe?token=abc&amp;issue=7""#));
    assert!(html.contains(">Leave this newsletter</a> with one click"));
    assert!(html.contains(r#"href="https://herald.example/unsubscribe?token=abc&amp;all=1""#));
    assert!(html.contains(">Leave everything from The Daily Herald</a>"));
    assert!(html.contains(r#"href="https://herald.example/preferences?token=abc""#));
    assert!(html.contains(">Manage your preferences</a>"));
    assert!(html.contains(r#"href="https://herald.example/issues/7""#));
    assert!(!html.contains(TOKEN_PLACEHOLDER));
    assert!(rendered.html_bytes() > 5_000 && !rendered.is_too_big_for_gmail());
}

/// The tags of an HTML document (escaped text holds no `<`).
fn tags(html: &str) -> Vec<String> {
    html.split('<')
        .skip(1)
        .map(|rest| rest.split('>').next().unwrap_or_default().to_lowercase())
        .collect()
}

/// No tag that runs script: no `<script>`, no `on…=` handler, no `javascript:` URL.
pub(crate) fn assert_inert(html: &str) {
    for tag in tags(html) {
        let name = tag.split_whitespace().next().unwrap_or_default();
        assert!(
            !matches!(name, "script" | "iframe" | "object" | "embed"),
            "<{tag}> survived"
        );
        assert!(
            !tag.split_whitespace()
                .skip(1)
                .any(|attr| attr.starts_with("on")),
            "an event handler survived: <{tag}>"
        );
        assert!(
            !tag.contains("javascript:"),
            "a javascript: URL survived: <{tag}>"
        );
    }
}

#[test]
fn nothing_executable_survives_in_either_part() {
    let rendered = RenderedIssue::render(&sample_issue(), &identity()).expect("renders");
    let (html, text) = rendered.personalize_sample("abc");
    assert_inert(&html);
    // Typed text is shown as text, escaped.
    assert!(
        html.contains("Second &lt;script&gt;alert('title')&lt;/script&gt; story"),
        "{html}"
    );
    assert!(html.contains("Wire &lt;img src=x onerror=alert(1)&gt;"));
    // The summary's Markdown keeps its text but loses the markup.
    assert!(html.contains("Short."));
    assert!(!text.to_lowercase().contains("javascript:"));
    assert!(!text.contains("<script>alert(1)"));
}

#[test]
fn the_text_part_is_wrapped_at_78_columns_with_links_written_out() {
    let rendered = RenderedIssue::render(&sample_issue(), &identity()).expect("renders");
    let token = "t".repeat(90);
    let url = format!("https://herald.example/unsubscribe?token={token}&issue=7");
    let (_, text) = rendered.personalize_sample(&token);
    assert!(text_fits(&text), "{text}");
    assert!(text
        .lines()
        .filter(|l| l.chars().count() > TEXT_WIDTH)
        .all(|l| !l.trim().contains(' ')));
    assert!(
        text.starts_with("The Daily Herald\n\nThis week: Russian specialists in Caracas\n=====")
    );
    assert!(text
        .replace('\n', " ")
        .contains("our earlier coverage (https://herald.example/venezuela)"));
    assert!(text.contains(
        "1. Russian military have arrived in Venezuela but will not take part in\n   military operations\n   CTM News · 28 March 2019\n   https://ctmnews.example/2019/03/28/russian-military-venezuela\n"
    ), "{text}");
    assert!(text.contains(&format!(
        "To leave this newsletter with one click, open this link:\n{url}\n"
    )));
    assert!(text.contains(&format!(
        "To leave everything from The Daily Herald:\nhttps://herald.example/unsubscribe?token={token}&all=1\n"
    )));
    assert!(text.contains(&format!(
        "https://herald.example/preferences?token={token}\n"
    )));
    assert!(text.contains("\n-- \nThe Daily Herald\n1 Test Street, Testville"));
    assert!(!text.contains(TOKEN_PLACEHOLDER));
}

#[test]
fn personalising_changes_only_the_readers_token() {
    let rendered = RenderedIssue::render(&sample_issue(), &identity()).expect("renders");
    let (html_a, text_a) = rendered.personalize_sample("a");
    let (html_b, text_b) = rendered.personalize_sample("b");
    assert_eq!(html_a.replace("token=a", "token=b"), html_b);
    assert_eq!(text_a.replace("token=a", "token=b"), text_b);
    // Leave the topics, leave everything, the preference centre.
    assert_eq!(html_a.matches("token=a").count(), 3);
    assert_eq!(text_a.matches("token=a").count(), 3);
}

#[test]
fn topics_are_named_in_the_footer() {
    assert_eq!(topics_label([].into_iter()), "this newsletter");
    assert_eq!(topics_label(["Daily"].into_iter()), "“Daily”");
    assert_eq!(
        topics_label(["A", "B", "C"].into_iter()),
        "“A”, “B” and “C”"
    );
}

#[test]
fn a_huge_issue_is_flagged_for_gmail_clipping() {
    let huge = issue(
        HeaderInput {
            subject: "Huge".into(),
            preheader: String::new(),
            intro: "A paragraph of words that goes on. ".repeat(570),
        },
        (0..40)
            .map(|i| ItemInput {
                title: format!("Story {i}"),
                url: format!("https://example.com/{i}"),
                summary: "Summary text with *emphasis* and more words. ".repeat(100),
                ..ItemInput::default()
            })
            .collect(),
    );
    let rendered = RenderedIssue::render(&huge, &identity()).expect("renders");
    assert!(rendered.html_bytes() > HTML_WARNING_BYTES);
    assert!(rendered.is_too_big_for_gmail());
}
