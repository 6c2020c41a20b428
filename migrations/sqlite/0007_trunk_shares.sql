-- One trunk's limits shared by every node on this case store (src/store/trunk.rs).
-- trunk_channels: one row per channel of the trunk contract (`trunk.channels`), created
-- by the first node that starts; a node holds a channel for one call by writing its name,
-- a token of that call, and a lease it renews while the call is up. A row whose lease passed is free again, so
-- the channels of a node that died come back within one lease (`trunk.channel_lease_secs`).
-- trunk_pace: the trunk's next allowed call start (microseconds), spaced 1/cps apart
-- across all nodes (`dialer.calls_per_second`); claiming a channel updates it first, which
-- also serialises concurrent claims. Must stay logically identical to
-- ../postgres/0007_trunk_shares.sql.
CREATE TABLE trunk_channels (
    trunk          TEXT    NOT NULL,
    slot           INTEGER NOT NULL,
    node           TEXT,
    token          INTEGER,
    lease_until_ms INTEGER NOT NULL,
    PRIMARY KEY (trunk, slot)
);
CREATE INDEX trunk_channels_node ON trunk_channels (node);

CREATE TABLE trunk_pace (
    trunk          TEXT    PRIMARY KEY,
    next_start_us  INTEGER NOT NULL
);
