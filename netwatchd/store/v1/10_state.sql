-- Owner: alert brain (engine/ / store/state_repo.py). Current state per host and every transition.
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

-- Mutes set by admins from the bot (/mute): a host or group name, silent until `until`.
-- Maintenance windows from hosts.yaml are not stored here (the config is their source).
CREATE TABLE mutes (
    target          TEXT PRIMARY KEY COLLATE NOCASE,  -- host or group name
    until           TEXT NOT NULL,          -- ISO 8601 UTC with ms
    muted_by        TEXT NOT NULL DEFAULT '',
    reason          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL
);
