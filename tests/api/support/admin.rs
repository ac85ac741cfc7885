//! Signing in to the admin pages and calling the API, as a browser or a script would.

use herald::accounts::{Accounts, NewPassword, Role, User};
use herald::store::Store;
use secrecy::SecretString;

use super::TestApp;

pub const TEST_PASSWORD: &str = "correct horse battery staple";

/// A browser signed in to `/admin`: it keeps the session cookie and sends the
/// CSRF token with every form.
pub struct AdminBrowser {
    pub client: reqwest::Client,
    pub csrf_token: String,
    pub user: User,
    address: String,
}

/// The CSRF token in a page's forms.
pub fn csrf_token_in(page: &str) -> Option<String> {
    let start = page.find(r#"name="csrf_token" value=""#)? + r#"name="csrf_token" value=""#.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

/// Opens `page` in `browser`, then submits `fields` to `action` with the CSRF
/// token that page carried, as a person filling in its form would.
pub async fn submit_form(
    browser: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = browser
        .get(page)
        .send()
        .await
        .expect("GET the form")
        .text()
        .await
        .expect("the form page");
    let csrf = csrf_token_in(&html).expect("the form has a CSRF token");
    let mut fields = fields.to_vec();
    fields.push(("csrf_token", &csrf));
    browser
        .post(action)
        .form(&fields)
        .send()
        .await
        .expect("POST the form")
}

pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .user_agent("herald-tests/1.0")
        .build()
        .expect("HTTP client")
}

impl TestApp {
    /// The accounts capability on the test database, to set up users directly.
    pub async fn accounts(&self) -> Accounts {
        let store = Store::connect(&self.db.url, 2)
            .await
            .expect("open the test database");
        Accounts::new(store)
    }

    pub async fn create_user(&self, email: &str, role: Role) -> User {
        let password =
            NewPassword::parse(SecretString::from(TEST_PASSWORD)).expect("valid password");
        self.accounts()
            .await
            .create_user(email, role, password)
            .await
            .expect("create the user")
    }

    /// Signs in through the login form as a new user with `role`.
    pub async fn sign_in_as(&self, role: Role) -> AdminBrowser {
        let email = format!("{}-{:08x}@example.com", role, rand::random::<u32>());
        let user = self.create_user(&email, role).await;
        self.sign_in(user, TEST_PASSWORD).await
    }

    pub async fn sign_in(&self, user: User, password: &str) -> AdminBrowser {
        let client = cookie_client();
        let login = self.url("/admin/login");
        let response = submit_form(
            &client,
            &login,
            &login,
            &[("email", &user.email), ("password", password)],
        )
        .await;
        assert_eq!(response.status(), 303, "sign-in of {} failed", user.email);
        // The account page, which every signed-in account reaches (also one
        // that must still set up two-factor sign-in), carries the CSRF token.
        let account = client
            .get(self.url("/admin/account"))
            .send()
            .await
            .expect("GET account page")
            .text()
            .await
            .expect("account page");
        let csrf_token = csrf_token_in(&account).expect("the account page has a CSRF token");
        AdminBrowser {
            client,
            csrf_token,
            user,
            address: self.address.clone(),
        }
    }

    /// A new API token with `role`, as `herald token create` makes it, owned
    /// by a new account of the same role.
    pub async fn api_token(&self, role: Role) -> String {
        let owner = format!(
            "token-owner-{}-{:08x}@example.com",
            role,
            rand::random::<u32>()
        );
        let owner = self.create_user(&owner, role).await;
        self.api_token_of(&owner, role).await
    }

    /// A new API token with `role` owned by `owner`.
    pub async fn api_token_of(&self, owner: &User, role: Role) -> String {
        self.accounts()
            .await
            .create_api_token("tests", role, owner.id)
            .await
            .expect("create a token")
            .1
    }

    pub fn api(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
    }

    /// Creates a topic through the API as an admin, with the members of
    /// `extra` (`{"visibility": "private"}`, …) added; returns its id.
    pub async fn create_topic(&self, slug: &str, name: &str, extra: serde_json::Value) -> i64 {
        let token = self.api_token(Role::Admin).await;
        let mut body = serde_json::json!({"slug": slug, "name": name});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let response = self
            .api(reqwest::Method::POST, "/api/v1/topics", &token)
            .json(&body)
            .send()
            .await
            .expect("POST /api/v1/topics");
        assert_eq!(response.status(), 201, "creating {slug}");
        let topic: serde_json::Value = response.json().await.expect("JSON");
        topic["id"].as_i64().expect("id")
    }
}

impl AdminBrowser {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    pub async fn get_page(&self, path: &str) -> (reqwest::StatusCode, String) {
        let response = self.get(path).await;
        (response.status(), response.text().await.expect("page"))
    }

    /// Submits a form with the session's CSRF token.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &self.csrf_token));
        self.client
            .post(self.url(path))
            .form(&fields)
            .send()
            .await
            .expect("POST")
    }

    /// Submits a form without any CSRF token, as a forged cross-site request would.
    pub async fn post_form_without_csrf(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .expect("POST")
    }
}
