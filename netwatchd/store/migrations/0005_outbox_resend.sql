-- Owner: delivery (rows: store/outbox_repo.py, decisions: notify/outbox.py).
-- resend: 1 when the row was 'sending' when its worker died (kill -9, power cut, OOM): Telegram
-- may already have shown it, so the next send says "sent again after a restart — may repeat".
-- It stays 1 across failed retries and further restarts, and on the sent row as a record; a
-- split message clears it once the resent part is acknowledged (the later parts are new).
ALTER TABLE outbox ADD COLUMN resend INTEGER NOT NULL DEFAULT 0;
