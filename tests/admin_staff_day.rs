//! A nurse's day on the staff pages, on SQLite and PostgreSQL: the follow-up list names why
//! each patient is flagged, records "handled" (until the next report), filters, searches and
//! pages; the reports and roster exports are office CSV (BOM, Japanese forms, no live
//! formulas) and `kenkocall reports --csv` writes the same file; a Shift_JIS import reports
//! every problem of every row at once, in the page's language.

#[path = "admin/client.rs"]
mod client;
mod common;

use axum::http::{Method, StatusCode};
use chrono::{Days, Utc};
use client::{Client, app, enrol, patient_of, report, two_centres};
use kenkocall::store::{Answer, Channel, Patient, ReportCall, Store, Symptom};
use serde_json::{Value, json};

fn tokyo_today() -> chrono::NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Asia::Tokyo)
        .date_naive()
}

/// A complete report now with temperature, SpO2 and one symptom answered "yes".
async fn report_with_symptom(
    store: &Store,
    p: &Patient,
    call: &str,
    temp_dc: i64,
    spo2: u8,
    s: Symptom,
) {
    let now = Utc::now();
    let call = ReportCall {
        call_id: call.to_string(),
        attempt_id: None,
    };
    let id = store
        .start_report(
            p.id,
            Channel::AutoCall,
            "v1",
            &call,
            Answer::TemperatureDc(temp_dc),
            now,
        )
        .await
        .unwrap();
    store
        .record_answer(id, Answer::Spo2(Some(spo2)), now)
        .await
        .unwrap();
    store
        .record_answer(id, Answer::Symptom(s, true), now)
        .await
        .unwrap();
    store
        .record_answer(id, Answer::Symptom(Symptom::Cough, false), now)
        .await
        .unwrap();
    store.complete_report(id, now).await.unwrap();
}

fn row<'a>(list: &'a Value, p: &Patient) -> &'a Value {
    list["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["patient"]["id"] == p.id.0)
        .unwrap_or_else(|| panic!("patient {} not listed: {list}", p.id.0))
}

