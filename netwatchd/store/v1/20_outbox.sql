-- Owner: delivery (notify/outbox.py). One row per (event, destination chat).
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        INTEGER REFERENCES events(id),
    chat_id         TEXT NOT NULL,          -- Telegram chat id, or 'console'
    payload         TEXT NOT NULL,          -- Transition.to_dict() as JSON
    status          TEXT NOT NULL DEFAULT 'pending',  -- pending|sending|sent|dead
    enqueued_at     TEXT NOT NULL,
    detected_at     TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    sent_at         TEXT,
    acked_at        TEXT,
    message_id      INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_pending ON outbox(status, chat_id, id);
