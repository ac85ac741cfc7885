//! The client address behind a reverse proxy: the entry the trusted proxy
//! appended to `X-Forwarded-For`, never what the client wrote there.

use std::net::IpAddr;

use herald::config::TrustedProxies;
use sqlx::Row;

use crate::on_both_databases;
use crate::support::appending_proxy::AppendingProxy;
use crate::support::{Backend, TestApp};

/// The address the proxy saw the real client come from.
const REAL_CLIENT: &str = "203.0.113.7";

async fn signed_up_addresses(app: &TestApp) -> Vec<Option<String>> {
    // Signups are answered first and recorded by the signup desk after.
    app.signups_handled().await;
    let mut conn = app.db.connect().await;
    sqlx::query("SELECT ip FROM subscriber_events WHERE kind = 'signed_up' ORDER BY id")
        .fetch_all(&mut conn)
        .await
        .expect("read the consent records")
        .iter()
        .map(|row| row.get("ip"))
        .collect()
}

/// Signs up `count` addresses through `proxy`, each request with another
/// forged `X-Forwarded-For`; returns (accepted, limited).
async fn forged_signups(app: &TestApp, proxy: &AppendingProxy, count: usize) -> (usize, usize) {
    let (mut accepted, mut limited) = (0, 0);
    for n in 0..count {
        let email = format!("reader{n}@example.com");
        let response = app
            .client
            .post(proxy.url("/subscriptions"))
            .header("X-Forwarded-For", format!("198.51.100.{n}"))
            .form(&[("email", email.as_str()), ("name", ""), ("website", "")])
            .send()
            .await
            .expect("signup through the proxy");
        match response.status().as_u16() {
            200 => accepted += 1,
            429 => limited += 1,
            other => panic!("signup {n} answered {other}"),
        }
    }
    (accepted, limited)
}

async fn behind_a_trusted_proxy_the_address_it_appended_is_the_client(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.signup_rate_per_minute = 10.try_into().expect("non-zero");
        config.trusted_proxies = TrustedProxies::parse("127.0.0.1").expect("valid");
    })
    .await;
    let upstream = app.address.trim_start_matches("http://").to_owned();
    let real_client: IpAddr = REAL_CLIENT.parse().expect("an address");
    let proxy = AppendingProxy::start(&upstream, real_client).await;

    let (accepted, limited) = forged_signups(&app, &proxy, 15).await;
    assert_eq!(
        (accepted, limited),
        (10, 5),
        "one real client, whatever it writes in X-Forwarded-For, gets the limit of 10 a minute"
    );
    let addresses = signed_up_addresses(&app).await;
    assert_eq!(addresses.len(), 10);
    assert!(
        addresses.iter().all(|a| a.as_deref() == Some(REAL_CLIENT)),
        "the consent records keep the address the proxy appended: {addresses:?}"
    );
}

/// The deprecated switch trusts proxies on this machine only, and still takes
/// the entry the proxy appended.
async fn the_deprecated_switch_trusts_local_proxies_from_the_right(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.signup_rate_per_minute = 10.try_into().expect("non-zero");
        config.trusted_proxies = TrustedProxies::loopback();
    })
    .await;
    let upstream = app.address.trim_start_matches("http://").to_owned();
    let proxy = AppendingProxy::start(&upstream, REAL_CLIENT.parse().expect("ip")).await;
    assert_eq!(forged_signups(&app, &proxy, 12).await, (10, 2));
    assert!(signed_up_addresses(&app)
        .await
        .iter()
        .all(|a| a.as_deref() == Some(REAL_CLIENT)));
}

/// A client talking to Herald directly is its TCP peer, whatever header it sends.
async fn a_peer_that_is_not_a_trusted_proxy_is_the_client(backend: Backend) {
    let app = TestApp::spawn_with(backend, |config| {
        config.trusted_proxies = TrustedProxies::parse("10.0.0.0/8, fd00::/8").expect("valid");
    })
    .await;
    let response = app
        .client
        .post(app.url("/subscriptions"))
        .header("X-Forwarded-For", "198.51.100.1")
        .form(&[
            ("email", "direct@example.com"),
            ("name", ""),
            ("website", ""),
        ])
        .send()
        .await
        .expect("signup");
    assert_eq!(response.status(), 200);
    assert_eq!(
        signed_up_addresses(&app).await,
        [Some("127.0.0.1".to_owned())]
    );
}

on_both_databases!(
    behind_a_trusted_proxy_the_address_it_appended_is_the_client,
    the_deprecated_switch_trusts_local_proxies_from_the_right,
    a_peer_that_is_not_a_trusted_proxy_is_the_client,
);
