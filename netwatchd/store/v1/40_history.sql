-- Owner: reports (store/history_repo.py). Bounded probe history and rollups.
-- Times are integer epoch milliseconds (UTC); hosts are small integer ids; rtt in microseconds;
-- loss in hundredths of a percent; state as a small code (0 unknown, 1 up, 2 degraded, 3 down,
-- 4 unreachable). WITHOUT ROWID tables keyed by what they are read by keep rows small.

CREATE TABLE history_hosts (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE
);

-- Raw results not yet compacted (the last few minutes). prune_and_rollup moves complete
-- 5-minute buckets into probe_blocks + rollup_5m and deletes them from here.
CREATE TABLE probe_results (
    host_id         INTEGER NOT NULL,
    at_ms           INTEGER NOT NULL,
    state           INTEGER NOT NULL,
    alive           INTEGER NOT NULL,
    loss_bp         INTEGER NOT NULL,       -- loss percent x 100
    rtt_min_us      INTEGER,                -- NULL when nothing came back
    rtt_avg_us      INTEGER,
    rtt_max_us      INTEGER,
    PRIMARY KEY (host_id, at_ms)
) WITHOUT ROWID;

-- Compacted raw results: one row per host and 5-minute bucket, samples packed column-wise and
-- zlib-compressed (history_repo.encode_block). Kept retention.raw_days.
CREATE TABLE probe_blocks (
    bucket_ms       INTEGER NOT NULL,
    host_id         INTEGER NOT NULL,
    samples         INTEGER NOT NULL,
    data            BLOB NOT NULL,
    PRIMARY KEY (bucket_ms, host_id)
) WITHOUT ROWID;

-- Rollups: probes, failures, rtt min/avg/max (over the probes that got replies), summed loss
-- (loss_bp_sum / probes = mean loss) and seconds spent in each state within the bucket.
CREATE TABLE rollup_5m (
    bucket_ms       INTEGER NOT NULL,
    host_id         INTEGER NOT NULL,
    probes          INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    rtt_min_us      INTEGER,
    rtt_avg_us      INTEGER,
    rtt_max_us      INTEGER,
    loss_bp_sum     INTEGER NOT NULL,
    up_s            INTEGER NOT NULL,
    degraded_s      INTEGER NOT NULL,
    down_s          INTEGER NOT NULL,
    unreachable_s   INTEGER NOT NULL,
    PRIMARY KEY (bucket_ms, host_id)
) WITHOUT ROWID;

CREATE TABLE rollup_1h (
    bucket_ms       INTEGER NOT NULL,
    host_id         INTEGER NOT NULL,
    probes          INTEGER NOT NULL,
    failures        INTEGER NOT NULL,
    rtt_min_us      INTEGER,
    rtt_avg_us      INTEGER,
    rtt_max_us      INTEGER,
    loss_bp_sum     INTEGER NOT NULL,
    up_s            INTEGER NOT NULL,
    degraded_s      INTEGER NOT NULL,
    down_s          INTEGER NOT NULL,
    unreachable_s   INTEGER NOT NULL,
    PRIMARY KEY (bucket_ms, host_id)
) WITHOUT ROWID;
