"""What the delivery worker knows that the store does not (yet): alerts held in memory.

Two kinds of rows live here, both `MemRow`:

* **held** rows: alerts the agent decided but could not save (disk full, damaged file, store
  locked). The agent hands them over with `DeliveryWorker.hold()`; they are delivered like any
  other alert (same lanes, pacing, grouping, retries, order after the chat's older rows). When the
  store can be written again the agent saves the transition and, in the same transaction, asks
  (`Handoff.prior`) how far each chat got: the rows are written 'sent' (never sent again),
  'sending' (in flight right now: the row moves to the overlay and the worker finishes it),
  'pending' with their retry time, or 'dead'.
* **overlay** rows: rows the store has, whose latest state could not be written — a claim, the
  'sent' after Telegram's answer, a retry time. The overlay is what the worker believes until the
  state is written back (tried before every step). Without it, a row Telegram had acknowledged
  went back to 'pending' when the store recovered and was sent a second time.

Guarantee: an alert is lost only if the process dies while the store cannot be written and before
it is delivered (memory is all there is then; after a restart the engine judges fresh probes again
and decides it anew while the site is still down). An alert delivered from memory is sent once
more only if the process dies before its 'sent' could be written (the same window as a kill -9
between Telegram's answer and the commit, only longer while the store is failing).

Every method takes the ledger's lock; `lock` is also held by the agent for a whole handoff (its
save transaction), so no lane claims a held row while it is being written to the store.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from netwatchd.models import Transition
from netwatchd.store.outbox_repo import Delivery

WAITING = ("pending", "sending")


@dataclass(eq=False)
class MemRow:
    """One alert for one chat as the worker knows it (field meanings as in the outbox table)."""

    chat_id: str
    transition: Transition | None   # None for a report document (only ever an overlay row)
    detected_at: datetime
    enqueued_at: datetime
    next_attempt_at: datetime
    key: int | None = None          # the agent's id of a transition the store does not have
    db_id: int | None = None        # the outbox row id once the store has the row
    status: str = "pending"         # pending | sending | sent | dead
    attempts: int = 0
    sent_parts: int = 0
    last_error: str | None = None
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    message_id: int | None = None
    document: dict[str, Any] | None = None   # a report document's name, caption, MIME type
    resend: bool = False            # in flight when a worker died (the store marked it): sent alone, marked
    unwritten: bool = False         # overlay: the store lacks this state
    retired: bool = False           # given to the store as pending: send the store's row instead

    def delivery(self, claimer: str) -> Delivery:
        """This row's state as the store should get it."""
        return Delivery(status=self.status, attempts=self.attempts, sent_parts=self.sent_parts,
                        next_attempt_at=self.next_attempt_at, last_error=self.last_error, sent_at=self.sent_at,
                        acked_at=self.acked_at, message_id=self.message_id,
                        claimed_by=claimer if self.status == "sending" else None)


@dataclass(frozen=True)
class Outcome:
    """What became of one message (applied to each of its rows).

    kind: 'sent' (last part acked), 'part' (one part of a split message acked), 'printed' (console),
    'retry' (failed; not before `next_attempt_at`), 'dead' (given up)."""

    kind: str
    sent_at: datetime | None = None
    acked_at: datetime | None = None
    message_id: int | None = None
    next_attempt_at: datetime | None = None
    error: str | None = None

    def apply(self, row: MemRow) -> None:
        if self.kind in ("sent", "printed"):
            row.status, row.sent_at, row.acked_at, row.last_error = "sent", self.sent_at, self.acked_at, None
            if self.kind == "sent":
                row.message_id = self.message_id
                row.sent_parts += 1
        elif self.kind == "part":
            row.status, row.attempts, row.resend = "pending", 0, False
            row.sent_parts += 1
            row.next_attempt_at = self.next_attempt_at or row.next_attempt_at
        elif self.kind == "retry":
            row.status, row.last_error = "pending", self.error
            row.next_attempt_at = self.next_attempt_at or row.next_attempt_at
        elif self.kind == "dead":
            row.status, row.last_error = "dead", self.error
        else:  # pragma: no cover - the worker only makes the kinds above
            raise ValueError(f"unknown outcome {self.kind!r}")


