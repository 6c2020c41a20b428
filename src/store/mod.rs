//! The case store: health centres, patients, health reports, call attempts, the staff audit log
//! and the health-call line's guessing counters, on SQLite (embedded default) or PostgreSQL.
//!
//! # One driver, two migration folders
//! Every query goes through sqlx's `Any` driver, so each query exists once and runs on both
//! backends (`$1`-style placeholders work on both: sqlx-sqlite binds `$N` by its number).
//! The DDL, however, lives in two folders, `migrations/sqlite` and `migrations/postgres`, each
//! embedded with `sqlx::migrate!`. Portable DDL was not possible without losing something:
//! - auto-increment keys are `INTEGER PRIMARY KEY` (a rowid alias) on SQLite but
//!   `GENERATED ... AS IDENTITY` on PostgreSQL; no spelling means both;
//! - `Any` decodes by the column's runtime type: a PostgreSQL `INTEGER` is INT4 and a
//!   `BOOLEAN` cannot be read where SQLite gives an integer. So PostgreSQL uses `BIGINT`
//!   for every integer and every flag (0/1) — something one would never write for SQLite.
//!
//! The two files are kept logically identical (same tables, columns, types up to the backend's
//! spelling, nullability and constraints); `tests/store.rs` compares the catalogs of both.
//!
//! # Representation
//! - Instants: UTC milliseconds since the epoch in integer columns (`*_at_ms`): `Any` binds no
//!   chrono types, and integers compare and sort the same on both backends. Converted to
//!   `chrono::DateTime<Utc>` at the edges; shown in the centre's zone by the callers.
//! - Calendar dates (birth, observation period, slot date): `TEXT` `YYYY-MM-DD`, which sorts
//!   and compares correctly as text.
//! - Call slots: a bit set of hours in one integer (bit `h` = slot at `h` o'clock), so "who is
//!   due at 14:00" is one bitwise test on both backends.
//! - Symptom answers: a child table `report_symptoms`, one row per answered question.
//!
//! # Transactions
//! Writes that belong together (a report row and its first answer, an import, a staff change
//! and its audit entry) run in one transaction. On SQLite write transactions start with
//! `BEGIN IMMEDIATE` so two writers queue on the busy timeout instead of failing on upgrade.
//!
//! # Who calls what
//! - CLI / staff: [`Store::connect`], [`Store::migrate`], [`Store::import_patients_csv`]
//!   (all-or-nothing; new centre names are created with default settings),
//!   [`Store::list_patients`], [`Store::list_reports`] + [`HealthReport::to_json_line`],
//!   [`Store::set_centre_slots`], [`Store::set_patient_slots`], [`Store::stop_patient`],
//!   [`Store::resume_patient`], [`Store::list_attempts`], [`Store::list_audit`].
//! - IVR: answers and completions go through the node's [`ReportWriter`] (journal + spool,
//!   retried until they land; `journal.rs`, `writer.rs`), which lands them with
//!   [`Store::apply_report_writes`]. [`Store::verify_identity`], [`Store::record_auth_failure`] /
//!   [`Store::count_auth_failures`], [`Store::active_lockout`] / [`Store::record_lockout`],
//!   [`Store::start_report`] (first answer) →
//!   [`Store::record_answer`] → [`Store::complete_report`], [`Store::mark_wrong_number`],
//!   [`AlertThresholds::assess`].
//! - Dialer: [`Store::patients_due`], [`Store::last_report`], and the
//!   [`crate::dialer::JobQueue`] contract implemented on `call_attempts` (see `jobs.rs`):
//!   `enqueue`, `claim`, `renew`, `release`, `begin_attempt`, `finish_attempt`, `end`;
//!   [`Store::attempt_id_of`] links a call's reports to its attempt. ([`Store::plan_attempt`]
//!   and [`Store::update_attempt`] write one attempt row directly, for `call-now` and tests.)
//! - Nodes (`serve`, `drain`, `call-now`): [`Store::node_started`], [`Store::node_heartbeat`]
//!   (also renews the leases of the node's on-demand calls), [`Store::node_stopped`],
//!   [`Store::list_nodes`], [`Store::request_drain`]; on-demand calls
//!   ([`Store::request_call`] → [`Store::claim_call_requests`] → [`Store::finish_call_request`],
//!   see `call_requests.rs`).
//! - Shared trunk limits (dialer, `trunk.rs`): [`Store::prepare_trunk`] at start,
//!   [`Store::claim_trunk_channel`] before each call (channel lease + start rate across
//!   nodes), [`Store::renew_trunk_channels`] while calls are up, [`Store::release_trunk_channel`].
//! - Staff pages (`admin`): [`Store::list_centre_patients`], [`Store::latest_reports`],
//!   [`Store::attempts_on`], [`Store::export_patients_csv`],
//!   [`Store::mark_handled`] / [`Store::latest_handled`] (follow-up "handled" marks),
//!   [`Store::set_observation_period`],
//!   [`Store::set_language`], [`Store::list_lockouts`] / [`Store::lift_lockout`], staff accounts and sessions ([`Store::insert_staff`],
//!   [`Store::live_session`]), counts for `/metrics`.

