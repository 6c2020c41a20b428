//! The report journal's sans-IO parts: what a journaled write is, the bounded in-memory
//! queue the writer drains, and the spool file's line format with its replay rule.
//! The I/O (the spool file, the database, retries) is in `writer.rs`.
//!
//! # Why writes are keyed by (patient, Call-ID)
//! A journaled write must mean the same thing whenever it lands, after a retry or after a
//! restart: so it names its report by the natural key (patient, SIP Call-ID), never by a
//! row id the database hands out. Applying a write creates the report if missing and sets
//! the answer to the keyed value; applying it again changes nothing, so replay is
//! idempotent (replay twice = once).
//!
//! # Order
//! Writes land in the order they were journaled (one sequence number per node). Within a
//! report that is the caller's order, so a re-entered answer ends with the last value and
//! the completion lands after every answer: a report is `complete` only when all its
//! answers are stored.
//!
//! # Spool format
//! One JSON object per line, appended and fsync'd before a write is acknowledged:
//! `{"header":{"version":1,"database":"<url, password hidden>"}}` first, then
//! `{"seq":N,"write":{...}}` per write and `{"landed":N}` once every write up to `N` is in
//! the database. Replay takes the writes after the highest `landed`, in order. A line that
//! does not parse (a torn last line after a crash) is skipped.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::attempts::AttemptId;
use super::patients::PatientId;
use super::reports::Answer;
use super::{Channel, Store, StoreError};

/// The report a write belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReportKey {
    pub patient: PatientId,
    /// The SIP Call-ID of the call the report comes from.
    pub call_id: String,
}

/// One journaled write of a report's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportWrite {
    /// Sets one answer, creating the report (with these call details) if missing.
    Answer {
        report: ReportKey,
        channel: Channel,
        question_set: String,
        attempt: Option<AttemptId>,
        answer: Answer,
        at_ms: i64,
    },
    /// Marks the report complete; journaled after its answers.
    Complete { report: ReportKey, at_ms: i64 },
    /// The person who answered said this is not the patient's number (key 9): their
    /// auto-calls stop. A keyed answer like the others, so it survives a store outage.
    WrongNumber { report: ReportKey, at_ms: i64 },
}

impl ReportWrite {
    pub fn report(&self) -> &ReportKey {
        match self {
            ReportWrite::Answer { report, .. }
            | ReportWrite::Complete { report, .. }
            | ReportWrite::WrongNumber { report, .. } => report,
        }
    }

    /// Lands the write (one transaction). Idempotent.
    pub async fn apply(&self, store: &Store) -> Result<(), StoreError> {
        store.apply_report_writes(&[self]).await
    }
}

/// Journal sequence number: the order writes were accepted in, per node.
pub type Seq = u64;

/// The writes accepted but not yet in the database, oldest first, at most `capacity`.
#[derive(Debug)]
pub struct Journal {
    pending: VecDeque<(Seq, ReportWrite)>,
    capacity: usize,
    next_seq: Seq,
}

/// The journal holds `capacity` writes already; the caller waits for one to land.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("report journal full ({0} writes pending)")]
pub struct JournalFull(pub usize);

impl Journal {
    /// An empty journal whose next write gets `next_seq`.
    pub fn new(capacity: usize, next_seq: Seq) -> Journal {
        Journal {
            pending: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq,
        }
    }

    /// Accepts a write and gives it the next sequence number.
    pub fn push(&mut self, write: ReportWrite) -> Result<Seq, JournalFull> {
        if self.pending.len() >= self.capacity {
            return Err(JournalFull(self.pending.len()));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.pending.push_back((seq, write));
        Ok(seq)
    }

    /// Up to `max` oldest writes, to land in this order.
    pub fn front(&self, max: usize) -> Vec<(Seq, ReportWrite)> {
        self.pending.iter().take(max).cloned().collect()
    }

    /// Forgets every write up to and including `seq` (they landed, or were set aside).
    pub fn landed(&mut self, seq: Seq) {
        while self.pending.front().is_some_and(|(s, _)| *s <= seq) {
            self.pending.pop_front();
        }
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn next_seq(&self) -> Seq {
        self.next_seq
    }

    /// Every pending write, oldest first (to rewrite a compacted spool).
    pub fn pending(&self) -> impl Iterator<Item = &(Seq, ReportWrite)> {
        self.pending.iter()
    }
}

/// The first line of a spool file: which database its writes belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolHeader {
    pub version: u32,
    /// The database URL with any password hidden.
    pub database: String,
}

/// One line of a spool file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpoolLine {
    Header(SpoolHeader),
    /// Untagged in JSON would be ambiguous; each kind is its own key.
    Entry {
        seq: Seq,
        write: ReportWrite,
    },
    Landed(Seq),
}

