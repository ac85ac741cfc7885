//! Sessions live on the server: a cookie is only a random key, which ends at
//! sign-out and never names whoever next gets a reused id.

use herald::accounts::Role;
use reqwest::header::{COOKIE, SET_COOKIE};

use crate::on_both_databases;
use crate::support::admin::{csrf_token_in, TEST_PASSWORD};
use crate::support::{Backend, TestApp};

/// A browser whose session cookie the test holds in its hand, so it can keep
/// a copy, as someone who copied it from the browser's storage would.
struct CookieJar {
    client: reqwest::Client,
    address: String,
    cookie: Option<String>,
}

impl CookieJar {
    fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("HTTP client"),
            address: app.address.clone(),
            cookie: None,
        }
    }

    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let value = value.to_str().expect("ascii cookie");
            if let Some(pair) = value.split(';').next() {
                if pair.starts_with("herald_session=") {
                    self.cookie = Some(pair.to_owned());
                }
            }
        }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> (reqwest::StatusCode, String) {
        let request = match &self.cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("request");
        self.remember(&response);
        let status = response.status();
        (status, response.text().await.expect("body"))
    }

    async fn get(&mut self, path: &str) -> (reqwest::StatusCode, String) {
        let url = format!("{}{path}", self.address);
        self.send(self.client.get(url)).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (reqwest::StatusCode, String) {
        let url = format!("{}{path}", self.address);
        self.send(self.client.post(url).form(fields)).await
    }

    async fn sign_in(&mut self, email: &str) -> String {
        let (_, page) = self.get("/admin/login").await;
        let csrf = csrf_token_in(&page).expect("the login form has a CSRF token");
        let (status, _) = self
            .post(
                "/admin/login",
                &[
                    ("csrf_token", &csrf),
                    ("email", email),
                    ("password", TEST_PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, 303, "sign-in of {email}");
        let (status, page) = self.get("/admin").await;
        assert_eq!(status, 200);
        csrf_token_in(&page).expect("the dashboard has a CSRF token")
    }
}

fn api_token_count(page: &str) -> usize {
    page.matches("/revoke\"").count()
}

async fn a_removed_editors_kept_cookie_never_reaches_the_next_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let editor = app.create_user("leaving@example.com", Role::Editor).await;
    let mut kept = CookieJar::new(&app);
    let csrf = kept.sign_in(&editor.email).await;

    let response = admin
        .post_form(
            &format!("/admin/users/{}/remove", editor.id),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let response = admin
        .post_form(
            "/admin/users",
            &[
                ("email", "new-admin@example.com"),
                ("role", "admin"),
                ("password", "a long admin password"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);

    for path in ["/admin", "/admin/users", "/admin/tokens"] {
        let (status, _) = kept.get(path).await;
        assert_eq!(status, 303, "the kept cookie opened {path}");
    }
    let (status, page) = kept
        .post(
            "/admin/tokens",
            &[("csrf_token", &csrf), ("name", "mine"), ("role", "admin")],
        )
        .await;
    assert!(
        status == 303 || status == 403,
        "the kept cookie minted a token: {status}"
    );
    assert!(!page.contains("hrld_"));
    let (_, tokens) = admin.get_page("/admin/tokens").await;
    assert_eq!(api_token_count(&tokens), 0, "no token was made");
    let newcomer = app
        .accounts()
        .await
        .users()
        .await
        .expect("users")
        .into_iter()
        .find(|u| u.email == "new-admin@example.com")
        .expect("the new admin exists");
    assert_ne!(newcomer.id, editor.id, "the removed account's id came back");
}

async fn a_copy_of_the_cookie_taken_before_sign_out_no_longer_works(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    let mut browser = CookieJar::new(&app);
    let csrf = browser.sign_in(&editor.email).await;
    let mut copy = CookieJar::new(&app);
    copy.cookie = browser.cookie.clone();
    assert_eq!(
        copy.get("/admin").await.0,
        200,
        "the copy works while signed in"
    );

    let (status, _) = browser
        .post("/admin/logout", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 303);
    assert_eq!(browser.get("/admin").await.0, 303);
    let (status, _) = copy.get("/admin").await;
    assert_eq!(status, 303, "the copy still worked after sign-out");
    let (status, _) = copy.get("/admin/issues").await;
    assert_eq!(status, 303);
}

async fn signing_out_everywhere_ends_every_session_of_the_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let editor = app.create_user("editor@example.com", Role::Editor).await;
    let laptop = app.sign_in(editor.clone(), TEST_PASSWORD).await;
    let phone = app.sign_in(editor.clone(), TEST_PASSWORD).await;
    let (_, page) = laptop.get_page("/admin/account").await;
    assert!(page.contains("Sign out everywhere"));

    let response = laptop.post_form("/admin/account/sessions/end", &[]).await;
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/admin/login");
    let (_, page) = laptop.get_page("/admin/login").await;
    assert!(page.contains("signed out everywhere"), "{page}");
    assert_eq!(laptop.get("/admin").await.status(), 303);
    assert_eq!(phone.get("/admin").await.status(), 303);
    assert_eq!(
        admin.get("/admin").await.status(),
        200,
        "other accounts stay"
    );
    // The sign-in form shown afterwards works.
    let csrf = csrf_token_in(&page).expect("a sign-in form");
    let response = laptop
        .client
        .post(laptop.url("/admin/login"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("email", &editor.email),
            ("password", TEST_PASSWORD),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status(), 303);
    assert_eq!(laptop.get("/admin").await.status(), 200);

    // An admin signs another account out everywhere.
    let (_, users) = admin.get_page("/admin/users").await;
    assert!(users.contains(&format!("/admin/users/{}/sessions/end", editor.id)));
    let response = admin
        .post_form(&format!("/admin/users/{}/sessions/end", editor.id), &[])
        .await;
    assert_eq!(response.status(), 303);
    let (_, users) = admin.get_page("/admin/users").await;
    assert!(users.contains("Signed out everywhere: "), "{users}");
    assert_eq!(laptop.get("/admin").await.status(), 303);
    assert_eq!(admin.get("/admin").await.status(), 200);
}

/// SQLite handed the highest id out again after a delete; ids in links,
/// cookies and tokens must name one row, ever.
async fn deleted_rows_leave_their_ids_unused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.sign_in_as(Role::Admin).await;
    let subscriber_id = |email: &'static str| {
        let app = &app;
        async move {
            let mut conn = app.db.connect().await;
            sqlx::Row::get::<i64, _>(
                &sqlx::query("SELECT id FROM subscribers WHERE email = $1")
                    .bind(email)
                    .fetch_one(&mut conn)
                    .await
                    .expect("the subscriber exists"),
                "id",
            )
        }
    };
    assert_eq!(app.sign_up("first@example.com", "").await.status(), 200);
    assert_eq!(app.sign_up("erased@example.com", "").await.status(), 200);
    let erased = subscriber_id("erased@example.com").await;
    let response = admin
        .post_form(
            &format!("/admin/subscribers/{erased}/erase"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.db.count("subscribers").await, 1);
    assert_eq!(app.sign_up("next@example.com", "").await.status(), 200);
    assert!(subscriber_id("next@example.com").await > erased);

    let token = app.api_token(Role::Editor).await;
    let new_issue = || async {
        let response = app
            .api(reqwest::Method::POST, "/api/v1/issues", &token)
            .json(&serde_json::json!({"subject": "Weekly", "intro": "Hello", "items": []}))
            .send()
            .await
            .expect("create an issue");
        assert_eq!(response.status(), 201);
        let body: serde_json::Value = response.json().await.expect("JSON");
        body["id"].as_i64().expect("issue id")
    };
    new_issue().await;
    let deleted = new_issue().await;
    let mut conn = app.db.connect().await;
    sqlx::query("DELETE FROM issues WHERE id = $1")
        .bind(deleted)
        .execute(&mut conn)
        .await
        .expect("delete the issue");
    assert!(new_issue().await > deleted);
}

on_both_databases!(
    a_removed_editors_kept_cookie_never_reaches_the_next_account,
    a_copy_of_the_cookie_taken_before_sign_out_no_longer_works,
    signing_out_everywhere_ends_every_session_of_the_account,
    deleted_rows_leave_their_ids_unused,
);
