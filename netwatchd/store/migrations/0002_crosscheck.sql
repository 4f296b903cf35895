-- Owner: the periodic Netwatch cross-check (router/crosscheck_watch.py, rows via store/crosscheck_repo.py).
-- One row per (router, site) the watcher is following; a site both sides agree on has no row.
-- A row is a disagreement seen in `disagree_checks` checks in a row and not yet announced, or an
-- announced one (announced = 1) whose "agree again" message is still owed. It is written in the
-- same transaction as the events/outbox rows it produces, so a restart neither repeats a
-- disagreement nor forgets the agree-again.
CREATE TABLE crosscheck_watch (
    router          TEXT NOT NULL,
    site            TEXT NOT NULL,
    disagree_checks INTEGER NOT NULL,       -- checks in a row that disagreed
    agree_checks    INTEGER NOT NULL DEFAULT 0,  -- checks in a row that agreed since it was announced
    announced       INTEGER NOT NULL DEFAULT 0,  -- 1: the disagreement alert is out, agree-again owed
    since           TEXT NOT NULL,          -- first disagreeing check (ISO 8601 UTC with ms)
    last_checked    TEXT NOT NULL,          -- the last check that changed this row
    router_status   TEXT NOT NULL,          -- up|down: the router's side at the last disagreeing check
    netwatchd_state TEXT NOT NULL,          -- netwatchd's state name then
    entry           TEXT NOT NULL DEFAULT '',    -- the router entry's label
    PRIMARY KEY (router, site)
);
