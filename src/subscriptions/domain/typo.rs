//! "Did you mean jane@gmail.com?": a likely correction of a mistyped domain.
//!
//! A small list of the domains most readers use and an edit distance, rather
//! than a crate: the one crate for this (mailidator 0.1) has a single release,
//! and a list here can be read and extended in one place. A suggestion is only
//! ever a question to the visitor: a valid address is never refused for it.

use super::email::SubscriberEmail;

/// Mailbox providers common enough that a near miss is almost surely a typo.
const COMMON_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "yahoo.fr",
    "yahoo.de",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "hotmail.fr",
    "hotmail.de",
    "outlook.com",
    "outlook.fr",
    "outlook.de",
    "live.com",
    "msn.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "protonmail.com",
    "proton.me",
    "pm.me",
    "gmx.de",
    "gmx.net",
    "gmx.com",
    "web.de",
    "t-online.de",
    "mail.com",
    "mail.ru",
    "yandex.ru",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "comcast.net",
    "btinternet.com",
    "fastmail.com",
    "zoho.com",
    "qq.com",
    // Real regional domains near the ones above, so they are never "corrected".
    "hotmail.it",
    "hotmail.es",
    "hotmail.nl",
    "hotmail.ca",
    "yahoo.it",
    "yahoo.es",
    "yahoo.ca",
    "yahoo.com.au",
    "outlook.it",
    "outlook.es",
    "outlook.nl",
    "live.fr",
    "live.de",
    "live.co.uk",
    "libero.it",
    "gmx.at",
    "gmx.ch",
    "mail.de",
];

/// The corrected address when `email`'s domain is a near miss of a common one.
pub fn suggest_correction(email: &SubscriberEmail) -> Option<SubscriberEmail> {
    let (local, domain) = email.as_str().rsplit_once('@')?;
    let domain = domain.trim_end_matches('.');
    suggest_domain(domain)
        .and_then(|better| SubscriberEmail::parse(&format!("{local}@{better}")).ok())
}

/// A common domain for a typed `domain` that is not one: `jane@gmail` (no dot)
/// gets one too, so the page that refuses it can offer the fix.
pub fn suggest_for_raw(raw: &str) -> Option<String> {
    let (local, domain) = raw.trim().rsplit_once('@')?;
    if local.is_empty() {
        return None;
    }
    let domain = domain.to_ascii_lowercase();
    let better = if domain.contains('.') {
        suggest_domain(&domain)?
    } else {
        // `gmail` alone: the provider's name (maybe mistyped) without its ending.
        COMMON_DOMAINS.iter().copied().find(|known| {
            known
                .split('.')
                .next()
                .is_some_and(|name| name.len() >= 4 && edit_distance(&domain, name) <= 1)
        })?
    };
    Some(format!("{local}@{better}"))
}

fn suggest_domain(domain: &str) -> Option<&'static str> {
    if COMMON_DOMAINS.contains(&domain) {
        return None;
    }
    // One slip in a short name, two in a longer one: "gmial.com" and
    // "hotmial.co" are caught, "gmx.at" (a real provider) is left alone.
    let allowed = if domain.len() < 8 { 1 } else { 2 };
    let typed: Vec<char> = domain.chars().collect();
    // Every signup asks this (issue 13: 4 % of `herald serve`'s CPU under
    // herald-bench signups), and most addresses are near none of the list:
    // a distance is at least the difference in length, and the comparison
    // stops once the table's rows are past `allowed`.
    COMMON_DOMAINS
        .iter()
        .copied()
        .filter(|known| known.len().abs_diff(typed.len()) <= allowed)
        .filter_map(|known| distance_within(&typed, known, allowed).map(|d| (d, known)))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

/// Optimal string alignment distance: insertions, deletions, substitutions
/// and swaps of two neighbours ("gmial") each count one.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    distance_within(&a, b, usize::MAX).unwrap_or(usize::MAX)
}

/// [`edit_distance`] of `a` and `b` when it is at most `limit`, else None.
fn distance_within(a: &[char], b: &str, limit: usize) -> Option<usize> {
    let b: Vec<char> = b.chars().collect();
    // Rows of the table: two back (for a swap), the one before, this one.
    let mut before = vec![0usize; b.len() + 1];
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0usize; b.len() + 1];
    for i in 1..=a.len() {
        current[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before[j - 2] + 1);
            }
            current[j] = best;
        }
        // A cell comes from the row before, its left neighbour and (a swap,
        // plus one) the row two back: once two whole rows are past the
        // limit, so is every later one.
        if current.iter().chain(&previous).all(|&cell| cell > limit) {
            return None;
        }
        std::mem::swap(&mut before, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    let distance = previous[b.len()];
    (distance <= limit).then_some(distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggestion(raw: &str) -> Option<String> {
        let email = SubscriberEmail::parse(raw).expect("valid");
        suggest_correction(&email).map(|e| e.as_str().to_owned())
    }

    #[test]
    fn common_typos_get_the_common_domain() {
        for (typed, meant) in [
            ("jane@gmial.com", "jane@gmail.com"),
            ("jane@gmail.co", "jane@gmail.com"),
            ("jane@gmail.con", "jane@gmail.com"),
            ("jane@gnail.com", "jane@gmail.com"),
            ("Jane.Doe@hotmial.com", "Jane.Doe@hotmail.com"),
            ("jane@yaho.com", "jane@yahoo.com"),
            ("jane@outlok.com", "jane@outlook.com"),
            ("jane@icloud.con", "jane@icloud.com"),
            ("jane@GMAIL.CM", "jane@gmail.com"),
        ] {
            assert_eq!(suggestion(typed).as_deref(), Some(meant), "{typed}");
        }
    }

    #[test]
    fn right_and_unrelated_domains_get_none() {
        for fine in [
            "jane@gmail.com",
            "jane@yahoo.co.uk",
            "jane@example.org",
            "jane@university.edu",
            "jane@gmx.at",
            "jane@bücher.example",
        ] {
            assert_eq!(suggestion(fine), None, "{fine}");
        }
    }

    #[test]
    fn a_domain_without_its_ending_gets_one() {
        assert_eq!(
            suggest_for_raw("jane.doe@gmail").as_deref(),
            Some("jane.doe@gmail.com")
        );
        assert_eq!(
            suggest_for_raw("jane@hotmal").as_deref(),
            Some("jane@hotmail.com")
        );
        assert_eq!(suggest_for_raw("jane@intranet"), None);
        assert_eq!(suggest_for_raw("no-at-sign"), None);
    }

    #[test]
    fn swaps_count_once() {
        assert_eq!(edit_distance("gmial.com", "gmail.com"), 1);
        assert_eq!(edit_distance("gmail.com", "gmail.com"), 0);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("abc", ""), 3);
    }

    #[test]
    fn the_bounded_distance_agrees_with_the_full_one() {
        let typed = [
            "gmial.com",
            "example.com",
            "hotmal.co.uk",
            "yaho",
            "",
            "gmx.at",
            "bücher.de",
        ];
        for a in typed {
            let chars: Vec<char> = a.chars().collect();
            for b in COMMON_DOMAINS {
                let full = edit_distance(a, b);
                for limit in 0..4 {
                    let expected = (full <= limit).then_some(full);
                    assert_eq!(
                        distance_within(&chars, b, limit),
                        expected,
                        "{a} {b} {limit}"
                    );
                }
            }
        }
    }
}
