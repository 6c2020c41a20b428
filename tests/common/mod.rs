//! Test databases: every test runs against a fresh SQLite file and a fresh PostgreSQL schema.
//!
//! PostgreSQL comes from `KENKOCALL_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/test`).
//! Each test gets its own schema `kc_test_<pid>_<n>_<nanos>` (selected with `search_path`) that is
//! dropped afterwards, so parallel tests and runs never collide. If PostgreSQL is unreachable the
//! PostgreSQL half is skipped with a loud message, unless `KENKOCALL_REQUIRE_PG=1`, which makes it
//! a failure.

#![allow(dead_code)] // each test binary uses a different part

pub mod serve;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use kenkocall::store::{Backend, Store};
use sqlx::{Connection, Executor};

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A migrated store on a throw-away database.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl TestDb {
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }

    /// Closes the pool and drops the PostgreSQL schema (the SQLite directory goes with `self`).
    pub async fn finish(self) {
        self.store.close().await;
        if let Cleanup::Postgres { admin_url, schema } = &self.cleanup {
            let mut admin = sqlx::PgConnection::connect(admin_url)
                .await
                .expect("pg admin");
            let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
            admin
                .execute(sqlx::AssertSqlSafe(drop))
                .await
                .expect("drop test schema");
            let _ = admin.close().await;
        }
    }
}

pub fn pg_url() -> String {
    std::env::var("KENKOCALL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_string())
}

fn pg_required() -> bool {
    std::env::var("KENKOCALL_REQUIRE_PG").is_ok_and(|v| v == "1")
}

fn unique_suffix() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A fresh, migrated SQLite database in a temporary directory.
pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("kenkocall.db").display());
    let store = Store::connect(&url).await.expect("connect sqlite");
    store.migrate().await.expect("migrate sqlite");
    TestDb {
        store,
        url,
        cleanup: Cleanup::Sqlite(dir),
    }
}

/// A fresh, migrated PostgreSQL schema; `None` (after a loud message) when PostgreSQL is not
/// reachable and not required.
pub async fn postgres() -> Option<TestDb> {
    let admin_url = pg_url();
    let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if !pg_required() => {
            eprintln!(
                "\n!!!!! PostgreSQL at {admin_url} unreachable ({e}): PostgreSQL half SKIPPED. \
                 Set KENKOCALL_REQUIRE_PG=1 to make this a failure. !!!!!\n"
            );
            return None;
        }
        Err(e) => {
            panic!("KENKOCALL_REQUIRE_PG=1 but PostgreSQL at {admin_url} is unreachable: {e}")
        }
    };
    let schema = format!("kc_test_{}", unique_suffix());
    let create = format!("CREATE SCHEMA {schema}");
    admin
        .execute(sqlx::AssertSqlSafe(create))
        .await
        .expect("create test schema");
    let _ = admin.close().await;
    let sep = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{sep}options=-c%20search_path%3D{schema}");
    let store = Store::connect(&url).await.expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    Some(TestDb {
        store,
        url,
        cleanup: Cleanup::Postgres { admin_url, schema },
    })
}

/// SQLite always, PostgreSQL when available.
pub async fn backends() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    dbs.extend(postgres().await);
    dbs
}

/// Runs `scenario` on SQLite and (when available) PostgreSQL, each on a fresh database,
/// naming the backend if it panics. The database is cleaned up even when the scenario fails.
pub async fn on_every_backend<F, Fut>(scenario: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    for backend in [Backend::Sqlite, Backend::Postgres] {
        // Created one at a time, so a failure on the first leaves nothing behind on the second.
        let db = match backend {
            Backend::Sqlite => sqlite().await,
            Backend::Postgres => match postgres().await {
                Some(db) => db,
                None => continue,
            },
        };
        eprintln!("--- on {}", db.backend().as_str());
        let outcome = tokio::spawn(scenario(db.store.clone())).await;
        db.finish().await;
        if let Err(e) = outcome {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
            panic!("scenario did not finish: {e}");
        }
    }
}

/// A fixed instant: 2026-11-20 plus `minutes` (UTC), so tests never read the clock.
pub fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(1_795_132_800 + minutes * 60, 0).expect("valid time")
}

pub fn date(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
}

/// A valid patient of centre "Minato" observed 2026-11-15 .. 2026-11-25, default slots.
pub fn patient(hersys_id: &str, phone: &str) -> kenkocall::store::NewPatient {
    kenkocall::store::NewPatient {
        hersys_id: hersys_id.to_string(),
        name: "Yamada Hanako".to_string(),
        birth_date: date("1952-04-07"),
        phone: phone.to_string(),
        language: kenkocall::store::Language::Ja,
        health_centre: "Minato".to_string(),
        observation_start: date("2026-11-15"),
        observation_end: date("2026-11-25"),
        contact_method: kenkocall::store::ContactMethod::AutoCall,
        call_slots: None,
    }
}
