//! CSV enrolment: `hersys_id,name,birth_date,phone,language,health_centre,slots,
//! observation_start,observation_end` (dates `YYYY-MM-DD`, slots `9;11;14;16`, empty = the
//! centre's defaults).
//!
//! All-or-nothing: every row is checked first ([`parse_patients_csv`], pure), then against the
//! store, and the rows are inserted in one transaction only if no row has a problem. Every bad
//! row is reported with its line number (the header is line 1) and reason. New centre names
//! are created with default settings.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use chrono::{DateTime, NaiveDate, Utc};

use super::audit::append_audit;
use super::patients::{insert_patient_in, patient_by_hersys};
use super::{CallSlots, ContactMethod, Language, NewPatient, Store, StoreError};

/// The import columns, in order; the export (`followup.rs`) writes the same.
pub(super) const HEADER: [&str; 9] = [
    "hersys_id",
    "name",
    "birth_date",
    "phone",
    "language",
    "health_centre",
    "slots",
    "observation_start",
    "observation_end",
];

/// One refused row (or the header, line 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    pub reason: String,
}

/// Every problem of a refused import, by line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportErrors(pub Vec<RowError>);

impl ImportErrors {
    fn push(&mut self, line: u64, reason: impl Into<String>) {
        self.0.push(RowError {
            line,
            reason: reason.into(),
        });
    }
}

impl fmt::Display for ImportErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "line {}: {}", e.line, e.reason)?;
        }
        Ok(())
    }
}

/// What an accepted import did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub inserted: usize,
    /// Centre names seen for the first time (created with default settings).
    pub centres_created: Vec<String>,
}

fn date(field: &str, what: &str, problems: &mut Vec<String>) -> Option<NaiveDate> {
    match NaiveDate::parse_from_str(field.trim(), "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            problems.push(format!(
                "{what} {:?} is not a date YYYY-MM-DD",
                field.trim()
            ));
            None
        }
    }
}

