//! CSV enrolment: `hersys_id,name,birth_date,phone,language,health_centre,slots,
//! observation_start,observation_end` (slots `9;11;14;16`, empty = the centre's defaults).
//!
//! Office files are accepted as Excel writes them: UTF-8 with or without a byte-order mark,
//! or Shift_JIS (CP932); dates `YYYY-MM-DD` or `YYYY/M/D`; full-width digits, letters,
//! hyphens and spaces folded ([`super::fold_numeric`]); CRLF line ends; the export's formula
//! guard (`'=...`) taken off.
//!
//! All-or-nothing and one pass: every row is checked ([`parse_patients_csv`], pure), then
//! every row's HER-SYS ID against the enrolled ones (and, for staff, its centre), then the
//! good rows are inserted in one transaction that commits only if no row of the file has a
//! problem. Every problem of every row is reported with its line number (the header is line 1)
//! as an [`ImportProblem`]. New centre names are created with default settings.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;

use chrono::{DateTime, NaiveDate, Utc};

use sqlx::Row;

use super::audit::append_audit;
use super::office_csv::{OfficeCsv, unneutralise};
use super::patients::{insert_patient_in, patient_by_hersys};
use super::{
    CallSlots, ContactMethod, Language, NewPatient, PhoneError, SlotsError, Store, StoreError,
    fold_numeric, fold_width,
};

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

/// Which date column a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateField {
    BirthDate,
    ObservationStart,
    ObservationEnd,
}

impl DateField {
    fn english(self) -> &'static str {
        match self {
            DateField::BirthDate => "birth date",
            DateField::ObservationStart => "observation start",
            DateField::ObservationEnd => "observation end",
        }
    }
}

/// One problem of an import file; the staff pages name it in the page's language, the
/// English text is its `Display`. Never holds a phone number or a birth date in full except
/// where the file's own cell is quoted back to the person who uploaded it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportProblem {
    #[error("file not readable: {0}")]
    Unreadable(String),
    #[error("file is neither UTF-8 nor Shift_JIS (CP932) text")]
    Encoding,
    #[error("header is not readable CSV: {0}")]
    BadHeader(String),
    #[error("unknown column {0:?}")]
    UnknownColumn(String),
    #[error("missing column {0:?}")]
    MissingColumn(&'static str),
    #[error("not readable CSV: {0}")]
    BadCsv(String),
    #[error("{} {:?} is not a date YYYY-MM-DD or YYYY/M/D", .0.english(), .1)]
    BadDate(DateField, String),
    #[error("unknown language {0:?}")]
    UnknownLanguage(String),
    #[error("{0}")]
    Slots(SlotsError),
    #[error("HER-SYS ID must be 6 to 8 digits")]
    BadHersysId,
    #[error("name is empty")]
    EmptyName,
    #[error("{0}")]
    Phone(PhoneError),
    #[error("health centre is empty")]
    EmptyCentre,
    #[error("observation end is before its start")]
    EndBeforeStart,
    #[error("duplicate HER-SYS ID: already on line {0}")]
    DuplicateInFile(u64),
    #[error("duplicate HER-SYS ID: already in the store")]
    AlreadyEnrolled,
    #[error("health centre is not your centre")]
    OtherCentre,
    /// Refused by the store (e.g. slots outside the centre's calling hours).
    #[error("{0}")]
    Rejected(String),
}

/// One refused row (or the header, line 1) with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: u64,
    /// The problems in English, `; `-separated.
    pub reason: String,
    pub problems: Vec<ImportProblem>,
}

impl RowError {
    pub fn new(line: u64, problems: Vec<ImportProblem>) -> RowError {
        let reason = problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        RowError {
            line,
            reason,
            problems,
        }
    }
}

/// Every problem of a refused import, by line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportErrors(pub Vec<RowError>);