fn ids(list: &Value) -> Vec<i64> {
    list["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["patient"]["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn followup_names_reasons_records_handled_and_filters_searches_pages() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let urgent = enrol(&store, patient_of("Minato", "1000131", "03-1111-0131")).await;
        let chest = enrol(&store, patient_of("Minato", "1000132", "090-1111-0132")).await;
        let recheck = enrol(&store, patient_of("Minato", "1000133", "03-1111-0133")).await;
        let silent = enrol(&store, patient_of("Minato", "1000134", "03-1111-0134")).await;
        let mut gone = patient_of("Minato", "1000135", "03-1111-0135");
        gone.observation_start = Utc::now().date_naive() - Days::new(14);
        gone.observation_end = Utc::now().date_naive() - Days::new(4);
        let gone = enrol(&store, gone).await;
        let theirs = enrol(&store, patient_of("Chuo", "2000131", "03-2222-0131")).await;
        report(&store, &urgent, "d1", 366, 91).await;
        report_with_symptom(&store, &chest, "d2", 365, 98, Symptom::ChestPain).await;
        report(&store, &recheck, "d3", 364, 95).await;

        let (router, _) = app(&store);
        let sato = Client::login(router.clone(), "sato", "minato-password").await;
        let list = sato.get("/api/followup").await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text());
        let list = list.json();
        assert_eq!(
            list["totals"],
            json!({"urgent": 1, "follow_up": 1, "no_report_today": 1, "rest": 2,
                   "handled": 0, "ended": 1, "patients": 5})
        );
        // Ended patients are left out unless asked for.
        assert_eq!(
            ids(&list),
            vec![urgent.id.0, chest.id.0, silent.id.0, recheck.id.0]
        );
        let u = row(&list, &urgent);
        assert_eq!(u["reasons"], json!(["SpO2 91% (要注意)"]));
        assert_eq!(u["findings"], json!([{"item": "spo2_urgent", "spo2": 91}]));
        assert_eq!(u["handled"], Value::Null);
        assert_eq!(u["phone_national"], "03-1111-0131");
        assert_eq!(u["language_name"], "日本語");
        let expected_age = tokyo_today().years_since(urgent.birth_date).unwrap();
        assert_eq!(u["age"], expected_age);
        assert_eq!(row(&list, &chest)["reasons"], json!(["胸の痛み"]));
        assert_eq!(row(&list, &chest)["phone_national"], "090-1111-0132");
        assert_eq!(
            row(&list, &recheck)["reasons"],
            json!(["SpO2 95% (再測定)"])
        );
        assert_eq!(row(&list, &silent)["reasons"], json!([]));

        // Mark the urgent patient handled.
        let uri = format!("/api/patients/{}/handled", urgent.id.0);
        let r = sato
            .json(
                Method::POST,
                &uri,
                json!({"note": "called back, to hospital"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert_eq!(r.json()["by"], "sato");
        let list = sato.get("/api/followup").await.json();
        assert_eq!(list["totals"]["handled"], 1);
        let h = &row(&list, &urgent)["handled"];
        assert_eq!(
            (h["by"].as_str(), h["note"].as_str()),
            (Some("sato"), Some("called back, to hospital"))
        );
        assert_eq!(
            ids(&sato.get("/api/followup?status=handled").await.json()),
            vec![urgent.id.0]
        );
        let audit = store.list_audit(Some(urgent.id)).await.unwrap();
        assert!(audit.iter().any(|a| a.actor == "sato"
            && a.action == "followup_handled"
            && a.detail == "called back, to hospital"));
        // Refusals: too long a note, another centre's patient, no CSRF token.
        let long = "x".repeat(201);
        assert_eq!(
            sato.json(Method::POST, &uri, json!({"note": long}))
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        let r = sato
            .json(
                Method::POST,
                &format!("/api/patients/{}/handled", theirs.id.0),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(
            sato.without_csrf()
                .json(Method::POST, &uri, json!({}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );

        // Filters, search, paging.
        let q = |s: &'static str| {
            let sato = sato.clone();
            async move { sato.get(s).await }
        };
        assert_eq!(
            ids(&q("/api/followup?status=ended").await.json()),
            vec![gone.id.0]
        );
        assert_eq!(
            ids(&q("/api/followup?status=urgent").await.json()),
            vec![urgent.id.0]
        );
        assert_eq!(
            ids(&q("/api/followup?status=not_reported_today").await.json()),
            vec![silent.id.0]
        );
        assert_eq!(
            ids(&q("/api/followup?q=1000133").await.json()),
            vec![recheck.id.0]
        );
        assert_eq!(
            ids(&q("/api/followup?q=090-1111-0132").await.json()),
            vec![chest.id.0]
        );
        assert_eq!(
            ids(&q("/api/followup?q=%EF%BC%90%EF%BC%99%EF%BC%90")
                .await
                .json()),
            vec![chest.id.0],
            "full-width 090"
        );
        assert_eq!(
            ids(&q("/api/followup?q=patient%201000134").await.json()),
            vec![silent.id.0]
        );
        let p2 = q("/api/followup?status=all&per_page=2&page=2").await.json();
        assert_eq!(
            (
                p2["matching"].as_u64(),
                p2["pages"].as_u64(),
                ids(&p2).len()
            ),
            (Some(5), Some(3), 2)
        );
        assert_eq!(
            q("/api/followup?status=bogus").await.status,
            StatusCode::BAD_REQUEST
        );

        // The page: reasons, only abnormal values coloured, handled shown, form for others.
        let html = sato.get("/?status=all").await.text();
        assert!(
            html.contains("<td class=\"v-urgent spo2\">91 %</td>"),
            "{html}"
        );
        assert!(
            html.contains("<td class=\"temp\">36.6 °C</td>"),
            "normal temperature is not coloured"
        );
        assert!(html.contains("<td class=\"v-recheck spo2\">95 %</td>"));
        assert!(html.contains("<span class=\"reason v-follow\">胸の痛み</span>"));
        assert!(html.contains("03-1111-0131") && html.contains("日本語"));
        assert!(html.contains("called back, to hospital"));
        assert!(html.contains(&format!("action=\"/patients/{}/handled\"", chest.id.0)));
        assert!(html.contains("id=\"totals\"") && html.contains("name=\"viewport\""));
        // Ended patient's "today" is not "no report".
        let gone_row = html
            .split(&format!("data-patient=\"{}\"", gone.id.0))
            .nth(1)
            .unwrap();
        let gone_row = &gone_row[..gone_row.find("</tr>").unwrap()];
        assert!(!gone_row.contains("未報告"), "{gone_row}");

        // Handled through the page form, back to the filtered list.
        let body = format!(
            "csrf={}&note=%E9%9B%BB%E8%A9%B1%E6%B8%88&back=%2F%3Fstatus%3Dfollow_up",
            sato.csrf
        );
        let r = sato
            .form(&format!("/patients/{}/handled", chest.id.0), &body)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text());
        assert_eq!(r.headers["location"], "/?status=follow_up");
        let evil = format!("csrf={}&note=x&back=%2F%2Fevil.example", sato.csrf);
        let r = sato
            .form(&format!("/patients/{}/handled", chest.id.0), &evil)
            .await;
        assert_eq!(r.headers["location"], "/");
        assert_eq!(
            row(&sato.get("/api/followup").await.json(), &chest)["handled"]["note"],
            "x"
        );

        // A new report clears the mark: the new state needs a new look.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        report(&store, &urgent, "d4", 366, 90).await;
        let list = sato.get("/api/followup").await.json();
        assert_eq!(row(&list, &urgent)["handled"], Value::Null);
        assert_eq!(list["totals"]["handled"], 1);
    })
    .await;
}

fn strip_bom(b: &[u8]) -> &[u8] {
    b.strip_prefix("\u{feff}".as_bytes())
        .expect("UTF-8 BOM first")
}

#[tokio::test]
async fn reports_and_roster_exports_are_office_csv_and_the_cli_writes_the_same_file() {
    for db in common::backends().await {
        eprintln!("--- on {}", db.backend().as_str());
        let store = db.store.clone();
        two_centres(&store).await;
        let mut p = patient_of("Minato", "1000141", "090-1234-5678");
        p.name = "=HYPERLINK(\"http://evil.example\",\"x\")".to_string();
        let p = enrol(&store, p).await;
        let q = enrol(&store, patient_of("Minato", "1000142", "03-1111-0142")).await;
        let theirs = enrol(&store, patient_of("Chuo", "2000141", "03-2222-0141")).await;
        report_with_symptom(&store, &p, "e1", 382, 95, Symptom::ChestPain).await;
        report(&store, &q, "e2", 365, 98).await;
        report(&store, &theirs, "e3", 365, 98).await;

        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let day = tokyo_today();
        let uri = format!("/api/reports/export.csv?from={day}&to={day}");
        let r = sato.get(&uri).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        assert!(
            r.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/csv")
        );
        assert!(
            r.headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains("reports_")
        );
        let text = std::str::from_utf8(strip_bom(&r.body)).unwrap().to_string();
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines.len(), 4, "header, two reports, final CRLF: {text}");
        assert!(
            lines[0]
                .starts_with("報告日時,HER-SYS ID,氏名,生年月日,電話番号,経路,体温,SpO2,息苦しさ,"),
            "{}",
            lines[0]
        );
        let first = lines[1];
        assert!(
            first.starts_with(&day.format("%Y/%m/%d ").to_string()),
            "{first}"
        );
        assert!(
            first.contains(",1000141,\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\","),
            "{first}"
        );
        assert!(
            first.contains(",1955/03/09,090-1234-5678,自動架電,38.2,95,"),
            "{first}"
        );
        assert!(
            first.contains(",なし,") && first.contains(",あり,"),
            "cough no, chest pain yes: {first}"
        );
        assert!(
            first.contains(",要フォロー,SpO2 95% (再測定)・発熱 38.2 °C・胸の痛み,あり,v1"),
            "{first}"
        );
        assert!(lines[2].contains(",1000142,") && lines[2].contains(",03-1111-0142,"));
        assert!(!text.contains("2000141"), "another centre's report");
        let audit = store.list_audit(None).await.unwrap();
        assert!(audit.iter().any(|a| a.actor == "sato"
            && a.action == "export"
            && a.detail.starts_with("reports CSV")));
        // Another day has nothing; a reversed period is refused.
        let before = day - Days::new(3);
        let r = sato
            .get(&format!(
                "/api/reports/export.csv?from={before}&to={before}"
            ))
            .await;
        assert_eq!(
            strip_bom(&r.body).split(|b| *b == b'\n').count(),
            2,
            "header only"
        );
        let r = sato
            .get(&format!("/api/reports/export.csv?from={day}&to={before}"))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);

        // The CLI writes the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kenkocall"))
            .current_dir(dir.path())
            .args([
                "--database",
                &db.url,
                "reports",
                "--csv",
                "--centre",
                "Minato",
            ])
            .args(["--from", &day.to_string(), "--to", &day.to_string()])
            .output()
            .expect("run kenkocall");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let api = sato.get(&uri).await.body;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&api)
        );

        // The roster: BOM, office dates and phones, no live formula; imports back unchanged.
        let roster = sato.get("/api/export.csv").await;
        let text = std::str::from_utf8(strip_bom(&roster.body)).unwrap();
        assert!(text.contains("\"'=HYPERLINK("), "{text}");
        assert!(
            text.contains(",1955/03/09,090-1234-5678,ja,Minato,9;11;14;16,"),
            "{text}"
        );
        let target = common::sqlite().await;
        two_centres(&target.store).await;
        let (router2, _) = app(&target.store);
        let sato2 = Client::login(router2, "sato", "minato-password").await;
        let r = sato2
            .send(Method::POST, "/api/import", "text/csv", roster.body.clone())
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let back = target.store.get_patient("1000141").await.unwrap().unwrap();
        assert_eq!((back.name, back.phone), (p.name.clone(), p.phone.clone()));
        target.finish().await;
        db.finish().await;
    }
}

