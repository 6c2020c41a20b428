//! CSV import on both backends: all-or-nothing, every bad row named by line and reason.

mod common;

use common::{at, on_every_backend, patient};
use kenkocall::store::{CallSlots, Language, StoreError};

const HEAD: &str = "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end\n";

fn csv(body: &str) -> String {
    format!("{HEAD}{body}")
}

fn import_errors(e: StoreError) -> Vec<(u64, String)> {
    match e {
        StoreError::Import(errors) => errors.0.into_iter().map(|r| (r.line, r.reason)).collect(),
        other => panic!("expected an import refusal, got {other}"),
    }
}

#[tokio::test]
async fn good_file_enrols_everyone_and_creates_new_centres() {
    on_every_backend(|s| async move {
        s.ensure_centre("Minato").await.unwrap();
        let file = csv(
            "1234567,Yamada Taro,1950-04-01,090-1234-5678,ja,Minato,9;14,2026-11-20,2026-11-30\n\
             123456,Nguyen An,1988-12-31,+81 50 3198 0215,vi,Shinjuku,,2026-11-20,2026-11-27\n\
             12345678,Silva Ana,1979-06-15,03-1234-5678,pt,Shinjuku,16,2026-11-21,2026-11-21\n",
        );
        let summary = s
            .import_patients_csv(file.as_bytes(), "staff", at(0))
            .await
            .unwrap();
        assert_eq!(summary.inserted, 3);
        assert_eq!(summary.centres_created, ["Shinjuku"]);
        let p = s.get_patient("123456").await.unwrap().unwrap();
        assert_eq!(p.phone, "+815031980215");
        assert_eq!(p.language, Language::Vi);
        assert_eq!(p.health_centre, "Shinjuku");
        assert_eq!(p.call_slots, CallSlots::DEFAULT);
        let q = s.get_patient("1234567").await.unwrap().unwrap();
        assert_eq!(q.call_slots.hours(), vec![9, 14]);
        assert_eq!(s.list_patients().await.unwrap().len(), 3);
        let audit = s.list_audit(None).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|e| e.action == "import" && e.detail == "3 patients" && e.actor == "staff")
        );
    })
    .await;
}

#[tokio::test]
async fn bad_rows_are_all_reported_by_line_and_nothing_is_applied() {
    on_every_backend(|s| async move {
        let file = csv(
            "1234567,Good Row,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             12345,Bad Id,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             2345678,Bad Date,1950-13-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             3456789,Bad Language,1950-04-01,09012345678,fr,Minato,9,2026-11-20,2026-11-30\n\
             1234567,Duplicate,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             4567890,Bad Phone,1950-04-01,12345,ja,Minato,9,2026-11-20,2026-11-30\n\
             5678901,Good Too,1950-04-01,09012345678,en,Brand New Centre,9,2026-11-20,2026-11-30\n",
        );
        let e = s
            .import_patients_csv(file.as_bytes(), "staff", at(0))
            .await
            .unwrap_err();
        let text = e.to_string();
        let errors = import_errors(e);
        let lines: Vec<u64> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7], "{errors:?}");
        assert!(errors[0].1.contains("HER-SYS ID must be 6 to 8 digits"));
        assert!(errors[1].1.contains("birth date \"1950-13-01\""));
        assert!(errors[2].1.contains("unknown language \"fr\""));
        assert!(
            errors[3]
                .1
                .contains("duplicate HER-SYS ID: already on line 2")
        );
        assert!(errors[4].1.contains("phone"));
        assert!(
            text.contains("nothing was applied") && text.contains("line 5: unknown language"),
            "{text}"
        );
        assert!(s.list_patients().await.unwrap().is_empty());
        assert!(s.list_centres().await.unwrap().is_empty());
        assert!(s.list_audit(None).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn id_already_in_the_store_rejects_the_whole_file() {
    on_every_backend(|s| async move {
        s.insert_patient(&patient("2345678", "09011112222"), "staff", at(0))
            .await
            .unwrap();
        let file = csv(
            "1234567,New One,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             2345678,Already There,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n\
             3456789,Too Early,1950-04-01,09012345678,ja,Minato,6,2026-11-20,2026-11-30\n\
             4567890,New Centre,1950-04-01,09012345678,ja,Chuo,9,2026-11-20,2026-11-30\n",
        );
        let errors = import_errors(
            s.import_patients_csv(file.as_bytes(), "staff", at(1))
                .await
                .unwrap_err(),
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0],
            (3, "duplicate HER-SYS ID: already in the store".to_string())
        );
        assert_eq!(errors[1].0, 4);
        assert!(errors[1].1.contains("calling hours"), "{errors:?}");
        let ids: Vec<String> = s
            .list_patients()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.hersys_id)
            .collect();
        assert_eq!(
            ids,
            ["2345678"],
            "rows before and after the bad one are not applied"
        );
        let centres: Vec<String> = s
            .list_centres()
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(
            centres,
            ["Minato"],
            "the new centre of a refused import is not kept"
        );
        // Fixing the file makes it go through.
        let fixed =
            csv("1234567,New One,1950-04-01,09012345678,ja,Minato,9,2026-11-20,2026-11-30\n");
        assert_eq!(
            s.import_patients_csv(fixed.as_bytes(), "staff", at(2))
                .await
                .unwrap()
                .inserted,
            1
        );
    })
    .await;
}

#[tokio::test]
async fn wrong_header_is_refused_before_any_row() {
    on_every_backend(|s| async move {
        let file = "id,name\n1234567,X\n";
        let errors = import_errors(
            s.import_patients_csv(file.as_bytes(), "staff", at(0))
                .await
                .unwrap_err(),
        );
        assert!(errors.iter().all(|(l, _)| *l == 1));
        assert!(
            errors
                .iter()
                .any(|(_, r)| r.contains("unknown column \"id\""))
        );
        assert!(s.list_patients().await.unwrap().is_empty());
    })
    .await;
}
