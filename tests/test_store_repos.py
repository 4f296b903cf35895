"""store/ owns every SQL statement: the outbox repo, the per-thread connections, the read snapshot,
and the rule itself (no SQL and no upward import) checked over the package's source."""

from __future__ import annotations

import ast
import re
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import netwatchd
from netwatchd.clock import utc_ms
from netwatchd.models import State, Transition
from netwatchd.store import Database, ThreadConnections, outbox_repo, read_transaction, state_repo, transaction

T0 = datetime(2026, 12, 5, 7, 0, tzinfo=timezone.utc)
PACKAGE = Path(netwatchd.__file__).parent


def _down(host: str, at: datetime) -> Transition:
    return Transition(host=host, address="198.18.1.2", from_state=State.UP, to_state=State.DOWN, at=at,
                      kind="down", notify=True)


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database.in_dir(tmp_path)
    database.migrate()
    return database


def test_outbox_status_counts_waiting_and_dead_and_names_the_oldest(db: Database) -> None:
    conn = db.connect()
    assert outbox_repo.outbox_status(conn, dead_limit=5) == outbox_repo.OutboxStatus(0, 0, None, None, ())
    with transaction(conn):
        for minute, host in enumerate(["Waru", "Candi", "Porong", "Taman"]):
            at = T0 + timedelta(minutes=minute)
            outbox_repo.enqueue(conn, None, _down(host, at), ["-100"], at)
    ids = [row.id for row in outbox_repo.waiting_rows(conn, "-100", 10)]
    assert len(ids) == 4
    with transaction(conn):
        assert outbox_repo.claim(conn, "me", ids[:2]) == 2                 # Waru, Candi in flight
        outbox_repo.mark_dead(conn, "me", ids[1:2], error="chat not found")  # Candi given up
        assert outbox_repo.claim(conn, "me", ids[3:]) == 1
        outbox_repo.retry_later(conn, "me", ids[3:], not_before=T0 + timedelta(hours=1), error="timeout")
    status = outbox_repo.outbox_status(conn, dead_limit=5)
    assert (status.waiting, status.dead) == (3, 1)                          # sending + 2 pending
    assert status.oldest_waiting == utc_ms(T0)                  # Waru, still 'sending'
    assert status.last_error == "timeout"
    [dead] = status.dead_rows
    assert (dead.id, dead.chat_id, dead.last_error) == (ids[1], "-100", "chat not found")
    assert '"host": "Candi"' in dead.payload
    assert outbox_repo.outbox_status(conn).dead_rows == ()                  # no rows unless asked
    with transaction(conn):
        outbox_repo.mark_sent(conn, "me", ids[:1], message_id=7, sent_at=T0, acked_at=T0 + timedelta(seconds=1))
    assert outbox_repo.outbox_status(conn).waiting == 2
    assert outbox_repo.last_delivered(conn) == (T0, T0 + timedelta(seconds=1))


def test_a_claim_takes_only_pending_rows(db: Database) -> None:
    conn = db.connect()
    with transaction(conn):
        outbox_repo.enqueue(conn, None, _down("Waru", T0), ["1", "2", "1"], T0)   # duplicate chat once
    [mine] = outbox_repo.waiting_rows(conn, "1", 10)
    with transaction(conn):
        assert outbox_repo.claim(conn, "a", [mine.id]) == 1
        assert outbox_repo.claim(conn, "b", [mine.id]) == 0
    assert outbox_repo.in_flight(conn) == [(mine.id, "a")]
    with transaction(conn):
        outbox_repo.put_back(conn, [mine.id])
    assert outbox_repo.in_flight(conn) == [] and outbox_repo.chats_with_pending(conn) == ["1", "2"]


def test_a_migrated_chat_takes_its_waiting_rows_and_later_alerts(db: Database) -> None:
    conn = db.connect()
    with transaction(conn):
        outbox_repo.enqueue(conn, None, _down("Waru", T0), ["-1"], T0)
        outbox_repo.enqueue(conn, None, _down("Candi", T0), ["-1"], T0)
    first, second = outbox_repo.waiting_rows(conn, "-1", 10)
    with transaction(conn):
        outbox_repo.claim(conn, "me", [first.id])
        outbox_repo.migrate_chat(conn, "me", [first.id], old_chat="-1", new_chat="-1002", now=T0, error="moved")
        outbox_repo.enqueue(conn, None, _down("Porong", T0), ["-1"], T0)
    assert outbox_repo.chats_with_pending(conn) == ["-1002"]
    assert [r.id for r in outbox_repo.waiting_rows(conn, "-1002", 10)][:2] == [first.id, second.id]
    assert outbox_repo.head_not_before(conn, "-1002") == T0