fn multipart(csrf: &str, file: &[u8]) -> (String, Vec<u8>) {
    let b = "XkenkocallBoundary";
    let mut body = format!(
        "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

fn shift_jis(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

#[tokio::test]
async fn shift_jis_import_names_every_problem_of_every_row_at_once_in_japanese() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        enrol(&store, patient_of("Minato", "1000151", "03-1111-0151")).await;
        let (router, _) = app(&store);
        let sato = Client::login(router, "sato", "minato-password").await;
        let head = "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end\r\n";
        // Excel's Shift_JIS CSV: YYYY/M/D dates, full-width digits and hyphens.
        let bad = shift_jis(&format!(
            "{head}１０００１５１,山田　花子,1980/1/5,０３ー１１１１ー０１５２,ja,Minato,9,2026/11/20,2026/11/30\r\n\
             1000153,佐藤 一郎,1980/13/5,03-1111-0153,ja,Minato,9,2026/11/20,2026/11/30\r\n\
             1000154,鈴木 次郎,1980/2/1,03-1111-0154,ja,Chuo,9,2026/11/20,2026/11/30\r\n\
             1000155,田中 三郎,1980/2/1,03-1111-0155,ja,Minato,6,2026/11/20,2026/11/30\r\n"
        ));
        let (ctype, body) = multipart(&sato.csrf, &bad);
        let r = sato.send(Method::POST, "/import", &ctype, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let html = r.text();
        for (line, reason) in [
            (2, "この HER-SYS ID は登録済みです"),
            (3, "生年月日「1980/13/5」は日付ではありません"),
            (4, "自保健所以外の保健所名です"),
            (5, "架電時間が保健所の架電可能時間外です"),
        ] {
            let cell = format!("<tr><td>{line}</td><td>");
            let at = html.find(&cell).unwrap_or_else(|| panic!("line {line} missing: {html}"));
            let row = &html[at..at + html[at..].find("</tr>").unwrap()];
            assert!(row.contains(reason), "line {line}: {row}");
        }
        assert_eq!(store.list_patients().await.unwrap().len(), 1, "nothing applied");
        // The same file over the API (English reasons) reports the same lines.
        let r = sato.send(Method::POST, "/api/import", "text/csv", bad).await;
        let lines: Vec<i64> = r.json()["rows"].as_array().unwrap().iter().map(|r| r["line"].as_i64().unwrap()).collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);

        let good = shift_jis(&format!(
            "{head}１０００１５２,山田　花子,1980/1/5,０３ー１１１１ー０１５２,ja,Minato,9,2026/11/20,2026/11/30\r\n"
        ));
        let (ctype, body) = multipart(&sato.csrf, &good);
        let r = sato.send(Method::POST, "/import", &ctype, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text());
        let p = store.get_patient("1000152").await.unwrap().unwrap();
        assert_eq!((p.name.as_str(), p.phone.as_str()), ("山田　花子", "+81311110152"));
        assert_eq!(p.birth_date, common::date("1980-01-05"));

        // The template downloads with a BOM and imports as it is shown.
        let t = sato.get("/import/template.csv").await;
        assert_eq!(t.status, StatusCode::OK);
        assert!(t.body.starts_with("\u{feff}hersys_id,".as_bytes()));
        assert!(sato.get("/import").await.text().contains("/import/template.csv"));
    })
    .await;
}

