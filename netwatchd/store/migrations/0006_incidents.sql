-- Owner: incidents (engine/incidents.py decides, store/incident_repo.py reads and writes).
-- One row per outage of one site (or of the server's uplink): from its first problem alert to its
-- recovery. `token` is the opaque id in the buttons' callback_data; a press is checked against it.
-- Written in the same transaction as the events and outbox rows that open, change or end it.
CREATE TABLE incidents (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    token           TEXT NOT NULL UNIQUE,
    host            TEXT NOT NULL,
    kind            TEXT NOT NULL,          -- what opened it: down|degraded|unreachable|flapping|uplink_lost
    opened_at       TEXT NOT NULL,          -- ISO 8601 UTC with ms (all times in these tables)
    opened_event    INTEGER,                -- events.id of the alert that opened it
    acked_at        TEXT,
    acked_by        TEXT NOT NULL DEFAULT '',    -- "@name (id)" as shown in the chat
    acked_by_id     INTEGER,
    snoozed_until   TEXT,
    snoozed_by      TEXT NOT NULL DEFAULT '',
    snoozed_by_id   INTEGER,
    next_level      INTEGER NOT NULL DEFAULT 0,  -- first telegram.escalate level not sent yet
    escalate_at     TEXT,                   -- when it is due; NULL: no level left, acknowledged or resolved
    escalated       TEXT NOT NULL DEFAULT '[]',  -- JSON [[level, at], ...]: the levels sent
    resolved_at     TEXT,
    resolved_event  INTEGER
);
CREATE UNIQUE INDEX incidents_one_open ON incidents(host) WHERE resolved_at IS NULL;
CREATE INDEX incidents_host ON incidents(host, opened_at);
CREATE INDEX incidents_due ON incidents(escalate_at) WHERE resolved_at IS NULL AND escalate_at IS NOT NULL;

-- The first message of an incident in each chat (and forum topic; 0 = none): the thread's root,
-- the one with the buttons, replied to and edited. Its Telegram message id is the outbox row's
-- (outbox.message_id once that row is 'sent': also when it was delivered from memory while the
-- store could not be written, and saved later).
CREATE TABLE incident_messages (
    incident_id     INTEGER NOT NULL REFERENCES incidents(id),
    chat_id         TEXT NOT NULL,
    thread_id       INTEGER NOT NULL DEFAULT 0,
    outbox_id       INTEGER,                -- the outbox row that carries it
    PRIMARY KEY (incident_id, chat_id, thread_id)
);
CREATE INDEX incident_messages_chat ON incident_messages(chat_id, thread_id);

-- What an outbox row is in a conversation (rows without one are plain alerts, as before):
--   root   the incident's first message in that chat (sent with the buttons)
--   reply  sent as a reply to the incident's root in that chat (a plain message if there is none)
--   edit   not a new message: the root is edited to show the incident's status (payload names why:
--          ack, snooze, resolve, or buttons for a root delivered from memory without them)
--   plain  a message in a forum topic that belongs to no incident
CREATE TABLE outbox_thread (
    outbox_id       INTEGER PRIMARY KEY REFERENCES outbox(id) ON DELETE CASCADE,
    incident_id     INTEGER REFERENCES incidents(id),
    role            TEXT NOT NULL,          -- root|reply|edit|plain
    thread_id       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_thread_incident ON outbox_thread(incident_id);

-- Every press and command names the incident it acted on (NULL: none).
ALTER TABLE audit_log ADD COLUMN incident_id INTEGER;
