"""Incidents and their threads (tables of migrations/0006_incidents.sql).

engine.incidents decides (which transition opens or ends an outage, who may act, what is due);
these functions read and write the rows, always in ONE transaction with what caused them:

* `save_round` replaces state_repo.save for the agent: states, events, incidents and the round's
  outbox rows (a root with buttons, replies in the thread, edits of the root) commit together;
* `escalate` sends the due escalation levels and moves each incident to its next level;
* `record_press` stores a button press with the getUpdates offset, its audit row and, for an Ack
  or a snooze, the incident's change and the edits of its messages: a crash before the commit
  leaves the press unconfirmed (Telegram delivers it again), after it the edit is in the outbox;
* `act` is /ack and /snooze from text; the delivery worker reads `thread_info` for its rows (a
  root's Telegram message id is its outbox row's, once 'sent').

Times are stored as ISO 8601 UTC with milliseconds. Every function raises sqlite3.Error when the
store cannot be read or written (StoreError from `record_press` when it stays locked).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from netwatchd.clock import utc_ms
from netwatchd.config.model import Config
from netwatchd.engine.engine import SELF_HOST, HostState
from netwatchd.engine.incidents import (
    ACK,
    NO_INCIDENT,
    SNOOZE,
    Incident,
    Post,
    Verdict,
    due_escalations,
    escalation_due,
    judge_action,
    judge_press,
    plan_round,
)
from netwatchd.engine.routing import CONSOLE, Destination, Router
from netwatchd.models import State, Transition
from netwatchd.store import state_repo
from netwatchd.store.audit_repo import AuditEntry, open_entry, set_incident
from netwatchd.store.bot_repo import advance_offset
from netwatchd.store.db import LOCK_PATIENCE_S, joined_transaction, transaction, write_quickly
from netwatchd.store.outbox_repo import Delivery, enqueue

ROOT, REPLY, EDIT, PLAIN = "root", "reply", "edit", "plain"
EDIT_REASONS = ("ack", "snooze", "resolve", "buttons")
PRESS_REASONS = ("ack", "snooze")   # an edit someone is waiting to see
EDIT_LANE = "#edit"
"""Edit rows wait in a delivery lane of their own per chat ("<chat>#edit"): an edit Telegram keeps
refusing (or that waits for its root) never holds the chat's alerts."""


def edit_lane(chat_id: str) -> str:
    """The delivery lane of a chat's edits."""
    return chat_id + EDIT_LANE


def lane_chat(lane: str) -> tuple[str, bool]:
    """(the chat, whether it is the chat's edit lane) of a delivery lane."""
    if lane.endswith(EDIT_LANE):
        return lane[:-len(EDIT_LANE)], True
    return lane, False

_COLUMNS = ("id, token, host, kind, opened_at, acked_at, acked_by, snoozed_until, snoozed_by, next_level, "
            "escalate_at, resolved_at, escalated")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def new_token() -> str:
    """An opaque, unguessable incident id for callback_data (16 URL-safe characters)."""
    return secrets.token_urlsafe(12)


def _incident(row: sqlite3.Row) -> Incident:
    levels = tuple((int(level), datetime.fromisoformat(at)) for level, at in json.loads(row["escalated"] or "[]"))
    return Incident(id=int(row["id"]), token=str(row["token"]), host=str(row["host"]), kind=str(row["kind"]),
                    opened_at=datetime.fromisoformat(row["opened_at"]), acked_at=_dt(row["acked_at"]),
                    acked_by=str(row["acked_by"] or ""), snoozed_until=_dt(row["snoozed_until"]),
                    snoozed_by=str(row["snoozed_by"] or ""), next_level=int(row["next_level"]),
                    escalate_at=_dt(row["escalate_at"]), resolved_at=_dt(row["resolved_at"]), escalated=levels)


# ------------------------------------------------------------------ reading


