//! Subscriber administration through the admin pages: the list (search,
//! filter, keyset pages), a subscriber's history, and the admin actions.
//! Import and export, and the JSON API, are in the submodules.

mod api;
mod confirm_unsubscribe;
mod import_export;
mod upgrade;

use herald::accounts::Role;
use herald::store::{now_millis, Store};
use herald::subscriptions::admin::{insert_samples, SampleSubscriber};
use herald::subscriptions::{SubscriberEmail, SubscriberName, SubscriberStatus};
use sqlx::Row;

use crate::on_both_databases;
use crate::support::{token_of, Backend, TestApp};

/// Puts subscribers straight into the database: (email, name, status), oldest first.
pub async fn add_people(app: &TestApp, people: &[(&str, &str, &str)]) {
    let now = now_millis();
    let rows: Vec<SampleSubscriber> = people
        .iter()
        .enumerate()
        .map(|(i, (email, name, status))| SampleSubscriber {
            email: SubscriberEmail::parse(email).expect("valid address"),
            name: SubscriberName::parse(name).expect("valid name"),
            status: status.parse::<SubscriberStatus>().expect("a status"),
            created_at: now - 1000 * (people.len() - i) as i64,
        })
        .collect();
    let store = Store::connect(&app.db.url, 1)
        .await
        .expect("open the store");
    insert_samples(&store, &rows).await.expect("insert");
    store.close().await;
}

pub async fn subscriber_id(app: &TestApp, email: &str) -> i64 {
    let mut conn = app.db.connect().await;
    sqlx::query("SELECT id FROM subscribers WHERE email = $1")
        .bind(email)
        .fetch_one(&mut conn)
        .await
        .expect("the subscriber exists")
        .get("id")
}

/// The addresses listed on a list page, in order.
fn listed(page: &str) -> Vec<String> {
    page.split("<a href=\"/admin/subscribers/")
        .skip(1)
        .filter_map(|rest| {
            let (id, rest) = rest.split_once("\">")?;
            id.chars()
                .all(|c| c.is_ascii_digit())
                .then(|| rest.split('<').next().unwrap_or_default().to_owned())
        })
        .collect()
}

fn next_link(page: &str) -> Option<String> {
    let before = page.find("rel=\"next\"")?;
    let start = page[..before].rfind("href=\"")? + "href=\"".len();
    let end = start + page[start..].find('"')?;
    Some(page[start..end].replace("&amp;", "&"))
}

async fn the_list_pages_through_everyone_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let people: Vec<(String, String)> = (0..120)
        .map(|i| (format!("reader{i:03}@example.com"), format!("Reader {i}")))
        .collect();
    let rows: Vec<(&str, &str, &str)> = people
        .iter()
        .map(|(e, n)| (e.as_str(), n.as_str(), "confirmed"))
        .collect();
    add_people(&app, &rows).await;
    let admin = app.sign_in_as(Role::Admin).await;

    let mut seen = Vec::new();
    let mut path = Some("/admin/subscribers".to_owned());
    let mut pages = 0;
    while let Some(current) = path {
        let (status, page) = admin.get_page(&current).await;
        assert_eq!(status, 200, "{current}");
        seen.extend(listed(&page));
        path = next_link(&page);
        pages += 1;
        assert!(pages <= 3, "more pages than rows allow");
    }
    assert_eq!(pages, 3, "50 a page");
    let mut expected: Vec<String> = people.iter().map(|(e, _)| e.clone()).collect();
    expected.reverse();
    assert_eq!(seen, expected, "every subscriber once, newest first");
}

