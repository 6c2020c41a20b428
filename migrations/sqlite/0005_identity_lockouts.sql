-- Health-call identity lockouts (src/store/lockouts.rs, rule in src/engine/identity.rs): every
-- lockout imposed, for staff to see and lift. Lifting forgives the failures it covered, so
-- counting starts afresh. Must stay logically identical to ../postgres/0004_identity_lockouts.sql.
ALTER TABLE auth_failures ADD COLUMN forgiven_at_ms INTEGER;
CREATE INDEX auth_failures_pair ON auth_failures (calling_number, hersys_id, at_ms);
CREATE TABLE identity_lockouts (
    id             INTEGER PRIMARY KEY,
    locked_at_ms   INTEGER NOT NULL,
    until_ms       INTEGER NOT NULL,
    scope          TEXT    NOT NULL CHECK (scope IN ('number_and_id','number','id')),
    calling_number TEXT,
    hersys_id      TEXT,
    -- The patient whose HER-SYS ID was keyed, when it exists; its centre sees the lockout.
    patient_id     INTEGER REFERENCES patients (id),
    failures       INTEGER NOT NULL,
    lifted_at_ms   INTEGER,
    lifted_by      TEXT
);
CREATE INDEX identity_lockouts_patient ON identity_lockouts (patient_id, locked_at_ms);
CREATE INDEX identity_lockouts_until ON identity_lockouts (until_ms);