impl SpoolLine {
    /// The line as written to the spool, newline included.
    pub fn to_line(&self) -> String {
        // Plain data of strings and integers: serializing cannot fail.
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// What a spool file holds for replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolContents {
    pub header: Option<SpoolHeader>,
    /// Writes not known to have landed, in sequence order.
    pub pending: Vec<(Seq, ReportWrite)>,
    /// The highest sequence number seen (landed or not).
    pub last_seq: Option<Seq>,
    /// Lines that did not parse (a torn tail after a crash, or damage).
    pub skipped_lines: usize,
}

/// Reads a spool file's bytes. Never fails: what cannot be read is counted and skipped.
pub fn read_spool(bytes: &[u8]) -> SpoolContents {
    let mut out = SpoolContents::default();
    let mut landed: Option<Seq> = None;
    let mut entries: Vec<(Seq, ReportWrite)> = Vec::new();
    for raw in bytes.split(|b| *b == b'\n') {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<SpoolLine>(raw) {
            Ok(SpoolLine::Header(h)) => out.header = out.header.take().or(Some(h)),
            Ok(SpoolLine::Entry { seq, write }) => {
                out.last_seq = out.last_seq.max(Some(seq));
                entries.push((seq, write));
            }
            Ok(SpoolLine::Landed(seq)) => {
                out.last_seq = out.last_seq.max(Some(seq));
                landed = landed.max(Some(seq));
            }
            Err(_) => out.skipped_lines += 1,
        }
    }
    // Appends are in sequence order, but a rewritten spool may repeat one: keep the first.
    entries.sort_by_key(|(seq, _)| *seq);
    entries.dedup_by_key(|(seq, _)| *seq);
    out.pending = entries
        .into_iter()
        .filter(|(seq, _)| landed.is_none_or(|l| *seq > l))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Symptom;

    fn answer(patient: i64, call: &str, a: Answer) -> ReportWrite {
        ReportWrite::Answer {
            report: ReportKey {
                patient: PatientId(patient),
                call_id: call.into(),
            },
            channel: Channel::HealthCall,
            question_set: "v1".into(),
            attempt: None,
            answer: a,
            at_ms: 1_790_000_000_000,
        }
    }

    #[test]
    fn journal_is_bounded_and_ordered() {
        let mut j = Journal::new(2, 10);
        assert_eq!(j.push(answer(1, "a", Answer::TemperatureDc(365))), Ok(10));
        assert_eq!(j.push(answer(1, "a", Answer::Spo2(None))), Ok(11));
        assert_eq!(
            j.push(answer(1, "a", Answer::Spo2(Some(97)))),
            Err(JournalFull(2))
        );
        assert_eq!(j.front(5).iter().map(|e| e.0).collect::<Vec<_>>(), [10, 11]);
        j.landed(10);
        assert_eq!(j.len(), 1);
        assert_eq!(j.push(answer(1, "a", Answer::Spo2(Some(97)))), Ok(12));
    }

    #[test]
    fn spool_lines_round_trip_and_landed_ones_are_not_replayed() {
        let w1 = answer(1, "c1", Answer::Symptom(Symptom::Cough, true));
        let w2 = ReportWrite::Complete {
            report: w1.report().clone(),
            at_ms: 5,
        };
        let text = [
            SpoolLine::Header(SpoolHeader {
                version: 1,
                database: "sqlite://x.db".into(),
            }),
            SpoolLine::Entry {
                seq: 1,
                write: w1.clone(),
            },
            SpoolLine::Entry {
                seq: 2,
                write: w2.clone(),
            },
            SpoolLine::Landed(1),
        ]
        .iter()
        .map(SpoolLine::to_line)
        .collect::<String>();
        let got = read_spool(text.as_bytes());
        assert_eq!(got.pending, vec![(2, w2)]);
        assert_eq!(got.last_seq, Some(2));
        assert_eq!(got.skipped_lines, 0);
        // A torn last line is skipped, the rest still read.
        let torn = format!("{text}{{\"entry\":{{\"seq\":3,\"wri");
        let got = read_spool(torn.as_bytes());
        assert_eq!(got.pending.len(), 1);
        assert_eq!(got.skipped_lines, 1);
    }
}
