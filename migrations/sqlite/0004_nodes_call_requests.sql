-- Running nodes and on-demand calls (src/store/nodes.rs, src/store/call_requests.rs).
-- A node upserts its row at start, renews lease_until_ms every few seconds, and deletes it
-- when it exits; a row whose lease passed is a node that died. `kenkocall drain` sets
-- drain_requested_at_ms; the node sees it at its next heartbeat and sets draining_since_ms.
-- A call request is one `kenkocall call-now`: pending until a node's dialer takes it, then
-- dialing under that node's heartbeat lease, then finished (with the attempt's outcome) or
-- cancelled (nobody took it). Must stay logically identical to ../postgres/0004_nodes_call_requests.sql.
CREATE TABLE nodes (
    name                  TEXT    PRIMARY KEY,
    host                  TEXT    NOT NULL,
    sip_listen            TEXT    NOT NULL,
    dialer                INTEGER NOT NULL CHECK (dialer IN (0, 1)),
    started_at_ms         INTEGER NOT NULL,
    seen_at_ms            INTEGER NOT NULL,
    lease_until_ms        INTEGER NOT NULL,
    drain_requested_at_ms INTEGER,
    draining_since_ms     INTEGER
);

CREATE TABLE call_requests (
    id              INTEGER PRIMARY KEY,
    patient_id      INTEGER NOT NULL REFERENCES patients (id),
    requested_by    TEXT    NOT NULL,
    requested_at_ms INTEGER NOT NULL,
    state           TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending','dialing','finished','cancelled')),
    node            TEXT,
    lease_until_ms  INTEGER,
    caller_line     TEXT,
    sip_call_id     TEXT,
    started_at_ms   INTEGER,
    ended_at_ms     INTEGER,
    outcome         TEXT    CHECK (outcome IN ('completed','partial','no_input','no_answer','busy','failed',
                                               'wrong_number','stopped')),
    detail          TEXT
);
CREATE INDEX call_requests_state ON call_requests (state, requested_at_ms);
