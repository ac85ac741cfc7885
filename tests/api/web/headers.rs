//! HSTS when the public URL is https, and only then.

use herald::config::BaseUrl;

use crate::on_both_databases;
use crate::support::{Backend, TestApp};

async fn hsts_is_sent_when_the_public_url_is_https(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.base_url = BaseUrl::parse("https://news.example.com").expect("valid");
    })
    .await;
    for path in ["/", "/issues", "/admin/login", "/health", "/no-such-page"] {
        let response = app.get(path).await;
        assert_eq!(
            response
                .headers()
                .get("strict-transport-security")
                .and_then(|v| v.to_str().ok()),
            Some("max-age=31536000"),
            "{path}"
        );
    }
}

async fn no_hsts_over_plain_http(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(app.config.base_url.as_str().starts_with("http://"));
    for path in ["/", "/admin/login", "/health"] {
        let response = app.get(path).await;
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "{path}"
        );
    }
}

on_both_databases!(
    hsts_is_sent_when_the_public_url_is_https,
    no_hsts_over_plain_http
);
