"""The command bot's long-polling loop: getUpdates -> offset -> rate limit -> authorize -> run -> reply.

Rate limits (`telegram.rate_limit`, bot.auth.RateLimiter). An admin is never met with silence: a
command beyond the admin's allowance is queued, the admin is told at once "busy — N commands
queued, about N s", and it runs when its turn comes (`release_queued`, woken by a timer; tests
call it after advancing the clock). A stranger is refused (at most once a minute aloud) and,
beyond the stranger allowance, dropped unlogged.

Threads. `start()` runs the poll loop in its own thread, so alerts (the delivery worker) never wait
for it. The poller thread itself never waits for a router or a ping either: commands that ask a
router run in a small "router" worker pool, /ping (seconds of echoes, from the agent or a router)
in a "ping" pool of its own, the store-only commands (/monitor, /status, /history, /mute ...) in a
"local" pool, so neither a router that hangs nor four running pings can delay the next getUpdates,
another admin's /monitor or a /dhcp. A router's own session for pings is separate from the one
for reads (netwatchd.router.client), and a command that finds its router's session taken answers
"router busy, try again in N s" within a second instead of queuing. Every command has a deadline
(`command_timeout`): when it passes, the admin gets a one-line "did not finish" and a late answer
is dropped.

Delivery semantics (at-most-once). For each update the new offset (update_id + 1) and the audit
row ("received") are committed in one SQLite transaction BEFORE the command runs. After a crash or
restart the stored offset confirms the update to Telegram, so a command is never answered twice;
the price is that a command that was being answered when the process died is not re-run (its audit
row keeps the outcome "received"; the admin simply asks again). Re-running a router query twice
would be harmless, but /mute twice or two replies to one tap confuse people — and an admin notices
a missing answer, while a duplicate is silent noise.

A store that cannot be written (disk full, damaged file) does not silence the bot: the offset is
kept in memory (the next getUpdates confirms the update to Telegram all the same), the audit line
goes to the log instead, the command runs, and /status says what is wrong with the store. Only a
crash before the store takes writes again can then answer a command a second time.

Start-up: getMe (to learn the bot's @username), deleteWebhook (getUpdates is refused while a
webhook is set), setMyCommands (the menu in the Telegram client). Errors: a 409 Conflict means a
second poller on the same token — logged with that explanation, retried every 30 s; network errors
and 5xx back off exponentially (1 s .. 60 s); nothing here ever raises out of the loop.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any

from netwatchd.bot import handlers
from netwatchd.bot.auth import CHAT_NOT_ALLOWED, DROP, FULL, QUEUE, TELL, VIEWER_ONLY, Admission, RateLimiter, authorize
from netwatchd.bot.handlers import BotContext, Reply
from netwatchd.bot.i18n import bot_commands, say
from netwatchd.bot.parse import PROBE_COMMANDS, CommandInputError, ParsedCommand, parse_command
from netwatchd.bot.presses import PressHandler, Who, topic_of
from netwatchd.bot.render import render_router_failure
from netwatchd.clock import Backoff, Clock
from netwatchd.config.model import Config
from netwatchd.engine.incidents import is_incident_callback, role_of
from netwatchd.errors import DeliveryError, RouterBusyError, RouterError, StoreError
from netwatchd.logs import LogThrottle, redact
from netwatchd.notify import pacing
from netwatchd.notify.format import to_plain_text
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.router.client import RouterPool
from netwatchd.store.audit_repo import AuditEntry, finish_audit
from netwatchd.store.bot_repo import accept_update, load_offset
from netwatchd.store.db import LOCK_PATIENCE_S, Database, ThreadConnections
from netwatchd.textsplit import TELEGRAM_LIMIT, split_html, utf16_len

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
CONFLICT_DELAY = 30.0
POLL_BACKOFF = Backoff(base=1.0, cap=60.0, jitter=0.0)   # a failing poll waits 1, 2, 4 ... 60 s
GROUP_REFUSAL_INTERVAL = 3600.0   # a non-admin in a group hears "not an admin" at most once an hour
REPLY_DEADLINE = 120.0            # seconds an answer (every part) may take: free slots, 429s, retries
REPLY_BACKOFF = Backoff(base=1.0, cap=8.0, jitter=0.0)   # a 5xx or a network failure: again after 1, 2, 4, 8 s
CUT_NOTE_ROOM = 320               # UTF-16 units each part of a long answer keeps free for the "cut here" note
CUT_NOTE_WAIT = 30.0              # how long the "cut here" edit may wait for a slot or out a 429


class _Answer:
    """Sends a command's reply exactly once: the result, or the deadline's "did not finish".
    It goes to the forum topic the command came from (`thread_id`), as a reply to `reply_to` when set
    (a button's answer replies to the alert)."""

    def __init__(self, poller: BotPoller, chat_id: int, audit_id: int | None, name: str, received: float,
                 thread_id: int | None = None, reply_to: int | None = None) -> None:
        self.poller, self.chat_id, self.audit_id, self.name = poller, chat_id, audit_id, name
        self.thread_id, self.reply_to = thread_id, reply_to
        self.courtesy = False     # a refusal or "slow down": sent only if the chat's budget has a slot now
        self.marks: dict[str, float] = {"received": received, "accepted": poller.clock.monotonic()}
        self.done = threading.Event()
        self.queued = False           # waiting for its turn (rate limit): not waited for by run_once
        self._lock = threading.Lock()
        self._answered = False

    def give(self, replies: list[Reply], outcome: str, category: str) -> bool:
        with self._lock:
            if self._answered:
                log.info("dropped the late answer to /%s (%s)", self.name, outcome)
                return False
            self._answered = True
        self.marks["ready"] = self.poller.clock.monotonic()
        try:
            outcome = self.poller._send_replies(self.chat_id, replies, outcome, courtesy=self.courtesy,
                                                thread_id=self.thread_id, reply_to=self.reply_to)
            self.marks["sent"] = self.poller.clock.monotonic()
            log.debug("/%s answered in %s", self.name, self.timings())
        finally:
            self.poller._finish(self, outcome, category)
            self.done.set()
        return True

    def timings(self) -> str:
        """'12.3 ms (accept 1.0, queue 0.4, run 8.1, send 2.8)': where the time went so far."""
        steps = {"accepted": "accept", "started": "queue", "ready": "run", "sent": "send"}
        seen = [(name, self.marks[name]) for name in ("received", *steps) if name in self.marks]
        parts = ", ".join(f"{steps[b[0]]} {(b[1] - a[1]) * 1000:.1f}" for a, b in pairwise(seen))
        return f"{(seen[-1][1] - seen[0][1]) * 1000:.1f} ms ({parts})"


class BotPoller:
    """getUpdates long polling with authorization, audit, rate limit and a worker pool.

    `probe_fn(hosts, *, clock)` runs /ping from the agent (default netwatchd.probes.probe_hosts).
    `on_command(name, category)` is told the outcome of every command (for metrics); category is
    one of ok, refused, rate_limited, invalid, router_busy, router_error, timeout, error.
    `limiter` is the delivery worker's (netwatchd.notify.pacing): every message the bot sends takes
    a slot of the same per-chat budget as the alerts, at BOT priority, so alerts go first.
    """

    def __init__(self, db: Database, config: Config, clock: Clock, *, api: TelegramAPI, routers: RouterPool,
                 probe_fn: Callable[..., Any] | None = None,
                 on_command: Callable[[str, str], None] | None = None,
                 poll_timeout: int = 25, command_timeout: float = 20.0, router_workers: int = 4,
                 limiter: pacing.RateLimiter | None = None, store_health: Any = None,
                 wake: Callable[[Sequence[str]], None] | None = None,
                 reply_deadline: float = REPLY_DEADLINE) -> None:
        self.db = db
        self.reply_deadline = reply_deadline   # an answer not sent whole by then says where it stopped
        self.wake = wake               # the delivery worker's wake(): an Ack's edits go out at once
        self.limiter = limiter if limiter is not None else pacing.RateLimiter()
        self._group_refused: dict[int, float] = {}     # user -> monotonic time of the last group refusal
        self.unanswered = 0            # refusals not sent (silent in a group, or no free slot): audit only
        self.store_health = store_health      # netwatchd.store.health.StoreHealth (None: log here)
        self._throttle = LogThrottle(log)
        self._offset_in_memory: int | None = None   # past the updates the store could not record
        self.config = config
        self.clock = clock
        self._prepared = False
        self._api = api
        self.routers = routers
        self.on_command = on_command
        self.poll_timeout = poll_timeout
        self.command_timeout = command_timeout
        self.rate = RateLimiter(clock.monotonic, config.telegram.rate_limit)
        self._queue: list[tuple[float, int, ParsedCommand, _Answer, Who, str | None, int]] = []   # due, seq, ...
        self._queue_seq = itertools.count()
        self._queue_lock = threading.Lock()
        self.backoff = POLL_BACKOFF
        self.poll_failures = 0         # failed polls in a row (the backoff's exponent)
        self.next_delay = 0.0          # how long the loop waits before the next poll (after a failure)
        self.bot_username: str | None = None
        self.commands_answered = 0
        self.malformed_updates = 0     # skipped updates that were not well-formed (fault visibility)
        self.probe_fn = probe_fn
        self.started_monotonic = clock.monotonic()
        self._conflict = False
        self._connections = ThreadConnections(db)
        # the poll step's own connection polls a busy write lock itself (store.db.write_quickly)
        self._poll_connections = ThreadConnections(db, busy_timeout_ms=0)
        self._inflight: set[_Answer] = set()
        self._router_workers = router_workers
        self._local_pool, self._router_pool, self._ping_pool = self._make_pools()
        self._presses = PressHandler(self)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._stats_lock = threading.Lock()

    @property
    def api(self) -> TelegramAPI:
        return self._api

    @api.setter
    def api(self, api: TelegramAPI) -> None:
        """A new Bot API client (token changed on reload): getMe/deleteWebhook/setMyCommands again."""
        self._api = api
        self._prepared = False

    def _make_pools(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor, ThreadPoolExecutor]:
        return (ThreadPoolExecutor(2, thread_name_prefix="bot-local"),
                ThreadPoolExecutor(self._router_workers, thread_name_prefix="bot-router"),
                ThreadPoolExecutor(self._router_workers, thread_name_prefix="bot-ping"))

    # -- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Poll in a background thread until stop(). Does nothing when telegram.poll_commands is off."""
        if not self.config.telegram.poll_commands:
            log.info("command bot off (telegram.poll_commands: false)")
            return
        if self._stop.is_set():   # started again after stop(): fresh worker pools
            self._local_pool, self._router_pool, self._ping_pool = self._make_pools()
            self._presses = PressHandler(self)
        # each run has its own stop event: a thread still inside an old long poll stays stopped
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(self._stop,), name="bot-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling; lets running commands send their answer (up to `timeout`). A getUpdates
        long poll in flight is abandoned (its updates are not confirmed, so nothing is lost)."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._stats_lock:
            running = list(self._inflight)
        with self._queue_lock:
            waiting, self._queue = self._queue, []
        for _, _, _, answer, *_ in waiting:        # no time left to run them: audited as not run
            answer.give([], "not run: netwatchd stopped while it was queued", "error")
        for answer in running:
            answer.done.wait(max(0.0, deadline - time.monotonic()))
        self._local_pool.shutdown(wait=False, cancel_futures=True)
        self._router_pool.shutdown(wait=False, cancel_futures=True)
        self._ping_pool.shutdown(wait=False, cancel_futures=True)
        self._presses.stop()
        self._connections.close_all()
        self._poll_connections.close_all()

    def replace_config(self, config: Config) -> None:
        """Use a reloaded config (admins, chats, sites, routers, rate limits) from the next update on."""
        self.config = config
        self.rate.configure(config.telegram.rate_limit)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._poll(self.poll_timeout, wait=False, stop=stop)
            except Exception:  # the loop must survive anything; the log says what
                log.exception("the command bot's poll failed unexpectedly; retrying")
                self.next_delay = self._failed_once()
            if self.next_delay:
                stop.wait(self.next_delay)

    # -- one step ----------------------------------------------------------------------------------

    def run_once(self, timeout: int = 0) -> int:
        """One getUpdates (long poll of `timeout` s), handle every update, wait for their answers.
        Returns the number of updates handled (0 after a failed poll; `next_delay` says when to retry)."""
        return self._poll(timeout, wait=True, stop=self._stop)

    def _poll(self, timeout: int, *, wait: bool, stop: threading.Event) -> int:
        self.next_delay = 0.0
        self.release_queued()
        if not self._prepare():
            return 0
        try:
            stored = load_offset(self._poll_connections.get())
        except (StoreError, sqlite3.Error) as exc:
            self._store_trouble("reading the bot's update offset", exc)
            stored = None
        known = [o for o in (stored, self._offset_in_memory) if o is not None]
        offset = max(known) if known else None
        try:
            updates = self.api.get_updates(offset, timeout, ALLOWED_UPDATES)
        except DeliveryError as exc:
            if not stop.is_set():     # a poll abandoned by stop() may end in a 409 from its successor
                self._poll_failed(exc)
            return 0
        if stop.is_set():
            return 0  # not confirmed: the next run gets these updates again
        if self.poll_failures or self._conflict:
            log.info("command bot polling again")
        self.poll_failures = 0
        self._conflict = False
        answers = []
        try:
            for update in updates:
                try:
                    answer = self._handle(update)
                except (StoreError, sqlite3.Error):
                    raise
                except Exception as exc:  # noqa: BLE001 - one malformed update must not wedge the bot
                    self._skip_malformed(update, exc)
                    continue
                if answer is not None:
                    answers.append(answer)
        except (StoreError, sqlite3.Error) as exc:
            # the offset of this update was not stored: it is fetched (and run) again next time
            self._store_failed(exc)
        if wait:
            for answer in answers:
                if not answer.queued:
                    answer.done.wait(self.command_timeout + 5)
        return len(updates)

    def _prepare(self) -> bool:
        if self._prepared:
            return True
        try:
            me = self.api.get_me()
            self.bot_username = str(me.get("username") or "") or None
            self.api.delete_webhook()
        except DeliveryError as exc:
            self._poll_failed(exc)
            return False
        try:
            self.api.set_my_commands(bot_commands(self.config.telegram.language))
        except DeliveryError as exc:
            log.warning("setMyCommands failed (the command menu in Telegram stays as it was): %s", redact(str(exc)))
        self._prepared = True
        log.info("command bot @%s polling for commands", self.bot_username or "?")
        return True

    def _poll_failed(self, exc: DeliveryError) -> None:
        code = getattr(exc, "error_code", None)
        if code == 409:
            if not self._conflict:
                log.error("Telegram refused getUpdates with 409 Conflict: another netwatchd or bot is polling "
                          "this token (stop the other one, or give this netwatchd its own bot token); "
                          "retrying every %.0f s", CONFLICT_DELAY)
            self._conflict = True
            self.next_delay = CONFLICT_DELAY
            return
        self.next_delay = self._failed_once()
        level = logging.WARNING if self.poll_failures == 1 else logging.DEBUG
        log.log(level, "command bot cannot poll Telegram: %s; next try in %.0f s", redact(str(exc)), self.next_delay)

    def _skip_malformed(self, update: Any, exc: Exception) -> None:
        """Count and log an update that is not a well-formed Telegram update, and move the offset past it
        (left unconfirmed it would be fetched, and fail, forever: no command answered again)."""
        self.malformed_updates += 1
        update_id = update.get("update_id") if isinstance(update, dict) else None
        log.warning("update %s skipped: not a well-formed Telegram update (%s: %s); %d skipped so far",
                    update_id, type(exc).__name__, redact(str(exc))[:200], self.malformed_updates)
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            accept_update(self._poll_connections.get(), update_id)

    def _failed_once(self) -> float:
        """Count one more failed poll; the seconds to wait before the next."""
        self.poll_failures += 1
        return self.backoff.delay(self.poll_failures)

    def _store_failed(self, exc: Exception) -> None:
        self.next_delay = self._failed_once()
        log.error("the command bot cannot record the update offset in the store (%s); commands wait "
                  "and are fetched again in %.0f s", redact(str(exc)), self.next_delay)

    def _command_connection(self) -> sqlite3.Connection:
        """This thread's store connection for a command; while the store is failing its writes do
        not wait for a lock (the admin hears at once that the store cannot take /mute)."""
        conn = self._connections.get()
        return self.store_health.ready(conn) if self.store_health is not None else conn

    def _store_trouble(self, what: str, exc: BaseException) -> None:
        """A store failure the bot works around: told to StoreHealth (logged once a minute)."""
        if self.store_health is not None:
            self.store_health.failed(what, exc)
        else:
            self._throttle.log("store", logging.ERROR, "the command bot: %s failed: %s", what, redact(str(exc)))

    def _accept(self, update_id: int, entry: AuditEntry | None) -> int | None:
        """Store the offset past `update_id` with the audit row (returns its id). When the store
        cannot take it, the offset is kept in memory and the audit line goes to the log: the
        command is answered all the same (None)."""
        try:
            audit_id = accept_update(self._poll_connections.get(), update_id, entry, patience=self.write_patience())
        except (StoreError, sqlite3.Error) as exc:
            self.skip_unstored(update_id, "recording a bot update", exc)
            if entry is not None:
                log.info("audit (not stored: the store cannot be written): user %s in chat %s: %s", entry.user_id,
                         entry.chat_id, redact(entry.command[:200]))
            return None
        self.store_succeeded()
        return audit_id

    def write_patience(self) -> float:
        """How long the poll step may wait for the store's write lock (short while it is failing)."""
        return self.store_health.write_patience(alert=True) if self.store_health is not None else LOCK_PATIENCE_S

    def skip_unstored(self, update_id: int, what: str, exc: BaseException) -> None:
        """The store could not record update `update_id`: say so (StoreHealth) and keep the offset
        past it in memory, so that it is not fetched again and again while the store fails."""
        self._store_trouble(what, exc)
        self._offset_in_memory = max(self._offset_in_memory or 0, update_id + 1)

    def store_succeeded(self) -> None:
        if self.store_health is not None:
            self.store_health.succeeded()

    # -- one update ----------------------------------------------------------------------------------

    def _handle(self, update: dict[str, Any]) -> _Answer | None:
        """Store the offset (and open the audit row), then refuse, correct or dispatch the command."""
        received = self.clock.monotonic()
        update_id = int(update.get("update_id", 0))
        callback = update.get("callback_query")
        if isinstance(callback, dict) and is_incident_callback(str(callback.get("data") or "")):
            return self._presses.handle(update_id, callback, received)
        text, chat, user, thread_id = self._incoming(update)
        chat_id = int(chat.get("id", 0))
        user_id = int(user["id"]) if "id" in user else None
        try:
            parsed = parse_command(text, bot_username=self.bot_username,
                                   router_names=tuple(r.name for r in self.config.routers))
            problem = None
        except CommandInputError as exc:
            parsed, problem = ParsedCommand(name="?", text=text[:500]), exc
        if parsed is None or not chat_id:
            self._accept(update_id, None)
            return None
        entry = AuditEntry(at=self.clock.now(), user_id=user_id, chat_id=chat_id, command=text.strip())
        audit_id = self._accept(update_id, entry)
        answer = self.make_answer(chat_id, audit_id, parsed.name, received, thread_id=thread_id)
        gate = self._gate(answer, text, user_id, chat_id, str(chat.get("type", "")), problem)
        if isinstance(gate, _Answer):
            return gate
        who = Who.of(user)
        role = role_of(user_id, self.config.telegram.admins, self.config.telegram.viewers)
        if gate.verdict == QUEUE:
            assert user_id is not None
            self._enqueue(gate, parsed, answer, who, role, user_id)
            return answer
        return self.dispatch(parsed, answer, who, role)

    def dispatch(self, parsed: ParsedCommand, answer: _Answer, who: Who, role: str | None) -> _Answer | None:
        """Run an authorized command in its pool (ping, router or local) under its deadline."""
        pool = (self._ping_pool if parsed.name in PROBE_COMMANDS else
                self._router_pool if handlers.needs_router(parsed) else self._local_pool)
        timer = threading.Timer(self.command_timeout, self._deadline, (answer, parsed))
        timer.daemon = True
        timer.start()
        try:
            pool.submit(self._run, parsed, answer, who, role, timer)
        except RuntimeError:  # pool shut down (stopping)
            timer.cancel()
            answer.give([], "not run: netwatchd is stopping", "error")
            return None
        return answer

    def make_answer(self, chat_id: int, audit_id: int | None, name: str, received: float, *,
                    thread_id: int | None = None, reply_to: int | None = None) -> _Answer:
        """An answer in flight (waited for by run_once and stop())."""
        answer = _Answer(self, chat_id, audit_id, name, received, thread_id=thread_id, reply_to=reply_to)
        with self._stats_lock:
            self._inflight.add(answer)
        return answer

    def poll_connection(self) -> sqlite3.Connection:
        """The poll step's store connection (busy_timeout 0: store.db.write_quickly polls the lock)."""
        return self._poll_connections.get()

    def _incoming(self, update: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any], int | None]:
        """(text, chat, sender, forum topic) of a message or of an inline-button press (answered at once)."""
        callback = update.get("callback_query")
        if callback:
            self._answer_callback(str(callback.get("id", "")))
            message = callback.get("message") or {}
            return (str(callback.get("data") or ""), message.get("chat") or {}, callback.get("from") or {},
                    topic_of(message))
        message = update.get("message") or {}
        return (str(message.get("text") or ""), message.get("chat") or {}, message.get("from") or {},
                topic_of(message))

    def _gate(self, answer: _Answer, text: str, user_id: int | None, chat_id: int, chat_type: str,
              problem: CommandInputError | None) -> _Answer | Admission:
        """The rate limit of the user's kind, then authorization, then the admin's input mistake:
        the answer when one of them stops the command (nothing is asked of any router), else the
        admin's admission (run now, or queued). Every admin gets an answer."""
        language = self.config.telegram.language
        command = (text.split() or ["?"])[0][:40]
        if user_id is None or role_of(user_id, self.config.telegram.admins, self.config.telegram.viewers) is None:
            if _is_group(chat_id, chat_type):
                # a stranger in an alerts group: never a reply that could cost an alert its slot
                return self._refuse_in_group(answer, text, user_id, chat_id)
            verdict = self.rate.admit_stranger(user_id if user_id is not None else chat_id)
            if verdict == DROP:
                return self._give_later(answer, [], "rate limited: not an admin", "rate_limited")
            answer.courtesy = True
            reply = say(language, "refused_not_admin", user_id=user_id)
            log.info("refused %s from user %s in chat %s (not an admin%s)", command, user_id, chat_id,
                     "" if verdict == TELL else "; told less than a minute ago")
            return self._give_later(answer, [Reply(reply)] if verdict == TELL else [],
                                    "refused: not an admin", "refused")
        admission = self.rate.admit_admin(user_id)
        decision = authorize(self.config.telegram, user_id=user_id, chat_id=chat_id, chat_type=chat_type,
                             command=answer.name)
        if admission.verdict == FULL and decision.allowed:   # a command they may not run: the refusal below
            seconds = max(1, math.ceil(admission.wait))       # when the queue has room again
            busy = say(language, "busy_full" if admission.queued != 1 else "busy_full_1", queued=admission.queued,
                       seconds=seconds, command=command)
            log.info("/%s from user %s not run: %d of their commands are queued", answer.name, user_id,
                     admission.queued)
            return self._give_later(answer, [Reply(busy)], "rate limited: queue full", "rate_limited")
        stopped: tuple[str, str, str] | None = None
        if not decision.allowed and decision.reason == CHAT_NOT_ALLOWED:
            stopped = (say(language, "refused_chat", chat_id=chat_id), "refused: chat not in chat_ids", "refused")
            log.info("refused %s from user %s in chat %s (chat not in chat_ids)", command, user_id, chat_id)
        elif not decision.allowed and decision.reason == VIEWER_ONLY:
            if _is_group(chat_id, chat_type):      # a viewer in an alerts group: as sparing as with strangers
                if admission.verdict == QUEUE:
                    self.rate.started(user_id)
                return self._refuse_in_group(answer, text, user_id, chat_id, viewer=True)
            stopped = (*_viewer_refusal(language, answer.name), "refused")
            log.info("refused %s from viewer %s in chat %s (viewers may only read)", command, user_id, chat_id)
        elif problem is not None:
            stopped = (say(language, problem.key, **problem.params), f"invalid: {problem.key}", "invalid")
        if stopped is not None:                  # answered at once, queued or not: no router is asked
            answer.courtesy = stopped[2] == "refused"
            if admission.verdict == QUEUE:
                self.rate.started(user_id)
            return self._give_later(answer, [Reply(stopped[0])], stopped[1], stopped[2])
        return admission

    def _enqueue(self, admission: Admission, parsed: ParsedCommand, answer: _Answer, who: Who, role: str | None,
                 user_id: int) -> None:
        """Tell the admin "busy" now and run the command when its turn comes."""
        language = self.config.telegram.language
        seconds = max(1, math.ceil(admission.wait))
        busy = say(language, "busy" if admission.queued > 1 else "busy_1", queued=admission.queued,
                   seconds=seconds, command="/" + parsed.name)
        log.info("/%s from user %s queued: %d waiting, runs in %.1f s", parsed.name, user_id, admission.queued,
                 admission.wait)
        answer.queued = True
        due = self.clock.monotonic() + admission.wait
        with self._queue_lock:
            heapq.heappush(self._queue, (due, next(self._queue_seq), parsed, answer, who, role, user_id))
        try:
            self._local_pool.submit(self._send_replies, answer.chat_id, [Reply(busy)], "busy",
                                     thread_id=answer.thread_id)
        except RuntimeError:  # pool shut down (stopping)
            pass
        timer = threading.Timer(admission.wait + 0.01, self.release_queued)
        timer.daemon = True
        timer.start()

    def release_queued(self) -> int:
        """Run the queued commands whose turn has come (by the injected clock); returns how many."""
        now = self.clock.monotonic()
        ready = []
        with self._queue_lock:
            while self._queue and self._queue[0][0] <= now + 1e-6:
                ready.append(heapq.heappop(self._queue))
        for _, _, parsed, answer, who, role, user_id in ready:
            self.rate.started(user_id)
            answer.queued = False
            self.dispatch(parsed, answer, who, role)
        return len(ready)

    def _refuse_in_group(self, answer: _Answer, text: str, user_id: int | None, chat_id: int, *,
                         viewer: bool = False) -> _Answer:
        """A non-admin's command in a group: one short refusal per user per hour (and only when the
        chat's budget has a slot free at once), otherwise nothing but the audit row and a log line.
        A viewer (telegram.viewers) hears that viewers may only read."""
        now = self.clock.monotonic()
        key = user_id if user_id is not None else chat_id
        with self._stats_lock:
            last = self._group_refused.get(key)
            tell = last is None or now - last >= GROUP_REFUSAL_INTERVAL
            if tell:
                if len(self._group_refused) >= 10_000:     # forget refusals older than the interval
                    self._group_refused = {k: v for k, v in self._group_refused.items()
                                           if now - v < GROUP_REFUSAL_INTERVAL}
                self._group_refused[key] = now
            else:
                self.unanswered += 1
        log.info("refused %s from user %s in group %s (not an admin; %s)", (text.split() or ["?"])[0][:40],
                 user_id, chat_id, "told once" if tell else "not answered")
        if not tell:
            answer.give([], "refused: not an admin (not answered in a group)", "refused")
            return answer
        answer.courtesy = True
        language = self.config.telegram.language
        reply, outcome = (_viewer_refusal(language, answer.name) if viewer else
                          (say(language, "refused_not_admin", user_id=user_id), "refused: not an admin"))
        return self._give_later(answer, [Reply(reply)], outcome, "refused")

    def _give_later(self, answer: _Answer, replies: list[Reply], outcome: str, category: str) -> _Answer:
        """Send a refusal or a correction from the local pool: the poller thread never waits on sendMessage."""
        try:
            self._local_pool.submit(answer.give, replies, outcome, category)
        except RuntimeError:  # pool shut down (stopping)
            answer.give([], f"{outcome}; not answered: netwatchd is stopping", category)
        return answer

    def _run(self, parsed: ParsedCommand, answer: _Answer, who: Who, role: str | None,
             timer: threading.Timer) -> None:
        answer.marks["started"] = self.clock.monotonic()
        language = self.config.telegram.language
        context = BotContext(db=self.db, config=self.config, clock=self.clock, routers=self.routers,
                             probe_fn=self.probe_fn, started_monotonic=self.started_monotonic,
                             commands_answered=self.commands_answered, user_label=who.label,
                             connection=self._command_connection, store_health=self.store_health,
                             user_id=who.user_id, user_name=who.name, role=role, audit_id=answer.audit_id,
                             wake=self.wake)
        try:
            replies = handlers.run_command(parsed, context)
            outcome, category = context.outcome or "ok", "ok"
        except CommandInputError as exc:
            replies = [Reply(say(language, exc.key, **exc.params))]
            outcome, category = f"invalid: {exc.key}", "invalid"
        except RouterBusyError as exc:   # nothing was sent to the router: say when to ask again
            key = "router_busy_ping" if exc.doing == "ping" else "router_busy"
            replies = [Reply(say(language, key, router=exc.router, seconds=exc.retry_after))]
            outcome, category = f"router busy: {exc.doing}, retry in {exc.retry_after} s", "router_busy"
        except RouterError as exc:
            message = redact(str(exc))
            replies = [Reply(render_router_failure(exc, message, language))]
            outcome, category = f"router error: {message}", "router_error"
        except (StoreError, sqlite3.Error) as exc:      # /mute on a full disk: say so, not "internal error"
            self._store_trouble(f"the bot's /{parsed.name}", exc)
            replies = [Reply(say(language, "store_unusable", what=redact(str(exc))[:120]))]
            outcome, category = "error: store", "error"
        except Exception:  # a bug must cost one answer, never the bot
            log.exception("/%s failed", parsed.name)
            replies = [Reply(say(language, "internal_error"))]
            outcome, category = "error: internal", "error"
        finally:
            timer.cancel()
        answer.give(replies, outcome, category)

    def _deadline(self, answer: _Answer, parsed: ParsedCommand) -> None:
        language = self.config.telegram.language
        text = say(language, "command_timeout", command="/" + parsed.name, seconds=f"{self.command_timeout:g}")
        # answered from the local pool, not this timer thread: a store connection opened here for
        # the audit row would stay open until stop (one per timed-out command)
        self._give_later(answer, [Reply(text)], "timeout", "timeout")

    # -- edges ------------------------------------------------------------------------------------------

    def _answer_callback(self, callback_id: str) -> None:
        """Stop the button's spinner at once (the real answer follows as a message)."""
        try:
            self.api.answer_callback_query(callback_id)
        except DeliveryError as exc:
            log.warning("answerCallbackQuery failed: %s", redact(str(exc)))

    def _pace(self, chat_id: int, courtesy: bool, deadline: float) -> bool:
        """Take a slot of the chat's budget (shared with the alerts, which go first). A courtesy
        message (a refusal, "slow down") takes one only if it is free now; an answer waits for one
        until `deadline` (time.monotonic()). False: no slot (the message is not sent)."""
        chat = str(chat_id)
        while True:
            wait = self.limiter.reserve(chat, self.clock.monotonic(), pacing.BOT)
            if wait <= 0:
                return True
            if courtesy or time.monotonic() + wait > deadline or self._stop.is_set():
                return False
            self._stop.wait(min(wait, 1.0))

    def _send_replies(self, chat_id: int, replies: list[Reply], outcome: str, *, courtesy: bool = False,
                      thread_id: int | None = None, reply_to: int | None = None) -> str:
        """Send every reply, a long one split by UTF-16 length, each message paced with the alerts
        (alerts first), into forum topic `thread_id` (the one asked in) and the first as a reply to
        `reply_to`. A message refused for a while (429, 5xx, network) is tried again until the
        answer's deadline (`reply_deadline` s from now); an answer that cannot be sent whole stops
        there and its last delivered message is edited to say which parts are missing and why.
        Returns the outcome (amended on failure). Never raises for delivery problems."""
        deadline = time.monotonic() + self.reply_deadline
        parts: list[tuple[Reply, str | None, dict[str, Any] | None]] = []    # (reply, text part, markup)
        for reply in replies:
            if reply.document is not None:
                parts.append((reply, None, None))
                continue
            text = reply.text
            chunks = [text] if utf16_len(text) <= TELEGRAM_LIMIT else split_html(text, TELEGRAM_LIMIT - CUT_NOTE_ROOM)
            parts += [(reply, chunk, reply.reply_markup if i == len(chunks) - 1 else None)
                      for i, chunk in enumerate(chunks)]
        last: tuple[int, str, dict[str, Any] | None] | None = None     # the last text message delivered
        for index, (reply, chunk, markup) in enumerate(parts):
            if not self._pace(chat_id, courtesy, deadline):
                if courtesy:
                    with self._stats_lock:
                        self.unanswered += 1
                    return f"{outcome}; not answered: the chat's message budget is kept for alerts"[:300]
                log.warning("an answer to chat %s found no free message slot within %.0f s: %d of %d parts sent",
                            chat_id, self.reply_deadline, index, len(parts))
                why = say(self.config.telegram.language, "reply_no_slot", seconds=f"{self.reply_deadline:g}")
                return self._cut(chat_id, last, index, len(parts), why, outcome, "no free message slot")
            try:
                if chunk is None:
                    name, data, mime = reply.document or ("", b"", "")
                    self._send_retrying(chat_id, deadline, courtesy, functools.partial(
                        self.api.send_document, chat_id, name, data, caption=reply.text or None, mime_type=mime))
                    last = None      # a document's caption is not edited: the note goes nowhere
                else:
                    message_id = self._send_chunk(chat_id, chunk, markup, thread_id=thread_id, reply_to=reply_to,
                                                  deadline=deadline, courtesy=courtesy)
                    last = (message_id, chunk, markup)
                    reply_to = None
            except DeliveryError as exc:
                refused = redact(getattr(exc, "description", "") or str(exc))
                log.warning("could not answer chat %s (part %d of %d): %s", chat_id, index + 1, len(parts),
                            redact(str(exc)))
                why = say(self.config.telegram.language, "reply_refused", reason=refused[:150])
                return self._cut(chat_id, last, index, len(parts), why, outcome, redact(str(exc)))
        return outcome

    def _cut(self, chat_id: int, last: tuple[int, str, dict[str, Any] | None] | None, sent: int, total: int,
             why: str, outcome: str, detail: str) -> str:
        """An answer stopped after `sent` of `total` parts: the last delivered message says so (an
        edit, paced like any message, waiting out one 429); returns the audit outcome."""
        if sent == 0:
            return f"{outcome}; reply failed: {detail}"[:300]
        language = self.config.telegram.language
        key = "reply_cut_one" if sent + 1 == total else "reply_cut_many"
        note = say(language, key, first=sent + 1, last=total, total=total) + " (" + why + ")"
        told = False
        if last is not None:
            message_id, text, markup = last
            edited = f"{text}\n\n<i>{note}</i>"
            until = time.monotonic() + CUT_NOTE_WAIT
            for _ in range(2):
                if not self._pace(chat_id, False, until):
                    break
                try:
                    self.api.edit_message_text(chat_id, message_id, edited, reply_markup=markup)
                    told = True
                    break
                except DeliveryError as exc:
                    log.warning("could not say in chat %s where an answer stopped: %s", chat_id, redact(str(exc)))
                    if exc.retry_after is None:
                        break
                    self.limiter.block(str(chat_id), self.clock.monotonic() + exc.retry_after)
        shown = "; the chat was told where" if told else ""
        return f"{outcome}; reply cut after part {sent} of {total}{shown}: {detail}"[:300]

    def _send_retrying(self, chat_id: int, deadline: float, courtesy: bool, send: Callable[[], Any]) -> Any:
        """Call `send` until it succeeds: a 429 is waited out as Telegram asks (the chat's budget
        blocked for the alerts too), a 5xx or network failure tried again after 1, 2, 4, 8 s, each
        time after a fresh slot, until `deadline` (time.monotonic()). A courtesy message is tried
        once. Raises DeliveryError: permanent, or the deadline would pass."""
        attempts = 0
        while True:
            try:
                return send()
            except DeliveryError as exc:
                if exc.retry_after is not None:     # Telegram's own word on the budget: the alerts obey it too
                    self.limiter.block(str(chat_id), self.clock.monotonic() + exc.retry_after)
                    wait = exc.retry_after
                elif exc.permanent or exc.migrate_to_chat_id is not None or getattr(exc, "bad_entities", False):
                    raise
                else:
                    attempts += 1
                    wait = REPLY_BACKOFF.delay(attempts)
                if courtesy or time.monotonic() + wait > deadline:
                    raise
                log.info("an answer to chat %s waits %.1f s before trying again: %s", chat_id, wait, redact(str(exc)))
                if self._stop.wait(wait) or not self._pace(chat_id, False, deadline):
                    raise

    def _send_chunk(self, chat_id: int, text: str, markup: dict[str, Any] | None, *, thread_id: int | None = None,
                    reply_to: int | None = None, deadline: float | None = None, courtesy: bool = False) -> int:
        """Send one message and return its id, retried until `deadline` (_send_retrying); a refused
        entity is sent as plain text. Into forum topic `thread_id`, as a reply to `reply_to` when
        set. Raises DeliveryError when it cannot be sent."""
        where: dict[str, Any] = {"thread_id": thread_id} if thread_id else {}
        if reply_to:
            where["reply_to"] = reply_to
        until = deadline if deadline is not None else time.monotonic() + self.reply_deadline
        try:
            return int(self._send_retrying(chat_id, until, courtesy, lambda: self.api.send_message(
                chat_id, text, reply_markup=markup, **where)))
        except DeliveryError as exc:
            if not getattr(exc, "bad_entities", False):
                raise
        return int(self._send_retrying(chat_id, until, courtesy, lambda: self.api.send_message(
            chat_id, to_plain_text(text), parse_mode=None, reply_markup=markup, **where)))

    def _finish(self, answer: _Answer, outcome: str, category: str) -> None:
        if answer.audit_id is not None:
            try:
                finish_audit(self._connections.get(), answer.audit_id, outcome)
            except (StoreError, sqlite3.Error) as exc:
                self._store_trouble("finishing an audit row", exc)
        with self._stats_lock:
            self._inflight.discard(answer)
            if category == "ok":
                self.commands_answered += 1
        if self.on_command is not None:
            try:
                self.on_command(answer.name, category)
            except Exception:  # metrics must never break the bot
                log.exception("on_command callback failed")


def _is_group(chat_id: int, chat_type: str) -> bool:
    """A group, supergroup or channel (where every member sees the bot's messages)."""
    return chat_type in ("group", "supergroup", "channel") or (not chat_type and chat_id < 0)


def _viewer_refusal(language: str, command: str) -> tuple[str, str]:
    """A viewer (telegram.viewers) asked for something only admins may do: (reply, outcome)."""
    return say(language, "refused_viewer", command="/" + command), "refused: viewers may only read"