async fn the_list_searches_addresses_and_names_and_filters_by_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_people(
        &app,
        &[
            ("ann@example.com", "Ann Smith", "confirmed"),
            ("joanna@example.com", "Joanna Berg", "confirmed"),
            ("bob@example.org", "Robert Annan", "pending"),
            ("carol@example.net", "", "unsubscribed"),
            ("dave@example.com", "<script>alert(1)</script>", "bounced"),
        ],
    )
    .await;
    let admin = app.sign_in_as(Role::Admin).await;
    let search = |path: &'static str| {
        let admin = &admin;
        async move {
            let (status, page) = admin.get_page(path).await;
            assert_eq!(status, 200, "{path}");
            listed(&page)
        }
    };
    // Addresses from their start, case-insensitively; names by the start of a word.
    assert_eq!(
        search("/admin/subscribers?q=ANN").await,
        ["bob@example.org", "ann@example.com"]
    );
    assert_eq!(
        search("/admin/subscribers?q=smi").await,
        ["ann@example.com"]
    );
    assert_eq!(
        search("/admin/subscribers?q=ann%40example").await,
        ["ann@example.com"]
    );
    assert_eq!(
        search("/admin/subscribers?q=example.com").await,
        Vec::<String>::new()
    );
    assert_eq!(
        search("/admin/subscribers?status=pending").await,
        ["bob@example.org"]
    );
    assert_eq!(
        search("/admin/subscribers?q=ann&status=confirmed").await,
        ["ann@example.com"]
    );
    assert_eq!(
        search("/admin/subscribers?q=zzz").await,
        Vec::<String>::new()
    );
    // A cursor: everything older than Joanna.
    let joanna = subscriber_id(&app, "joanna@example.com").await;
    let (_, page) = admin
        .get_page(&format!("/admin/subscribers?after={joanna}"))
        .await;
    assert_eq!(listed(&page), ["ann@example.com"]);

    let (_, page) = admin.get_page("/admin/subscribers").await;
    assert!(!page.contains("<script>alert(1)</script>"));
    assert!(page.contains("&#60;script&#62;alert(1)"), "{page}");
}

async fn the_detail_page_shows_the_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.subscribed_reader("reader@example.com").await;
    let id = subscriber_id(&app, "reader@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let (status, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("reader@example.com"));
    assert!(page.contains("confirmed"));
    let signed_up = page
        .find("Signed up")
        .expect("the signup is in the history");
    let confirmed = page
        .find("<td>Confirmed</td>")
        .expect("so is the confirmation");
    assert!(signed_up < confirmed, "oldest first");
    assert!(page.contains("127.0.0.1"), "with the address it came from");
    assert!(page.contains("herald-tests/1.0"), "and the user agent");

    let (status, _) = admin.get_page("/admin/subscribers/999999").await;
    assert_eq!(status, 404);
}

