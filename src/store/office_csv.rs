//! The one CSV writer for files staff open in spreadsheet software (Japanese Excel): UTF-8
//! with a byte-order mark (without it Excel reads Shift_JIS and shows mojibake), CRLF line
//! ends, dates `YYYY/MM/DD`, phones hyphenated national, and every cell that a spreadsheet
//! would read as a formula neutralised. Used by the roster export, the reports export
//! (staff pages and `kenkocall reports --csv`).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, TimeZone};

use super::StoreError;

/// The UTF-8 byte-order mark.
pub const BOM: &str = "\u{feff}";

/// A cell that starts with `=`, `+`, `-`, `@` (or a tab or carriage return, which some
/// spreadsheets skip before looking) gets a leading `'`: shown as text, never evaluated.
/// The importer removes that `'` again ([`unneutralise`]).
/// A cell that already starts with `'` and a formula character (or another `'`) gets one
/// too, so that reading back is exact.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if starts_formula(cell) || unneutralise(cell) != cell {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn starts_formula(cell: &str) -> bool {
    matches!(
        cell.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    )
}

/// The inverse of [`neutralise`], for cells read back by the importer.
pub fn unneutralise(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if starts_formula(rest) || rest.starts_with('\'') => rest,
        _ => cell,
    }
}

/// `2026/11/20`.
pub fn office_date(d: NaiveDate) -> String {
    d.format("%Y/%m/%d").to_string()
}

/// `2026/11/20 09:05` in the given zone.
pub fn office_datetime<Tz: TimeZone>(t: DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.format("%Y/%m/%d %H:%M").to_string()
}

/// Rows in, bytes out; see the module docs.
pub struct OfficeCsv {
    out: csv::Writer<Vec<u8>>,
}

fn csv_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Rejected(format!("csv export: {e}"))
}

impl OfficeCsv {
    pub fn new() -> OfficeCsv {
        let out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(BOM.as_bytes().to_vec());
        OfficeCsv { out }
    }

    /// One row; every cell neutralised.
    pub fn row<I, S>(&mut self, cells: I) -> Result<(), StoreError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let cells: Vec<String> = cells
            .into_iter()
            .map(|c| neutralise(c.as_ref()).into_owned())
            .collect();
        self.out.write_record(&cells).map_err(csv_err)
    }

    pub fn finish(self) -> Result<Vec<u8>, StoreError> {
        self.out.into_inner().map_err(csv_err)
    }
}

impl Default for OfficeCsv {
    fn default() -> Self {
        OfficeCsv::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised_and_restored() {
        for cell in ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)"] {
            let n = neutralise(cell);
            assert_eq!(n, format!("'{cell}"));
            assert_eq!(unneutralise(&n), cell);
        }
        assert_eq!(neutralise("山田"), "山田");
        assert_eq!(neutralise("090-1234-5678"), "090-1234-5678");
        assert_eq!(unneutralise("'quoted"), "'quoted");
    }

    #[test]
    fn file_has_bom_crlf_and_quotes() {
        let mut w = OfficeCsv::new();
        w.row(["a", "=1+1"]).unwrap();
        w.row(["x,y", "日本"]).unwrap();
        let bytes = w.finish().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(text, "\u{feff}a,'=1+1\r\n\"x,y\",日本\r\n");
    }

    #[test]
    fn office_dates() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        assert_eq!(office_date(d), "2026/01/05");
        let t = chrono::DateTime::from_timestamp(1_795_132_800, 0)
            .unwrap()
            .with_timezone(&chrono_tz::Asia::Tokyo);
        assert_eq!(office_datetime(t), "2026/11/20 09:00");
    }

    proptest::proptest! {
        /// Whatever a cell holds, no written cell starts a formula, and reading back restores it.
        #[test]
        fn no_cell_starts_a_formula(cell in "\\PC{0,12}") {
            let n = neutralise(&cell);
            proptest::prop_assert!(!matches!(n.chars().next(), Some('=' | '+' | '-' | '@')));
            proptest::prop_assert_eq!(unneutralise(&n), cell.as_str());
        }
    }
}
