//! Spreadsheet formula injection (CWE-1236): a cell that starts with `=`, `+`,
//! `-`, `@`, a tab or a carriage return is run as a formula by Excel, LibreOffice
//! and Google Sheets when the export is opened. Names and addresses come from
//! anonymous signups, so the export prefixes such cells with a single quote, as
//! OWASP recommends; spreadsheets show the text and do not evaluate it.
//!
//! The escape is reversible so that an export imports back as the same list:
//! a cell that is any number of quotes followed by a trigger character gets one
//! more quote on the way out, and loses one on the way in. A name that really
//! starts with `'=` therefore survives the round trip too.

use std::borrow::Cow;

/// The first characters that make a spreadsheet read a cell as a formula.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `cell` is quotes (possibly none) followed by a trigger character.
fn needs_escape(cell: &str) -> bool {
    cell.trim_start_matches('\'')
        .starts_with(|c| FORMULA_TRIGGERS.contains(&c))
}

/// The cell as the export writes it.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_escape(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as it was before [`neutralise`]; what the import reads.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_escape(rest) => rest,
        _ => cell,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_cells_get_a_quote_and_others_are_untouched() {
        for cell in ["=1+1@example.com", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(cell), format!("'{cell}"));
        }
        for cell in ["ann@example.com", "Ann", "", "'quoted", "1=1", " =x"] {
            assert_eq!(neutralise(cell), cell);
        }
        assert_eq!(neutralise("'=x"), "''=x");
        assert_eq!(restore("'=1+1@example.com"), "=1+1@example.com");
        assert_eq!(restore("'quoted"), "'quoted");
        assert_eq!(restore("=raw"), "=raw");
    }

    proptest! {
        #[test]
        fn the_escape_round_trips_and_never_leaves_a_trigger_first(cell in "['=+@\t\r-]{0,3}\\PC{0,8}") {
            let written = neutralise(&cell);
            prop_assert!(!written.starts_with(|c| FORMULA_TRIGGERS.contains(&c)));
            prop_assert_eq!(restore(&written), cell.as_str());
        }
    }
}
