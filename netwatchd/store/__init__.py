"""SQLite storage: one file in data_dir, WAL mode, schema versioned by PRAGMA user_version.

Owns every SQL statement of netwatchd (no other package builds or runs SQL):
  db.py            opening, migrating (v1/*.sql, migrations/*.sql), `transaction()`,
                   `locked_transaction()`, `read_transaction()`, `write_quickly()`,
                   `ThreadConnections` (one per thread)
  state_repo.py    host_state, events, mutes (the alert brain's memory); `save` also enqueues
  outbox_repo.py   outbox, chat_migrations (rows of the delivery worker; outbox status)
  bot_repo.py      kv: the bot's getUpdates offset, accepted together with the audit row
  audit_repo.py    audit_log: who asked the bot what, and how it ended
  history_repo.py  probe history: raw results, packed blocks, 5-minute and hourly rollups
  crosscheck_repo.py  crosscheck_watch: what the Netwatch cross-check follows (written with the alerts)
  integrity.py     quick_check (at start, hourly), the damaged tables, moving a damaged file aside
  faults.py        a failure's kind (full, damaged, io, readonly, locked) and what to do about it
  health.py        StoreHealth: failures -> /healthz, the once-a-minute log; the agent's health file

May import: engine, probes, router, schedule, config and the leaves (models, errors, clock, logs).
Never notify, bot, web, report, lab, commands, cli or app (not even lazily): they call down here.
"""

from netwatchd.store.db import Database, ThreadConnections, read_transaction, transaction

__all__ = ["Database", "ThreadConnections", "read_transaction", "transaction"]
