"""The delivery tables (v1/20_outbox.sql): `outbox` rows and `chat_migrations`.

notify/outbox.py decides what to claim, when to retry and when to give up; these functions only
read and write the rows. None of them opens a transaction: writes join the caller's
(`enqueue` the one of state_repo.save, the rest the delivery worker's `transaction()`).
Every time is stored as ISO 8601 UTC with milliseconds (clock.utc_ms), so text order is time order.
Every function raises sqlite3.Error when the store cannot be read or written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from netwatchd.clock import utc_ms
from netwatchd.models import Transition

_WAITING = "('pending', 'sending')"


@dataclass(frozen=True)
class OutboxRecord:
    """A row waiting for delivery, as stored (the payload is Transition.to_dict() as JSON)."""

    id: int
    chat_id: str
    payload: str
    detected_at: str
    enqueued_at: str
    attempts: int
    sent_parts: int
    kind: str = "alert"            # alert | document | hook
    resend: bool = False           # it was in flight when a worker died: Telegram may have it already
    status: str = "pending"
    next_attempt_at: str = ""
    claimed_by: str | None = None


@dataclass(frozen=True)
class Delivery:
    """How far delivery of one alert to one chat got, for a row written with that state at once:
    an alert delivered from memory while the store could not be written is saved as 'sent' (so it
    is never sent again), one in flight as 'sending' (claimed by `claimed_by`), one that failed as
    'pending' with its retry time, or 'dead'."""

    status: str
    attempts: int = 0
    sent_parts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    message_id: int | None = None
    claimed_by: str | None = None


@dataclass(frozen=True)
class DeadRow:
    """A row given up on (status 'dead') and why."""

    id: int
    chat_id: str
    payload: str
    enqueued_at: str
    last_error: str | None


@dataclass(frozen=True)
class OutboxStatus:
    """What `netwatchd status`, the bot's /status, the web page and the metrics show."""

    waiting: int                   # pending or in flight
    dead: int
    oldest_waiting: str | None     # enqueued_at of the oldest waiting row
    last_error: str | None         # the oldest waiting row's last failure
    dead_rows: tuple[DeadRow, ...] = ()   # newest first, at most `dead_limit`


# --- enqueue (inside the caller's transaction) ------------------------------------------------

def enqueue(conn: sqlite3.Connection, event_id: int | None, transition: Transition,
            destinations: Sequence[str], now: datetime, prior: Mapping[str, Delivery] | None = None, *,
            kind: str = "alert") -> dict[str, int]:
    """Insert one row per destination, pending, or as far as `prior` (by chat id) says delivery
    from memory got; never commits (the caller's transaction does). Returns {chat id: row id}.

    A destination whose group was migrated to a supergroup goes to the new chat id. `kind` is
    'alert' (a Telegram chat) or 'hook' (destinations are hook lanes, 'hook:NAME').
    """
    migrated = dict(conn.execute("SELECT old_chat_id, new_chat_id FROM chat_migrations").fetchall())
    payload = json.dumps(transition.to_dict(), ensure_ascii=False, sort_keys=True)
    enqueued_at = utc_ms(now)
    detected_at = utc_ms(transition.at)
    rows: dict[str, int] = {}
    for destination in destinations:
        chat_id = migrated.get(str(destination), str(destination))
        if chat_id in rows:
            continue
        done = (prior or {}).get(chat_id) or (prior or {}).get(str(destination))
        if done is None:
            cursor = conn.execute(
                "INSERT INTO outbox(event_id, chat_id, payload, status, enqueued_at, detected_at,"
                " next_attempt_at, kind) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                (event_id, chat_id, payload, enqueued_at, detected_at, enqueued_at, kind))
        else:
            cursor = conn.execute(
                "INSERT INTO outbox(event_id, chat_id, payload, status, enqueued_at, detected_at, next_attempt_at,"
                " attempts, sent_parts, last_error, sent_at, acked_at, message_id, claimed_by, kind)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, chat_id, payload, done.status, enqueued_at, detected_at,
                 utc_ms(done.next_attempt_at) if done.next_attempt_at else enqueued_at, done.attempts,
                 done.sent_parts, done.last_error, _ms(done.sent_at), _ms(done.acked_at), done.message_id,
                 done.claimed_by, kind))
        rows[chat_id] = int(cursor.lastrowid or 0)
    return rows