def open_incidents(conn: sqlite3.Connection) -> dict[str, Incident]:
    """Every open incident by host."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE resolved_at IS NULL").fetchall()
    return {str(row["host"]): _incident(row) for row in rows}


def by_token(conn: sqlite3.Connection, token: str) -> Incident | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE token = ?", (token,)).fetchone()
    return _incident(row) if row is not None else None


def by_id(conn: sqlite3.Connection, incident_id: int) -> Incident | None:
    row = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE id = ?", (incident_id,)).fetchone()
    return _incident(row) if row is not None else None


def open_for(conn: sqlite3.Connection, host: str) -> Incident | None:
    """The open incident of `host` (case-insensitive), if any."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE resolved_at IS NULL AND host = ? COLLATE NOCASE",
                       (host,)).fetchone()
    return _incident(row) if row is not None else None


def recent(conn: sqlite3.Connection, host: str | None = None, limit: int = 10) -> list[Incident]:
    """The newest incidents first (of one host, case-insensitive, when given)."""
    if host is None:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM incidents ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = conn.execute(f"SELECT {_COLUMNS} FROM incidents WHERE host = ? COLLATE NOCASE ORDER BY id DESC"
                            " LIMIT ?", (host, limit))
    return [_incident(row) for row in rows]


@dataclass(frozen=True)
class RootMessage:
    """An incident's first message in one chat (and topic): message_id None until it is sent."""

    chat_id: str
    thread_id: int
    message_id: int | None
    outbox_id: int | None


def roots(conn: sqlite3.Connection, incident_id: int) -> list[RootMessage]:
    return [RootMessage(str(r[0]), int(r[1]), r[2], r[3]) for r in conn.execute(
        "SELECT m.chat_id, m.thread_id, o.message_id, m.outbox_id FROM incident_messages m"
        f" LEFT JOIN outbox o ON o.id = m.outbox_id AND {_DELIVERED} WHERE m.incident_id = ? ORDER BY m.rowid",
        (incident_id,))]


_DELIVERED = "o.status = 'sent'"
"""An outbox row `o` whose message_id is the message Telegram shows."""


def _root_destinations(conn: sqlite3.Connection, incidents: Iterable[Incident]) -> dict[str, list[Destination]]:
    found: dict[str, list[Destination]] = {}
    for incident in incidents:
        found[incident.host] = [Destination(r.chat_id, r.thread_id) for r in roots(conn, incident.id)]
    return found


def opening_transition(conn: sqlite3.Connection, incident_id: int) -> Transition | None:
    """The alert that opened the incident (its events row)."""
    row = conn.execute("SELECT e.payload FROM incidents i JOIN events e ON e.id = i.opened_event"
                       " WHERE i.id = ?", (incident_id,)).fetchone()
    return Transition.from_dict(json.loads(row[0])) if row is not None else None


def message_members(conn: sqlite3.Connection, chat_id: str, thread_id: int, message_id: int
                    ) -> list[tuple[Transition, int | None]]:
    """The alerts in one root message (several when outages were announced together), in the
    order they were written, each with the id of the incident the message is the root of, or None
    for a burst's news of an outage told before (a reply row carried in it: text only). Empty when
    the message also carries alerts that are neither (memory packs plain alerts with roots while
    the store fails): an edit would drop their text."""
    rows = conn.execute(
        "SELECT o.id, o.payload, m.incident_id FROM incident_messages m JOIN outbox o ON o.id = m.outbox_id"
        f" WHERE m.chat_id = ? AND m.thread_id = ? AND o.message_id = ? AND {_DELIVERED}",
        (chat_id, thread_id, message_id)).fetchall()
    if not rows:
        return []
    news = conn.execute(
        "SELECT o.id, o.payload, NULL FROM outbox o JOIN outbox_thread t ON t.outbox_id = o.id"
        f" WHERE o.chat_id = ? AND t.thread_id = ? AND o.message_id = ? AND {_DELIVERED} AND t.role = ?",
        (chat_id, thread_id, message_id, REPLY)).fetchall()
    carried = conn.execute("SELECT count(*) FROM outbox o WHERE o.chat_id = ? AND o.message_id = ? AND "
                           f"{_DELIVERED}", (chat_id, message_id)).fetchone()[0]
    if carried != len(rows) + len(news):
        return []
    return [(Transition.from_dict(json.loads(row[1])), None if row[2] is None else int(row[2]))
            for row in sorted([*rows, *news], key=lambda r: int(r[0]))]