mod alerts;
mod attempts;
mod audit;
mod call_requests;
mod catalog;
mod centres;
mod followup;
mod handled;
mod import;
mod jobs;
pub mod journal;
mod lockouts;
mod model;
mod nodes;
pub mod office_csv;
mod patient_changes;
mod patient_edits;
mod patients;
mod phone;
mod reports;
mod staff;
mod trunk;
mod width;
mod writer;

pub use alerts::{AlertLevel, AlertThresholds, Finding};
pub use attempts::{AttemptId, AttemptUpdate, CallAttempt, NewAttempt};
pub use audit::{AuditEntry, AuthFailureKey};
pub use call_requests::{CallRequest, CallRequestId, CallRequestResult};
pub use catalog::{CatalogColumn, SchemaCatalog};
pub use centres::{CallingHours, CentreId, CentreSettings, HealthCentre, RetryPolicy};
pub use handled::{FollowupHandled, HANDLED_NOTE_MAX_CHARS};
pub use import::{
    DateField, ImportErrors, ImportProblem, ImportSummary, RowError, decode_office_text,
    parse_office_date, parse_patients_csv, template_csv,
};
pub use lockouts::{IdentityLockout, LockoutId, LockoutScope, NewLockout};
pub use model::{
    AttemptOutcome, AttemptState, CallSlots, Channel, ContactMethod, Language, SlotsError, Symptom,
    UnknownValue,
};
pub use nodes::NodeInfo;
pub use patients::{IdentityCheck, NewPatient, Patient, PatientId, PatientStatus, valid_hersys_id};
pub use phone::{PhoneError, hyphenated_national, national_form, normalise_phone};
pub use reports::{Answer, HealthReport, ReportCall, ReportFilter, ReportId, ReportView};
pub use staff::{StaffAccount, StaffId, StaffSession, valid_username};
pub use trunk::{TrunkChannel, TrunkClaim};
pub use width::{fold_numeric, fold_width};
pub use writer::{ReportWriter, WriterConfig, WriterError, WriterStats};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Transaction};

/// How long a query waits for a pooled connection unless configured
/// (`database.acquire_timeout_secs`).
pub const DEFAULT_ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// Why a store operation failed. Messages never contain personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database URL must start with sqlite: or postgres:// (got scheme {0:?})")]
    UnsupportedUrl(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0} already exists")]
    Duplicate(&'static str),
    /// Input refused by validation or by a database constraint.
    #[error("rejected: {0}")]
    Rejected(String),
    #[error("import rejected, nothing was applied:\n{0}")]
    Import(ImportErrors),
    /// A stored value this code cannot read back (edited by hand, or a newer schema).
    #[error("unreadable stored value: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Classifies a driver error: constraint violations become `Duplicate`/`Rejected`.
    fn from_write(e: sqlx::Error, what: &'static str) -> StoreError {
        use sqlx::error::ErrorKind;
        match e
            .as_database_error()
            .map(|d| (d.kind(), d.message().to_string()))
        {
            Some((ErrorKind::UniqueViolation, _)) => StoreError::Duplicate(what),
            Some((ErrorKind::CheckViolation, msg))
            | Some((ErrorKind::ForeignKeyViolation, msg))
            | Some((ErrorKind::NotNullViolation, msg)) => {
                StoreError::Rejected(format!("{what}: {msg}"))
            }
            _ => StoreError::Database(e),
        }
    }
}

