//! The report journal on both backends: journaled writes replayed any number of times
//! give the same reports as once; a writer whose store is down keeps its writes (bounded
//! in memory, fsync'd in its spool) and the next writer on the same spool lands them.

mod common;

use std::time::Duration;

use common::{at, on_every_backend, patient};
use kenkocall::store::journal::{ReportKey, ReportWrite, read_spool};
use kenkocall::store::{
    Answer, Channel, HealthReport, PatientId, ReportFilter, ReportWriter, Store, Symptom,
    WriterConfig,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

async fn enrol(s: &Store, hersys_id: &str, phone: &str) -> PatientId {
    s.insert_patient(&patient(hersys_id, phone), "staff", at(0))
        .await
        .unwrap()
        .id
}

fn key(p: PatientId, call: &str) -> ReportKey {
    ReportKey {
        patient: p,
        call_id: call.to_string(),
    }
}

fn answer(report: ReportKey, a: Answer, minute: i64) -> ReportWrite {
    ReportWrite::Answer {
        report,
        channel: Channel::HealthCall,
        question_set: "v1".into(),
        attempt: None,
        answer: a,
        at_ms: at(minute).timestamp_millis(),
    }
}

fn random_answer(rng: &mut StdRng) -> Answer {
    match rng.random_range(0..3) {
        0 => Answer::TemperatureDc(rng.random_range(340..=420)),
        1 => Answer::Spo2(rng.random_bool(0.8).then(|| rng.random_range(80..=100))),
        _ => Answer::Symptom(
            Symptom::ALL[rng.random_range(0..Symptom::ALL.len())],
            rng.random_bool(0.5),
        ),
    }
}

/// The reports of these calls, without row ids (a replay must not depend on them).
async fn snapshot(s: &Store, calls: &[String]) -> Vec<HealthReport> {
    let mut out: Vec<HealthReport> = s
        .list_reports(&ReportFilter::default())
        .await
        .unwrap()
        .into_iter()
        .filter(|r| calls.contains(&r.call_id))
        .map(|mut r| {
            r.id = kenkocall::store::ReportId(0);
            r
        })
        .collect();
    out.sort_by(|a, b| (&a.call_id, a.patient_id).cmp(&(&b.call_id, b.patient_id)));
    out
}

#[tokio::test]
async fn replaying_any_suffix_of_the_journal_changes_nothing() {
    on_every_backend(|s| async move {
        let patients = [
            enrol(&s, "1234567", "09012345678").await,
            enrol(&s, "7654321", "09087654321").await,
        ];
        for case in 0..24u64 {
            let seed = 0x5eed_0000 + case;
            let mut rng = StdRng::seed_from_u64(seed);
            let calls: Vec<String> = (0..2).map(|c| format!("case{case}-call{c}@t")).collect();
            // Per report: some answers (re-entries included), then maybe its completion.
            let mut writes = Vec::new();
            let mut minute = 0;
            for call in &calls {
                for p in patients {
                    for _ in 0..rng.random_range(1..8) {
                        minute += 1;
                        writes.push(answer(key(p, call), random_answer(&mut rng), minute));
                    }
                    if rng.random_bool(0.7) {
                        minute += 1;
                        writes.push(ReportWrite::Complete {
                            report: key(p, call),
                            at_ms: at(minute).timestamp_millis(),
                        });
                    }
                }
            }
            for w in &writes {
                w.apply(&s).await.unwrap();
            }
            let once = snapshot(&s, &calls).await;
            assert_eq!(once.len(), 4, "seed {seed:#x}");
            // A crash can leave any suffix unacknowledged: replaying it (even twice, and in
            // batches) must land on the same reports.
            let from = rng.random_range(0..writes.len());
            let tail: Vec<&ReportWrite> = writes[from..].iter().collect();
            s.apply_report_writes(&tail).await.unwrap();
            s.apply_report_writes(&tail).await.unwrap();
            assert_eq!(
                snapshot(&s, &calls).await,
                once,
                "seed {seed:#x} from {from}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_wrong_number_key_lands_from_the_journal_once_however_often_replayed() {
    on_every_backend(|s| async move {
        let p = enrol(&s, "2345678", "09011112222").await;
        let write = ReportWrite::WrongNumber {
            report: key(p, "wrong-number-call@t"),
            at_ms: at(5).timestamp_millis(),
        };
        write.apply(&s).await.unwrap();
        s.apply_report_writes(&[&write, &write]).await.unwrap();
        let stored = s.get_patient("2345678").await.unwrap().unwrap();
        assert!(stored.wrong_number);
        let audit = s.list_audit(Some(p)).await.unwrap();
        let marks: Vec<_> = audit.iter().filter(|e| e.action == "wrong_number").collect();
        assert_eq!(marks.len(), 1, "{audit:?}");
        assert_eq!(marks[0].actor, "ivr");
        // No report is made for it: the patient answered no question.
        assert!(snapshot(&s, &["wrong-number-call@t".into()]).await.is_empty());
    })
    .await;
}

/// A store on an empty SQLite file: every report write fails (no tables), like a
/// database that is down, until the writer is replaced.
async fn broken_store(dir: &std::path::Path) -> Store {
    let url = format!("sqlite://{}", dir.join("empty.db").display());
    Store::connect(&url).await.unwrap()
}

fn writer_config(dir: &std::path::Path, capacity: usize) -> WriterConfig {
    WriterConfig {
        spool_dir: Some(dir.join("spool")),
        capacity,
        write_timeout: Duration::from_secs(2),
        database: "the-database-under-test".into(),
    }
}

fn soon(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

#[tokio::test]
async fn writes_survive_a_down_store_and_a_stop_and_land_exactly_once() {
    on_every_backend(|s| async move {
        let tmp = tempfile::tempdir().unwrap();
        let p = enrol(&s, "1234567", "09012345678").await;
        let report = key(p, "outage@t");
        let mut writes = vec![
            answer(report.clone(), Answer::TemperatureDc(372), 1),
            answer(report.clone(), Answer::Spo2(Some(96)), 2),
        ];
        for (i, sym) in Symptom::ALL.iter().enumerate() {
            writes.push(answer(
                report.clone(),
                Answer::Symptom(*sym, i == 0),
                3 + i as i64,
            ));
        }
        writes.push(ReportWrite::Complete {
            report: report.clone(),
            at_ms: at(30).timestamp_millis(),
        });

        // 1. The store is down: every submit still returns (durable in the spool).
        let down = ReportWriter::start(
            broken_store(tmp.path()).await,
            writer_config(tmp.path(), 100),
        )
        .await
        .unwrap();
        for w in &writes {
            tokio::time::timeout(Duration::from_secs(5), down.submit(w.clone()))
                .await
                .expect("a submit waits for the disk, never for the database")
                .unwrap();
        }
        let deadline = soon(10);
        while down.stats().retries == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(down.stats().retries > 0, "{:?}", down.stats());
        let spool = down.spool_path().await.expect("a spool file");
        let left = down
            .close(Instant::now() + Duration::from_millis(200))
            .await;
        assert_eq!(left, writes.len());
        assert!(snapshot(&s, &["outage@t".into()]).await.is_empty());
        let saved = std::fs::read(&spool).unwrap();
        assert_eq!(read_spool(&saved).pending.len(), writes.len());

        // 2. A torn last line (crash mid-append) does not stop the replay.
        let mut torn = saved.clone();
        torn.extend_from_slice(b"{\"entry\":{\"seq\":99,\"wr");
        std::fs::write(&spool, &torn).unwrap();

        // 3. The next writer on the same spool directory replays and lands everything.
        let up = ReportWriter::start(s.clone(), writer_config(tmp.path(), 100))
            .await
            .unwrap();
        assert_eq!(up.stats().replayed, writes.len() as u64);
        assert_eq!(up.flush(soon(20)).await, 0, "{:?}", up.stats());
        let landed = snapshot(&s, &["outage@t".into()]).await;
        assert_eq!(landed.len(), 1);
        let r = &landed[0];
        assert_eq!(r.temperature_c, Some(37.2));
        assert_eq!(r.spo2, Some(96));
        assert_eq!(r.symptoms.len(), Symptom::ALL.len());
        assert!(r.complete);
        assert_eq!(up.close(soon(5)).await, 0);
        assert!(!spool.exists(), "the old spool was adopted and removed");
        let left_files: Vec<_> = std::fs::read_dir(tmp.path().join("spool"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left_files.is_empty(), "{left_files:?}");

        // 4. The same spool replayed once more (a crash after landing, before the note)
        //    changes nothing.
        std::fs::write(&spool, &saved).unwrap();
        let again = ReportWriter::start(s.clone(), writer_config(tmp.path(), 100))
            .await
            .unwrap();
        assert_eq!(again.flush(soon(20)).await, 0);
        assert_eq!(snapshot(&s, &["outage@t".into()]).await, landed);
        again.close(soon(5)).await;
    })
    .await;
}

#[tokio::test]
async fn a_full_journal_makes_submit_wait_and_a_completion_follows_its_answers() {
    on_every_backend(|s| async move {
        let tmp = tempfile::tempdir().unwrap();
        let p = enrol(&s, "1234567", "09012345678").await;
        let report = key(p, "full@t");
        let down =
            ReportWriter::start(broken_store(tmp.path()).await, writer_config(tmp.path(), 2))
                .await
                .unwrap();
        down.submit(answer(report.clone(), Answer::TemperatureDc(365), 1))
            .await
            .unwrap();
        down.submit(answer(report.clone(), Answer::Spo2(None), 2))
            .await
            .unwrap();
        // Bounded memory: the third write waits for room instead of growing the journal.
        let third = answer(report.clone(), Answer::Symptom(Symptom::Cough, true), 3);
        assert!(
            tokio::time::timeout(Duration::from_millis(500), down.submit(third.clone()))
                .await
                .is_err()
        );
        assert_eq!(down.stats().pending, 2);
        down.close(Instant::now()).await;

        // The store is back: the two spooled answers land, then the rest in order.
        let up = ReportWriter::start(s.clone(), writer_config(tmp.path(), 2))
            .await
            .unwrap();
        up.submit(third).await.unwrap();
        up.submit(ReportWrite::Complete {
            report: report.clone(),
            at_ms: at(4).timestamp_millis(),
        })
        .await
        .unwrap();
        assert_eq!(up.flush(soon(20)).await, 0);
        let r = &snapshot(&s, &["full@t".into()]).await[0];
        assert_eq!(r.temperature_c, Some(36.5));
        assert_eq!(r.symptoms.get(&Symptom::Cough), Some(&true));
        assert!(r.complete);
        up.close(soon(5)).await;
    })
    .await;
}

#[tokio::test]
async fn a_write_the_database_refuses_is_set_aside_and_its_report_not_completed() {
    on_every_backend(|s| async move {
        let tmp = tempfile::tempdir().unwrap();
        let w = ReportWriter::start(s.clone(), writer_config(tmp.path(), 10))
            .await
            .unwrap();
        // No such patient: a foreign-key refusal, for good.
        let ghost = key(PatientId(987_654), "ghost@t");
        w.submit(answer(ghost.clone(), Answer::TemperatureDc(365), 1))
            .await
            .unwrap();
        w.submit(ReportWrite::Complete {
            report: ghost,
            at_ms: at(2).timestamp_millis(),
        })
        .await
        .unwrap();
        assert_eq!(w.flush(soon(20)).await, 0);
        assert_eq!(w.stats().set_aside, 2);
        let kept = std::fs::read(tmp.path().join("spool/set-aside.jsonl")).unwrap();
        assert_eq!(read_spool(&kept).pending.len(), 2);
        w.close(soon(5)).await;
    })
    .await;
}
