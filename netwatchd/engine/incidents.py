"""Incidents: one outage of one site as one conversation, from its first problem alert to its
recovery. Pure: transitions, stored incidents, the config and `now` in; decisions out. The store
(store.incident_repo) keeps incidents and writes what is decided here; nothing here sleeps.

An incident **opens** with an announced problem alert of a site that has none open: a DOWN,
DEGRADED, UNREACHABLE or PATH (a state change, a maintenance's end or a flapping site settling in
it), a FLAPPING alert, or the server's own "uplink lost". It **ends** when the admins are told the
site is UP again: its own UP (or its "stable", or its maintenance's end), its parent's UP that folds it in,
or the uplink summary that lists it back; for the server, "uplink back". A recovery nobody was
told of (a muted or flapping site) does not end it. Everything announced in between (state
changes, reminders, the UP) belongs to the incident's thread.

**Acknowledged** (✅ Ack, /ack): reminders and escalation levels not yet sent stop; the UP still
comes. **Snoozed** (🔕 1 h, /snooze): the same until the snooze ends, then reminders resume and a
level whose time passed meanwhile is sent. **Escalation**: level i is due at
opened_at + escalate[i].after (not before a snooze ends); each is sent once.

Who may act: admins everything; viewers only 📈 History; anyone else nothing. A press is judged
against the stored incident its opaque token names: an unknown token, a message that is not one
of the incident's own, an action that is not a button's — all refused (forged or stale data).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from netwatchd.config.model import EscalationLevel
from netwatchd.engine.routing import CONSOLE, Destination, Router
from netwatchd.models import State, Transition

PROBLEM_STATES = (State.DOWN, State.DEGRADED, State.UNREACHABLE, State.PATH)
_PROBLEM_KINDS = ("state", "maintenance_end", "stable")

ACK, SNOOZE, DIAGNOSE, HISTORY = "ack", "snooze", "diagnose", "history"
ACTIONS = {"a": ACK, "s": SNOOZE, "d": DIAGNOSE, "h": HISTORY}
ACTION_CODES = {name: code for code, name in ACTIONS.items()}
SNOOZE_BUTTON_S = 3600.0
CALLBACK_PREFIX = "nw1"
_CALLBACK = re.compile(rf"{CALLBACK_PREFIX}:([A-Za-z0-9_-]{{8,40}}):([a-z])")

ADMIN, VIEWER = "admin", "viewer"

# what a press or an /ack comes to (the audit log's outcome, and the key of the toast / reply)
ACKED, SNOOZED, RUN = "acknowledged", "snoozed", "run"
ALREADY_ACKED = "already acknowledged"
NOT_ALLOWED, VIEWER_ONLY = "refused: not allowed", "refused: viewers may only read"
FORGED, RESOLVED = "refused: not this message's button", "refused: outage over"
NO_INCIDENT = "refused: no open outage"


def opens(t: Transition) -> bool:
    """Does this announced transition start an outage (when the site has none open)?"""
    if not t.notify:
        return False
    if t.kind in ("flapping", "uplink_lost"):
        return True
    return t.kind in _PROBLEM_KINDS and t.to_state in PROBLEM_STATES


def ends(t: Transition) -> bool:
    """Is this transition the site's recovery (announced or not)?"""
    if t.kind == "uplink_back":
        return True
    return t.kind in _PROBLEM_KINDS and t.to_state == State.UP


def ended_by(t: Transition) -> list[str]:
    """The sites whose outage this transition ends for the admins: an announced recovery ends its
    own site's, and a parent's UP (or the uplink's summary) also those of the sites folded into it
    as back. A recovery nobody was told of (a muted or a flapping site, a site folded into a
    message not sent) ends nothing: its mute's end, its "stable" or its parent's message will."""
    if not t.notify or not ends(t):
        return []
    found = [t.host]
    if t.kind == "uplink_back":
        changes = t.evidence.get("changes") or {}
        found += [name for name in t.affected if isinstance(changes, dict) and changes.get(name) == State.UP.value]
    elif t.to_state == State.UP:
        found += list(t.affected)
    return found