#[tokio::test]
async fn wrong_number_can_be_undone_and_error_pages_speak_the_page_language() {
    common::on_every_backend(|store| async move {
        two_centres(&store).await;
        let p = enrol(&store, patient_of("Minato", "1000161", "03-1111-0161")).await;
        let (router, _) = app(&store);
        let sato = Client::login(router.clone(), "sato", "minato-password").await;
        store
            .mark_wrong_number(&p.hersys_id, "ivr", Utc::now())
            .await
            .unwrap();
        let page = sato.get(&format!("/patients/{}", p.id.0)).await.text();
        assert!(page.contains("id=\"undo-wrong-number\""), "{page}");
        let body = format!("csrf={}", sato.csrf);
        let r = sato
            .form(&format!("/patients/{}/wrong-number/undo", p.id.0), &body)
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let after = store.get_patient_by_id(p.id).await.unwrap();
        assert!(!after.wrong_number);
        assert_eq!(after.phone, p.phone, "the number is kept");
        let audit = store.list_audit(Some(p.id)).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.actor == "sato" && a.action == "wrong_number_undo")
        );
        // The API too.
        store
            .mark_wrong_number(&p.hersys_id, "ivr", Utc::now())
            .await
            .unwrap();
        let r = sato
            .json(
                Method::POST,
                &format!("/api/patients/{}/wrong-number/undo", p.id.0),
                json!({}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["wrong_number"], false);

        // Error pages: Japanese by default, English with the cookie, with navigation.
        let r = sato.get("/patients/99999999").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let html = r.text();
        assert!(
            html.contains("見つかりません") && html.contains("href=\"/\""),
            "{html}"
        );
        assert!(html.contains("lang=\"ja\"") && html.contains("name=\"viewport\""));
        let mut en = sato.clone();
        en.cookie = Some(format!("{}; lang=en", sato.cookie.clone().unwrap()));
        let html = en.get("/patients/99999999").await.text();
        assert!(
            html.contains("not found") && html.contains("Follow-up list"),
            "{html}"
        );
        let html = en
            .form(&format!("/patients/{}/stop", p.id.0), "csrf=wrong")
            .await
            .text();
        assert!(html.contains("CSRF"), "{html}");
        let html = sato
            .form(&format!("/patients/{}/stop", p.id.0), "csrf=wrong")
            .await
            .text();
        assert!(html.contains("フォームの有効期限"), "{html}");
        // JSON errors stay JSON.
        let r = sato.get("/api/patients/99999999").await;
        assert_eq!(r.json()["error"], "patient not found");
    })
    .await;
}