def _ms(moment: datetime | None) -> str | None:
    return utc_ms(moment) if moment is not None else None


def enqueue_document(conn: sqlite3.Connection, chat_ids: Sequence[str], meta: dict[str, Any], body: bytes,
                     now: datetime) -> list[int]:
    """One pending 'document' row per chat (a report file: `meta` holds its filename and caption);
    never commits. A chat migrated to a supergroup gets it at the new id. Returns the row ids."""
    migrated = dict(conn.execute("SELECT old_chat_id, new_chat_id FROM chat_migrations").fetchall())
    payload = json.dumps(meta, ensure_ascii=False, sort_keys=True)
    at = utc_ms(now)
    ids: list[int] = []
    for chat in dict.fromkeys(migrated.get(str(c), str(c)) for c in chat_ids):
        cursor = conn.execute(
            "INSERT INTO outbox(event_id, chat_id, payload, status, enqueued_at, detected_at, next_attempt_at,"
            " kind, body) VALUES (NULL, ?, ?, 'pending', ?, ?, ?, 'document', ?)",
            (chat, payload, at, at, at, sqlite3.Binary(body)))
        ids.append(int(cursor.lastrowid or 0))
    return ids


def event_id_of(conn: sqlite3.Connection, row_id: int) -> int | None:
    """The events row a hook's (or an alert's) outbox row was made for."""
    row = conn.execute("SELECT event_id FROM outbox WHERE id=?", (row_id,)).fetchone()
    return int(row[0]) if row is not None and row[0] is not None else None


def document_body(conn: sqlite3.Connection, row_id: int) -> bytes:
    """The file of a 'document' row (b"" when the row has none)."""
    row = conn.execute("SELECT body FROM outbox WHERE id=?", (row_id,)).fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else b""


# --- reading for delivery ---------------------------------------------------------------------

def chats_with_pending(conn: sqlite3.Connection) -> list[str]:
    """Chats with pending rows, the one waiting longest first."""
    rows = conn.execute(
        "SELECT chat_id, min(id) AS first FROM outbox WHERE status='pending' GROUP BY chat_id"
        " ORDER BY first").fetchall()
    return [row[0] for row in rows]


def head_not_before(conn: sqlite3.Connection, chat_id: str) -> datetime | None:
    """next_attempt_at of the chat's oldest waiting row (it holds the chat), None without rows."""
    head = conn.execute(f"SELECT next_attempt_at FROM outbox WHERE chat_id=? AND status IN {_WAITING}"
                        " ORDER BY id LIMIT 1", (chat_id,)).fetchone()
    return None if head is None else datetime.fromisoformat(head[0])


def has_fresh_rows(conn: sqlite3.Connection, chat_id: str) -> bool:
    """Rows never tried yet (enqueued after the chat's last failed attempt)."""
    return conn.execute("SELECT 1 FROM outbox WHERE chat_id=? AND status='pending' AND attempts=0"
                        " LIMIT 1", (chat_id,)).fetchone() is not None


def waiting_rows(conn: sqlite3.Connection, chat_id: str, limit: int) -> list[OutboxRecord]:
    """The chat's first `limit` waiting rows in id order."""
    found = conn.execute(
        "SELECT id, chat_id, payload, detected_at, enqueued_at, attempts, sent_parts, kind, resend, status,"
        " next_attempt_at, claimed_by FROM outbox"
        f" WHERE chat_id=? AND status IN {_WAITING} ORDER BY id LIMIT ?", (chat_id, limit)).fetchall()
    return [OutboxRecord(id=row[0], chat_id=row[1], payload=row[2], detected_at=row[3], enqueued_at=row[4],
                         attempts=row[5], sent_parts=row[6], kind=row[7], resend=bool(row[8]), status=row[9],
                         next_attempt_at=row[10], claimed_by=row[11]) for row in found]


