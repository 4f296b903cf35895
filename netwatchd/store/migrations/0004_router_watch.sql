-- Owner: router health (router/health.py, rows via store/router_watch_repo.py).
-- One row per router watched with `health:`: what the watcher remembers between looks (the last
-- uptime and when it was read, each figure's looks in a row past / within its threshold and
-- whether its alert is out), as JSON. Written in the same transaction as the alerts it decided.
CREATE TABLE router_watch (
    router          TEXT PRIMARY KEY,
    data            TEXT NOT NULL
);
