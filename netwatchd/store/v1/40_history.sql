-- Owner: reports (report/, history retention). Raw probe results (bounded) and rollups.
CREATE TABLE probe_results (
    host            TEXT NOT NULL,
    at              TEXT NOT NULL,
    alive           INTEGER NOT NULL,
    loss_percent    REAL,
    rtt_avg_ms      REAL,
    rtt_max_ms      REAL,
    state           TEXT
);
CREATE INDEX probe_results_host_at ON probe_results(host, at);
