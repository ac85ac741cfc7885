//! Numbers as people read them in pages and terminal output, and text as a
//! spreadsheet may safely open it.

use std::borrow::Cow;

/// A refusal's message as the start of a sentence on a form.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `1,234,567`: counts read better grouped by thousands.
pub fn thousands(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// `1 item`, `1,234 items`: a count with its noun in the right number.
pub fn counted(n: impl Into<i128>, one: &str, many: &str) -> String {
    let n: i128 = n.into();
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{} {many}", thousands(n))
    }
}

/// A CSV cell that a spreadsheet opens as text, never as a formula: cells
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return get a leading
/// `'` (OWASP's advice on CSV injection). Names and addresses come from
/// anonymous signups, so an export must not run what a visitor typed.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::{counted, spreadsheet_safe, thousands};

    #[test]
    fn formula_cells_are_neutralised_and_others_left_alone() {
        for formula in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(formula), format!("'{formula}"));
        }
        for plain in ["ada@example.com", "Ada", "", "1-2", "'quoted"] {
            assert_eq!(spreadsheet_safe(plain), plain);
        }
    }

    #[test]
    fn large_counts_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-12_345), "-12,345");
        assert_eq!(thousands(1_000_123_u64), "1,000,123");
    }

    #[test]
    fn a_count_takes_the_noun_in_its_number() {
        assert_eq!(counted(0, "item", "items"), "0 items");
        assert_eq!(counted(1, "item", "items"), "1 item");
        assert_eq!(counted(1_500_u64, "row", "rows"), "1,500 rows");
    }
}