async fn an_admin_unsubscribes_a_pending_subscriber_and_their_link_dies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let link = app.sign_up_and_get_link("pending@example.com").await;
    let id = subscriber_id(&app, "pending@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form(
            &format!("/admin/subscribers/{id}/unsubscribe"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(page.contains("Unsubscribed"));
    assert!(page.contains(&format!("by admin {}", admin.user.email)));
    assert_eq!(
        app.subscriber_status("pending@example.com")
            .await
            .as_deref(),
        Some("unsubscribed")
    );
    // The confirmation link was withdrawn with it.
    let response = app
        .post_form("/subscriptions/confirm", &[("token", &token_of(&link))])
        .await;
    assert_eq!(response.status(), 410);
    // Again: nothing more to do.
    admin
        .post_form(
            &format!("/admin/subscribers/{id}/unsubscribe"),
            &[("confirm", "yes")],
        )
        .await;
    let (_, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(page.contains("already off the list"), "{page}");
}

async fn an_admin_resends_the_confirmation_within_the_limits(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| config.confirmations_per_day = 2).await;
    app.sign_up_and_get_link("slow@example.com").await;
    let id = subscriber_id(&app, "slow@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form(&format!("/admin/subscribers/{id}/resend"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let link = app
        .next_mail_to("slow@example.com", 1)
        .await
        .confirmation_link(&app.address);
    app.confirm(&link).await;
    assert_eq!(
        app.subscriber_status("slow@example.com").await.as_deref(),
        Some("confirmed")
    );

    // A third mail in a day to the same address is held back.
    app.sign_up_and_get_link("twice@example.com").await;
    let id = subscriber_id(&app, "twice@example.com").await;
    let resend = format!("/admin/subscribers/{id}/resend");
    assert_eq!(admin.post_form(&resend, &[]).await.status(), 303);
    let response = admin.post_form(&resend, &[]).await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(page.contains("Not sent"), "{page}");
    let mails = app.mails_after_quiet_period().await;
    let to_twice = mails
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == "twice@example.com"))
        .count();
    assert_eq!(to_twice, 2);
    // Only a pending subscriber gets one.
    let confirmed = subscriber_id(&app, "slow@example.com").await;
    let response = admin
        .post_form(&format!("/admin/subscribers/{confirmed}/resend"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin
        .get_page(&format!("/admin/subscribers/{confirmed}"))
        .await;
    assert!(page.contains("Only a pending subscriber"), "{page}");
}

async fn an_admin_erases_a_subscriber_and_only_a_count_remains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.subscribed_reader("gone@example.com").await;
    let id = subscriber_id(&app, "gone@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let erase = format!("/admin/subscribers/{id}/erase");
    // Without ticking the box, nothing happens.
    assert_eq!(admin.post_form(&erase, &[]).await.status(), 303);
    assert!(app.subscriber_status("gone@example.com").await.is_some());

    let response = admin.post_form(&erase, &[("confirm", "yes")]).await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/subscribers").await;
    assert!(page.contains("erased"), "{page}");
    assert_eq!(app.subscriber_status("gone@example.com").await, None);
    assert!(app.db.events("gone@example.com").await.is_empty());
    assert_eq!(app.db.count("subscriber_events").await, 0);
    assert_eq!(app.db.count("confirmation_tokens").await, 0);
    assert_eq!(app.db.count("outbox").await, 0);
    let mut conn = app.db.connect().await;
    let erased: i64 = sqlx::query("SELECT erased FROM erasure_counts")
        .fetch_one(&mut conn)
        .await
        .expect("a count for today")
        .get("erased");
    assert_eq!(erased, 1);
    assert_eq!(
        admin.get_page(&format!("/admin/subscribers/{id}")).await.0,
        404
    );
    let response = admin.post_form(&erase, &[("confirm", "yes")]).await;
    assert_eq!(response.status(), 303);
    let (_, page) = admin.get_page("/admin/subscribers").await;
    assert!(page.contains("no such subscriber"), "{page}");
}

/// Editors see counts on the dashboard; the list, the history with its
/// consent evidence and the actions are for admins.
async fn editors_may_neither_look_nor_act(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_people(&app, &[("kept@example.com", "Kept", "pending")]).await;
    let id = subscriber_id(&app, "kept@example.com").await;
    let editor = app.sign_in_as(Role::Editor).await;
    let (status, page) = editor.get_page("/admin/subscribers").await;
    assert_eq!(status, 403);
    assert!(!page.contains("kept@example.com"));
    let (status, page) = editor.get_page(&format!("/admin/subscribers/{id}")).await;
    assert_eq!(status, 403);
    assert!(!page.contains("kept@example.com"));
    let (_, dashboard) = editor.get_page("/admin").await;
    assert!(
        dashboard.contains("pending"),
        "the counts are on the dashboard"
    );
    for action in ["unsubscribe", "resend", "erase"] {
        let response = editor
            .post_form(
                &format!("/admin/subscribers/{id}/{action}"),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), 403, "{action}");
    }
    assert_eq!(editor.get_page("/admin/subscribers/import").await.0, 403);
    assert_eq!(
        editor.get_page("/admin/subscribers/export.csv").await.0,
        403
    );
    assert_eq!(
        app.subscriber_status("kept@example.com").await.as_deref(),
        Some("pending")
    );
    assert_eq!(app.mails_after_quiet_period().await.len(), 0);
}

async fn actions_without_the_csrf_token_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_people(&app, &[("kept@example.com", "Kept", "confirmed")]).await;
    let id = subscriber_id(&app, "kept@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    for action in ["unsubscribe", "erase"] {
        let response = admin
            .post_form_without_csrf(
                &format!("/admin/subscribers/{id}/{action}"),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), 403, "{action}");
    }
    assert_eq!(
        app.subscriber_status("kept@example.com").await.as_deref(),
        Some("confirmed")
    );
}

on_both_databases!(
    the_list_pages_through_everyone_newest_first,
    the_list_searches_addresses_and_names_and_filters_by_status,
    the_detail_page_shows_the_history,
    an_admin_unsubscribes_a_pending_subscriber_and_their_link_dies,
    an_admin_resends_the_confirmation_within_the_limits,
    an_admin_erases_a_subscriber_and_only_a_count_remains,
    editors_may_neither_look_nor_act,
    actions_without_the_csrf_token_change_nothing,
);
