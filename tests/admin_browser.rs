//! The staff pages in a real headless Chromium (driven by chromedriver over WebDriver):
//! log in, change a patient's call slots, see the urgent patient first with its SpO2 in red,
//! mark it handled, export the day's reports, and view the list on a 390 px phone screen.
//! Screenshots go to `target/tmp/screenshots/` (CI artifacts, never committed).
//!
//! Needs Debian packages `chromium` and `chromium-driver`. Without them the test is skipped
//! with a loud message, unless `KENKOCALL_REQUIRE_BROWSER=1`, which makes it a failure.
//! `KENKOCALL_SCREENSHOT=path.png` saves a screenshot of the follow-up page.

#[path = "admin/client.rs"]
mod client;
mod common;
#[path = "admin/webdriver.rs"]
mod webdriver;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use client::{enrol, patient_of, report, two_centres};
use kenkocall::admin::{self, AdminState, Metrics};
use webdriver::Driver;

fn find_binary(candidates: &[&str]) -> Option<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| {
            let path = std::env::var_os("PATH")?;
            candidates
                .iter()
                .filter_map(|c| Path::new(c).file_name())
                .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
                .find(|p| p.is_file())
        })
}

fn browser_required() -> bool {
    std::env::var("KENKOCALL_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// chromedriver's port, in the ranges `.ci/run` reserves from ephemeral use (a port the
/// OS picked and released could be taken by another process before chromedriver binds it).
const DRIVER_PORT: u16 = 44798;

/// Kills chromedriver (and with it the browser) however the test ends.
struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn wait_ready(port: u16) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            let v = webdriver::request(port, "GET", "/status", None).await;
            if v["ready"] == true {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not become ready on port {port}");
}

const RED: &str = "rgb(192, 0, 0)";

/// Screenshots for a reviewer, under the target directory only (never committed):
/// `target/tmp/screenshots/`.
struct Screenshots(PathBuf);

impl Screenshots {
    fn new() -> Screenshots {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        Screenshots(dir)
    }

    async fn take(&self, wd: &Driver, name: &str) {
        let png = base64::engine::general_purpose::STANDARD
            .decode(wd.screenshot_base64().await)
            .expect("screenshot base64");
        std::fs::write(self.0.join(format!("{name}.png")), png).expect("write screenshot");
    }
}

#[tokio::test]
async fn staff_logs_in_changes_slots_and_sees_urgent_patient_first_in_red() {
    let chromium = find_binary(&["/usr/lib/chromium/chromium", "/usr/bin/chromium"]);
    let driver_bin = find_binary(&["/usr/bin/chromedriver"]);
    let (Some(chromium), Some(driver_bin)) = (chromium, driver_bin) else {
        if browser_required() {
            panic!("KENKOCALL_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed");
        }
        eprintln!(
            "\n!!!!! chromium or chromedriver not installed: browser test SKIPPED. \
             apt-get install chromium chromium-driver; set KENKOCALL_REQUIRE_BROWSER=1 to make \
             this a failure. !!!!!\n"
        );
        return;
    };

    let db = common::sqlite().await;
    let store = db.store.clone();
    two_centres(&store).await;
    // Sorted by HER-SYS ID the urgent patient would come last: only the alert puts it first.
    let fine = enrol(&store, patient_of("Minato", "1000041", "03-1111-0041")).await;
    let urgent = enrol(&store, patient_of("Minato", "1000049", "03-1111-0049")).await;
    report(&store, &fine, "b1", 364, 98).await;
    report(&store, &urgent, "b2", 367, 90).await;

    // Real cookies: Secure stays on (Chromium treats http://127.0.0.1 as a secure context).
    let state = AdminState::new(store.clone(), Arc::new(Metrics::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, admin::router(state)).await;
    });

    let port = DRIVER_PORT;
    let profile = tempfile::tempdir().unwrap();
    let _driver_proc = Child(
        tokio::process::Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver"),
    );
    wait_ready(port).await;
    let args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-quic",
        "--no-first-run",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--lang=en-US",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("--user-data-dir={}", profile.path().display())])
    .collect();
    let wd = Driver::new_session(port, &chromium.display().to_string(), &args).await;
    let shots = Screenshots::new();

    // Log in.
    wd.goto(&format!("{base}/login")).await;
    wd.type_into("#username", "sato").await;
    wd.type_into("#password", "minato-password").await;
    wd.click("#login").await;
    let url = wd.wait_for_url(&format!("{base}/")).await;
    if url != format!("{base}/") {
        let text = wd.script("return document.body.innerText").await;
        panic!("login did not reach the list: at {url}: {text}");
    }

    // Change the fine patient's slots: untick 11 and 14 (defaults 9, 11, 14, 16).
    wd.goto(&format!("{base}/patients/{}", fine.id.0)).await;
    wd.click("#slot-form input[value=\"11\"]").await;
    wd.click("#slot-form input[value=\"14\"]").await;
    wd.click("#save-slots").await;
    let saved = format!("{base}/patients/{}?saved=1", fine.id.0);
    assert_eq!(wd.wait_for_url(&saved).await, saved);
    let shown = wd
        .script("return document.getElementById('slots').textContent")
        .await;
    assert_eq!(shown, "9;16");
    let stored = store.get_patient_by_id(fine.id).await.unwrap();
    assert_eq!(stored.call_slots.hours(), vec![9, 16]);
    let audit = store.list_audit(Some(fine.id)).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "sato" && a.action == "set_slots")
    );

    // The follow-up list: urgent patient first; only the abnormal value is red.
    wd.goto(&format!("{base}/lang/en")).await;
    wd.goto(&format!("{base}/")).await;
    let rows = wd
        .script(
            "return Array.from(document.querySelectorAll('#followup tbody tr')).map(r => \
             [r.dataset.patient, r.className, getComputedStyle(r).color, \
              getComputedStyle(r.querySelector('td.spo2')).color, \
              getComputedStyle(r.querySelector('td.temp')).color, \
              r.querySelector('td.reasons').textContent.trim()])",
        )
        .await;
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0][0], urgent.id.0.to_string());
    assert_eq!(rows[0][1], "urgent");
    assert_eq!(rows[0][3], RED, "the urgent SpO2 is red");
    assert_ne!(rows[0][2], RED, "not the whole row");
    assert_ne!(rows[0][4], RED, "a normal temperature is not red");
    assert_eq!(rows[0][5], "SpO2 90% (urgent)");
    assert_eq!(rows[1][0], fine.id.0.to_string());
    assert_ne!(rows[1][3], RED);
    shots.take(&wd, "1-followup-en").await;

    // Mark the urgent patient handled with a note; the list comes back with the mark.
    let row = format!("#followup tr[data-patient=\"{}\"]", urgent.id.0);
    wd.type_into(
        &format!("{row} input[name=note]"),
        "called back; to hospital",
    )
    .await;
    wd.click(&format!("{row} form.handle button")).await;
    assert_eq!(
        wd.wait_for_url(&format!("{base}/")).await,
        format!("{base}/")
    );
    let handled = wd
        .script(&format!(
            "const r = document.querySelector('{}'); return [r.className, \
             r.querySelector('td.handled').textContent]",
            row.replace('\'', "\\'")
        ))
        .await;
    assert_eq!(handled[0], "urgent handled", "{handled:?}");
    assert!(
        handled[1]
            .as_str()
            .unwrap()
            .contains("called back; to hospital"),
        "{handled:?}"
    );
    let audit = store.list_audit(Some(urgent.id)).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.actor == "sato" && a.action == "followup_handled")
    );
    shots.take(&wd, "2-handled-en").await;

    // Export today's reports with the list's button: the download lands in a directory.
    let downloads = tempfile::tempdir().unwrap();
    wd.allow_downloads(&downloads.path().display().to_string())
        .await;
    wd.click("#export-reports button").await;
    let mut csv = None;
    for _ in 0..100 {
        let done = std::fs::read_dir(downloads.path())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "csv"));
        if let Some(p) = done {
            csv = Some(std::fs::read(p).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let csv = csv.expect("reports CSV downloaded");
    let text =
        std::str::from_utf8(csv.strip_prefix("\u{feff}".as_bytes()).expect("UTF-8 BOM")).unwrap();
    assert!(text.starts_with("報告日時,HER-SYS ID,"), "{text}");
    assert!(
        text.contains(",1000049,") && text.contains(",03-1111-0049,"),
        "{text}"
    );

    // Japanese, then a phone-sized window: nothing wider than the screen.
    wd.goto(&format!("{base}/lang/ja")).await;
    wd.goto(&format!("{base}/?status=all")).await;
    shots.take(&wd, "3-followup-ja").await;
    wd.set_window_size(390, 844).await;
    wd.goto(&format!("{base}/?status=all")).await;
    let widths = wd
        .script("return [document.documentElement.scrollWidth, window.innerWidth]")
        .await;
    assert!(
        widths[0].as_u64() <= widths[1].as_u64(),
        "page wider than a 390 px screen: {widths:?}"
    );
    shots.take(&wd, "4-followup-390px").await;

    if let Ok(path) = std::env::var("KENKOCALL_SCREENSHOT") {
        let png = base64::engine::general_purpose::STANDARD
            .decode(wd.screenshot_base64().await)
            .expect("screenshot base64");
        std::fs::write(&path, png).expect("write screenshot");
    }
    wd.quit().await;
    server.abort();
    db.finish().await;
}
