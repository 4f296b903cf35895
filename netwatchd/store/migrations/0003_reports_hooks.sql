-- Owner: reports and hooks (rows via store/report_repo.py and store/outbox_repo.py).
--
-- agent_runs: when the agent was running, so a report can tell the time the monitor was blind
-- because it was not running from a site's own downtime. A run is [started_at, stopped_at] after
-- a clean stop, [started_at, alive_at] after a crash (alive_at is a heartbeat, every 30 s).
CREATE TABLE agent_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at      TEXT NOT NULL,          -- ISO 8601 UTC with ms (all times in these tables)
    alive_at        TEXT NOT NULL,
    stopped_at      TEXT
);

-- maintenance_log: when each site was actually muted by the agent (a maintenance window of the
-- config or an admin's /mute), written with the state change that muted / unmuted it.
-- ended_at NULL: still muted (or the agent stopped while it was; reports clip it at the run's end).
CREATE TABLE maintenance_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    host            TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    ended_at        TEXT
);
CREATE INDEX maintenance_log_host ON maintenance_log(host, started_at);

-- report_schedule: one row per `reports:` entry (identity = every, at, format, language, chats).
-- armed_at: when a running agent first saw it (nothing due before is sent); last_until: the end of
-- the last period whose documents were enqueued (in the same transaction as their outbox rows).
CREATE TABLE report_schedule (
    schedule        TEXT PRIMARY KEY,
    armed_at        TEXT NOT NULL,
    last_until      TEXT
);

-- The outbox carries three kinds of rows, each in its lane (chat_id): 'alert' (Transition JSON,
-- to a Telegram chat), 'document' (a report file in `body`, payload = its name and caption, to a
-- Telegram chat) and 'hook' (Transition JSON, chat_id 'hook:NAME': a command or a webhook).
ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
ALTER TABLE outbox ADD COLUMN body BLOB;
