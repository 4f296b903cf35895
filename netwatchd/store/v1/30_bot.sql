-- Owner: command bot (store/bot_repo.py: kv, the getUpdates offset; store/audit_repo.py: the audit log).
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
