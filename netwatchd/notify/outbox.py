"""The persistent outbox: alerts are rows in SQLite until Telegram has acknowledged them.

`enqueue()` (store.outbox_repo) adds rows inside the caller's transaction (state + event + outbox
commit together). `DeliveryWorker` (below) sends them; the rows are read and written only through
store.outbox_repo.

Three kinds of rows share the table and the machinery (claim, retry with backoff, recovery after
a crash, one lane per destination): alerts and report documents to a Telegram chat (a document
keeps its place in the chat's order and is sent alone, with sendDocument), and hook events in
each hook's own lane (`hook:NAME`, see notify.hooks), which never touch Telegram's rate limits.

Alerts the store cannot take (disk full, damaged file) are delivered from memory (`hold`,
notify/memory.py) and saved with their delivery state when it recovers.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from netwatchd.clock import Backoff, Clock, Deadline, utc_ms
from netwatchd.config.model import Config
from netwatchd.errors import DeliveryError
from netwatchd.logs import redact
from netwatchd.models import Transition
from netwatchd.notify import format as fmt
from netwatchd.notify import hooks as hook_lanes
from netwatchd.notify import threads
from netwatchd.notify.memory import WAITING, Ledger, MemRow, Outcome
from netwatchd.notify.pacing import BOT, CONSOLE, RateLimiter
from netwatchd.notify.timing import TIMING_FILENAME, TimingLog, edit_record, timing_record
from netwatchd.store import incident_repo, outbox_repo
from netwatchd.store.db import Database, ThreadConnections, transaction
from netwatchd.store.health import StoreHealth
from netwatchd.store.incident_repo import ThreadInfo
from netwatchd.store.outbox_repo import enqueue

if TYPE_CHECKING:
    from netwatchd.notify.telegram_api import TelegramAPI

__all__ = ["CONSOLE", "Backoff", "DeliveryWorker", "Handoff", "RateLimiter", "TIMING_FILENAME", "delivery_status",
           "destinations_for", "enqueue"]


def destinations_for(config: Config) -> list[str]:
    """Where alerts go: every telegram.chat_ids entry as a string, or ["console"] without a token
    (or without any chat id, so that no alert is ever silently dropped)."""
    if config.telegram.enabled and config.telegram.chat_ids:
        return [str(chat_id) for chat_id in config.telegram.chat_ids]
    return [CONSOLE]


def lanes_for(config: Config) -> list[str]:
    """Every chat the config may send to: chat_ids, the routes' and the escalation levels' chats."""
    if config.telegram.enabled and config.telegram.chat_ids:
        return [str(chat_id) for chat_id in config.telegram.known_chats]
    return [CONSOLE]


# =============================================================================================
# Delivery
# =============================================================================================
#
# Design (why a slow or failing chat never delays another):
#   * One *lane* per destination chat. A lane step sends at most ONE Telegram message: it reads
#     the chat's pending rows in id order, packs as many as fit into one message (grouping),
#     claims exactly those rows with a conditional UPDATE (status pending -> sending, committed
#     BEFORE the HTTP call), sends, and commits the result right after the answer.
#   * In `start()` mode each lane runs in its own thread, woken by `wake()` (call it after the
#     transaction that enqueued), by its next due time, or by a short poll. A lane blocked in a
#     slow request (bounded by TelegramAPI.timeout) holds only its own chat; other lanes keep
#     sending. `run_once()` runs one step of every due lane in the calling thread (for tests).
#   * Order per chat: a lane never sends a row before an older pending row of the same chat;
#     the head row's next_attempt_at (backoff) holds the whole chat, except that a new alert
#     triggers one immediate try; a 429's retry_after holds the chat in the RateLimiter.
#   * Pacing (RateLimiter): 1 message/s per chat, 20/min per group or channel (negative ids),
#     30/s overall. The first alert goes at once; what queues during the wait for the next slot
#     is merged into the next message.
#   * Clock steps: a failed chat's retry time is stored (next_attempt_at, wall time, for status and
#     restarts) but decided on a monotonic Deadline kept per chat, so a wall-clock step never holds
#     a chat for the step's length. A stored time this process did not write (a restart) is taken
#     as at most the longest wait it could be (Backoff.cap or the longest retry_after seen):
#     a time further ahead was written before the clock stepped back.
#   * Crash safety: rows are 'sending' only while a request is in flight. A new worker puts
#     'sending' rows of a dead process back to 'pending' and marks them `resend`, so nothing is
#     lost after kill -9. Delivery is AT LEAST ONCE: the Bot API has no idempotency key, so a
#     crash after Telegram accepted the request and before the commit that follows its answer
#     sends that message again. The window is the answer's trip back plus one commit (nothing
#     else happens in between; the timing log is written after the commit) -- with a 150 ms round
#     trip, about half of it. A resent row goes alone, with fmt.resend_note(), and its timing
#     record says "resend": true, so a possible duplicate is always visible as one.
#   * A store that cannot be written (disk full, damaged, locked) never stops delivery: a claim
#     or a result that cannot be committed is kept in memory (the ledger's overlay) and written
#     back before every step; alerts the agent could not save at all are held in memory and
#     delivered from there (see notify/memory.py for what that guarantees after a crash). Every
#     store failure goes to StoreHealth (the log says it once a minute, /healthz says why).

log = logging.getLogger(__name__)

READ_AHEAD = 300          # pending rows read per step to pack the next message
EDIT_HEADROOM = 12        # of a group's 20 messages a minute, a recovery's edit leaves this many to alerts
PRESS_HEADROOM = 4        # ... and the edit after an Ack or a snooze (someone waits to see it) this many
LANE_IDLE_EXIT = 30.0     # seconds without rows before a chat's thread ends


@dataclass
class _Row:
    id: int                       # the outbox row id; 0 for an alert only memory has
    chat_id: str
    transition: Transition | None      # None for a document or an edit
    detected_at: datetime
    enqueued_at: datetime
    attempts: int
    sent_parts: int
    document: dict[str, Any] | None = None   # a report file's name, caption, MIME type (the bytes stay in the store)
    resend: bool = False      # in flight when a worker died: Telegram may have shown it already
    next_attempt_at: datetime | None = None
    status: str = "pending"
    mem: MemRow | None = None     # set when memory holds this row's truth (held or overlay)
    thread: ThreadInfo | None = None       # its place in an incident's conversation (None: a plain alert)
    edit: tuple[str, int] | None = None    # an edit of an incident's root: (why, incident id)

    @classmethod
    def of_memory(cls, row: MemRow) -> _Row:
        return cls(id=row.db_id or 0, chat_id=row.chat_id, transition=row.transition, detected_at=row.detected_at,
                   enqueued_at=row.enqueued_at, attempts=row.attempts, sent_parts=row.sent_parts,
                   next_attempt_at=row.next_attempt_at, status=row.status, mem=row, document=row.document,
                   resend=row.resend)

    @property
    def topic(self) -> int:
        return self.thread.thread_id if self.thread is not None else 0


class DeliveryWorker:
    """Sends the outbox. See the design notes above.

    `api` None: Telegram rows wait (logged once); 'console' rows are printed to `console`.
    `on_delivered(record)` gets every timing record (sent and dead).
    """

    def __init__(self, db: Database, config: Config, clock: Clock, *, api: TelegramAPI | None,
                 console: TextIO = sys.stdout, on_delivered: Callable[[dict[str, Any]], None] | None = None,
                 backoff: Backoff = Backoff(), limiter: RateLimiter | None = None,
                 random_draw: Callable[[], float] = random.random, poll_interval: float = 0.25,
                 hooks: hook_lanes.HookRunner | None = None, hook_backoff: Backoff = Backoff(1.0, 60.0),
                 on_hook: Callable[[str, str, str | None], None] | None = None,
                 health: StoreHealth | None = None, claim_in_memory: bool = True) -> None:
        self.db = db
        self.hooks = hooks
        self.hook_backoff = hook_backoff
        self.on_hook = on_hook         # (hook name, "ok" | "failed" | "dead", error or None)
        self.health = health
        # a row whose claim cannot be committed is claimed in memory; only safe when no other
        # agent sends from this store (the agent turns it off with --shard)
        self.claim_in_memory = claim_in_memory
        self.ledger = Ledger()
        self._migrated: dict[str, str] = {}    # group -> supergroup learned while running
        self.clock = clock
        self.api = api
        self.console = console
        self.on_delivered = on_delivered
        self.backoff = backoff
        self.limiter = limiter or RateLimiter()
        self.random_draw = random_draw
        self.poll_interval = poll_interval
        # pid:identity:token -- the identity (boot + start time) tells a dead claimer from a
        # process that got its pid after a reboot or a wrap-around
        self.claimer = f"{os.getpid()}:{_process_identity(os.getpid())}:{uuid.uuid4().hex[:12]}"
        self.config = config
        self.timing = TimingLog(Path(config.data_dir) / TIMING_FILENAME, max_mb=config.retention.timing_max_mb,
                                keep=config.retention.timing_keep)
        self._connections = ThreadConnections(db)
        self._recovered = False
        self._seeded: set[str] = set()
        self._unreleased: set[str] = set()     # chats whose claimed rows a failed step could not release
        self._warned_no_api = False
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._lanes: dict[str, _LaneThread] = {}
        self._lanes_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._dispatcher: threading.Thread | None = None
        self._last_prune = float("-inf")
        # chat -> (the head's next_attempt_at as stored, the same moment on the monotonic clock)
        self._holds: dict[str, tuple[str, Deadline]] = {}
        self._longest_retry_after = 0.0     # the longest 429 retry_after seen (seconds)
        self._booked: dict[str, float] = {}    # lane -> when its current step booked the chat's slot

    # -- public API -------------------------------------------------------------------------

    def replace_config(self, config: Config) -> None:
        """Reload: language, time zone, templates and the timing log's limits apply to the next message."""
        self.config = config
        self.timing.set_limits(config.retention.timing_max_mb, config.retention.timing_keep)

    def hold(self, alerts: Sequence[tuple[int, Transition]], destinations: Sequence[str], now: datetime) -> int:
        """Deliver alerts the store could not take, from memory (`key`: the caller's id of each, to
        hand it over later with `handoff()`). An alert already held is not held twice. Returns
        how many are new; wakes their chats."""
        chats = list(dict.fromkeys(self._migrated.get(str(d), str(d)) for d in destinations))
        new = sum(1 for key, transition in alerts if self.ledger.hold(key, transition, chats, now))
        if new:
            self.wake(chats)
        return new

    @contextmanager
    def handoff(self) -> Iterator[Handoff]:
        """Hold the ledger while the caller saves held alerts in its transaction, and until its
        commit: leaving normally means committed (held rows leave memory, see Handoff); an
        exception means nothing was saved (memory keeps them)."""
        with self.ledger.lock:
            handoff = Handoff(self.ledger, self.claimer)
            yield handoff
            handoff.commit()

    def run_once(self) -> int:
        """One step of every chat that is due now, in this thread; returns messages sent."""
        try:
            self._recover_once()
        except sqlite3.Error as exc:       # tried again by the next step
            self._store_failed(exc)
        sent = 0
        for chat_id in self._chats_with_pending():
            outcome = self.step(chat_id)
            sent += 1 if outcome.sent else 0
        self._maybe_prune()
        return sent

    def step(self, chat_id: str) -> StepOutcome:
        """Try to send the next message of one chat. Never raises for delivery problems."""
        try:
            self._recover_once()
            if chat_id in self._unreleased and not self._release(chat_id):
                return StepOutcome(sent=False, wait=1.0)
            return self._step(chat_id)
        except sqlite3.Error as exc:       # the store: told to StoreHealth, which logs it once a minute
            self._store_failed(exc)
            self._release(chat_id)
            return StepOutcome(sent=False, wait=1.0)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the lane
            log.error("delivery to chat %s failed unexpectedly: %s", chat_id, redact(repr(exc)))
            self._release(chat_id)
            return StepOutcome(sent=False, wait=1.0)

    def _release(self, chat_id: str) -> bool:
        """Put this worker's 'sending' rows of a chat back to 'pending' after a failed step. When
        the store refuses (locked, disk full), the chat is remembered and released on its next
        step: otherwise its claimed rows would stay 'sending' and hold the chat until a restart."""
        self.ledger.release(chat_id)
        try:
            with self._write(self._conn()) as conn:
                outbox_repo.release(conn, self.claimer, chat_id)
        except sqlite3.Error as exc:
            self._store_failed(exc)
            self._unreleased.add(chat_id)
            return False
        self._unreleased.discard(chat_id)
        return True

    def depth(self) -> int:
        """Alerts not yet delivered (pending or in flight), in the store and in memory only."""
        try:
            stored = outbox_repo.outbox_status(self._conn()).waiting - self.ledger.finished_overlay()
        except sqlite3.Error as exc:
            self._store_failed(exc)
            stored = len([r for r in self.ledger.overlay_for_all() if r.status in WAITING])
        return max(0, stored) + self.ledger.waiting_held()

    def wake(self, chat_ids: Iterable[str] | None = None) -> None:
        """Tell a started worker that rows were just enqueued (saves up to one poll interval).

        The threads of `chat_ids` (default: every configured chat) are woken; the dispatcher
        (one SQL query) only when one of them has no thread yet, so it does not compete with
        the sends for the interpreter."""
        wanted = list(chat_ids) if chat_ids is not None else lanes_for(self.config)
        with self._lanes_lock:
            lanes = [self._lanes[chat] for chat in wanted if chat in self._lanes]
            missing = len(lanes) < len(wanted)
        for lane in lanes:
            lane.event.set()
        if missing or not lanes:
            self._wake.set()

    def start(self) -> None:
        """Run a dispatcher thread that keeps one lane thread per chat with pending rows."""
        if self._dispatcher is not None:
            return
        self._stopping.clear()
        try:
            self._recover_once()
        except sqlite3.Error as exc:       # tried again by the first step
            self._store_failed(exc)
        self._dispatcher = threading.Thread(target=self._dispatch, name="delivery-dispatch", daemon=True)
        self._dispatcher.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop; a send in flight is allowed to finish (and be committed) within `timeout`."""
        self._stopping.set()
        with self._lanes_lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.event.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._dispatcher is not None:
            self._dispatcher.join(max(0.0, deadline - time.monotonic()))
            self._dispatcher = None
        with self._lanes_lock:
            lanes = list(self._lanes.values())
        for lane in lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))
        with self._lanes_lock:
            self._lanes = {k: v for k, v in self._lanes.items() if v.thread.is_alive()}
            stuck = list(self._lanes)
        if stuck:
            log.warning("delivery stopped with a send still in flight for chat(s) %s: it will be "
                        "retried on the next start", ", ".join(stuck))

    # -- threads ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            while not self._stopping.is_set():
                self._wake.clear()          # before the query: a wake() from now on is not lost
                try:
                    for chat_id in self._chats_with_pending():
                        self._ensure_lane(chat_id)
                    self._maybe_prune()
                except Exception as exc:  # noqa: BLE001 - the dispatcher must outlive a bad round
                    log.error("delivery dispatcher: %s", redact(repr(exc)))
                self._wake.wait(self.poll_interval)
        finally:
            self._connections.close_current()

    def _ensure_lane(self, chat_id: str) -> None:
        with self._lanes_lock:
            lane = self._lanes.get(chat_id)
            if lane is not None and lane.thread.is_alive():
                lane.event.set()
                return
            lane = _LaneThread(self, chat_id)
            self._lanes[chat_id] = lane
            lane.thread.start()

    def _lane_loop(self, lane: _LaneThread) -> None:
        idle_since = time.monotonic()
        try:
            while not self._stopping.is_set():
                lane.event.clear()
                outcome = self.step(lane.chat_id)
                if outcome.sent or outcome.has_rows:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > LANE_IDLE_EXIT and self._retire(lane):
                    return       # nothing for this chat for a while: the dispatcher restarts us
                if outcome.sent and outcome.wait <= 0:
                    continue
                # Wake at the chat's next due time (capped so external changes are seen); wake()
                # interrupts the wait when new rows arrive.
                lane.event.wait(min(outcome.wait, 5.0) if outcome.wait > 0 else self.poll_interval)
            self._retire(lane)
        finally:
            self._connections.close_current()

    def _retire(self, lane: _LaneThread) -> bool:
        """Remove an idle lane, unless a wake-up arrived meanwhile (no wake-up is ever lost)."""
        with self._lanes_lock:
            if lane.event.is_set() and not self._stopping.is_set():
                return False
            if self._lanes.get(lane.chat_id) is lane:
                del self._lanes[lane.chat_id]
            return True

    # -- one step of one chat -------------------------------------------------------------------

    def _step(self, chat_id: str) -> StepOutcome:
        conn = self._conn()
        if hook_lanes.is_hook_lane(chat_id):
            return self._step_hook(conn, chat_id)
        self._write_back(conn)
        rows = self._waiting(conn, chat_id)
        if not rows:
            self._holds.pop(chat_id, None)
            return StepOutcome(sent=False, wait=self.poll_interval, has_rows=False)
        not_before = rows[0].next_attempt_at
        held = self._hold(chat_id, not_before).remaining(self.clock) if not_before is not None else 0.0
        if held > 0 and not any(r.attempts == 0 and r.status == "pending" for r in rows):
            return StepOutcome(sent=False, wait=held)
        # A new alert for a chat in backoff is tried at once (fresh news is worth one request;
        # after the failure the chat backs off again). A 429's retry_after still holds: the
        # limiter blocks that chat until then.
        api = self.api
        if chat_id != CONSOLE and api is None:
            if not self._warned_no_api:
                log.warning("alerts for Telegram chat %s are waiting: no telegram.token is configured", chat_id)
                self._warned_no_api = True
            return StepOutcome(sent=False, wait=60.0)
        chat, edits = incident_repo.lane_chat(chat_id)
        if edits and api is not None:
            return self._edit_step(api, conn, chat_id, chat, rows)
        self._seed_limiter(conn, chat_id)
        if (wait := self._reserve(chat_id, chat_id)) > 0:
            return StepOutcome(sent=False, wait=wait)
        if rows[0].document is not None:
            if not self._claim(conn, rows[:1]):
                return StepOutcome(sent=False, wait=self.poll_interval)
            if api is None:     # a report for the console destination cannot be printed: give it up
                with self._write(conn):
                    outbox_repo.mark_dead(conn, self.claimer, [rows[0].id], error="no Telegram token")
                return StepOutcome(sent=False, wait=0.0)
            return self._send_document(api, conn, chat_id, rows[0])
        alerts: list[_Row] = []
        for row in rows:                 # alerts up to the next document (it keeps its place)
            if row.document is not None:
                break
            alerts.append(row)
        rows = alerts
        head = rows[0]
        config = self.config
        if head.resend and head.transition is not None:
            # in flight when a worker died: sent alone and marked, never merged with fresh news
            rows = [head]
            count, parts = 1, fmt.plan_resend(head.transition, language=config.telegram.language,
                                              tz=config.tz, templates=config.telegram.templates)
        else:
            fresh = []
            for row in rows:
                if row.resend:
                    break
                fresh.append(row)
            rows = _pack(fresh, burst=2 if self.limiter.busy(chat_id, self.clock.monotonic()) else BURST)
            root = any(_is_root(row) for row in rows)     # a burst may lead with news of an older outage
            transitions = [r.transition for r in rows if r.transition is not None]
            count, parts = fmt.plan_messages(transitions, language=config.telegram.language,
                                             tz=config.tz, templates=config.telegram.templates,
                                             limit=threads.ROOT_LIMIT if root else fmt.MAX_MESSAGE)[0]
        batch = rows[:count]
        if not self._claim(conn, batch):
            return StepOutcome(sent=False, wait=self.poll_interval)
        part_index = min(batch[0].sent_parts, len(parts) - 1) if count == 1 else 0
        text = parts[part_index]
        is_last_part = part_index == len(parts) - 1
        if chat_id == CONSOLE or api is None:
            return self._print(conn, batch, text)
        return self._send(api, conn, chat_id, batch, text, is_last_part, part_index)

    def _hold(self, chat_id: str, not_before: datetime) -> Deadline:
        """Until when the chat's head row holds it, on the monotonic clock: the Deadline this worker
        set when it stored that time, else the stored time re-derived (at most the longest wait)."""
        stored = utc_ms(not_before)
        known = self._holds.get(chat_id)
        if known is not None and known[0] == stored:
            return known[1]
        deadline = Deadline.restore(self.clock, not_before, longest=self._longest_wait(chat_id))
        self._holds[chat_id] = (stored, deadline)
        return deadline

    def _longest_wait(self, chat_id: str) -> float:
        """The longest wait this worker sets a lane after a failure (a hook lane has its own backoff)."""
        cap = self.hook_backoff.cap if hook_lanes.is_hook_lane(chat_id) else self.backoff.cap
        return max(cap, self._longest_retry_after)

    def _send(self, api: TelegramAPI, conn: sqlite3.Connection, chat_id: str, batch: list[_Row],
              text: str, is_last_part: bool, part_index: int = 0) -> StepOutcome:
        head = batch[0]
        markup: dict[str, Any] | None = None
        reply_to: int | None = None
        if any(_is_root(row) for row in batch):
            if is_last_part:
                text, markup = self._root_now(conn, batch, text)
        elif part_index == 0:
            reply_to = _common_root(batch)
        sent_at = self.clock.now()
        try:
            message_id = self._post(api, chat_id, text, markup=markup, reply_to=reply_to, thread=head.topic)
        except DeliveryError as exc:
            return self._failed(conn, chat_id, batch, exc, sent_at)
        except Exception as exc:  # noqa: BLE001 - anything unexpected is treated as transient: never drop an alert
            return self._failed(conn, chat_id, batch, DeliveryError(f"unexpected {type(exc).__name__}"), sent_at)
        acked_at = self.clock.now()
        # --- the duplicate window: Telegram has the message, the commit below has not happened ---
        # (a commit that fails keeps the result in memory and writes it back later: never resent)
        if is_last_part:
            self._settle(conn, batch, Outcome("sent", sent_at=sent_at, acked_at=acked_at, message_id=message_id))
        else:
            self._settle(conn, batch, Outcome("part", next_attempt_at=acked_at))
        # --- window closed ---
        kind = "reply" if reply_to is not None else "alert"
        self._delivered(batch, chat_id, message_id, sent_at, acked_at, "sent", kind=kind)
        return StepOutcome(sent=True, wait=self.limiter.wait_for(chat_id, self.clock.monotonic()))

    def _root_now(self, conn: sqlite3.Connection, batch: list[_Row], text: str) -> tuple[str, dict[str, Any] | None]:
        """The text and buttons of a thread root (one or several outages) with their status so far
        (buttons for the outages it opens; a burst's news of outages told before is text only)."""
        roots = [row for row in batch if _is_root(row)]
        incidents = [incident_repo.by_id(conn, row.thread.incident_id) for row in roots
                     if row.thread is not None and row.thread.incident_id is not None]
        found = [incident for incident in incidents if incident is not None]
        transitions = [row.transition for row in batch if row.transition is not None]
        if not found or len(found) != len(roots) or len(transitions) != len(batch):
            return text, None
        config = self.config
        text, markup = threads.root_message(transitions, found, language=config.telegram.language, tz=config.tz,
                                            templates=config.telegram.templates, buttons=config.telegram.buttons)
        if any(row.resend for row in batch):    # sent again after a restart: said so, as for any alert
            text += "\n" + fmt.resend_note(config.telegram.language)
        return text, markup

    def _post(self, api: TelegramAPI, chat_id: str, text: str, *, markup: dict[str, Any] | None = None,
              reply_to: int | None = None, thread: int = 0) -> int:
        """sendMessage with the fallbacks that keep an alert from being lost: refused HTML -> plain
        text, a refused keyboard -> without it, a forum topic gone or closed -> the chat's General
        topic, a reply target gone -> a plain message. Raises DeliveryError when none helps."""
        for _ in range(4):
            try:
                return api.send_message(_chat_arg(chat_id), text, reply_markup=markup, reply_to=reply_to,
                                        thread_id=thread or None)
            except DeliveryError as exc:
                if getattr(exc, "bad_entities", False):
                    log.warning("Telegram refused the HTML of an alert (%s): resending as plain text", exc)
                    return api.send_message(_chat_arg(chat_id), fmt.to_plain_text(text), parse_mode=None,
                                            reply_markup=markup, reply_to=reply_to, thread_id=thread or None)
                if markup is not None and threads.buttons_refused(exc):
                    log.warning("Telegram refused the buttons of an alert for chat %s (%s): sending it without",
                                chat_id, exc)
                    markup = None
                elif (thread or reply_to is not None) and threads.thread_gone(exc):
                    log.warning("forum topic %s of chat %s is gone or closed (%s): sending to the chat's "
                                "General topic; fix telegram.routes[].thread_id", thread or "?", chat_id, exc)
                    thread, reply_to = 0, None     # a reply would land in the topic again
                elif reply_to is not None and threads.message_gone(exc):
                    log.info("the message an alert replies to in chat %s is gone: sending it plain", chat_id)
                    reply_to = None
                else:
                    raise
        raise DeliveryError("Telegram refused every fallback of the message")

    # -- edits of an incident's root --------------------------------------------------------------

    def _edit_step(self, api: TelegramAPI, conn: sqlite3.Connection, lane: str, chat_id: str,
                   rows: list[_Row]) -> StepOutcome:
        """One step of a chat's edit lane, paced with the chat's alerts and after them: an Ack's or
        a snooze's edit first (someone is looking at the alert), then a recovery's; an edit whose
        root is still on its way waits (it never holds the chat's alerts). Edits wait while the
        store cannot be read (the root's text and the incident's status are there)."""
        strays = [(row.id, "a row in an edit lane that is not an edit") for row in rows
                  if row.mem is None and (row.edit is None or row.thread is None)]
        if strays:
            with self._write(conn):
                outbox_repo.set_aside(conn, strays)
            return StepOutcome(sent=False, wait=0.0)
        ready = [row for row in rows if row.edit is not None and row.thread is not None
                 and not row.thread.root_waiting]
        if not ready or outbox_repo.head_not_before(conn, chat_id) is not None \
                or self.ledger.held_for(chat_id):
            return StepOutcome(sent=False, wait=self.poll_interval)     # the chat's alerts go first
        head = next((row for row in ready if row.edit is not None and row.edit[0] in incident_repo.PRESS_REASONS),
                    ready[0])
        pressed = head.edit is not None and head.edit[0] in incident_repo.PRESS_REASONS
        headroom = PRESS_HEADROOM if pressed else EDIT_HEADROOM
        self._seed_limiter(conn, chat_id)
        if (wait := self._reserve(lane, chat_id, headroom)) > 0:
            return StepOutcome(sent=False, wait=wait)
        return self._edit(api, conn, lane, chat_id, [head] + [row for row in ready if row is not head])

    def _reserve(self, lane: str, chat_id: str, headroom: int | None = None) -> float:
        """Book the chat's next send slot for this lane's step (0.0), or the seconds to wait. An
        edit (`headroom`: what it leaves of a group's minute to alerts) asks as the bot's answers do:
        it steps aside while an alert waits."""
        at = self.clock.monotonic()
        wait = (self.limiter.reserve(chat_id, at) if headroom is None
                else self.limiter.reserve(chat_id, at, BOT, reserve=headroom))
        if wait <= 0:
            self._booked[lane] = at
        return wait

    def _edit(self, api: TelegramAPI, conn: sqlite3.Connection, lane: str, chat_id: str,
              rows: list[_Row]) -> StepOutcome:
        """Bring a thread root in this chat up to date (the status lines and buttons of each outage
        in it). Edit rows of the same root waiting behind are done by the same edit (it shows the
        latest state). A root that cannot be edited any more gets an Ack's or a snooze's news as a
        message of its own."""
        head = rows[0]
        assert head.edit is not None and head.thread is not None
        message_id = head.thread.root_message_id
        batch = [r for r in rows if r.edit is not None and r.thread is not None and r.topic == head.topic
                 and (r.thread.root_message_id == message_id if message_id is not None else r.edit == head.edit)]
        if not self._claim(conn, batch):
            return StepOutcome(sent=False, wait=self.poll_interval)
        config = self.config
        sent_at = self.clock.now()
        reasons = list(dict.fromkeys(r.edit[0] for r in batch if r.edit is not None))
        outcome = "edited"
        try:
            members = (incident_repo.message_members(conn, chat_id, head.topic, message_id)
                       if message_id is not None else [])
            incidents = [incident_repo.by_id(conn, incident_id) for _, incident_id in members
                         if incident_id is not None]
            if message_id is None:
                outcome = "root never delivered"
            elif not members or not incidents or any(incident is None for incident in incidents):
                outcome = "nothing to edit"
            else:
                text, markup = threads.root_message([t for t, _ in members], [i for i in incidents if i is not None],
                                                    language=config.telegram.language, tz=config.tz,
                                                    templates=config.telegram.templates,
                                                    buttons=config.telegram.buttons)
                if outbox_repo.was_resent(conn, chat_id, message_id):    # the edit keeps "sent again ..."
                    text += "\n" + fmt.resend_note(config.telegram.language)
                try:
                    api.edit_message_text(_chat_arg(chat_id), message_id, text, reply_markup=markup)
                except DeliveryError as exc:
                    if threads.not_modified(exc):
                        outcome = "already up to date"
                    elif threads.message_gone(exc):
                        outcome = "root gone"
                    elif getattr(exc, "bad_entities", False):
                        api.edit_message_text(_chat_arg(chat_id), message_id, fmt.to_plain_text(text),
                                              parse_mode=None, reply_markup=markup)
                    else:
                        raise
            if outcome in ("root gone", "root never delivered"):
                lines = []
                for row in batch:
                    incident = incident_repo.by_id(conn, row.edit[1]) if row.edit is not None else None
                    news = threads.news_text(row.edit[0], incident, language=config.telegram.language,
                                             tz=config.tz) if incident is not None and row.edit else None
                    if news and news not in lines:
                        lines.append(news)
                if lines:
                    message_id = self._post(api, chat_id, "\n".join(lines), thread=head.topic)
                    outcome += ": sent as a new message"
        except DeliveryError as exc:
            return self._failed(conn, lane, batch, exc, sent_at)
        except Exception as exc:  # noqa: BLE001 - treated as transient: retried, never fatal
            return self._failed(conn, lane, batch, DeliveryError(f"unexpected {type(exc).__name__}"), sent_at)
        acked_at = self.clock.now()
        self._settle(conn, batch, Outcome("sent", sent_at=sent_at, acked_at=acked_at, message_id=message_id))
        edited = sorted({r.edit[1] for r in batch if r.edit is not None})
        hosts = sorted({i.host for i in (incident_repo.by_id(conn, n) for n in edited) if i is not None})
        record = edit_record(batch, reasons=reasons, incident_id=edited[0], host=",".join(hosts),
                             chat_id=chat_id, message_id=message_id, sent_at=sent_at, acked_at=acked_at,
                             outcome=outcome, tz=config.tz)
        self.timing.write(record)
        log.info("incident %s: %s in chat %s %s (%d ms after the %s)", ",".join(map(str, edited)), "/".join(reasons),
                 chat_id, outcome, record["latency_ms"],
                 "press" if set(reasons) & set(incident_repo.PRESS_REASONS) else "recovery" if "resolve" in reasons
                 else "save")
        if self.on_delivered is not None:
            try:
                self.on_delivered(record)
            except Exception as exc:  # noqa: BLE001 - metrics must never stop a lane
                log.error("on_delivered hook failed: %s", redact(repr(exc)))
        return StepOutcome(sent=True, wait=self.limiter.wait_for(chat_id, self.clock.monotonic()))

    def _send_document(self, api: TelegramAPI, conn: sqlite3.Connection, chat_id: str,
                       row: _Row) -> StepOutcome:
        meta = row.document or {}
        sent_at = self.clock.now()
        try:
            body = outbox_repo.document_body(conn, row.id)
            message_id = api.send_document(_chat_arg(chat_id), str(meta.get("filename") or "report"), body,
                                           caption=meta.get("caption") or None,
                                           mime_type=str(meta.get("mime") or "application/octet-stream"))
        except DeliveryError as exc:
            return self._failed(conn, chat_id, [row], exc, sent_at)
        except Exception as exc:  # noqa: BLE001 - anything unexpected is transient: never drop a report
            return self._failed(conn, chat_id, [row], DeliveryError(f"unexpected {type(exc).__name__}"), sent_at)
        acked_at = self.clock.now()
        self._settle(conn, [row], Outcome("sent", sent_at=sent_at, acked_at=acked_at, message_id=message_id))
        log.info("delivered report %s to chat %s in %.1f s (message %s)", meta.get("filename"), chat_id,
                 (acked_at - sent_at).total_seconds(), message_id)
        return StepOutcome(sent=True, wait=self.limiter.wait_for(chat_id, self.clock.monotonic()))

    def _step_hook(self, conn: sqlite3.Connection, chat_id: str) -> StepOutcome:
        """Run the hook for the lane's oldest event (one at a time: in order, at least once)."""
        not_before = outbox_repo.head_not_before(conn, chat_id)
        if not_before is None:
            self._holds.pop(chat_id, None)
            return StepOutcome(sent=False, wait=self.poll_interval, has_rows=False)
        held = self._hold(chat_id, not_before).remaining(self.clock)
        if held > 0:
            return StepOutcome(sent=False, wait=held)
        records = outbox_repo.waiting_rows(conn, chat_id, 1)
        if not records:
            return StepOutcome(sent=False, wait=0.0)
        record = records[0]
        name = chat_id[len(hook_lanes.HOOK_PREFIX):]
        spec = self.hooks.hooks.get(name) if self.hooks is not None else None
        try:
            transition = Transition.from_dict(json.loads(record.payload))
        except (ValueError, KeyError, TypeError) as exc:
            with self._write(conn):
                outbox_repo.set_aside(conn, [(record.id, f"unreadable outbox row: {type(exc).__name__}")])
            return StepOutcome(sent=False, wait=0.0)
        with self._write(conn):
            if outbox_repo.claim(conn, self.claimer, [record.id]) != 1:
                return StepOutcome(sent=False, wait=self.poll_interval)
        if spec is None or self.hooks is None:
            why = f"hook {name} is no longer in the config"
            with self._write(conn):
                outbox_repo.mark_dead(conn, self.claimer, [record.id], error=why)
            log.warning("event %s for %s given up: %s", record.id, transition.host, why)
            self._hook_outcome(name, "dead", why)
            return StepOutcome(sent=False, wait=0.0)
        started = self.clock.now()
        try:
            summary = self.hooks.run(spec, hook_lanes.hook_event(transition, outbox_repo.event_id_of(conn, record.id),
                                                                 name))
        except DeliveryError as exc:
            return self._hook_failed(conn, name, record, exc)
        except Exception as exc:  # noqa: BLE001 - a hook's surprise is retried, never lost, never fatal
            return self._hook_failed(conn, name, record, DeliveryError(f"unexpected {type(exc).__name__}"))
        done = self.clock.now()
        with self._write(conn):
            outbox_repo.mark_sent(conn, self.claimer, [record.id], message_id=None, sent_at=started, acked_at=done)
        log.info("hook %s: %s %s -> %s delivered (%s, %.0f ms)", name, transition.host,
                 transition.from_state.value, transition.to_state.value, summary,
                 (done - started).total_seconds() * 1000)
        self._hook_outcome(name, "ok", None)
        return StepOutcome(sent=True, wait=0.0)

    def _hook_failed(self, conn: sqlite3.Connection, name: str, record: outbox_repo.OutboxRecord,
                     exc: DeliveryError) -> StepOutcome:
        now = self.clock.now()
        reason = redact(str(exc))
        attempts = record.attempts + 1
        too_old = hook_lanes.age_s(datetime.fromisoformat(record.enqueued_at), now) > hook_lanes.GIVE_UP_AFTER_S
        if exc.permanent or too_old:
            given_up = f"still failing {hook_lanes.GIVE_UP_AFTER_S / 3600:g} h after the event: given up"
            why = reason if exc.permanent else f"{reason} ({given_up})"
            with self._write(conn):
                outbox_repo.mark_dead(conn, self.claimer, [record.id], error=why)
            log.error("hook %s: event %s given up: %s", name, record.id, why)
            self._hook_outcome(name, "dead", why)
            return StepOutcome(sent=False, wait=0.0)
        delay = exc.retry_after if exc.retry_after is not None else self.hook_backoff.delay(attempts,
                                                                                            self.random_draw())
        if exc.retry_after is not None:
            self._longest_retry_after = max(float(delay), self._longest_retry_after)
        retry_at = now + timedelta(seconds=delay)
        with self._write(conn):
            outbox_repo.retry_later(conn, self.claimer, [record.id], not_before=retry_at, error=reason)
        self._holds[record.chat_id] = (utc_ms(retry_at), Deadline.after(self.clock, delay))
        level = logging.WARNING if attempts <= 3 or attempts % 10 == 0 else logging.DEBUG
        log.log(level, "hook %s failed (attempt %d): %s; retrying in %.1f s", name, attempts, reason, delay)
        self._hook_outcome(name, "failed", reason)
        return StepOutcome(sent=False, wait=delay)

    def _hook_outcome(self, name: str, outcome: str, error: str | None) -> None:
        if self.on_hook is not None:
            try:
                self.on_hook(name, outcome, error)
            except Exception as exc:  # noqa: BLE001 - metrics must never stop a hook's lane
                log.error("on_hook callback failed: %s", redact(repr(exc)))

    def _print(self, conn: sqlite3.Connection, batch: list[_Row], text: str) -> StepOutcome:
        sent_at = self.clock.now()
        try:
            self.console.write(fmt.to_plain_text(text) + "\n\n")
            self.console.flush()
        except (OSError, ValueError) as exc:
            return self._failed(conn, CONSOLE, batch, DeliveryError(f"console write failed: {exc}"), sent_at)
        acked_at = self.clock.now()
        self._settle(conn, batch, Outcome("printed", sent_at=sent_at, acked_at=acked_at))
        self._delivered(batch, CONSOLE, None, sent_at, acked_at, "sent")
        return StepOutcome(sent=True, wait=0.0)

    def _failed(self, conn: sqlite3.Connection, chat_id: str, batch: list[_Row], exc: DeliveryError,
                sent_at: datetime) -> StepOutcome:
        now = self.clock.now()
        reason = redact(str(exc))
        chat, edits = incident_repo.lane_chat(chat_id)
        if edits and (exc.permanent or exc.migrate_to_chat_id is not None):
            # the root's chat moved or refuses the edit: the news is in the thread
            self._settle(conn, batch, Outcome("dead", error=reason))
            log.warning("edit of an alert in chat %s given up: %s", chat, reason)
            return StepOutcome(sent=False, wait=0.0)
        if exc.migrate_to_chat_id is not None:
            new_chat = str(exc.migrate_to_chat_id)
            self._migrated[chat_id] = new_chat
            self.ledger.migrate(chat_id, new_chat)
            stored = [row.id for row in batch if row.mem is None]
            try:
                with self._write(conn):
                    outbox_repo.migrate_chat(conn, self.claimer, stored, old_chat=chat_id, new_chat=new_chat,
                                             now=now, error=reason)
            except sqlite3.Error as exc_store:
                self._store_failed(exc_store)
                self._settle(conn, [row for row in batch if row.mem is None],
                             Outcome("retry", next_attempt_at=now, error=reason))
            else:
                self._store_ok()
            self._settle(conn, [row for row in batch if row.mem is not None],
                         Outcome("retry", next_attempt_at=now, error=reason))
            log.warning("Telegram chat %s became supergroup %s: its alerts now go there; put %s in "
                        "telegram.chat_ids", chat_id, new_chat, new_chat)
            self.wake([new_chat])
            return StepOutcome(sent=False, wait=0.0)
        if exc.permanent:
            self._settle(conn, batch, Outcome("dead", error=reason))
            log.error("%d alert(s) for chat %s given up: %s (check telegram.chat_ids and that the bot "
                      "is a member of that chat)", len(batch), chat_id, reason)
            self._delivered(batch, chat_id, None, sent_at, now, "dead", error=reason)
            return StepOutcome(sent=False, wait=0.0)
        attempts = max(row.attempts for row in batch)
        if exc.retry_after is not None:
            delay = float(exc.retry_after)
            self.limiter.block(chat, self.clock.monotonic() + delay)
            self._longest_retry_after = max(delay, self._longest_retry_after)
        else:
            delay = self.backoff.delay(attempts, self.random_draw())
            if getattr(exc, "error_code", None) is None or int(getattr(exc, "error_code", 0) or 0) >= 500:
                booked = self._booked.pop(chat_id, None)     # Telegram never processed it: not counted
                if booked is not None:
                    self.limiter.refund(chat, booked)
        retry_at = now + timedelta(seconds=delay)
        self._settle(conn, batch, Outcome("retry", next_attempt_at=retry_at, error=reason))
        self._holds[chat_id] = (utc_ms(retry_at), Deadline.after(self.clock, delay))
        # a long Telegram outage must not flood the log: the first failures, then every 10th
        level = logging.WARNING if attempts <= 3 or attempts % 10 == 0 else logging.DEBUG
        log.log(level, "%s for chat %s not %s (attempt %d): %s; retrying in %.1f s",
                "edit(s) of an alert" if edits else "alert(s)", chat, "done" if edits else "delivered",
                attempts, reason, delay)
        return StepOutcome(sent=False, wait=delay)

    # -- store helpers ------------------------------------------------------------------------

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        """A write transaction, one at a time within this worker: the chats' threads queue on a
        Python lock (woken at once) instead of colliding in SQLite, whose busy handler sleeps
        1, 2, 5, 10 ... ms between retries and would put those sleeps on the alert's path."""
        with self._write_lock, transaction(self.health.ready(conn, alert=True) if self.health is not None else conn):
            yield conn

    def _conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def _store_failed(self, exc: BaseException) -> None:
        if self.health is not None:
            self.health.failed("delivery", exc)
        else:
            log.error("the store failed during delivery: %s", redact(str(exc)))

    def _store_ok(self) -> None:
        if self.health is not None:
            self.health.succeeded()

    def _chats_with_pending(self) -> list[str]:
        try:
            stored = outbox_repo.chats_with_pending(self._conn())
        except sqlite3.Error as exc:
            self._store_failed(exc)
            stored = []
        return stored + [chat for chat in self.ledger.chats() if chat not in stored]

    def _waiting(self, conn: sqlite3.Connection, chat_id: str) -> list[_Row]:
        """The chat's waiting rows in sending order: the store's (with what memory knows better
        about them), then the alerts only memory has. A store that cannot be read leaves the
        memory rows (told to StoreHealth). Each stored row comes with its place in a conversation."""
        infos: dict[int, ThreadInfo] = {}
        try:
            records: list[outbox_repo.OutboxRecord] | None = outbox_repo.waiting_rows(conn, chat_id, READ_AHEAD)
            if records and chat_id != CONSOLE:
                infos = incident_repo.thread_info(conn, [record.id for record in records])
        except sqlite3.Error as exc:
            self._store_failed(exc)
            records = None
        overlay = self.ledger.overlay_for(chat_id)
        rows: list[_Row] = []
        unreadable = []
        for record in records or []:
            info = infos.get(record.id)
            mem = overlay.pop(record.id, None)
            if mem is not None:
                if mem.status in WAITING:
                    row = _Row.of_memory(mem)
                    row.thread = info
                    row.edit = incident_repo.edit_reason(record.payload) if _is_edit(info) else None
                    rows.append(row)
                continue
            try:
                if record.kind == "document":
                    meta = json.loads(record.payload)
                    if not isinstance(meta, dict):
                        raise TypeError("a document's payload is not an object")
                    rows.append(_Row(id=record.id, chat_id=record.chat_id, transition=None,
                                     detected_at=datetime.fromisoformat(record.detected_at),
                                     enqueued_at=datetime.fromisoformat(record.enqueued_at),
                                     attempts=record.attempts, sent_parts=record.sent_parts, document=meta,
                                     next_attempt_at=datetime.fromisoformat(record.next_attempt_at)
                                     if record.next_attempt_at else None, status=record.status))
                    continue
                if _is_edit(info):
                    edit = incident_repo.edit_reason(record.payload)
                    if edit is None:
                        raise ValueError("an edit row without its reason")
                    rows.append(_Row(id=record.id, chat_id=record.chat_id, transition=None,
                                     detected_at=datetime.fromisoformat(record.detected_at),
                                     enqueued_at=datetime.fromisoformat(record.enqueued_at),
                                     attempts=record.attempts, sent_parts=record.sent_parts, thread=info, edit=edit,
                                     next_attempt_at=datetime.fromisoformat(record.next_attempt_at)
                                     if record.next_attempt_at else None, status=record.status))
                    continue
                rows.append(_Row(id=record.id, chat_id=record.chat_id,
                                 transition=Transition.from_dict(json.loads(record.payload)),
                                 detected_at=datetime.fromisoformat(record.detected_at),
                                 enqueued_at=datetime.fromisoformat(record.enqueued_at),
                                 attempts=record.attempts, sent_parts=record.sent_parts, resend=record.resend,
                                 next_attempt_at=datetime.fromisoformat(record.next_attempt_at)
                                 if record.next_attempt_at else None, status=record.status, thread=info))
            except (ValueError, KeyError, TypeError) as exc:
                unreadable.append((record.id, f"unreadable outbox row: {type(exc).__name__}: {exc}"))
        for _, mem in sorted(overlay.items()):
            # not among the store's waiting rows: finished elsewhere, or the store could not be read
            if records is None and mem.status in WAITING:
                rows.append(_Row.of_memory(mem))
            elif records is not None and len(records) < READ_AHEAD and not mem.unwritten:
                self.ledger.forget(mem)
        rows += [_Row.of_memory(mem) for mem in self.ledger.held_for(chat_id)]
        if unreadable:       # a damaged row must not block its chat forever
            try:
                with self._write(conn):
                    outbox_repo.set_aside(conn, unreadable)
            except sqlite3.Error as exc:
                self._store_failed(exc)
            log.error("%d outbox row(s) for chat %s cannot be read and were set aside (status dead): %s",
                      len(unreadable), chat_id, unreadable[0][1])
        return rows

    def _claim(self, conn: sqlite3.Connection, batch: list[_Row]) -> bool:
        """pending -> sending for exactly these rows, or nothing (another worker has some, or a
        held alert was just handed to the store). A store claim that cannot be committed is
        made in memory (`claim_in_memory`)."""
        with self.ledger.lock:
            for row in batch:    # an overlay row written back meanwhile: the store's row is the truth
                if row.mem is not None and row.mem.db_id is not None and not self.ledger.tracks(row.mem):
                    row.mem = None
            in_memory = [row for row in batch if row.mem is not None]
            if any(row.mem is None or row.mem.retired or row.mem.status != "pending" for row in in_memory):
                return False
            for row in in_memory:
                assert row.mem is not None
                row.mem.status = "sending"
                row.mem.attempts += 1
        stored = [row for row in batch if row.mem is None]
        if stored:
            ids = [row.id for row in stored]
            try:
                with self._write(conn):
                    if outbox_repo.claim(conn, self.claimer, ids) != len(ids):
                        raise _ClaimLost()
            except (_ClaimLost, sqlite3.Error) as exc:
                if isinstance(exc, sqlite3.Error):
                    self._store_failed(exc)
                # a report document is never claimed in memory: it waits for the store
                if isinstance(exc, _ClaimLost) or not self.claim_in_memory \
                        or any(row.transition is None for row in stored):
                    self.ledger.release_rows([row.mem for row in in_memory if row.mem is not None])
                    return False
                for row in stored:      # the store still says pending: memory says ours
                    row.mem = self.ledger.adopt(row.id, row.chat_id, row.transition, row.detected_at,
                                                row.enqueued_at, row.next_attempt_at or self.clock.now(),
                                                row.attempts + 1, row.sent_parts, row.document, row.resend)
                    row.mem.status = "sending"
            else:
                self._store_ok()
        for row in batch:
            row.attempts = row.mem.attempts if row.mem is not None else row.attempts + 1
        return True

    def _settle(self, conn: sqlite3.Connection, batch: list[_Row], outcome: Outcome) -> None:
        """Record what became of a message: in the store for rows claimed there (kept in memory
        when the commit fails, written back later), in memory for the others."""
        in_memory = [row.mem for row in batch if row.mem is not None]
        stored = [row for row in batch if row.mem is None]
        if stored:
            ids = [row.id for row in stored]
            try:
                with self._write(conn):
                    _store_outcome(conn, self.claimer, ids, outcome)
            except sqlite3.Error as exc:
                self._store_failed(exc)
                for row in stored:        # claimed in the store by us; the result waits in memory
                    row.mem = self.ledger.adopt(row.id, row.chat_id, row.transition, row.detected_at,
                                                row.enqueued_at, row.next_attempt_at or self.clock.now(),
                                                row.attempts, row.sent_parts, row.document, row.resend)
                    row.mem.status = "sending"
                    self._settle_memory(row.mem, outcome)
            else:
                self._store_ok()
        for mem in in_memory:
            self._settle_memory(mem, outcome)
        self._write_back(conn)

    def _settle_memory(self, mem: MemRow, outcome: Outcome) -> None:
        with self.ledger.lock:
            outcome.apply(mem)
            if mem.db_id is not None:       # the store has this row (overlay): write it back
                mem.unwritten = True
                self.ledger.track(mem)

    def _write_back(self, conn: sqlite3.Connection) -> None:
        """Write the states only memory has of rows the store has (oldest first); stop at the
        first failure (the store still cannot be written)."""
        pending = self.ledger.unwritten()
        if not pending:
            return
        try:
            with self._write(conn):
                states = [(row, row.delivery(self.claimer)) for row in pending]
                done = [(row, state, outbox_repo.write_state(conn, self.claimer, row.db_id or 0, state))
                        for row, state in states]
        except sqlite3.Error as exc:
            self._store_failed(exc)
            return
        self._store_ok()
        for row, state, updated in done:
            if updated:
                self.ledger.written(row, state)
            else:
                self.ledger.forget(row)     # another worker finished it meanwhile
        if done:
            log.info("%d alert state(s) kept in memory while the store failed are saved now", len(done))

    def _recover_once(self) -> None:
        """Put rows left 'sending' by a dead worker back to 'pending' (kill -9, power loss).
        Raises sqlite3.Error when the store cannot be read or written (tried again next step)."""
        if self._recovered:
            return
        conn = self._conn()
        stale = []
        for row_id, owner in outbox_repo.in_flight(conn):
            if owner == self.claimer:
                continue
            if not _claimer_alive(owner):
                stale.append(row_id)
        if stale:
            with self._write(conn):
                outbox_repo.put_back(conn, stale)
            log.warning("%d alert(s) were in flight when netwatchd stopped: sending them again, each "
                        "alone and marked 'sent again after a restart' (Telegram may show them twice)",
                        len(stale))
        self._recovered = True

    def _seed_limiter(self, conn: sqlite3.Connection, chat_id: str) -> None:
        if chat_id in self._seeded or chat_id == CONSOLE:
            return
        now = self.clock.now()
        try:
            acked = outbox_repo.acked_since(conn, chat_id, now - timedelta(seconds=60))
        except sqlite3.Error as exc:
            self._store_failed(exc)
            return
        self._seeded.add(chat_id)
        ages = [(now - at).total_seconds() for at in acked]
        # an ack stamped in the future was written before the clock stepped back: its age is unknown
        # (a 429's retry_after covers it), and counting it as new would hold the chat for the step
        ages = [age for age in ages if age >= -1.0]
        if ages:
            mono = self.clock.monotonic()
            self.limiter.seed(chat_id, [mono - max(0.0, age) for age in ages])

    def _maybe_prune(self) -> None:
        mono = self.clock.monotonic()
        if mono - self._last_prune < 3600:
            return
        self._last_prune = mono
        keep_days = max(self.config.retention.raw_days, 1.0)
        before = self.clock.now() - timedelta(days=keep_days)
        try:
            with self._write(self._conn()) as conn:
                outbox_repo.prune(conn, before)
        except sqlite3.Error as exc:
            self._store_failed(exc)

    # -- timing log -----------------------------------------------------------------------------

    def _delivered(self, batch: list[_Row], chat_id: str, message_id: int | None, sent_at: datetime,
                   acked_at: datetime, status: str, error: str | None = None, kind: str = "alert") -> None:
        if any(row.edit is not None for row in batch):
            if status == "dead":
                log.error("edit of incident %s in chat %s given up: %s", batch[0].edit[1] if batch[0].edit else "?",
                          chat_id, error)
            return
        alerts: list[Any] = [row for row in batch if row.transition is not None]   # the timing log is about alerts
        if not alerts:
            if status == "dead":
                log.error("a report for chat %s was given up: %s", chat_id, error)
            return
        record = timing_record(alerts, chat_id=chat_id, message_id=message_id, sent_at=sent_at,
                               acked_at=acked_at, status=status, tz=self.config.tz, error=error, kind=kind)
        if any(row.resend for row in alerts):
            record["resend"] = True       # sent again after a restart: the chat may show it twice
        self.timing.write(record)
        if status == "sent":
            log.info("delivered %d alert(s) to chat %s in %d ms (message %s)", len(batch), chat_id,
                     record["latency_ms"], message_id)
        if self.on_delivered is not None:
            try:
                self.on_delivered(record)
            except Exception as exc:  # noqa: BLE001 - a metrics hook must never stop delivery
                log.error("on_delivered hook failed: %s", redact(repr(exc)))


def _is_edit(info: ThreadInfo | None) -> bool:
    return info is not None and info.role == incident_repo.EDIT


def _is_root(row: _Row) -> bool:
    return row.thread is not None and row.thread.role == incident_repo.ROOT


BURST = 3
"""This many threaded messages waiting at once in a chat (a burst: sites failing together that no
parent folds, or the backlog of a Telegram outage) share one message; fewer go one by one, each
in its own thread."""


def _pack(rows: list[_Row], burst: int = 3) -> list[_Row]:
    """The leading rows that may share one message (as many as fit are then sent together). Plain
    alerts always share, as they always have. An incident's root or reply goes alone, in its thread,
    unless `burst` or more wait together: then they all share one message, so a burst costs one
    message, not one per site. With a new outage among them that message is the root of each new
    outage's thread (a row of buttons per new outage); news of an outage already told (a DEGRADED
    site gone DOWN) is a line in it, its buttons stay under its own root. All in one topic.
    (The worker packs from 2 when a group has used half its 20 messages of the minute.)"""
    head = rows[0]
    threaded: list[_Row] = []
    for row in rows:
        if (row.transition is None or row.edit is not None or row.topic != head.topic or row.thread is None
                or row.thread.incident_id is None):
            break
        threaded.append(row)
    if len(threaded) >= burst:
        return threaded
    run: list[_Row] = []
    for row in rows:
        if row.transition is None or row.edit is not None or row.topic != head.topic or _is_root(row) != _is_root(head):
            break
        run.append(row)
    if len(run) >= burst or _is_root(head):
        return run if len(run) >= burst else [head]
    if _is_reply(head):
        return [head]
    plain: list[_Row] = []
    for row in run:                # plain alerts up to the first reply (which then goes in its thread)
        if _is_reply(row):
            break
        plain.append(row)
    return plain


def _is_reply(row: _Row) -> bool:
    return row.thread is not None and row.thread.incident_id is not None and not _is_root(row)


def _common_root(batch: list[_Row]) -> int | None:
    """The root every row of a message replies to, when they all reply to the same one."""
    targets = {row.thread.root_message_id if row.thread is not None and row.thread.role == incident_repo.REPLY
               else None for row in batch}
    if len(targets) != 1:
        return None
    return targets.pop()


class _ClaimLost(Exception):
    """Another worker holds some of the rows (rolls the claim back)."""


def _store_outcome(conn: sqlite3.Connection, claimer: str, ids: list[int], outcome: Outcome) -> None:
    """Write a message's outcome for rows claimed in the store (inside the caller's transaction)."""
    if outcome.kind == "sent":
        assert outcome.sent_at is not None and outcome.acked_at is not None
        outbox_repo.mark_sent(conn, claimer, ids, message_id=outcome.message_id, sent_at=outcome.sent_at,
                              acked_at=outcome.acked_at)
    elif outcome.kind == "printed":
        assert outcome.sent_at is not None and outcome.acked_at is not None
        outbox_repo.mark_printed(conn, claimer, ids, sent_at=outcome.sent_at, acked_at=outcome.acked_at)
    elif outcome.kind == "part":
        assert outcome.next_attempt_at is not None
        outbox_repo.mark_part_sent(conn, claimer, ids, next_attempt_at=outcome.next_attempt_at)
    elif outcome.kind == "retry":
        assert outcome.next_attempt_at is not None
        outbox_repo.retry_later(conn, claimer, ids, not_before=outcome.next_attempt_at, error=outcome.error or "")
    elif outcome.kind == "dead":
        outbox_repo.mark_dead(conn, claimer, ids, error=outcome.error or "")
    else:  # pragma: no cover - Outcome kinds are fixed
        raise ValueError(outcome.kind)


class Handoff:
    """Held alerts being saved by the agent, inside its transaction, while it holds the ledger:

        with locked_transaction(conn, worker.handoff()) as handoff:     # BEGIN, ledger, ..., COMMIT
            ids = state_repo.save(..., prior=[handoff.prior(key) for key in keys])
            handoff.note(conn, zip(keys, ids))
        # committed: handoff.commit() ran before the ledger was let go
    """

    def __init__(self, ledger: Ledger, claimer: str) -> None:
        self.ledger = ledger
        self.claimer = claimer
        self._noted: list[tuple[int, dict[str, int]]] = []

    def prior(self, key: int) -> dict[str, outbox_repo.Delivery] | None:
        """How far delivery of held alert `key` got, by chat (None: not held)."""
        return self.ledger.prior(key, self.claimer)

    def note(self, conn: sqlite3.Connection, saved: Iterable[tuple[int, int]]) -> None:
        """(key, event id) of each saved alert; reads the ids of its outbox rows. Raises sqlite3.Error."""
        held = self.ledger.held_keys()
        self._noted = [(key, outbox_repo.rows_of_event(conn, event_id)) for key, event_id in saved if key in held]

    def commit(self) -> None:
        """The transaction committed: held rows leave memory (in-flight ones move to the overlay)."""
        for key, row_ids in self._noted:
            self.ledger.saved(key, row_ids)
        self._noted = []


@dataclass
class StepOutcome:
    sent: bool
    wait: float               # seconds until this chat may be due again
    has_rows: bool = True


class _LaneThread:
    def __init__(self, worker: DeliveryWorker, chat_id: str) -> None:
        self.chat_id = chat_id
        self.event = threading.Event()
        self.thread = threading.Thread(target=worker._lane_loop, args=(self,),
                                       name=f"delivery-{chat_id}", daemon=True)


def delivery_status(conn: sqlite3.Connection, *, dead_limit: int = 10) -> dict[str, Any]:
    """store.outbox_repo.outbox_status as a dict: {"pending": n, "oldest_pending": iso | None,
    "last_error": str | None, "dead": [{id, chat_id, host, to, at, error}] newest first}.
    Raises sqlite3.Error."""
    status = outbox_repo.outbox_status(conn, dead_limit=dead_limit)
    dead = []
    for row in status.dead_rows:
        payload = json.loads(row.payload)
        dead.append({"id": row.id, "chat_id": row.chat_id, "host": payload.get("host"),
                     "to": payload.get("to"), "at": row.enqueued_at, "error": row.last_error})
    return {"pending": status.waiting, "oldest_pending": status.oldest_waiting,
            "last_error": status.last_error, "dead": dead}


def _chat_arg(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def _claimer_alive(owner: str) -> bool:
    """Whether the worker that wrote `owner` ('pid:identity:token', or the older 'pid:token') may
    still be sending: another process of this machine with that pid and, when the claim names
    one, the same identity (a pid reused after a reboot is not the claimer)."""
    parts = owner.split(":")
    if not parts[0].isdigit():
        return False
    pid = int(parts[0])
    if pid == os.getpid() or not _process_alive(pid):
        return False
    if len(parts) == 3 and parts[1]:
        return _process_identity(pid) == parts[1]
    return True


def _process_identity(pid: int) -> str:
    """'<boot id>.<start time>' of process `pid` (Linux /proc), '' where it cannot be read."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text("ascii").strip().replace("-", "")[:12]
        stat = Path(f"/proc/{pid}/stat").read_text("ascii", errors="replace")
        started = stat.rsplit(")", 1)[1].split()[19]          # field 22: start time since boot
    except (OSError, IndexError):
        return ""
    return f"{boot}.{started}"


def _process_alive(pid: int) -> bool:
    """Whether process `pid` exists on this machine (signal 0 only checks)."""
    try:
        os.kill(pid, 0)
        return True
    except PermissionError:      # it exists but belongs to another user
        return True
    except OSError:
        return False
