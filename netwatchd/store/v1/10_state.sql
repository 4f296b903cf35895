-- Owner: alert brain (state.py / store/state_repo.py). Current state per host and every transition.
CREATE TABLE host_state (
    host            TEXT PRIMARY KEY,
    state           TEXT NOT NULL,          -- unknown|up|degraded|down|unreachable
    since           TEXT NOT NULL,          -- ISO 8601 UTC with ms
    data            TEXT NOT NULL DEFAULT '{}'  -- JSON: counters, flap history, last evidence, mute marks
);

CREATE TABLE events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    host            TEXT NOT NULL,
    kind            TEXT NOT NULL,          -- state|flapping|stable|reminder|maintenance_end|uplink_lost|uplink_back|startup
    from_state      TEXT NOT NULL,
    to_state        TEXT NOT NULL,
    at              TEXT NOT NULL,
    payload         TEXT NOT NULL           -- Transition.to_dict() as JSON
);
CREATE INDEX events_host_at ON events(host, at);
CREATE INDEX events_at ON events(at);
