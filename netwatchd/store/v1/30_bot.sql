-- Owner: command bot (bot/). Key-value state (getUpdates offset) and the audit log.
CREATE TABLE kv (
    key             TEXT PRIMARY KEY,
    value           TEXT NOT NULL
);

CREATE TABLE audit_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    at              TEXT NOT NULL,
    user_id         INTEGER,
    chat_id         INTEGER,
    command         TEXT NOT NULL,
    outcome         TEXT NOT NULL
);
