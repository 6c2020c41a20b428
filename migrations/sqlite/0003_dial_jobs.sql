-- call_attempts rows double as the dialer's jobs (src/store/jobs.rs): the slot instant the job
-- was planned for, the token of the current lease (fresh on every claim), and how the job or
-- attempt ended beyond its outcome (e.g. 'interrupted', 'attempts_exhausted', 'staff_stopped').
-- Must stay logically identical to ../postgres/0003_dial_jobs.sql.
ALTER TABLE call_attempts ADD COLUMN slot_at_ms INTEGER;
ALTER TABLE call_attempts ADD COLUMN lease_token INTEGER;
ALTER TABLE call_attempts ADD COLUMN detail TEXT;
CREATE INDEX call_attempts_lease ON call_attempts (state, lease_until_ms);