def test_thread_connections_give_each_thread_its_own_and_close_them(db: Database) -> None:
    pool = ThreadConnections(db, busy_timeout_ms=0)
    mine = pool.get()
    assert pool.get() is mine
    assert mine.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    theirs: list[object] = []
    worker = threading.Thread(target=lambda: (theirs.append(pool.get()), pool.close_current()))
    worker.start()
    worker.join()
    assert theirs and theirs[0] is not mine
    with pytest.raises(Exception, match="closed"):
        theirs[0].execute("SELECT 1")                                      # type: ignore[attr-defined]
    assert ThreadConnections(db).get().execute("PRAGMA busy_timeout").fetchone()[0] == 10000
    pool.close_all()
    with pytest.raises(Exception, match="closed"):
        mine.execute("SELECT 1")
    assert pool.get() is not mine                                           # a fresh one after close_all


def test_a_read_transaction_sees_one_snapshot_while_the_agent_writes(db: Database) -> None:
    writer, reader = db.connect(), db.connect(readonly=True)
    with transaction(writer):
        outbox_repo.enqueue(writer, None, _down("Waru", T0), ["1"], T0)
    with read_transaction(reader):
        before = outbox_repo.outbox_status(reader).waiting
        with transaction(writer):
            outbox_repo.enqueue(writer, None, _down("Candi", T0), ["1"], T0)
        assert outbox_repo.outbox_status(reader).waiting == before == 1
    assert not reader.in_transaction and outbox_repo.outbox_status(reader).waiting == 2


def test_stored_states_and_events_for_a_window(db: Database) -> None:
    conn = db.connect()
    flip = Transition(host="Waru", address="198.18.1.2", from_state=State.UP, to_state=State.DOWN,
                      at=T0, kind="down", notify=False)
    back = Transition(host="Waru", address="198.18.1.2", from_state=State.DOWN, to_state=State.UP,
                      at=T0 + timedelta(minutes=5), kind="up", notify=False)
    state_repo.save(conn, {}, [flip, back], ["console"], T0)
    assert state_repo.states_before(conn, T0 + timedelta(minutes=1)) == {"Waru": "down"}
    assert state_repo.states_before(conn, T0 + timedelta(minutes=1), ["down"]) == {}
    rows = state_repo.events_between(conn, T0, T0 + timedelta(minutes=10))
    assert [(r.host, r.from_state, r.to_state, r.kind) for r in rows] == [
        ("Waru", "up", "down", "down"), ("Waru", "down", "up", "up")]
    assert state_repo.stored_states(conn) == []                              # no states were saved


# --- the rule itself -----------------------------------------------------------------------------

_SQL = re.compile(r"^\s*(SELECT\s.*\bFROM\b|SELECT\s+[\d?]|INSERT\s+(OR\s+\w+\s+)?INTO\b|REPLACE\s+INTO\b|"
                  r"UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|(CREATE|DROP|ALTER)\s+(TABLE|INDEX|VIEW|TRIGGER)\b|"
                  r"PRAGMA\s+\w+|(BEGIN|COMMIT|ROLLBACK|VACUUM)(\s+(IMMEDIATE|EXCLUSIVE|DEFERRED|TRANSACTION))?\s*;?\s*$|"
                  r"WITH\s+\w+\s+AS\s*\(|ATTACH\s)", re.IGNORECASE | re.DOTALL)
_ABOVE_STORE = ("netwatchd.notify", "netwatchd.bot", "netwatchd.web", "netwatchd.report", "netwatchd.app",
                "netwatchd.commands", "netwatchd.lab", "netwatchd.cli")


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text("utf-8"))) for path in sorted(PACKAGE.rglob("*.py"))]


def _outside_store(path: Path) -> bool:
    return path.relative_to(PACKAGE).parts[0] != "store"


def test_no_sql_outside_the_store() -> None:
    found = []
    for path, tree in _modules():
        if not _outside_store(path):
            continue
        for node in ast.walk(tree):
            text = None
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
            elif isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if text and _SQL.match(text):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {text[:60]!r}")
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "executescript"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: .{node.attr}(")
    assert found == [], "SQL belongs in netwatchd/store/:\n" + "\n".join(found)


def test_the_store_imports_nothing_above_it_not_even_lazily() -> None:
    found = []
    for path, tree in _modules():
        if _outside_store(path):
            continue
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}:{node.lineno}: {name}" for name in names
                      if any(name == top or name.startswith(top + ".") for top in _ABOVE_STORE)]
    assert found == []
