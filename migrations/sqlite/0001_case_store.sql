-- Case store, SQLite flavour. Must stay logically identical to ../postgres/0001_case_store.sql
-- (same tables, columns, nullability, constraints); tests/store.rs compares the two.
-- Times: INTEGER UTC milliseconds. Dates: TEXT 'YYYY-MM-DD'. Flags: INTEGER 0/1.

CREATE TABLE health_centres (
    id                   INTEGER PRIMARY KEY,
    name                 TEXT    NOT NULL UNIQUE,
    timezone             TEXT    NOT NULL DEFAULT 'Asia/Tokyo',
    default_slots        INTEGER NOT NULL DEFAULT 84480,   -- bit h set = slot at h o'clock (9, 11, 14, 16)
    retry_max_attempts   INTEGER NOT NULL DEFAULT 3   CHECK (retry_max_attempts BETWEEN 1 AND 20),
    retry_no_answer_secs INTEGER NOT NULL DEFAULT 900 CHECK (retry_no_answer_secs >= 0),
    retry_busy_secs      INTEGER NOT NULL DEFAULT 300 CHECK (retry_busy_secs >= 0),
    retry_failed_secs    INTEGER NOT NULL DEFAULT 600 CHECK (retry_failed_secs >= 0),
    slot_window_secs     INTEGER NOT NULL DEFAULT 3600 CHECK (slot_window_secs > 0),
    alert_spo2_urgent    INTEGER NOT NULL DEFAULT 93,
    alert_spo2_recheck   INTEGER NOT NULL DEFAULT 95,
    alert_temp_followup_dc INTEGER NOT NULL DEFAULT 375,
    calling_from_minute  INTEGER NOT NULL DEFAULT 480  CHECK (calling_from_minute BETWEEN 0 AND 1440),
    calling_until_minute INTEGER NOT NULL DEFAULT 1200 CHECK (calling_until_minute BETWEEN 0 AND 1440),
    created_at_ms        INTEGER NOT NULL,
    CHECK (calling_from_minute < calling_until_minute)
);

CREATE TABLE patients (
    id                INTEGER PRIMARY KEY,
    hersys_id         TEXT    NOT NULL UNIQUE,
    name              TEXT    NOT NULL,
    birth_date        TEXT    NOT NULL,
    phone             TEXT    NOT NULL,
    language          TEXT    NOT NULL CHECK (language IN ('ja','en','zh','ko','vi','pt','es','ne')),
    health_centre_id  INTEGER NOT NULL REFERENCES health_centres (id),
    observation_start TEXT    NOT NULL,
    observation_end   TEXT    NOT NULL,
    contact_method    TEXT    NOT NULL DEFAULT 'auto_call' CHECK (contact_method IN ('auto_call','health_call')),
    call_slots        INTEGER NOT NULL,
    stopped_at_ms     INTEGER,
    stopped_reason    TEXT,
    wrong_number      INTEGER NOT NULL DEFAULT 0 CHECK (wrong_number IN (0, 1)),
    created_at_ms     INTEGER NOT NULL,
    updated_at_ms     INTEGER NOT NULL,
    CHECK (observation_end >= observation_start)
);
CREATE INDEX patients_phone ON patients (phone);
CREATE INDEX patients_centre ON patients (health_centre_id);

CREATE TABLE call_attempts (
    id             INTEGER PRIMARY KEY,
    patient_id     INTEGER NOT NULL REFERENCES patients (id),
    slot_date      TEXT    NOT NULL,
    slot_hour      INTEGER NOT NULL CHECK (slot_hour BETWEEN 0 AND 23),
    attempt_no     INTEGER NOT NULL CHECK (attempt_no >= 1),
    due_at_ms      INTEGER NOT NULL,
    state          TEXT    NOT NULL DEFAULT 'pending'
                   CHECK (state IN ('pending','dialing','answered','finished','cancelled')),
    outcome        TEXT    CHECK (outcome IN ('completed','partial','no_input','no_answer','busy','failed',
                                              'wrong_number','stopped')),
    caller_line    TEXT,
    sip_call_id    TEXT,
    lease_owner    TEXT,
    lease_until_ms INTEGER,
    created_at_ms  INTEGER NOT NULL,
    started_at_ms  INTEGER,
    answered_at_ms INTEGER,
    ended_at_ms    INTEGER,
    UNIQUE (patient_id, slot_date, slot_hour, attempt_no)
);
CREATE INDEX call_attempts_due ON call_attempts (state, due_at_ms);

CREATE TABLE health_reports (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    reported_at_ms  INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    channel         TEXT    NOT NULL CHECK (channel IN ('auto_call','health_call')),
    call_id         TEXT    NOT NULL,
    call_attempt_id INTEGER REFERENCES call_attempts (id),
    question_set    TEXT    NOT NULL,
    temperature_dc  INTEGER CHECK (temperature_dc BETWEEN 300 AND 450),
    spo2            INTEGER CHECK (spo2 BETWEEN 0 AND 100),
    complete        INTEGER NOT NULL DEFAULT 0 CHECK (complete IN (0, 1)),
    UNIQUE (patient_id, call_id)
);
CREATE INDEX health_reports_patient_time ON health_reports (patient_id, reported_at_ms);
CREATE INDEX health_reports_time ON health_reports (reported_at_ms);

CREATE TABLE report_symptoms (
    report_id      INTEGER NOT NULL REFERENCES health_reports (id) ON DELETE CASCADE,
    symptom        TEXT    NOT NULL CHECK (symptom IN ('shortness_of_breath','cough','sputum','sore_throat',
                                    'fatigue','headache','taste_smell_loss','diarrhoea','chest_pain')),
    present        INTEGER NOT NULL CHECK (present IN (0, 1)),
    answered_at_ms INTEGER NOT NULL,
    PRIMARY KEY (report_id, symptom)
);

CREATE TABLE audit_log (
    id         INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    patient_id INTEGER REFERENCES patients (id),
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_time ON audit_log (at_ms);

CREATE TABLE auth_failures (
    id             INTEGER PRIMARY KEY,
    at_ms          INTEGER NOT NULL,
    calling_number TEXT,
    hersys_id      TEXT
);
CREATE INDEX auth_failures_caller ON auth_failures (calling_number, at_ms);
CREATE INDEX auth_failures_hersys ON auth_failures (hersys_id, at_ms);
