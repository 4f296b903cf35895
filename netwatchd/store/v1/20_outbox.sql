-- Owner: delivery (rows: store/outbox_repo.py, decisions: notify/outbox.py). One row per (event, destination chat).
-- Life of a row: pending -> sending (claimed by one worker, committed BEFORE the HTTP call)
--   -> sent (committed right after Telegram's ack) | pending again (retry, next_attempt_at)
--   | dead (permanent error for that chat: last_error says why).
-- A row left in 'sending' by a crashed worker is put back to 'pending' by the next worker.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER REFERENCES events(id),
    chat_id         TEXT NOT NULL,          -- Telegram chat id, or 'console'
    payload         TEXT NOT NULL,          -- Transition.to_dict() as JSON
    status          TEXT NOT NULL DEFAULT 'pending',  -- pending|sending|sent|dead
    enqueued_at     TEXT NOT NULL,          -- ISO 8601 UTC with ms (all times in this table)
    detected_at     TEXT NOT NULL,          -- Transition.at: when the state machine decided
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,          -- the chat's head row is not sent before this
    claimed_by      TEXT,                   -- 'pid:token' of the worker that set 'sending'
    sent_parts      INTEGER NOT NULL DEFAULT 0,  -- parts already acked of a message split at 4096
    sent_at         TEXT,                   -- start of the HTTP request that was acked
    acked_at        TEXT,
    message_id      INTEGER,
    last_error      TEXT                    -- token-free reason of the last failure / death
);
CREATE INDEX outbox_pending ON outbox(status, chat_id, id);

-- A group that became a supergroup gets a new id (400 migrate_to_chat_id); remembered so that
-- later alerts go straight to the new id until telegram.chat_ids is updated.
CREATE TABLE chat_migrations (
    old_chat_id     TEXT PRIMARY KEY,
    new_chat_id     TEXT NOT NULL,
    at              TEXT NOT NULL
);