@dataclass(frozen=True)
class Incident:
    """One stored incident (store.incident_repo), as the decisions here need it."""

    id: int
    token: str
    host: str
    opened_at: datetime
    kind: str = "down"                     # what opened it: a state value, flapping or uplink_lost
    acked_at: datetime | None = None
    acked_by: str = ""
    snoozed_until: datetime | None = None
    snoozed_by: str = ""
    next_level: int = 0                    # the first escalation level not sent yet
    escalate_at: datetime | None = None    # when that level is due (None: no level left, or stopped)
    resolved_at: datetime | None = None
    escalated: tuple[tuple[int, datetime], ...] = ()     # (level, sent at)

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def snoozed(self, now: datetime) -> bool:
        return self.snoozed_until is not None and now < self.snoozed_until

    def quiet(self, now: datetime) -> bool:
        """Acknowledged, or snoozed at `now`: no reminder, no escalation."""
        return self.acked_at is not None or self.snoozed(now)


# ------------------------------------------------------------------ escalation


def escalation_due(opened_at: datetime, levels: Sequence[EscalationLevel], next_level: int,
                   snoozed_until: datetime | None = None) -> datetime | None:
    """When level `next_level` is due (never before a snooze ends); None when no level is left."""
    if next_level >= len(levels):
        return None
    due = opened_at + timedelta(seconds=levels[next_level].after)
    if snoozed_until is not None and snoozed_until > due:
        due = snoozed_until
    return due


def due_escalations(incidents: Iterable[Incident], now: datetime) -> list[Incident]:
    """Open, unacknowledged incidents whose next level is due at `now` (oldest due first)."""
    due = [i for i in incidents if i.open and i.acked_at is None and i.escalate_at is not None
           and i.escalate_at <= now and not i.snoozed(now)]
    return sorted(due, key=lambda i: (i.escalate_at, i.id))


# ------------------------------------------------------------------ one round of transitions


@dataclass(frozen=True)
class Post:
    """One message to enqueue: transitions[index] to `destination`. `host` names the incident it
    belongs to (None: not part of any); `root` marks the message that opens the incident's thread
    in that chat (it carries the buttons)."""

    index: int
    destination: Destination
    host: str | None = None
    root: bool = False


@dataclass
class RoundPlan:
    """What one round's transitions do to incidents and which messages they make."""

    transitions: list[Transition]                    # as they are to be saved (reminders may be silenced)
    opened: list[tuple[int, str]]                    # (index of the opening transition, host)
    closed: list[tuple[int, str]]                    # (index of the ending transition, host), several a fold
    posts: list[Post]


def plan_round(transitions: Sequence[Transition], open_incidents: Mapping[str, Incident],
               chats: Mapping[str, Sequence[Destination]], router: Router, now: datetime) -> RoundPlan:
    """Walk one round's transitions in order: silence the reminders of quiet incidents, open and
    close incidents, and give every announced transition its messages.

    `chats[host]` are where the site's open incident was announced so far (its thread roots): a
    state change or the UP of an open incident goes there too (a reminder only where the site's
    alerts go), so an escalation chat hears how the outage it was told about ends.
    """
    open_now = {host: incident for host, incident in open_incidents.items() if incident.open}
    fresh: set[str] = set()                          # opened in this round
    out: list[Transition] = []
    opened: list[tuple[int, str]] = []
    closed: list[tuple[int, str]] = []
    posts: list[Post] = []
    for index, t in enumerate(transitions):
        host = t.host
        incident = open_now.get(host)
        is_open = incident is not None or host in fresh
        if t.kind == "reminder" and incident is not None and incident.quiet(now) and t.notify:
            t = replace(t, notify=False)
        out.append(t)
        ending = [name for name in ended_by(t) if name in open_now or name in fresh]
        for name in ending:
            if name != host:
                closed.append((index, name))
                open_now.pop(name, None)
                fresh.discard(name)
        if is_open and host in ending:
            closed.append((index, host))
            open_now.pop(host, None)
            fresh.discard(host)
            posts += _posts(index, router.destinations(t), chats.get(host, ()), host, root=False)
            continue
        if not is_open and opens(t):
            opened.append((index, host))
            fresh.add(host)
            posts += _posts(index, router.destinations(t), (), host, root=True)
            continue
        if not t.notify:
            continue
        if is_open:
            extra = () if t.kind == "reminder" else chats.get(host, ())
            posts += _posts(index, router.destinations(t), extra, host, root=False)
        else:
            posts += _posts(index, router.destinations(t), (), None, root=False)
    return RoundPlan(out, opened, closed, posts)


