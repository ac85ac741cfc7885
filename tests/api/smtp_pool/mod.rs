//! Herald's own SMTP pool, driven through `Mailer` over real TCP: sessions
//! reused and replaced, AUTH, TLS (implicit and STARTTLS) through a
//! TLS-terminating relay in front of the test server, and DKIM on the way.

mod auth;
mod dkim;
mod pooling;
mod tls;
mod tls_relay;

use std::collections::HashMap;

use herald::config::Config;
use herald::mail::{Mailer, SendError};
use lettre::Message;
use secrecy::SecretString;

/// A mailer for `url` with the default settings as adjusted by `configure`.
fn mailer(url: &str, configure: impl FnOnce(&mut Config)) -> Mailer {
    let mut config = Config::from_vars(&HashMap::new()).expect("default configuration is valid");
    config.smtp_url = Some(SecretString::from(url.to_owned()));
    configure(&mut config);
    Mailer::from_config(&config).expect("the mailer is built")
}

fn message(to: &str) -> Message {
    Message::builder()
        .from(
            "The Daily Herald <news@example.com>"
                .parse()
                .expect("mailbox"),
        )
        .to(to.parse().expect("mailbox"))
        .subject("Pool test")
        .body("Hello from the pool.\r\n".to_owned())
        .expect("message")
}

async fn send(mailer: &Mailer, to: &str) -> Result<String, SendError> {
    mailer.send(&message(to)).await
}
