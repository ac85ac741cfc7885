//! Two-factor sign-in: RFC 6238 time-based codes from an authenticator app,
//! and one-time recovery codes for a lost phone.
//!
//! Enrolment stores a new secret and shows it as a QR code; it counts only
//! once a code made from it is typed back. A code works once: the time step
//! it was made for is kept, and codes of that step or earlier are refused.
//! Second-factor attempts are counted like password attempts (`login.rs`),
//! so a guesser gets five tries per window, not a million.

use qrcode::render::svg;
use qrcode::QrCode;
use totp_rs::{Algorithm, TOTP};

use super::{queries, AccountError, Accounts, LoginError, User};
use crate::config::{random_token, token_hash};
use crate::store::now_millis;

/// Seconds a code lasts (RFC 6238's default, what every app assumes).
const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
/// Codes one step early or late still count: phones' clocks drift.
const SKEW_STEPS: i64 = 1;
const SECRET_BYTES: usize = 20;
pub const RECOVERY_CODE_COUNT: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum TwoFactorError {
    #[error("That code is not right. Type the six digits your app shows now.")]
    WrongCode,
    #[error("Two-factor sign-in is already on for this account.")]
    AlreadyOn,
    #[error("Two-factor sign-in is not on for this account.")]
    NotOn,
    #[error("Start the set-up again: no secret is waiting to be confirmed.")]
    NotStarted,
    #[error("cannot make the one-time code: {0}")]
    Secret(String),
    #[error(transparent)]
    Account(#[from] AccountError),
}

impl From<sqlx::Error> for TwoFactorError {
    fn from(error: sqlx::Error) -> Self {
        Self::Account(AccountError::Store(error))
    }
}

/// What the enrolment page shows: the QR code and the same secret as text.
pub struct Enrolment {
    /// Base32, in groups of four, for typing into an app by hand.
    pub secret_text: String,
    /// `otpauth://totp/…`, the QR code's content.
    pub otpauth_url: String,
    /// The QR code as an inline `<svg>` element.
    pub qr_svg: String,
}

fn totp_for(secret: &[u8], issuer: &str, account: &str) -> Result<TOTP, TwoFactorError> {
    TOTP::new(
        Algorithm::SHA1,
        DIGITS,
        0,
        STEP_SECONDS,
        secret.to_vec(),
        Some(issuer.to_owned()),
        account.to_owned(),
    )
    .map_err(|e| TwoFactorError::Secret(e.to_string()))
}

fn decode_secret(stored: &str) -> Result<Vec<u8>, TwoFactorError> {
    totp_rs::Secret::Encoded(stored.to_owned())
        .to_bytes()
        .map_err(|e| TwoFactorError::Secret(e.to_string()))
}

fn now_step() -> i64 {
    now_millis() / (STEP_SECONDS as i64 * 1_000)
}

/// The time step within the allowed skew for which `code` is right, if any,
/// later than `last_used` (a code works once).
fn matching_step(totp: &TOTP, code: &str, last_used: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS || !code.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let now = now_step();
    (now - SKEW_STEPS..=now + SKEW_STEPS)
        .filter(|step| last_used.is_none_or(|last| *step > last))
        .find(|step| u64::try_from(*step).is_ok_and(|step| totp.check(&code, step * STEP_SECONDS)))
}

/// `abcd-efgh-ijkl`: ten letters and digits a person can read out, from an
/// alphabet without 0/O and 1/l.
fn new_recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let random = random_token();
    let chars: Vec<char> = random
        .bytes()
        .map(|b| char::from(ALPHABET[usize::from(b) % ALPHABET.len()]))
        .take(12)
        .collect();
    chars
        .chunks(4)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

fn recovery_hash(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    token_hash(&normalised)
}

impl Accounts {
    /// Starts enrolment: a new secret, kept but not yet in force.
    #[tracing::instrument(skip_all, fields(user_id = user.id))]
    pub async fn begin_two_factor(
        &self,
        user: &User,
        issuer: &str,
    ) -> Result<Enrolment, TwoFactorError> {
        if user.two_factor {
            return Err(TwoFactorError::AlreadyOn);
        }
        let secret: [u8; SECRET_BYTES] = rand::random();
        let totp = totp_for(&secret, issuer, &user.email)?;
        let encoded = totp.get_secret_base32();
        let mut conn = self.store.pool().acquire().await?;
        queries::set_pending_totp_secret(&mut conn, user.id, &encoded).await?;
        Ok(enrolment(&totp, &encoded))
    }

    /// The set-up under way, shown again after a mistyped code.
    pub async fn pending_enrolment(
        &self,
        user: &User,
        issuer: &str,
    ) -> Result<Option<Enrolment>, TwoFactorError> {
        let mut conn = self.store.pool().acquire().await?;
        let Some(state) = queries::totp_state(&mut conn, user.id).await? else {
            return Ok(None);
        };
        match (state.enabled, state.secret) {
            (false, Some(secret)) => {
                let totp = totp_for(&decode_secret(&secret)?, issuer, &user.email)?;
                Ok(Some(enrolment(&totp, &secret)))
            }
            _ => Ok(None),
        }
    }

    /// Puts the pending secret in force once `code` made from it is right;
    /// the recovery codes, shown once.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn confirm_two_factor(
        &self,
        user_id: i64,
        issuer: &str,
        code: &str,
    ) -> Result<Vec<String>, TwoFactorError> {
        let mut tx = self.store.begin_write().await?;
        let state = queries::totp_state(&mut tx, user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        if state.enabled {
            return Err(TwoFactorError::AlreadyOn);
        }
        let secret = state.secret.ok_or(TwoFactorError::NotStarted)?;
        let totp = totp_for(&decode_secret(&secret)?, issuer, "")?;
        let step = matching_step(&totp, code, None).ok_or(TwoFactorError::WrongCode)?;
        let now = now_millis();
        queries::enable_totp(&mut tx, user_id, step, now).await?;
        let codes = replace_recovery_codes(&mut tx, user_id, now).await?;
        tx.commit().await?;
        tracing::info!("two-factor sign-in turned on");
        Ok(codes)
    }

    /// Recovery codes of the account not used yet.
    pub async fn recovery_codes_left(&self, user_id: i64) -> Result<i64, sqlx::Error> {
        let mut conn = self.store.pool().acquire().await?;
        queries::unused_recovery_codes(&mut conn, user_id).await
    }

    /// Turns two-factor sign-in off; takes a current code (or a recovery code).
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn disable_two_factor(&self, user_id: i64, code: &str) -> Result<(), TwoFactorError> {
        let mut tx = self.store.begin_write().await?;
        if !self.use_second_factor(&mut tx, user_id, code).await? {
            return Err(TwoFactorError::WrongCode);
        }
        queries::disable_totp(&mut tx, user_id).await?;
        tx.commit().await?;
        tracing::info!("two-factor sign-in turned off");
        Ok(())
    }

    /// New recovery codes in place of the old ones; takes a current code.
    pub async fn renew_recovery_codes(
        &self,
        user_id: i64,
        code: &str,
    ) -> Result<Vec<String>, TwoFactorError> {
        let mut tx = self.store.begin_write().await?;
        if !self.use_second_factor(&mut tx, user_id, code).await? {
            return Err(TwoFactorError::WrongCode);
        }
        let codes = replace_recovery_codes(&mut tx, user_id, now_millis()).await?;
        tx.commit().await?;
        Ok(codes)
    }

    /// The second step of a sign-in: the account, when `code` (from the app,
    /// or a recovery code) is right. Counted against the same limits as
    /// passwords, for the account and for the client network.
    #[tracing::instrument(skip_all, fields(user_id))]
    pub async fn log_in_second_factor(
        &self,
        user_id: i64,
        code: &str,
        client: &str,
    ) -> Result<User, LoginError> {
        let user = {
            let mut conn = self.store.pool().acquire().await?;
            queries::find_user(&mut conn, user_id).await?
        };
        let Some(user) = user.filter(|u| !u.disabled && u.two_factor) else {
            return Err(LoginError::Rejected);
        };
        let account_key = format!("account:{}", user.email.to_lowercase());
        let client_key = format!("client:{client}");
        let reservation = self.reserve_attempt(&[&account_key, &client_key]).await?;
        let mut tx = self.store.begin_write().await?;
        let right = self
            .use_second_factor(&mut tx, user_id, code)
            .await
            .map_err(|e| match e {
                TwoFactorError::Account(error) => LoginError::Account(error),
                _ => LoginError::Rejected,
            })?;
        tx.commit().await?;
        if right {
            self.take_back(&reservation).await?;
            Ok(user)
        } else {
            tracing::info!("second factor rejected");
            Err(LoginError::Rejected)
        }
    }

    /// Checks and uses up `code`: an app code for a step after the last one
    /// used, or an unused recovery code.
    async fn use_second_factor(
        &self,
        conn: &mut sqlx::AnyConnection,
        user_id: i64,
        code: &str,
    ) -> Result<bool, TwoFactorError> {
        let state = queries::totp_state(conn, user_id)
            .await?
            .ok_or(AccountError::NotFound)?;
        let (true, Some(secret)) = (state.enabled, state.secret) else {
            return Err(TwoFactorError::NotOn);
        };
        let totp = totp_for(&decode_secret(&secret)?, "", "")?;
        if let Some(step) = matching_step(&totp, code, state.last_step) {
            // Another request may have used the same step a moment ago.
            return Ok(queries::use_totp_step(conn, user_id, step).await?);
        }
        Ok(queries::use_recovery_code(conn, user_id, &recovery_hash(code), now_millis()).await?)
    }
}

async fn replace_recovery_codes(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    now: i64,
) -> Result<Vec<String>, sqlx::Error> {
    queries::delete_recovery_codes(conn, user_id).await?;
    let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
        .map(|_| new_recovery_code())
        .collect();
    for code in &codes {
        queries::insert_recovery_code(conn, user_id, &recovery_hash(code), now).await?;
    }
    Ok(codes)
}

fn enrolment(totp: &TOTP, encoded: &str) -> Enrolment {
    let otpauth_url = totp.get_url();
    let qr_svg = QrCode::new(otpauth_url.as_bytes())
        .map(|qr| {
            qr.render::<svg::Color<'_>>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    // The renderer starts with an XML declaration; inline SVG needs the element alone.
    let qr_svg = qr_svg
        .find("<svg")
        .map_or(qr_svg.clone(), |start| qr_svg[start..].to_owned());
    let secret_text = encoded
        .as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Enrolment {
        secret_text,
        otpauth_url,
        qr_svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_counts_once_and_only_near_its_time() {
        let secret: [u8; SECRET_BYTES] = rand::random();
        let totp = totp_for(&secret, "Herald", "ada@example.com").expect("TOTP");
        let now = now_step();
        let code = totp.generate(u64::try_from(now).expect("positive") * STEP_SECONDS);
        assert_eq!(matching_step(&totp, &code, None), Some(now));
        assert_eq!(matching_step(&totp, &format!(" {code} "), None), Some(now));
        assert_eq!(matching_step(&totp, &code, Some(now)), None, "used once");
        let old = totp.generate(u64::try_from(now - 5).expect("positive") * STEP_SECONDS);
        assert_eq!(matching_step(&totp, &old, None), None, "too old");
        assert_eq!(matching_step(&totp, "12345", None), None);
        assert_eq!(matching_step(&totp, "abcdef", None), None);
    }

    #[test]
    fn recovery_codes_are_readable_and_match_however_typed() {
        let code = new_recovery_code();
        assert_eq!(code.len(), 14);
        assert_eq!(code.matches('-').count(), 2);
        assert_eq!(
            recovery_hash(&code),
            recovery_hash(&code.to_uppercase().replace('-', " "))
        );
        assert_ne!(recovery_hash(&code), recovery_hash(&new_recovery_code()));
    }

    #[test]
    fn the_enrolment_shows_a_qr_code_and_the_secret() {
        let secret: [u8; SECRET_BYTES] = rand::random();
        let totp = totp_for(&secret, "Herald", "ada@example.com").expect("TOTP");
        let shown = enrolment(&totp, &totp.get_secret_base32());
        assert!(shown.qr_svg.starts_with("<svg"), "{}", shown.qr_svg);
        assert!(shown
            .otpauth_url
            .starts_with("otpauth://totp/Herald:ada%40example.com?"));
        assert_eq!(shown.secret_text.replace(' ', ""), totp.get_secret_base32());
    }
}