def root_payload(conn: sqlite3.Connection, outbox_id: int) -> str | None:
    """The payload (Transition JSON) of the outbox row that carried a root message."""
    row = conn.execute("SELECT payload FROM outbox WHERE id = ?", (outbox_id,)).fetchone()
    return str(row[0]) if row is not None else None


@dataclass(frozen=True)
class ThreadInfo:
    """What an outbox row is in a conversation (see the migration): its incident, its role, its
    forum topic (0: none) and, for replies and edits, the root's message id in that chat (None:
    not known yet or never), its outbox row and that row's status (pending, sending, sent, dead;
    None when the row is gone)."""

    incident_id: int | None
    role: str
    thread_id: int
    root_message_id: int | None = None
    root_outbox_id: int | None = None
    root_status: str | None = None

    @property
    def root_waiting(self) -> bool:
        """The root is still on its way (an edit of it waits)."""
        return self.root_message_id is None and self.root_status in ("pending", "sending")


def thread_info(conn: sqlite3.Connection, outbox_ids: Sequence[int]) -> dict[int, ThreadInfo]:
    """ThreadInfo of those of `outbox_ids` that have one (plain alerts have none)."""
    found: dict[int, ThreadInfo] = {}
    ids = list(outbox_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute(
            "SELECT t.outbox_id, t.incident_id, t.role, t.thread_id,"
            " CASE WHEN r.status = 'sent' THEN r.message_id END, m.outbox_id, r.status"
            " FROM outbox_thread t JOIN outbox o ON o.id = t.outbox_id"
            " LEFT JOIN incident_messages m ON m.incident_id = t.incident_id AND m.thread_id = t.thread_id"
            f" AND m.chat_id = (CASE WHEN o.chat_id LIKE '%{EDIT_LANE}'"
            f" THEN substr(o.chat_id, 1, length(o.chat_id) - {len(EDIT_LANE)}) ELSE o.chat_id END)"
            " LEFT JOIN outbox r ON r.id = m.outbox_id"
            f" WHERE t.outbox_id IN ({','.join('?' * len(chunk))})", chunk).fetchall()
        for outbox_id, incident_id, role, thread_id, message_id, root_outbox, root_status in rows:
            own_root = role == ROOT
            found[int(outbox_id)] = ThreadInfo(
                incident_id=incident_id, role=str(role), thread_id=int(thread_id),
                root_message_id=None if own_root else message_id,
                root_outbox_id=None if own_root else root_outbox,
                root_status=None if own_root else root_status)
    return found


# ------------------------------------------------------------------ writing outbox rows


def _chat(conn: sqlite3.Connection, chat_id: str) -> str:
    row = conn.execute("SELECT new_chat_id FROM chat_migrations WHERE old_chat_id = ?", (chat_id,)).fetchone()
    return str(row[0]) if row is not None else chat_id


def _insert(conn: sqlite3.Connection, event_id: int | None, chat_id: str, payload: str, now: datetime,
            detected_at: datetime) -> int:
    at = utc_ms(now)
    cursor = conn.execute(
        "INSERT INTO outbox(event_id, chat_id, payload, status, enqueued_at, detected_at, next_attempt_at)"
        " VALUES (?, ?, ?, 'pending', ?, ?, ?)", (event_id, chat_id, payload, at, utc_ms(detected_at), at))
    return int(cursor.lastrowid or 0)


def enqueue_post(conn: sqlite3.Connection, event_id: int | None, transition: Transition, destination: Destination,
                 now: datetime, *, incident_id: int | None = None, root: bool = False,
                 prior: Delivery | None = None) -> int:
    """One outbox row for `transition` to `destination`, with its place in a conversation: the
    incident's root in that chat (`root`, recorded in incident_messages), a reply in its thread, or a
    plain message (in a forum topic when the destination has one). `prior`: how far delivery of
    it from memory got (outbox_repo.enqueue). Returns the outbox row id."""
    chat = _chat(conn, destination.chat_id)
    outbox_id = enqueue(conn, event_id, transition, [chat], now, {chat: prior} if prior is not None else None)[chat]
    if chat == CONSOLE:
        return outbox_id
    role = PLAIN
    if incident_id is not None:
        known = conn.execute("SELECT 1 FROM incident_messages WHERE incident_id = ? AND chat_id = ? AND thread_id = ?",
                             (incident_id, chat, destination.thread_id)).fetchone()
        role = ROOT if root and known is None else REPLY
        if role == ROOT:
            conn.execute("INSERT INTO incident_messages(incident_id, chat_id, thread_id, outbox_id)"
                         " VALUES (?, ?, ?, ?)",
                         (incident_id, chat, destination.thread_id, outbox_id))
    if role != PLAIN or destination.thread_id:
        conn.execute("INSERT INTO outbox_thread(outbox_id, incident_id, role, thread_id) VALUES (?, ?, ?, ?)",
                     (outbox_id, incident_id, role, destination.thread_id))
    return outbox_id


def enqueue_edits(conn: sqlite3.Connection, incident_id: int, reason: str, now: datetime) -> list[str]:
    """An edit row for every root of the incident (the message shows its new status), in each
    chat's edit lane; returns the lanes. The payload names the reason (ack, snooze, resolve): when
    the root cannot be edited, an ack's or a snooze's news is sent as a new message instead."""
    return [_enqueue_edit(conn, incident_id, root.chat_id, root.thread_id, reason, now)
            for root in roots(conn, incident_id) if root.chat_id != CONSOLE]


def _enqueue_edit(conn: sqlite3.Connection, incident_id: int, chat_id: str, thread_id: int, reason: str,
                  now: datetime) -> str:
    """One edit row for the incident's root in `chat_id` (topic `thread_id`); returns its lane."""
    lane = edit_lane(chat_id)
    payload = json.dumps({"edit": reason, "incident": incident_id}, sort_keys=True)
    outbox_id = _insert(conn, None, lane, payload, now, now)
    conn.execute("INSERT INTO outbox_thread(outbox_id, incident_id, role, thread_id) VALUES (?, ?, 'edit', ?)",
                 (outbox_id, incident_id, thread_id))
    return lane


def edit_reason(payload: str) -> tuple[str, int] | None:
    """(reason, incident id) of an edit row's payload; None when it is not one."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("edit") not in EDIT_REASONS:
        return None
    return str(data["edit"]), int(data.get("incident") or 0)


# ------------------------------------------------------------------ one round of the engine


@dataclass(frozen=True)
class SavedRound:
    """What save_round wrote: the transitions as saved (a quiet incident's reminder not announced),
    their events rows' ids (in the same order) and the chats that got outbox rows."""

    transitions: list[Transition]
    event_ids: list[int]
    chats: set[str]


def save_round(conn: sqlite3.Connection, states: Mapping[str, HostState], transitions: Sequence[Transition],
               config: Config, now: datetime, *, router: Router | None = None,
               token: Callable[[], str] = new_token,
               hook_lanes: Callable[[Transition], Sequence[str]] | None = None,
               prior: Sequence[Mapping[str, Delivery] | None] | None = None) -> SavedRound:
    """state_repo.save with incidents: reminders of acknowledged or snoozed incidents are recorded
    but not sent, problem alerts open incidents (their messages are thread roots with buttons),
    their updates are replies, a recovery ends the incident and edits its roots.

    `prior[i]` (by chat id): how far delivery of transitions[i] from memory got while the store
    could not be written; its rows are written in that state (state_repo.save). A root delivered
    so went out without buttons (memory has no incident): an edit adds them. One transaction
    (joins the caller's if one is open). `hook_lanes` as for state_repo.save."""
    with joined_transaction(conn):
        return _save_round(conn, states, transitions, config, now, router or Router(config), token, hook_lanes,
                           prior)


def _save_round(conn: sqlite3.Connection, states: Mapping[str, HostState], transitions: Sequence[Transition],
                config: Config, now: datetime, router: Router, token: Callable[[], str],
                hook_lanes: Callable[[Transition], Sequence[str]] | None,
                prior: Sequence[Mapping[str, Delivery] | None] | None) -> SavedRound:
    open_now = open_incidents(conn) if transitions else {}
    plan = plan_round(transitions, open_now, _root_destinations(conn, open_now.values()), router, now)
    event_ids = state_repo.save(conn, dict(states), plan.transitions, (), now, hook_lanes=hook_lanes)
    ids = {host: incident.id for host, incident in open_now.items()}
    opened = dict(plan.opened)
    closed: dict[int, list[str]] = {}
    for index, host in plan.closed:
        closed.setdefault(index, []).append(host)
    by_index: dict[int, list[Post]] = {}
    for post in plan.posts:
        by_index.setdefault(post.index, []).append(post)
    chats: set[str] = set()
    levels = config.telegram.escalate
    for index, transition in enumerate(plan.transitions):
        if index in opened:
            host = opened[index]
            due = escalation_due(transition.at, levels, 0)
            cursor = conn.execute(
                "INSERT INTO incidents(token, host, kind, opened_at, opened_event, escalate_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (token(), host, _kind(transition), utc_ms(transition.at), event_ids[index],
                 utc_ms(due) if due is not None else None))
            ids[host] = int(cursor.lastrowid or 0)
        delivered = (prior[index] if prior is not None and index < len(prior) else None) or {}
        for post in by_index.get(index, ()):
            incident_id = ids.get(post.host) if post.host is not None else None
            chat = _chat(conn, post.destination.chat_id)
            done = delivered.get(chat) or delivered.get(post.destination.chat_id)
            enqueue_post(conn, event_ids[index], transition, post.destination, now, incident_id=incident_id,
                         root=post.root, prior=done)
            chats.add(chat)
            if post.root and incident_id is not None and done is not None and done.status == "sent":
                chats.add(_enqueue_edit(conn, incident_id, chat, post.destination.thread_id, "buttons", now))
        for host in closed.get(index, ()):
            incident_id = ids.pop(host, None)
            if incident_id is not None:
                conn.execute("UPDATE incidents SET resolved_at = ?, resolved_event = ?, escalate_at = NULL"
                             " WHERE id = ?", (utc_ms(transition.at), event_ids[index], incident_id))
                chats.update(enqueue_edits(conn, incident_id, "resolve", now))
    return SavedRound(plan.transitions, event_ids, chats)


def _kind(t: Transition) -> str:
    return t.kind if t.kind in ("flapping", "uplink_lost") else t.to_state.value


def shift_open(conn: sqlite3.Connection, delta: timedelta) -> int:
    """The wall clock stepped by `delta`: move the open incidents' opened_at, escalate_at and
    snoozed_until with it, so an escalation level, a snooze and "resolved after" keep their
    lengths (the alert engine's moments are moved the same way). Returns how many were moved."""
    moved = 0
    with transaction(conn):
        for incident in open_incidents(conn).values():
            conn.execute("UPDATE incidents SET opened_at = ?, escalate_at = ?, snoozed_until = ? WHERE id = ?",
                         (utc_ms(incident.opened_at + delta),
                          utc_ms(incident.escalate_at + delta) if incident.escalate_at else None,
                          utc_ms(incident.snoozed_until + delta) if incident.snoozed_until else None, incident.id))
            moved += 1
    return moved


# ------------------------------------------------------------------ escalation


def escalate(conn: sqlite3.Connection, config: Config, now: datetime) -> set[str]:
    """Send every escalation level due at `now`, in the caller's transaction: to the level's chats
    the outage so far (a thread root with the buttons, or a reply where the chat has one), and
    into every chat already told a note that it was escalated. Returns the chats that got rows."""
    levels = config.telegram.escalate
    chats: set[str] = set()
    watched = {h.name for h in config.hosts if not h.disabled} | {SELF_HOST}
    for incident in due_escalations(open_incidents(conn).values(), now):
        level_index = incident.next_level
        if level_index >= len(levels) or not config.telegram.enabled or incident.host not in watched:
            # levels removed by a reload, or the site itself (no recovery will come to end its outage)
            conn.execute("UPDATE incidents SET escalate_at = NULL WHERE id = ?", (incident.id,))
            continue
        level = levels[level_index]
        told = roots(conn, incident.id)
        message = _escalation(conn, incident, level_index, len(levels), level.after, told, now)
        targets = [Destination(str(chat)) for chat in level.chat_ids]
        for destination in targets:
            enqueue_post(conn, None, message, destination, now, incident_id=incident.id, root=True)
            chats.add(_chat(conn, destination.chat_id))
        note = replace(message, kind="escalated",
                       evidence={**message.evidence, "escalated_to": [str(c) for c in level.chat_ids]})
        target_chats = {d.chat_id for d in targets}
        for root in told:
            if root.chat_id in target_chats or root.chat_id == CONSOLE:
                continue
            enqueue_post(conn, None, note, Destination(root.chat_id, root.thread_id), now, incident_id=incident.id)
            chats.add(root.chat_id)
        sent = [[level, utc_ms(at)] for level, at in incident.escalated] + [[level_index, utc_ms(now)]]
        due = escalation_due(incident.opened_at, levels, level_index + 1, incident.snoozed_until)
        conn.execute("UPDATE incidents SET next_level = ?, escalate_at = ?, escalated = ? WHERE id = ?",
                     (level_index + 1, utc_ms(due) if due is not None else None, json.dumps(sent), incident.id))
    return chats


def _escalation(conn: sqlite3.Connection, incident: Incident, level_index: int, level_count: int, after: float,
                told: Sequence[RootMessage], now: datetime) -> Transition:
    """The escalation message: the opening alert brought up to now (current state and evidence)."""
    opening = opening_transition(conn, incident.id)
    current = state_repo.load_states(conn, [incident.host]).get(incident.host)
    state = current.state if current is not None and current.state != State.UNKNOWN else (
        opening.to_state if opening is not None else State.DOWN)
    evidence = dict(current.evidence) if current is not None and current.evidence else (
        dict(opening.evidence) if opening is not None else {})
    evidence.update(level=level_index + 1, levels=level_count, after_s=after,
                    told=[r.chat_id for r in told if r.chat_id != CONSOLE],
                    told_at=utc_ms(incident.opened_at))
    return Transition(host=incident.host, address=opening.address if opening else "",
                      group=opening.group if opening else "", from_state=state, to_state=state, at=now,
                      kind="escalation", since=incident.opened_at, affected=opening.affected if opening else (),
                      evidence=evidence, notify=True)


# ------------------------------------------------------------------ acting: presses and /ack /snooze


@dataclass(frozen=True)
class Acted:
    """What a press or a command did: the verdict, the incident as it is now (None: no such
    incident), and the chats whose delivery lanes have new rows (the edits)."""

    verdict: Verdict
    incident: Incident | None
    chats: tuple[str, ...] = ()
    audit_id: int | None = None


def _apply(conn: sqlite3.Connection, incident: Incident, verdict: Verdict, who: str, user_id: int | None,
           now: datetime, snooze_s: float, config: Config) -> tuple[Incident, tuple[str, ...]]:
    if verdict.change == ACK:
        conn.execute("UPDATE incidents SET acked_at = ?, acked_by = ?, acked_by_id = ?, escalate_at = NULL"
                     " WHERE id = ? AND acked_at IS NULL", (utc_ms(now), who, user_id, incident.id))
        changed = replace(incident, acked_at=now, acked_by=who, escalate_at=None)
        return changed, tuple(enqueue_edits(conn, incident.id, "ack", now))
    if verdict.change == SNOOZE:
        until = now + timedelta(seconds=snooze_s)
        due = escalation_due(incident.opened_at, config.telegram.escalate, incident.next_level, until)
        conn.execute("UPDATE incidents SET snoozed_until = ?, snoozed_by = ?, snoozed_by_id = ?, escalate_at = ?"
                     " WHERE id = ?", (utc_ms(until), who, user_id, utc_ms(due) if due else None, incident.id))
        changed = replace(incident, snoozed_until=until, snoozed_by=who, escalate_at=due)
        return changed, tuple(enqueue_edits(conn, incident.id, "snooze", now))
    return incident, ()


def record_press(conn: sqlite3.Connection, *, update_id: int, entry: AuditEntry, token: str | None,
                 action: str | None, role: str | None, message: tuple[int, int] | None, who: str,
                 config: Config, now: datetime, snooze_s: float, patience: float = LOCK_PATIENCE_S) -> Acted:
    """One button press, whole: the getUpdates offset, the verdict (engine.incidents.judge_press
    against the incident `token` names and whether `message` (chat id, message id) is one of its
    roots), its change and edits, and the audit row — in one transaction, polling a busy lock
    (db.write_quickly: give it a busy_timeout 0 connection). Raises StoreError, sqlite3.Error."""
    def writes(conn: sqlite3.Connection) -> Acted:
        advance_offset(conn, update_id)
        incident = by_token(conn, token) if token else None
        on_message = False
        if incident is not None and message is not None:
            on_message = conn.execute(
                "SELECT 1 FROM incident_messages m JOIN outbox o ON o.id = m.outbox_id"
                f" WHERE m.incident_id = ? AND m.chat_id = ? AND o.message_id = ? AND {_DELIVERED}",
                (incident.id, str(message[0]), message[1])).fetchone() is not None
        verdict = judge_press(incident, action, role, on_message=on_message)
        chats: tuple[str, ...] = ()
        if incident is not None and verdict.change is not None:
            incident, chats = _apply(conn, incident, verdict, who, entry.user_id, now, snooze_s, config)
        audit_id = open_entry(conn, entry, verdict.outcome, incident.id if incident is not None else None)
        return Acted(verdict, incident, chats, audit_id)

    return write_quickly(conn, writes, patience=patience)


def act(conn: sqlite3.Connection, host: str, action: str, role: str | None, *, who: str, user_id: int | None,
        config: Config, now: datetime, snooze_s: float = 0.0, audit_id: int | None = None) -> Acted:
    """/ack and /snooze: judge `action` on the open incident of `host` and apply it, in one
    transaction with the audit row's incident. No open incident: Verdict NO_INCIDENT."""
    with transaction(conn):
        incident = open_for(conn, host)
        if incident is None:
            return Acted(Verdict(NO_INCIDENT), None)
        verdict = judge_action(incident, action, role)
        incident, chats = _apply(conn, incident, verdict, who, user_id, now, snooze_s, config)
        if audit_id is not None:
            set_incident(conn, audit_id, incident.id)
    return Acted(verdict, incident, chats, audit_id)