def acked_since(conn: sqlite3.Connection, chat_id: str, since: datetime) -> list[datetime]:
    """When Telegram acknowledged the chat's messages from `since` on, oldest first."""
    return [datetime.fromisoformat(row[0]) for row in conn.execute(
        "SELECT DISTINCT acked_at FROM outbox WHERE chat_id=? AND status='sent' AND acked_at >= ?"
        " ORDER BY acked_at", (chat_id, utc_ms(since))).fetchall()]


def in_flight(conn: sqlite3.Connection) -> list[tuple[int, str]]:
    """(id, claimed_by) of every row in 'sending' ('' when the claimer is unknown)."""
    return [(int(row[0]), str(row[1] or ""))
            for row in conn.execute("SELECT id, claimed_by FROM outbox WHERE status='sending'").fetchall()]


# --- writing (inside the caller's transaction) -------------------------------------------------

def claim(conn: sqlite3.Connection, claimer: str, ids: Sequence[int]) -> int:
    """pending -> sending (attempts + 1) for those of `ids` still pending; returns how many."""
    marks = ",".join("?" * len(ids))
    return conn.execute(
        f"UPDATE outbox SET status='sending', claimed_by=?, attempts=attempts+1"
        f" WHERE status='pending' AND id IN ({marks})", (claimer, *ids)).rowcount


def mark_sent(conn: sqlite3.Connection, claimer: str, ids: Sequence[int], *, message_id: int | None,
              sent_at: datetime, acked_at: datetime) -> None:
    """Telegram acknowledged the (last part of the) message holding `ids`."""
    conn.executemany(
        "UPDATE outbox SET status='sent', message_id=?, sent_at=?, acked_at=?, claimed_by=NULL,"
        " sent_parts=sent_parts+1, last_error=NULL WHERE id=? AND claimed_by=?",
        [(message_id, utc_ms(sent_at), utc_ms(acked_at), row_id, claimer) for row_id in ids])


def was_resent(conn: sqlite3.Connection, chat_id: str, message_id: int) -> bool:
    """Whether message `message_id` of `chat_id` was an alert sent again after a restart (its
    text carries the "sent again" note, which every later edit of it must keep)."""
    return conn.execute("SELECT 1 FROM outbox WHERE chat_id=? AND message_id=? AND resend=1 LIMIT 1",
                        (str(chat_id), message_id)).fetchone() is not None


def mark_part_sent(conn: sqlite3.Connection, claimer: str, ids: Sequence[int], *, next_attempt_at: datetime) -> None:
    """One part of a split message was acknowledged: back to pending for the next part (never
    sent yet, so no longer a resend)."""
    conn.executemany(
        "UPDATE outbox SET status='pending', claimed_by=NULL, sent_parts=sent_parts+1,"
        " attempts=0, resend=0, next_attempt_at=? WHERE id=? AND claimed_by=?",
        [(utc_ms(next_attempt_at), row_id, claimer) for row_id in ids])


def mark_printed(conn: sqlite3.Connection, claimer: str, ids: Sequence[int], *, sent_at: datetime,
                 acked_at: datetime) -> None:
    """Console rows written to the console."""
    conn.executemany(
        "UPDATE outbox SET status='sent', sent_at=?, acked_at=?, claimed_by=NULL, last_error=NULL"
        " WHERE id=? AND claimed_by=?",
        [(utc_ms(sent_at), utc_ms(acked_at), row_id, claimer) for row_id in ids])


def retry_later(conn: sqlite3.Connection, claimer: str, ids: Sequence[int], *, not_before: datetime,
                error: str) -> None:
    """A failed send: back to pending, not tried again before `not_before`."""
    conn.executemany("UPDATE outbox SET status='pending', claimed_by=NULL, next_attempt_at=?,"
                     " last_error=? WHERE id=? AND claimed_by=?",
                     [(utc_ms(not_before), error, row_id, claimer) for row_id in ids])