def _posts(index: int, routed: Sequence[Destination], extra: Sequence[Destination], host: str | None,
           root: bool) -> list[Post]:
    seen: dict[Destination, None] = dict.fromkeys(list(routed) + list(extra))
    if host is None or any(d.chat_id == CONSOLE for d in seen):
        return [Post(index, d) for d in seen]
    return [Post(index, d, host, root) for d in seen]


# ------------------------------------------------------------------ presses and /ack


def callback_data(token: str, action: str) -> str:
    """The opaque callback_data of a button (at most 64 bytes, as Telegram allows)."""
    return f"{CALLBACK_PREFIX}:{token}:{ACTION_CODES[action]}"


def parse_callback(data: str) -> tuple[str, str] | None:
    """(token, action) of an incident button's data; None for anything else."""
    match = _CALLBACK.fullmatch(data.strip())
    if match is None or match.group(2) not in ACTIONS:
        return None
    return match.group(1), ACTIONS[match.group(2)]


def is_incident_callback(data: str) -> bool:
    """Is this callback data meant as an incident button (valid or not)?"""
    return data.startswith(CALLBACK_PREFIX + ":")


@dataclass(frozen=True)
class Verdict:
    """What a press (or /ack, /snooze) comes to: `outcome` for the audit log; `change` ACK or SNOOZE
    when the incident is to be changed; `run` DIAGNOSE or HISTORY when a reply is to be made."""

    outcome: str
    change: str | None = None
    run: str | None = None

    @property
    def allowed(self) -> bool:
        return self.change is not None or self.run is not None


def judge_press(incident: Incident | None, action: str | None, role: str | None, *,
                on_message: bool) -> Verdict:
    """Judge one press. `incident` is the one the token names (None: no such token); `on_message`
    says whether the pressed message is one of that incident's own messages."""
    if incident is None or action is None or not on_message:
        return Verdict(FORGED)
    return judge_action(incident, action, role)


def judge_action(incident: Incident, action: str, role: str | None) -> Verdict:
    """Judge an action on a known incident by a user of `role` (from a button or /ack, /snooze)."""
    if role is None:
        return Verdict(NOT_ALLOWED)
    if action == HISTORY:
        return Verdict(RUN, run=HISTORY)
    if role != ADMIN:
        return Verdict(VIEWER_ONLY)
    if not incident.open:
        return Verdict(RESOLVED)
    if action == DIAGNOSE:
        return Verdict(RUN, run=DIAGNOSE)
    if incident.acked_at is not None:
        return Verdict(ALREADY_ACKED)
    if action == ACK:
        return Verdict(ACKED, change=ACK)
    return Verdict(SNOOZED, change=SNOOZE)


def role_of(user_id: int | None, admins: Sequence[int], viewers: Sequence[int]) -> str | None:
    """ADMIN, VIEWER or None (a stranger)."""
    if user_id is None:
        return None
    if user_id in admins:
        return ADMIN
    if user_id in viewers:
        return VIEWER
    return None