#[tokio::test]
async fn cli_import_uses_the_same_rules_shift_jis_office_dates_and_one_pass_errors() {
    for db in common::backends().await {
        eprintln!("--- on {}", db.backend().as_str());
        two_centres(&db.store).await;
        enrol(&db.store, patient_of("Minato", "1000171", "03-1111-0171")).await;
        let dir = tempfile::tempdir().unwrap();
        let head = "hersys_id,name,birth_date,phone,language,health_centre,slots,observation_start,observation_end\r\n";
        let run = |body: String| {
            let file = dir.path().join("roster.csv");
            std::fs::write(&file, shift_jis(&format!("{head}{body}"))).unwrap();
            std::process::Command::new(env!("CARGO_BIN_EXE_kenkocall"))
                .current_dir(dir.path())
                .args(["--database", &db.url, "patients", "import"])
                .arg(&file)
                .output()
                .expect("run kenkocall")
        };
        let out = run(
            "1000171,重複,1980/1/5,03-1111-0172,ja,Minato,9,2026/11/20,2026/11/30\r\n\
                       1000173,日付,1980/2/30,03-1111-0173,ja,Minato,9,2026/11/20,2026/11/30\r\n"
                .to_string(),
        );
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("line 2: duplicate HER-SYS ID: already in the store"),
            "{err}"
        );
        assert!(err.contains("line 3: birth date \"1980/2/30\""), "{err}");
        let out = run("１０００１７４,山田　花子,1980/1/5,０３ー１１１１ー０１７４,ja,Minato,,2026/11/20,2026/11/30\r\n".to_string());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = db.store.get_patient("1000174").await.unwrap().unwrap();
        assert_eq!(
            (p.name.as_str(), p.phone.as_str()),
            ("山田　花子", "+81311110174")
        );
        db.finish().await;
    }
}
