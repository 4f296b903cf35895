"""The incident buttons under an alert: ✅ Ack · 🔕 1 h · 🔍 Diagnose · 📈 History.

A press is decided and stored on the poller thread, in ONE transaction with its getUpdates offset
and its audit row (store.incident_repo.record_press): a crash before that commit leaves the update
unconfirmed, so Telegram delivers the press again; after it, the incident's change and the edits
of its messages are in the durable outbox and go out whatever happens next. When the store cannot
be written, the toast says the press was not recorded (nothing changed; press again later). Then,
without waiting for anything else:

* the press is answered (answerCallbackQuery: the spinner stops, a short toast says what came of
  it) from a small pool of its own, so neither a slow command nor the next getUpdates delays it;
* the delivery lanes of the incident's chats are woken, so the edited alert follows at once;
* 🔍 Diagnose and 📈 History run like /diagnose and /history and answer as a reply to the alert,
  in its forum topic.

Who may press what: engine.incidents.judge_press (admins everything, viewers History, anyone else
nothing; the callback data must name a stored incident and the pressed message must be one of its
own). A refused press changes nothing, is logged and is in the audit log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, Protocol

from netwatchd.bot.i18n import toast
from netwatchd.bot.parse import ParsedCommand
from netwatchd.bot.text import local_time
from netwatchd.clock import Clock
from netwatchd.config.model import Config
from netwatchd.engine.incidents import (
    ALREADY_ACKED,
    DIAGNOSE,
    HISTORY,
    RESOLVED,
    SNOOZE_BUTTON_S,
    SNOOZED,
    parse_callback,
    role_of,
)
from netwatchd.errors import DeliveryError, StoreError
from netwatchd.logs import redact
from netwatchd.store import incident_repo
from netwatchd.store.audit_repo import AuditEntry
from netwatchd.store.incident_repo import Acted


class Poller(Protocol):
    """What the press handler needs of the BotPoller (which owns it)."""

    config: Config
    clock: Clock
    on_command: Callable[[str, str], None] | None
    wake: Callable[[Sequence[str]], None] | None

    @property
    def api(self) -> Any: ...

    def poll_connection(self) -> sqlite3.Connection: ...

    def write_patience(self) -> float: ...

    def skip_unstored(self, update_id: int, what: str, exc: BaseException) -> None: ...

    def store_succeeded(self) -> None: ...

    def make_answer(self, chat_id: int, audit_id: int | None, name: str, received: float, *,
                    thread_id: int | None = None, reply_to: int | None = None) -> Any: ...

    def dispatch(self, parsed: ParsedCommand, answer: Any, who: Who, role: str | None) -> Any: ...

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Who:
    """The Telegram user behind a command or a press: `name` as the chat shows who acted ("@budi",
    or the first name), `label` for logs and /mute ("@budi (111)")."""

    user_id: int | None
    name: str
    label: str

    @classmethod
    def of(cls, user: dict[str, Any]) -> Who:
        raw = user.get("id")
        user_id = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        username = str(user.get("username") or "")
        first = str(user.get("first_name") or "").strip()
        name = f"@{username}" if username else (first or f"id {user_id}")
        label = f"@{username} ({user_id})" if username else f"telegram:{user_id}"
        return cls(user_id, name[:64], label)


def topic_of(message: dict[str, Any]) -> int | None:
    """The forum topic a message is in (None: a chat without topics, or its General topic).

    Only a topic message's message_thread_id names a topic; in other chats the field names a reply
    thread, and sending there would fail with "message thread not found"."""
    thread = message.get("message_thread_id")
    if message.get("is_topic_message") and isinstance(thread, int) and not isinstance(thread, bool):
        return thread
    return None


class PressHandler:
    """Decides, stores and answers incident button presses for one BotPoller."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self._pool = ThreadPoolExecutor(2, thread_name_prefix="bot-press")
        self._lock = threading.Lock()
        self.presses = 0

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def handle(self, update_id: int, callback: dict[str, Any], received: float) -> Any:
        """One press. When the store cannot record it, the toast says so and the poller keeps the
        offset past it in memory; anything malformed raises (counted and skipped by the poller)."""
        poller = self.poller
        config = poller.config
        callback_id = str(callback["id"])
        who = Who.of(callback.get("from") or {})
        message = callback.get("message") or {}
        chat_id = int(message["chat"]["id"])
        message_id = int(message["message_id"])
        data = str(callback.get("data") or "")
        parsed = parse_callback(data)
        token, action = parsed if parsed is not None else (None, None)
        role = role_of(who.user_id, config.telegram.admins, config.telegram.viewers)
        now = poller.clock.now()
        entry = AuditEntry(at=now, user_id=who.user_id, chat_id=chat_id,
                           command=f"button {action or '?'} {data[:64]}")
        try:
            acted = incident_repo.record_press(
                poller.poll_connection(), update_id=update_id, entry=entry, token=token, action=action, role=role,
                message=(chat_id, message_id), who=who.name, config=config, now=now, snooze_s=SNOOZE_BUTTON_S,
                patience=poller.write_patience())
        except (StoreError, sqlite3.Error) as exc:
            # not recorded, and said so at once: the press is not fetched again and again while
            # the store fails (the admin presses again, or types /ack, when it is back)
            poller.skip_unstored(update_id, "recording a button press", exc)
            log.warning("button %s by %s in chat %s not recorded: the store is failing (%s)", action or "?",
                        who.label, chat_id, redact(str(exc))[:200])
            self._submit(callback_id, toast(config.telegram.language, "store failing"), received, "store failing")
            return None
        poller.store_succeeded()
        self._submit(callback_id, self._toast(acted, who, config.telegram.language, config.tz, now), received,
                     acted.verdict.outcome)
        host = acted.incident.host if acted.incident is not None else "?"
        level = logging.INFO if acted.verdict.allowed else logging.WARNING
        log.log(level, "button %s on %s by %s in chat %s: %s", action or "?", host, who.label, chat_id,
                acted.verdict.outcome)
        if poller.on_command is not None:
            try:
                poller.on_command(f"button_{action or 'invalid'}", "ok" if acted.verdict.allowed else "refused")
            except Exception:
                log.exception("on_command callback failed")
        if acted.chats and poller.wake is not None:
            poller.wake(list(acted.chats))
        with self._lock:
            self.presses += 1
        if acted.verdict.run in (DIAGNOSE, HISTORY) and acted.incident is not None:
            answer = poller.make_answer(chat_id, acted.audit_id, acted.verdict.run, received,
                                        thread_id=topic_of(message), reply_to=message_id)
            command = ParsedCommand(name=acted.verdict.run, args=(acted.incident.host,), text=data[:64])
            return poller.dispatch(command, answer, who, role)
        return None

    def _submit(self, callback_id: str, text: str, received: float, outcome: str) -> None:
        try:
            self._pool.submit(self._answer, callback_id, text, received, outcome)
        except RuntimeError:   # stopping
            pass

    def _answer(self, callback_id: str, text: str, received: float, outcome: str) -> None:
        try:
            self.poller.api.answer_callback_query(callback_id, text)
        except DeliveryError as exc:
            log.warning("answerCallbackQuery failed (%s): %s", outcome, redact(str(exc)))
            return
        log.debug("press answered in %.1f ms (%s)", (self.poller.clock.monotonic() - received) * 1000, outcome)

    @staticmethod
    def _toast(acted: Acted, who: Who, language: str, tz: tzinfo, now: datetime) -> str:
        incident = acted.incident
        outcome = acted.verdict.outcome
        site = "server" if incident is not None and incident.host == "__self__" else (incident.host if incident else "")
        if acted.verdict.run is not None:
            return toast(language, acted.verdict.run, site=site)
        if incident is None:
            return toast(language, "refused: not this message's button")
        if outcome == SNOOZED:
            return toast(language, outcome, site=site, time=local_time(incident.snoozed_until, tz, now))
        if outcome == ALREADY_ACKED:
            return toast(language, outcome, who=incident.acked_by, time=local_time(incident.acked_at, tz, now))
        if outcome == RESOLVED:
            return toast(language, outcome, time=local_time(incident.resolved_at, tz, now))
        if outcome == "refused: not allowed":
            return toast(language, outcome, user_id=who.user_id)
        return toast(language, outcome, site=site)