impl ImportErrors {
    /// Adds a problem to the line's entry (made if new); entries stay sorted by line.
    fn push(&mut self, line: u64, problem: ImportProblem) {
        match self.0.iter_mut().find(|e| e.line == line) {
            Some(e) => {
                let mut problems = std::mem::take(&mut e.problems);
                problems.push(problem);
                *e = RowError::new(line, problems);
            }
            None => {
                let at = self.0.partition_point(|e| e.line <= line);
                self.0.insert(at, RowError::new(line, vec![problem]));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
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

/// `YYYY-MM-DD` or `YYYY/M/D` (Excel's Japanese default), after width folding.
pub fn parse_office_date(field: &str) -> Option<NaiveDate> {
    let folded = fold_numeric(field.trim());
    let mut parts = folded.split(['-', '/']);
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || y.len() != 4
        || !(1..=2).contains(&m.len())
        || !(1..=2).contains(&d.len())
    {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

fn date(field: &str, what: DateField, problems: &mut Vec<ImportProblem>) -> Option<NaiveDate> {
    let d = parse_office_date(field);
    if d.is_none() {
        problems.push(ImportProblem::BadDate(what, field.trim().to_string()));
    }
    d
}

/// The text of an office file: UTF-8 (a byte-order mark is dropped) or, failing that,
/// Shift_JIS as Windows writes it (CP932, Excel's default "CSV" in Japan).
pub fn decode_office_text(raw: &[u8]) -> Result<String, ImportProblem> {
    let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
    if let Ok(s) = std::str::from_utf8(raw) {
        return Ok(s.to_string());
    }
    encoding_rs::SHIFT_JIS
        .decode_without_bom_handling_and_without_replacement(raw)
        .map(|s| s.into_owned())
        .ok_or(ImportProblem::Encoding)
}

/// CRLF and bare CR become LF: the csv reader's line numbers are only right for LF files, and
/// spreadsheet exports (Excel on Windows) use CRLF.
fn unix_line_ends(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// A row's HER-SYS ID and centre as written, for the checks against the store, kept even
/// when the row has other problems (so every problem is reported in one pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RowKey {
    pub line: u64,
    pub hersys_id: String,
    pub centre: String,
}

/// The pure part of an import: good rows, every row's key, every problem so far.
pub(super) struct CheckedFile {
    pub rows: Vec<(u64, NewPatient)>,
    pub keys: Vec<RowKey>,
    pub errors: ImportErrors,
}

fn check_file(raw: &[u8]) -> CheckedFile {
    let mut out = CheckedFile {
        rows: Vec::new(),
        keys: Vec::new(),
        errors: ImportErrors::default(),
    };
    let text = match decode_office_text(raw) {
        Ok(t) => unix_line_ends(&t),
        Err(p) => {
            out.errors.push(0, p);
            return out;
        }
    };
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = match csv.headers() {
        Ok(h) => h
            .iter()
            .map(|c| fold_width(c).trim().to_lowercase())
            .collect(),
        Err(e) => {
            out.errors.push(1, ImportProblem::BadHeader(e.to_string()));
            return out;
        }
    };
    for c in &columns {
        if !HEADER.contains(&c.as_str()) {
            out.errors.push(1, ImportProblem::UnknownColumn(c.clone()));
        }
    }
    let index: HashMap<&str, usize> = HEADER
        .iter()
        .filter_map(|h| Some((*h, columns.iter().position(|c| c == h)?)))
        .collect();
    for h in HEADER {
        if !index.contains_key(h) {
            out.errors.push(1, ImportProblem::MissingColumn(h));
        }
    }
    if !out.errors.is_empty() {
        return out;
    }

    let mut first_line_of: HashMap<String, u64> = HashMap::new();
    for record in csv.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let io = matches!(e.kind(), csv::ErrorKind::Io(_));
                out.errors.push(line, ImportProblem::BadCsv(e.to_string()));
                if io {
                    break;
                }
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        // Cells written by our export may carry the formula guard; take it off.
        let field = |h: &str| {
            let cell = index.get(h).and_then(|i| record.get(*i)).unwrap_or("");
            unneutralise(cell).trim()
        };
        let mut problems = Vec::new();
        let birth = date(field("birth_date"), DateField::BirthDate, &mut problems);
        let start = date(
            field("observation_start"),
            DateField::ObservationStart,
            &mut problems,
        );
        let end = date(
            field("observation_end"),
            DateField::ObservationEnd,
            &mut problems,
        );
        let language_text = fold_width(field("language")).trim().to_lowercase();
        let language = Language::parse(&language_text)
            .map_err(|_| problems.push(ImportProblem::UnknownLanguage(language_text.clone())))
            .ok();
        let slots = match fold_numeric(field("slots")).trim() {
            "" => Some(None),
            s => CallSlots::parse(s)
                .map(Some)
                .map_err(|e| problems.push(ImportProblem::Slots(e)))
                .ok(),
        };
        let hersys_id = fold_numeric(field("hersys_id")).trim().to_string();
        let centre = fold_width(field("health_centre")).trim().to_string();
        if let Some(first) = first_line_of.get(&hersys_id) {
            problems.push(ImportProblem::DuplicateInFile(*first));
        } else if !hersys_id.is_empty() {
            first_line_of.insert(hersys_id.clone(), line);
        }
        out.keys.push(RowKey {
            line,
            hersys_id: hersys_id.clone(),
            centre: centre.clone(),
        });
        let candidate = NewPatient {
            hersys_id,
            name: field("name").to_string(),
            birth_date: birth.unwrap_or_default(),
            phone: fold_numeric(field("phone")),
            language: language.unwrap_or(Language::Ja),
            health_centre: centre,
            observation_start: start.unwrap_or_default(),
            observation_end: end.unwrap_or_default(),
            contact_method: ContactMethod::AutoCall,
            call_slots: slots.flatten(),
        };
        // The per-field checks run even when a date or the language did not parse, with
        // placeholders that raise nothing, so every problem is named at once.
        let dates_ok = birth.is_some() && start.is_some() && end.is_some();
        let checked = match candidate.normalised() {
            Ok(p) => Some(p),
            Err(more) => {
                problems.extend(
                    more.into_iter()
                        .filter(|p| dates_ok || *p != ImportProblem::EndBeforeStart),
                );
                None
            }
        };
        match checked {
            Some(p) if problems.is_empty() => out.rows.push((line, p)),
            _ => {
                for p in problems {
                    out.errors.push(line, p);
                }
            }
        }
    }
    out
}

/// Checks every row without touching a database: returns the patients with their line numbers,
/// or every problem (unknown or missing columns, bad ID, name, date, phone, language or slots,
/// end before start, an ID repeated within the file).
pub fn parse_patients_csv<R: Read>(reader: R) -> Result<Vec<(u64, NewPatient)>, ImportErrors> {
    let mut raw = Vec::new();
    let mut reader = reader;
    if let Err(e) = reader.read_to_end(&mut raw) {
        let mut errors = ImportErrors::default();
        errors.push(0, ImportProblem::Unreadable(e.to_string()));
        return Err(errors);
    }
    let checked = check_file(&raw);
    if checked.errors.is_empty() {
        Ok(checked.rows)
    } else {
        Err(checked.errors)
    }
}

/// The import header and one example row, for staff to fill in (the template download).
pub fn template_csv() -> Result<Vec<u8>, StoreError> {
    let mut out = OfficeCsv::new();
    out.row(HEADER)?;
    out.row([
        "1234567",
        "山田 太郎",
        "1950/04/01",
        "090-1234-5678",
        "ja",
        "Minato",
        "9;14",
        "2026/11/20",
        "2026/11/30",
    ])?;
    out.finish()
}

impl Store {
    /// Imports patients from CSV, all-or-nothing (see the module docs). On refusal returns
    /// [`StoreError::Import`] listing every problem of every row; nothing is written.
    pub async fn import_patients_csv<R: Read>(
        &self,
        reader: R,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<ImportSummary, StoreError> {
        self.import_patients_csv_for(reader, None, actor, at).await
    }

    /// [`Store::import_patients_csv`] where every row must name `only_centre` (staff import
    /// for their own centre); other rows are refused in the same pass.
    pub async fn import_patients_csv_for<R: Read>(
        &self,
        reader: R,
        only_centre: Option<&str>,
        actor: &str,
        at: DateTime<Utc>,
    ) -> Result<ImportSummary, StoreError> {
        let mut raw = Vec::new();
        let mut reader = reader;
        if let Err(e) = reader.read_to_end(&mut raw) {
            let mut errors = ImportErrors::default();
            errors.push(0, ImportProblem::Unreadable(e.to_string()));
            return Err(StoreError::Import(errors));
        }
        let CheckedFile {
            rows,
            keys,
            mut errors,
        } = check_file(&raw);
        let enrolled = self.enrolled_hersys_ids().await?;
        let mut clashing = std::collections::HashSet::new();
        for k in &keys {
            if only_centre.is_some_and(|c| c != k.centre) {
                errors.push(k.line, ImportProblem::OtherCentre);
            }
            if enrolled.contains(&k.hersys_id) {
                errors.push(k.line, ImportProblem::AlreadyEnrolled);
                clashing.insert(k.line);
            }
        }
        let known: Vec<String> = self
            .list_centres()
            .await?
            .into_iter()
            .map(|c| c.name)
            .collect();
        // The good rows are tried even when others failed, so the store's own refusals
        // (slots outside the calling hours) come in the same report; rolled back on any error.
        let mut tx = self.begin_write().await?;
        for (line, p) in rows.iter().filter(|(l, _)| !clashing.contains(l)) {
            if only_centre.is_some_and(|c| c != p.health_centre.trim()) {
                continue;
            }
            if patient_by_hersys(&mut tx, &p.hersys_id).await?.is_some() {
                errors.push(*line, ImportProblem::AlreadyEnrolled);
                continue;
            }
            match insert_patient_in(&mut tx, p, at).await {
                Ok(_) => {}
                Err(StoreError::Rejected(reason)) => {
                    errors.push(*line, ImportProblem::Rejected(reason))
                }
                Err(StoreError::Duplicate(_)) => errors.push(*line, ImportProblem::AlreadyEnrolled),
                Err(e) => return Err(e),
            }
        }
        if !errors.is_empty() {
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

    /// Every enrolled HER-SYS ID (for the import's clash check, all rows in one query).
    async fn enrolled_hersys_ids(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let rows = sqlx::query("SELECT hersys_id FROM patients")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("hersys_id")?))
            .collect()
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
        // One entry per line, naming every problem of it.
        assert_eq!(r.len(), 1);
        assert!(r[0].1.contains("unknown column \"colour\""), "{r:?}");
        assert!(r[0].1.contains("missing column \"birth_date\""), "{r:?}");
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
    fn shift_jis_file_is_decoded() {
        // "山田" in Shift_JIS.
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(
            b"1234567,\x8eR\x93c,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\r\n",
        );
        let rows = parse_patients_csv(&bytes[..]).unwrap();
        assert_eq!(rows[0].1.name, "山田");
        // Neither UTF-8 nor Shift_JIS (a lone lead byte at the end).
        let mut bad = HEAD.as_bytes().to_vec();
        bad.extend_from_slice(b"1234567,\xff\x81");
        let e = parse_patients_csv(&bad[..]).unwrap_err();
        assert_eq!(e.0[0].problems, vec![ImportProblem::Encoding]);
    }

    #[test]
    fn office_dates_full_width_digits_and_formula_guard_are_accepted() {
        let rows = parse(
            "１２３４５６７,'=Yamada,1980/1/5,０９０ー１２３４ー５６７８,ＪＡ,Minato,９；１４,２０２６／１１／２０,2026/11/30\n",
        )
        .unwrap();
        let p = &rows[0].1;
        assert_eq!(p.hersys_id, "1234567");
        assert_eq!(p.name, "=Yamada");
        assert_eq!(p.birth_date, NaiveDate::from_ymd_opt(1980, 1, 5).unwrap());
        assert_eq!(p.phone, "+819012345678");
        assert_eq!(p.language, Language::Ja);
        assert_eq!(p.call_slots.map(|s| s.hours()), Some(vec![9, 14]));
        assert_eq!(
            p.observation_start,
            NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
        );
        for bad in ["1980/13/1", "80/1/5", "1980-1-5-1", "1980.1.5", ""] {
            assert_eq!(parse_office_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_problem_of_a_row_is_named_at_once() {
        let e = parse("12x,,1950-02-30,abc,xx,Minato,25,2026-11-20,2026-11-30\n").unwrap_err();
        let problems = &e.0[0].problems;
        assert!(problems.contains(&ImportProblem::BadDate(
            DateField::BirthDate,
            "1950-02-30".into()
        )));
        assert!(problems.contains(&ImportProblem::UnknownLanguage("xx".into())));
        assert!(problems.contains(&ImportProblem::BadHersysId));
        assert!(problems.contains(&ImportProblem::EmptyName));
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, ImportProblem::Phone(_)))
        );
        assert!(
            problems
                .iter()
                .any(|p| matches!(p, ImportProblem::Slots(_)))
        );
    }

    #[test]
    fn template_parses_back() {
        let rows = parse_patients_csv(&template_csv().unwrap()[..]).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].1.name, "山田 太郎");
    }

    #[test]
    fn empty_file_body_is_an_empty_import() {
        assert_eq!(parse("").unwrap(), vec![]);
    }
}
