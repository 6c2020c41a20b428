-- Follow-up list "handled" marks (src/store/handled.rs): staff record that a flagged patient
-- was dealt with (called back, sent to hospital) with a short note. A mark is shown until the
-- patient's next report; older marks stay as history. Must stay logically identical to
-- ../postgres/0006_followup_handled.sql.
CREATE TABLE followup_handled (
    id            INTEGER PRIMARY KEY,
    patient_id    INTEGER NOT NULL REFERENCES patients (id),
    handled_at_ms INTEGER NOT NULL,
    handled_by    TEXT    NOT NULL,
    note          TEXT    NOT NULL
);
CREATE INDEX followup_handled_patient ON followup_handled (patient_id, id);
