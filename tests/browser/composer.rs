//! The composer keeps the editor's work: an intro edit survives adding an
//! item, a refresh repeats nothing, the keyboard's "Move down" keeps the item
//! in view and in focus, a removal can be undone, and an item dragged to a
//! new place stays there.

use herald::accounts::Role;

use super::driver::{xpath_literal, Browser};
use super::support::admin::TEST_PASSWORD;
use super::support::{Backend, TestApp};

async fn sign_in(browser: &Browser, app: &TestApp, email: &str) {
    super::sign_in(browser, app, email, TEST_PASSWORD).await;
}

const STORIES: [(&str, &str); 3] = [
    ("The first story", "https://example.com/first"),
    ("The second story", "https://example.com/second"),
    ("The third story", "https://example.com/third"),
];

/// Waits until item `place` (1-based) of the list is the story titled `title`.
async fn wait_for_item(browser: &Browser, place: usize, title: &str) {
    browser
        .wait_for(&format!(
            "//ol[contains(@class, 'items')]/li[{place}]//a[normalize-space()={}]",
            xpath_literal(title)
        ))
        .await;
}

async fn add_story(browser: &Browser, place: usize) {
    let (title, url) = STORIES[place - 1];
    browser.fill("new-title", title).await;
    browser.fill("new-url", url).await;
    browser.press("Add item").await;
    wait_for_item(browser, place, title).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_composer_keeps_the_editors_work() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    sign_in(&browser, &app, &editor.email).await;
    browser.goto(&app.url("/admin/issues/new")).await;
    browser.wait_for_heading("New issue").await;
    browser.fill("subject", "Weekly digest").await;
    browser.fill("intro", "The intro as first saved.").await;
    browser.press("Create draft").await;
    browser.wait_for_heading("Weekly digest").await;

    // An intro edit, not saved, then an item added: the edit is kept.
    browser
        .fill("intro", "An intro edit never saved on its own.")
        .await;
    add_story(&browser, 1).await;
    assert_eq!(
        browser.value_of("intro").await,
        "An intro edit never saved on its own."
    );
    let url = browser.client.current_url().await.expect("URL");
    assert!(
        url.fragment().is_some_and(|f| f.starts_with("item-")),
        "back at the item added: {url}"
    );

    // A refresh shows the page again and adds nothing.
    browser.client.refresh().await.expect("refresh");
    browser.wait_for_heading("Weekly digest").await;
    wait_for_item(&browser, 1, STORIES[0].0).await;
    assert_eq!(app.db.count("issue_items").await, 1);

    add_story(&browser, 2).await;
    add_story(&browser, 3).await;

    // "Move down" from the keyboard: the page comes back at the item, with
    // the focus on its button, so the next Enter moves it again.
    let move_down = browser
        .wait_for("//button[normalize-space()='Move item 1 down']")
        .await;
    move_down.send_keys("\u{E007}").await.expect("press Enter");
    wait_for_item(&browser, 2, STORIES[0].0).await;
    let state = browser
        .client
        .execute(
            "var item = document.activeElement.closest('li');\
             var box = item ? item.getBoundingClientRect() : null;\
             return [item ? item.textContent : '', location.hash,\
                     !!box && box.top >= 0 && box.bottom <= window.innerHeight,\
                     document.activeElement.getAttribute('data-move')];",
            Vec::new(),
        )
        .await
        .expect("read the focus");
    assert!(
        state[0].as_str().unwrap_or_default().contains(STORIES[0].0),
        "the focus is on the moved item: {state:?}"
    );
    assert!(
        state[1].as_str().unwrap_or_default().starts_with("#item-"),
        "{state:?}"
    );
    assert_eq!(state[2], true, "the moved item is in view: {state:?}");
    assert_eq!(state[3], "down", "{state:?}");

    // Remove the middle item, then undo: it comes back at its place.
    browser
        .wait_for("//button[normalize-space()='Remove item 2']")
        .await
        .click()
        .await
        .expect("remove item 2");
    browser
        .wait_for("//form[contains(@class, 'undo')]//button[normalize-space()='Undo']")
        .await;
    assert_eq!(app.db.count("issue_items").await, 2);
    browser.screenshot_full_page("composer-undo").await;
    browser.press("Undo").await;
    wait_for_item(&browser, 2, STORIES[0].0).await;
    assert_eq!(app.db.count("issue_items").await, 3);
    browser.screenshot("composer-after-undo").await;

    // Drag and drop: the third item dropped on top of the first lands first.
    browser
        .client
        .execute(
            "var items = document.querySelectorAll('ol.items > li');\
             var from = items[2], to = items[0], data = new DataTransfer();\
             var top = to.getBoundingClientRect().top + 1;\
             var event = function (type, target) {\
               target.dispatchEvent(new DragEvent(type, {bubbles: true, cancelable: true,\
                 dataTransfer: data, clientY: top}));\
             };\
             event('dragstart', from); event('dragover', to); event('drop', to);",
            Vec::new(),
        )
        .await
        .expect("drag the third item to the top");
    // The page comes back from the server with the new order.
    browser
        .wait_for("//p[contains(@class, 'flash')][contains(., 'The item is moved.')]")
        .await;
    wait_for_item(&browser, 1, STORIES[2].0).await;
    wait_for_item(&browser, 2, STORIES[1].0).await;
    wait_for_item(&browser, 3, STORIES[0].0).await;

    browser.close().await;
}