def mark_dead(conn: sqlite3.Connection, claimer: str, ids: Sequence[int], *, error: str) -> None:
    """A permanent failure for the chat: give these rows up."""
    conn.executemany("UPDATE outbox SET status='dead', claimed_by=NULL, last_error=? "
                     "WHERE id=? AND claimed_by=?", [(error, row_id, claimer) for row_id in ids])


def set_aside(conn: sqlite3.Connection, unreadable: Sequence[tuple[int, str]]) -> None:
    """Pending rows that cannot be read, as (id, why): dead, so they never block their chat."""
    conn.executemany("UPDATE outbox SET status='dead', last_error=? WHERE id=? AND status='pending'",
                     [(why, row_id) for row_id, why in unreadable])


def write_state(conn: sqlite3.Connection, claimer: str, row_id: int, state: Delivery) -> bool:
    """Store the delivery state the worker kept in memory while the store could not be written
    (row still pending, or 'sending' claimed by `claimer`; a row another worker finished is left
    alone). Returns whether the row was updated."""
    return conn.execute(
        "UPDATE outbox SET status=?, attempts=?, sent_parts=?, next_attempt_at=coalesce(?, next_attempt_at),"
        " last_error=?, sent_at=coalesce(?, sent_at), acked_at=coalesce(?, acked_at),"
        " message_id=coalesce(?, message_id), claimed_by=?"
        " WHERE id=? AND (status='pending' OR (status='sending' AND claimed_by=?))",
        (state.status, state.attempts, state.sent_parts, _ms(state.next_attempt_at), state.last_error,
         _ms(state.sent_at), _ms(state.acked_at), state.message_id, state.claimed_by, row_id,
         claimer)).rowcount > 0


def rows_of_event(conn: sqlite3.Connection, event_id: int) -> dict[str, int]:
    """{chat id: outbox row id} of one event's rows."""
    return {str(row[0]): int(row[1]) for row in conn.execute(
        "SELECT chat_id, id FROM outbox WHERE event_id=?", (event_id,)).fetchall()}


def release(conn: sqlite3.Connection, claimer: str, chat_id: str) -> None:
    """The claimer's 'sending' rows of a chat back to pending (a step that failed unexpectedly)."""
    conn.execute("UPDATE outbox SET status='pending', claimed_by=NULL"
                 " WHERE status='sending' AND claimed_by=? AND chat_id=?", (claimer, chat_id))


