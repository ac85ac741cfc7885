//! Issue 17, items 2 and 9: unsubscribing a reader from the admin goes
//! through a confirmation page, and every action on a reader answers with a
//! redirect, so a refresh repeats nothing.

use herald::accounts::Role;

use super::{add_people, subscriber_id};
use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn unsubscribing_a_reader_takes_a_confirmation_page(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_people(&app, &[("reader@example.com", "Reader", "confirmed")]).await;
    let id = subscriber_id(&app, "reader@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let confirm_page = format!("/admin/subscribers/{id}/unsubscribe");
    let (_, detail) = admin.get_page(&format!("/admin/subscribers/{id}")).await;
    assert!(
        detail.contains(&format!(r#"href="{confirm_page}""#)),
        "{detail}"
    );

    // The old one-click form, without the confirmation page's field, does nothing.
    let response = admin.post_form(&confirm_page, &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], confirm_page.as_str());
    assert_eq!(
        app.subscriber_status("reader@example.com").await.as_deref(),
        Some("confirmed")
    );

    let (status, page) = admin.get_page(&confirm_page).await;
    assert_eq!(status, 200);
    assert!(page.contains("Nothing was changed"), "{page}");
    assert!(page.contains("Unsubscribe reader@example.com?"), "{page}");
    assert!(
        page.contains("No more issues go to reader@example.com"),
        "{page}"
    );
    assert!(page.contains(r#"name="confirm" value="yes""#), "{page}");
    assert!(
        page.contains(&format!(
            r#"<a href="/admin/subscribers/{id}">Keep reader@example.com subscribed</a>"#
        )),
        "a way back: {page}"
    );
    assert_eq!(
        app.subscriber_status("reader@example.com").await.as_deref(),
        Some("confirmed"),
        "opening the page changes nothing"
    );

    let response = admin.post_form(&confirm_page, &[("confirm", "yes")]).await;
    assert_eq!(response.status(), 303);
    let target = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(target, format!("/admin/subscribers/{id}"));
    let (_, first) = admin.get_page(&target).await;
    assert!(
        first.contains("Unsubscribed: no more mail goes to this address."),
        "{first}"
    );
    let events_after = app.db.events("reader@example.com").await.len();
    let (_, again) = admin.get_page(&target).await;
    let (_, _) = admin.get_page(&target).await;
    assert!(
        !again.contains("Unsubscribed: no more mail"),
        "the notice shows once"
    );
    assert_eq!(
        app.db.events("reader@example.com").await.len(),
        events_after,
        "a refresh repeats nothing"
    );
    assert_eq!(
        app.subscriber_status("reader@example.com").await.as_deref(),
        Some("unsubscribed")
    );
    // Off the list: no confirmation page to offer.
    assert!(!again.contains(&format!(r#"href="{confirm_page}""#)));
    assert_eq!(admin.get(&confirm_page).await.status(), 303);
}

async fn resending_and_erasing_answer_with_a_redirect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.sign_up_and_get_link("pending@example.com").await;
    let id = subscriber_id(&app, "pending@example.com").await;
    let admin = app.sign_in_as(Role::Admin).await;
    let response = admin
        .post_form(&format!("/admin/subscribers/{id}/resend"), &[])
        .await;
    assert_eq!(response.status(), 303);
    for _ in 0..2 {
        admin.get_page(&format!("/admin/subscribers/{id}")).await;
    }
    app.next_mail_to("pending@example.com", 1).await;
    let mails = app.mails_after_quiet_period().await;
    assert_eq!(mails.len(), 2, "the signup's mail and one resent, no more");

    let response = admin
        .post_form(
            &format!("/admin/subscribers/{id}/erase"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/subscribers");
    let (_, list) = admin.get_page("/admin/subscribers").await;
    assert!(list.contains("are erased"), "{list}");
    let (_, list) = admin.get_page("/admin/subscribers").await;
    assert!(!list.contains("are erased"), "the notice shows once");
}

on_both_databases!(
    unsubscribing_a_reader_takes_a_confirmation_page,
    resending_and_erasing_answer_with_a_redirect,
);