class Ledger:
    """The held and overlay rows of one worker (see the module doc). Thread-safe."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._held: dict[int, list[MemRow]] = {}      # key -> one row per chat
        self._overlay: dict[int, MemRow] = {}         # outbox row id -> row

    # -- held rows ---------------------------------------------------------------------------------

    def hold(self, key: int, transition: Transition, chats: Sequence[str], now: datetime) -> bool:
        """Keep an alert the store could not take; False when `key` is already held."""
        with self.lock:
            if key in self._held:
                return False
            self._held[key] = [MemRow(chat_id=chat, transition=transition, detected_at=transition.at,
                                      enqueued_at=now, next_attempt_at=now, key=key) for chat in chats]
            return True

    def held_keys(self) -> set[int]:
        with self.lock:
            return set(self._held)

    def unsaved(self) -> int:
        """Alerts only memory has (delivered or not): the store has not got them yet."""
        with self.lock:
            return len(self._held)

    def prior(self, key: int, claimer: str) -> dict[str, Delivery] | None:
        """How far each chat's delivery of held alert `key` got (None: not held)."""
        with self.lock:
            rows = self._held.get(key)
            return None if rows is None else {row.chat_id: row.delivery(claimer) for row in rows}

    def saved(self, key: int, row_ids: dict[str, int]) -> None:
        """The store now has alert `key` (committed), with outbox rows `row_ids` by chat: rows in
        flight move to the overlay (the worker finishes them there), the others leave memory."""
        with self.lock:
            for row in self._held.pop(key, []):
                row.key = None
                if row.status == "sending" and row.chat_id in row_ids:
                    row.db_id = row_ids[row.chat_id]
                    self._overlay[row.db_id] = row
                else:
                    row.retired = True

    # -- overlay rows ------------------------------------------------------------------------------

    def adopt(self, db_id: int, chat_id: str, transition: Transition | None, detected_at: datetime,
              enqueued_at: datetime, next_attempt_at: datetime, attempts: int, sent_parts: int,
              document: dict[str, Any] | None = None, resend: bool = False) -> MemRow:
        """A store row the worker takes over in memory (its claim could not be written)."""
        with self.lock:
            row = self._overlay.get(db_id)
            if row is None:
                row = self._overlay[db_id] = MemRow(chat_id=chat_id, transition=transition, detected_at=detected_at,
                                                    enqueued_at=enqueued_at, next_attempt_at=next_attempt_at,
                                                    db_id=db_id, attempts=attempts, sent_parts=sent_parts,
                                                    document=document, resend=resend)
            return row

    def track(self, row: MemRow) -> None:
        """(Again) an overlay row: memory knows its latest state."""
        with self.lock:
            if row.db_id is not None:
                self._overlay[row.db_id] = row

    def tracks(self, row: MemRow) -> bool:
        with self.lock:
            return row.db_id is not None and self._overlay.get(row.db_id) is row

    def overlay_for_all(self) -> list[MemRow]:
        with self.lock:
            return list(self._overlay.values())

    def overlay_for(self, chat_id: str) -> dict[int, MemRow]:
        with self.lock:
            return {k: r for k, r in self._overlay.items() if r.chat_id == chat_id}

    def unwritten(self) -> list[MemRow]:
        """Overlay rows whose state the store lacks and that are not in flight, oldest first."""
        with self.lock:
            return [r for _, r in sorted(self._overlay.items()) if r.unwritten and r.status != "sending"]

    def written(self, row: MemRow, state: Delivery) -> None:
        """The store has `state` of `row` now: forget the row unless it changed meanwhile."""
        with self.lock:
            if row.db_id is not None and row.status == state.status and row.attempts == state.attempts \
                    and row.sent_parts == state.sent_parts and row.next_attempt_at == state.next_attempt_at:
                self._overlay.pop(row.db_id, None)

    def forget(self, row: MemRow) -> None:
        """Drop an overlay row the store says is no longer waiting (finished elsewhere)."""
        with self.lock:
            if row.db_id is not None:
                self._overlay.pop(row.db_id, None)

    # -- both ----------------------------------------------------------------------------------------

    def held_for(self, chat_id: str) -> list[MemRow]:
        """Held rows of a chat still to be delivered, in the order the alerts were decided."""
        with self.lock:
            return [row for _, rows in sorted(self._held.items()) for row in rows
                    if row.chat_id == chat_id and row.status in WAITING]

    def chats(self) -> list[str]:
        """Chats with rows waiting in memory (held or overlay)."""
        with self.lock:
            found = {r.chat_id for rows in self._held.values() for r in rows if r.status in WAITING}
            found |= {r.chat_id for r in self._overlay.values() if r.status in WAITING or r.unwritten}
            return sorted(found)

    def waiting_held(self) -> int:
        """Held rows not yet delivered (the store's count does not include them)."""
        with self.lock:
            return sum(1 for rows in self._held.values() for r in rows if r.status in WAITING)

    def finished_overlay(self) -> int:
        """Overlay rows done (sent/dead) that the store still counts as waiting."""
        with self.lock:
            return sum(1 for r in self._overlay.values() if r.status not in WAITING)

    def release_rows(self, rows: Sequence[MemRow]) -> None:
        """Undo a claim made in memory (the rest of the message could not be claimed)."""
        with self.lock:
            for row in rows:
                if row.status == "sending":
                    row.status = "pending"
                    row.attempts = max(0, row.attempts - 1)

    def release(self, chat_id: str) -> None:
        """Rows of a chat left 'sending' by a step that failed unexpectedly back to pending."""
        with self.lock:
            for row in [*self._overlay.values(), *(r for rows in self._held.values() for r in rows)]:
                if row.chat_id == chat_id and row.status == "sending":
                    row.status = "pending"
                    row.unwritten = row.db_id is not None

    def migrate(self, old_chat: str, new_chat: str) -> None:
        """A group became a supergroup: its waiting memory rows go to the new chat."""
        with self.lock:
            for row in [*self._overlay.values(), *(r for rows in self._held.values() for r in rows)]:
                if row.chat_id == old_chat and row.status in WAITING:
                    row.chat_id = new_chat