/// Which database the store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Backend, StoreError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => Err(StoreError::UnsupportedUrl(other.to_string())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The case store: a cloneable handle on a connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Opens the database at `url` (`sqlite://kenkocall.db`, `sqlite::memory:`,
    /// `postgres://user@host/db`). A missing SQLite file is created and put in WAL mode.
    /// Does not migrate; call [`Store::migrate`].
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with_timeout(url, DEFAULT_ACQUIRE_TIMEOUT).await
    }

    /// [`Store::connect`] where a query that cannot get a connection within
    /// `acquire_timeout` fails (sqlx's default waits 30 s, which held calls when the
    /// database was down; report writes are journaled and retried, see `writer.rs`).
    pub async fn connect_with_timeout(
        url: &str,
        acquire_timeout: std::time::Duration,
    ) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let mut options = AnyPoolOptions::new().acquire_timeout(acquire_timeout);
        let url = match backend {
            Backend::Postgres => url.to_string(),
            Backend::Sqlite => {
                let url = sqlite_url_creating_file(url);
                // Journal mode is a property of the file: set once, before the pool exists,
                // so no other connection holds a lock while it switches.
                let mut first = AnyConnection::connect(&url).await?;
                first.execute("PRAGMA journal_mode = WAL").await?;
                first.close().await?;
                if url.contains(":memory:") || url.contains("mode=memory") {
                    // Each connection to a private in-memory database is a new database.
                    options = options.max_connections(1);
                }
                options = options.after_connect(|conn, _meta| {
                    Box::pin(async move {
                        conn.execute(
                            "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000; \
                             PRAGMA synchronous = NORMAL",
                        )
                        .await?;
                        Ok(())
                    })
                });
                url
            }
        };
        let pool = options.connect(&url).await?;
        tracing::debug!(backend = backend.as_str(), "case store connected");
        Ok(Store { pool, backend })
    }

    /// Applies pending migrations for this backend. Safe to run again (and from several
    /// nodes at once on PostgreSQL, which takes an advisory lock).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every pooled connection (end of process or of a test).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction for writes. SQLite takes the write lock up front (see module docs).
    async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }
}

/// Adds `mode=rwc` (create if missing) unless the URL already chooses a mode.
fn sqlite_url_creating_file(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} ms out of range")))
}

pub(crate) fn opt_from_ms(ms: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    ms.map(from_ms).transpose()
}

pub(crate) fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_date_text(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("date {s:?} is not YYYY-MM-DD")))
}

pub(crate) fn flag(b: bool) -> i64 {
    i64::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(
            Backend::from_url("sqlite://a.db").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("sqlite::memory:").ok(),
            Some(Backend::Sqlite)
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert!(matches!(
            Backend::from_url("mysql://x"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }

    #[test]
    fn sqlite_url_gets_create_mode_once() {
        assert_eq!(
            sqlite_url_creating_file("sqlite://k.db"),
            "sqlite://k.db?mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://k.db?x=1"),
            "sqlite://k.db?x=1&mode=rwc"
        );
        assert_eq!(
            sqlite_url_creating_file("sqlite://k.db?mode=ro"),
            "sqlite://k.db?mode=ro"
        );
    }

    #[test]
    fn millis_round_trip() {
        let t = DateTime::from_timestamp_millis(1_790_000_000_123).unwrap();
        assert_eq!(from_ms(to_ms(t)).unwrap(), t);
        assert!(from_ms(i64::MAX).is_err());
    }
}