def put_back(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    """Rows left 'sending' by a dead worker back to pending, marked `resend` (Telegram may have
    received them before the worker died: the next send says so)."""
    conn.executemany("UPDATE outbox SET status='pending', claimed_by=NULL, resend=1"
                     " WHERE id=? AND status='sending'",
                     [(row_id,) for row_id in ids])


def migrate_chat(conn: sqlite3.Connection, claimer: str, ids: Sequence[int], *, old_chat: str, new_chat: str,
                 now: datetime, error: str) -> None:
    """The group `old_chat` became supergroup `new_chat`: remember it, release the claimed `ids`
    (due now) and move every waiting row of the chat there."""
    conn.execute("INSERT OR REPLACE INTO chat_migrations(old_chat_id, new_chat_id, at)"
                 " VALUES (?, ?, ?)", (old_chat, new_chat, utc_ms(now)))
    conn.execute("UPDATE chat_migrations SET new_chat_id=? WHERE new_chat_id=?", (new_chat, old_chat))
    retry_later(conn, claimer, ids, not_before=now, error=error)
    conn.execute(f"UPDATE outbox SET chat_id=? WHERE chat_id=? AND status IN {_WAITING}", (new_chat, old_chat))


def prune(conn: sqlite3.Connection, before: datetime) -> int:
    """Delete sent and dead rows enqueued before `before`; returns how many."""
    return conn.execute("DELETE FROM outbox WHERE status IN ('sent', 'dead') AND enqueued_at < ?",
                        (utc_ms(before),)).rowcount


# --- status ------------------------------------------------------------------------------------

def outbox_status(conn: sqlite3.Connection, *, dead_limit: int = 0) -> OutboxStatus:
    """How many rows wait and are dead, the oldest waiting row's age and last failure, and the
    newest `dead_limit` dead rows. The one outbox-status query of status, bot, web and metrics."""
    waiting = dead = 0
    oldest: str | None = None
    for status, count, first in conn.execute(
            "SELECT status, count(*), min(enqueued_at) FROM outbox"
            " WHERE status IN ('pending', 'sending', 'dead') GROUP BY status").fetchall():
        if status == "dead":
            dead = int(count)
        else:
            waiting += int(count)
            oldest = first if oldest is None or (first is not None and first < oldest) else oldest
    last_error = None
    if waiting:
        row = conn.execute(f"SELECT last_error FROM outbox WHERE status IN {_WAITING}"
                           " AND last_error IS NOT NULL ORDER BY id LIMIT 1").fetchone()
        last_error = row[0] if row else None
    dead_rows: tuple[DeadRow, ...] = ()
    if dead and dead_limit > 0:
        dead_rows = tuple(DeadRow(*tuple(row)) for row in conn.execute(
            "SELECT id, chat_id, payload, enqueued_at, last_error FROM outbox"
            " WHERE status='dead' ORDER BY id DESC LIMIT ?", (dead_limit,)).fetchall())
    return OutboxStatus(waiting=waiting, dead=dead, oldest_waiting=oldest, last_error=last_error,
                        dead_rows=dead_rows)


def last_delivered(conn: sqlite3.Connection) -> tuple[datetime, datetime] | None:
    """(detected_at, acked_at) of the newest acknowledged alert, None before the first (an edit of an
    alert, in a chat's '#edit' lane, is not one)."""
    row = conn.execute("SELECT detected_at, acked_at FROM outbox WHERE status = 'sent' AND acked_at IS NOT NULL "
                       "AND chat_id NOT LIKE '%#edit' ORDER BY acked_at DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return datetime.fromisoformat(row[0]), datetime.fromisoformat(row[1])


@dataclass(frozen=True)
class LaneStatus:
    """One lane's delivery (a hook's, for `netwatchd status`): rows waiting and dead, the last
    failure, the last success."""

    lane: str
    waiting: int
    dead: int
    last_error: str | None
    last_done_at: str | None
    attempts: int = 0              # attempts of the lane's head row so far


def lane_status(conn: sqlite3.Connection, prefix: str) -> list[LaneStatus]:
    """Per lane whose chat_id starts with `prefix`: waiting/dead counts, the head row's last error
    and attempts (or the newest dead row's error), the last acknowledged delivery."""
    found: list[LaneStatus] = []
    lanes = conn.execute(
        "SELECT chat_id, sum(status IN ('pending', 'sending')), sum(status='dead'),"
        " max(CASE WHEN status='sent' THEN acked_at END) FROM outbox WHERE chat_id >= ? AND chat_id < ?"
        " GROUP BY chat_id ORDER BY chat_id", (prefix, prefix + "\uffff")).fetchall()
    for lane, waiting, dead, last_done in lanes:
        head = conn.execute(f"SELECT last_error, attempts FROM outbox WHERE chat_id=? AND status IN {_WAITING}"
                            " ORDER BY id LIMIT 1", (lane,)).fetchone()
        error, attempts = (head[0], int(head[1])) if head else (None, 0)
        if error is None and dead:
            row = conn.execute("SELECT last_error FROM outbox WHERE chat_id=? AND status='dead' ORDER BY id DESC"
                               " LIMIT 1", (lane,)).fetchone()
            error = row[0] if row else None
        found.append(LaneStatus(lane=lane, waiting=int(waiting or 0), dead=int(dead or 0), last_error=error,
                                last_done_at=last_done, attempts=attempts))
    return found