/// CRLF and bare CR become LF: the csv reader's line numbers are only right for LF files, and
/// spreadsheet exports (Excel on Windows) use CRLF.
fn unix_line_ends(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().peekable();
    while let Some(&b) = bytes.next() {
        if b == b'\r' {
            if bytes.peek() == Some(&&b'\n') {
                bytes.next();
            }
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    out
}

/// Checks every row without touching a database: returns the patients with their line numbers,
/// or every problem (unknown or missing columns, bad ID, name, date, phone, language or slots,
/// end before start, an ID repeated within the file).
pub fn parse_patients_csv<R: Read>(reader: R) -> Result<Vec<(u64, NewPatient)>, ImportErrors> {
    let mut errors = ImportErrors::default();
    let mut raw = Vec::new();
    let mut reader = reader;
    if let Err(e) = reader.read_to_end(&mut raw) {
        errors.push(0, format!("file not readable: {e}"));
        return Err(errors);
    }
    let text = unix_line_ends(&raw);
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(&text[..]);
    let columns: Vec<String> = match csv.headers() {
        Ok(h) => h.iter().map(str::to_string).collect(),
        Err(e) => {
            errors.push(1, format!("header is not readable CSV: {e}"));
            return Err(errors);
        }
    };
    for c in &columns {
        if !HEADER.contains(&c.as_str()) {
            errors.push(1, format!("unknown column {c:?}"));
        }
    }
    let index: HashMap<&str, usize> = HEADER
        .iter()
        .filter_map(|h| Some((*h, columns.iter().position(|c| c == h)?)))
        .collect();
    for h in HEADER {
        if !index.contains_key(h) {
            errors.push(1, format!("missing column {h:?}"));
        }
    }
    if !errors.0.is_empty() {
        return Err(errors);
    }

    let mut rows = Vec::new();
    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for record in csv.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(line, format!("not readable CSV: {e}"));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let field = |h: &str| index.get(h).and_then(|i| record.get(*i)).unwrap_or("");
        let mut problems = Vec::new();
        let birth = date(field("birth_date"), "birth date", &mut problems);
        let start = date(
            field("observation_start"),
            "observation start",
            &mut problems,
        );
        let end = date(field("observation_end"), "observation end", &mut problems);
        let language = Language::parse(field("language"))
            .map_err(|e| problems.push(e.to_string()))
            .ok();
        let slots = match field("slots") {
            "" => Some(None),
            s => CallSlots::parse(s)
                .map(Some)
                .map_err(|e| problems.push(e.to_string()))
                .ok(),
        };
        let hersys_id = field("hersys_id").to_string();
        if let Some(first) = first_line_of.get(&hersys_id) {
            problems.push(format!("duplicate HER-SYS ID: already on line {first}"));
        } else if !hersys_id.is_empty() {
            first_line_of.insert(hersys_id.clone(), line);
        }
        let candidate = match (birth, start, end, language, slots) {
            (
                Some(birth_date),
                Some(observation_start),
                Some(observation_end),
                Some(l),
                Some(s),
            ) => NewPatient {
                hersys_id,
                name: field("name").to_string(),
                birth_date,
                phone: field("phone").to_string(),
                language: l,
                health_centre: field("health_centre").to_string(),
                observation_start,
                observation_end,
                contact_method: ContactMethod::AutoCall,
                call_slots: s,
            }
            .normalised()
            .map_err(|more| problems.extend(more))
            .ok(),
            _ => None,
        };
        match candidate {
            Some(p) if problems.is_empty() => rows.push((line, p)),
            _ => errors.push(line, problems.join("; ")),
        }
    }
    if errors.0.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

impl Store {
    /// Imports patients from CSV, all-or-nothing (see the module docs). On refusal returns
    /// [`StoreError::Import`] listing every bad row; nothing is written.
    pub async fn import_patients_csv<R: Read>(
        &self,
        reader: R,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<ImportSummary, StoreError> {
        let rows = parse_patients_csv(reader).map_err(StoreError::Import)?;
        let known: Vec<String> = self
            .list_centres()
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect();
        let mut errors = ImportErrors::default();
        let mut tx = self.begin_write().await?;
        for (line, p) in &rows {
            if patient_by_hersys(&mut tx, &p.hersys_id).await?.is_some() {
                errors.push(*line, "duplicate HER-SYS ID: already in the store");
                continue;
            }
            match insert_patient_in(&mut tx, p, at).await {
                Ok(_) => {}
                Err(StoreError::Rejected(reason)) => errors.push(*line, reason),
                Err(StoreError::Duplicate(_)) => {
                    errors.push(*line, "duplicate HER-SYS ID: already in the store")
                }
                Err(e) => return Err(e),
            }
        }
        if !errors.0.is_empty() {
            tx.rollback().await?;
            return Err(StoreError::Import(errors));
        }
        let detail = format!("{} patients", rows.len());
        append_audit(&mut tx, at, actor, "import", None, &detail).await?;
        tx.commit().await?;
        let mut centres_created: Vec<String> = rows
            .iter()
            .map(|(_, p)| p.health_centre.trim().to_string())
            .filter(|n| !known.contains(n))
            .collect();
        centres_created.sort();
        centres_created.dedup();
        tracing::info!(inserted = rows.len(), "patients imported");
        Ok(ImportSummary {
            inserted: rows.len(),
            centres_created,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end\n";

    fn parse(body: &str) -> Result<Vec<(u64, NewPatient)>, ImportErrors> {
        parse_patients_csv(format!("{HEAD}{body}").as_bytes())
    }

    fn reasons(e: &ImportErrors) -> Vec<(u64, String)> {
        e.0.iter().map(|r| (r.line, r.reason.clone())).collect()
    }

    #[test]
    fn good_rows_are_parsed_and_normalised() {
        let rows = parse(
            "1234567,Yamada Taro,1950-04-01,090-1234-5678,ja,Minato,9;14,2026-11-20,2026-11-30\n\
             123456,Nguyen An,1988-12-31,+81 50 3198 0215,vi,Minato,,2026-11-20,2026-11-27\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, 2);
        assert_eq!(rows[0].1.phone, "+819012345678");
        assert_eq!(
            rows[0].1.call_slots,
            Some(CallSlots::parse("9;14").unwrap())
        );
        assert_eq!(rows[1].0, 3);
        assert_eq!(rows[1].1.language, Language::Vi);
        assert_eq!(rows[1].1.call_slots, None);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let e = parse(
            "12345,A,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             1234567,B,1950-02-30,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             1234568,C,1950-04-01,09012345678,fr,Minato,9,2026-11-20,2026-11-30\n\
             1234569,D,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             1234569,E,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             1234570,F,1950-04-01,0901234,ja,Minato,9,2026-11-20,2026-11-30\n\
             1234571,G,1950-04-01,09012345678,ja,Minato,25,2026-11-20,2026-11-30\n\
             1234572,H,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-10\n\
             1234573,I,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n",
        )
        .unwrap_err();
        let r = reasons(&e);
        let lines: Vec<u64> = r.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![2, 3, 4, 6, 7, 8, 9]);
        assert!(r[0].1.contains("HER-SYS ID must be 6 to 8 digits"), "{r:?}");
        assert!(r[1].1.contains("birth date"), "{r:?}");
        assert!(r[2].1.contains("unknown language \"fr\""), "{r:?}");
        assert!(
            r[3].1.contains("duplicate HER-SYS ID: already on line 5"),
            "{r:?}"
        );
        assert!(r[4].1.contains("phone"), "{r:?}");
        assert!(r[5].1.contains("not an hour"), "{r:?}");
        assert!(r[6].1.contains("end is before its start"), "{r:?}");
        assert!(e.to_string().starts_with("line 2: "));
    }

    #[test]
    fn several_problems_in_one_row_are_all_named() {
        let e = parse("12x,,1950-04-01,abc,xx,Minato,9,2026-11-20,2026-11-30\n").unwrap_err();
        let reason = &e.0[0].reason;
        assert!(reason.contains("unknown language"), "{reason}");
        // The language error stops before the per-field checks of the typed patient; ID and
        // phone problems are reported once the row parses.
        let e = parse("12x,,1950-04-01,abc,ja,Minato,9,2026-11-20,2026-11-30\n").unwrap_err();
        let reason = &e.0[0].reason;
        assert!(
            reason.contains("HER-SYS ID") && reason.contains("name is empty"),
            "{reason}"
        );
        assert!(reason.contains("phone"), "{reason}");
    }

    #[test]
    fn header_problems_are_line_one() {
        let e = parse_patients_csv(&b"hersys_id,name,phone,colour\n1,2,3,4\n"[..]).unwrap_err();
        let r = reasons(&e);
        assert!(r.iter().all(|(l, _)| *l == 1));
        assert!(r.iter().any(|(_, m)| m == "unknown column \"colour\""));
        assert!(r.iter().any(|(_, m)| m == "missing column \"birth_date\""));
    }

    #[test]
    fn ragged_row_is_reported_not_panicking() {
        let e = parse("1234567,A,1950-04-01\n").unwrap_err();
        assert_eq!(e.0[0].line, 2);
        assert!(e.0[0].reason.contains("not readable CSV"));
    }

    #[test]
    fn excel_byte_order_mark_and_crlf_are_accepted() {
        let text = format!(
            "\u{feff}{}1234567,A,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\r\n",
            HEAD.replace('\n', "\r\n")
        );
        let rows = parse_patients_csv(text.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].0, 2);
    }

    #[test]
    fn non_utf8_file_is_reported_not_garbled() {
        // "山田" in Shift_JIS.
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(
            b"1234567,\x8eR\x93c,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n",
        );
        let e = parse_patients_csv(&bytes[..]).unwrap_err();
        assert_eq!(e.0[0].line, 2);
        assert!(e.0[0].reason.contains("UTF-8"), "{e}");
    }

    #[test]
    fn empty_file_body_is_an_empty_import() {
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
