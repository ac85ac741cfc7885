use std::collections::HashMap;

use super::*;

fn config(vars: &[(&str, &str)]) -> Config {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Config::from_vars(&vars).expect("valid configuration")
}

const ED25519: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/dkim/ed25519.pem"
);
const RSA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/dkim/rsa2048.pem"
);

#[test]
fn each_key_gets_its_record_and_long_ones_are_split_into_255_byte_strings() {
    let plan = plan(&config(&[
        ("HERALD_FROM", "News <news@example.com>"),
        ("DKIM_DOMAIN", "example.com"),
        ("DKIM_SELECTOR", "rsa2026,ed2026"),
        ("DKIM_PRIVATE_KEY", &format!("{RSA},{ED25519}")),
    ]))
    .expect("plan");
    let names: Vec<&str> = plan.records.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rsa2026._domainkey.example.com",
            "ed2026._domainkey.example.com",
            "example.com",
            "_dmarc.example.com"
        ]
    );
    let rsa = &plan.records[0];
    assert!(
        rsa.value.starts_with("v=DKIM1; k=rsa; p=MIIB"),
        "{}",
        rsa.value
    );
    let parts = txt_strings(&rsa.value);
    assert!(parts.len() >= 2 && parts.iter().all(|p| p.len() <= 255));
    assert_eq!(parts.concat(), rsa.value);
    let line = rsa.zone_line();
    assert!(
        line.starts_with("rsa2026._domainkey.example.com. 3600 IN TXT \"v=DKIM1; k=rsa; p="),
        "{line}"
    );
    assert_eq!(line.matches('"').count(), 2 * parts.len());
    assert!(plan.records[1].value.starts_with("v=DKIM1; k=ed25519; p="));
    assert_eq!(
        plan.records[3].value,
        "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com"
    );
    assert!(plan.notes.is_empty(), "{:?}", plan.notes);
}

#[test]
fn without_dkim_it_says_how_to_make_keys_and_the_relay_is_named_without_credentials() {
    let plan = plan(&config(&[
        ("HERALD_FROM", "News <news@example.com>"),
        ("SMTP_URL", "smtp://user:hunter2@smtp.relay.example.net:587"),
        ("HERALD_BOUNCE_ADDRESS", "bounces@bounce.example.com"),
    ]))
    .expect("plan");
    let notes = plan.notes.join("\n");
    assert!(
        notes.contains("openssl genpkey -algorithm ed25519"),
        "{notes}"
    );
    assert!(notes.contains("openssl genrsa"), "{notes}");
    let spf = &plan.records[0];
    assert_eq!(spf.name, "example.com");
    assert_eq!(spf.value, "v=spf1 a:smtp.relay.example.net ~all");
    let everything = format!("{plan:?}");
    assert!(!everything.contains("hunter2") && !everything.contains("user:"));
    let kinds: Vec<(&str, RecordKind)> = plan
        .records
        .iter()
        .map(|r| (r.name.as_str(), r.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("example.com", RecordKind::Txt),
            ("_dmarc.example.com", RecordKind::Txt),
            ("bounce.example.com", RecordKind::Mx),
            ("bounce.example.com", RecordKind::Txt),
        ]
    );
}
