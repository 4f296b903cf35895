"""data_dir/timing.jsonl: one JSON line per delivered (or dead) message, for reports.

The file rotates by size (retention.timing_max_mb, keeping retention.timing_keep files
timing.jsonl.1 .. .N; netwatchd.jsonl says how); readers use netwatchd.jsonl.read_records."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

from netwatchd.clock import iso_ms
from netwatchd.config.model import RetentionSpec
from netwatchd.jsonl import MIB, RotatingJsonl
from netwatchd.logs import LogThrottle
from netwatchd.models import Transition

log = logging.getLogger(__name__)

TIMING_FILENAME = "timing.jsonl"


class TimingLog:
    """Appends one JSON line per delivered (or dead) message to data_dir/timing.jsonl, rotating it
    at `max_mb` MiB and keeping `keep` rotated files. Safe from any thread."""

    def __init__(self, path: Path, *, max_mb: float = RetentionSpec.timing_max_mb,
                 keep: int = RetentionSpec.timing_keep) -> None:
        self.path = path
        self._log = RotatingJsonl(path, max_bytes=_bytes(max_mb), keep=keep)
        self._complaints = LogThrottle(log)    # a full disk fails every record: once a minute is enough

    def set_limits(self, max_mb: float, keep: int) -> None:
        """A config reload: the new limits apply to the next record."""
        self._log.set_limits(_bytes(max_mb), keep)

    def write(self, record: dict[str, Any]) -> None:
        """Never raises: a delivery log that cannot be written is logged, the alert is not affected."""
        try:
            self._log.write(record)
        except OSError as exc:
            self._complaints.log("write", logging.ERROR, "cannot write %s: %s (check data_dir is writable and "
                                 "has free space)", self.path, exc.strerror or exc.__class__.__name__)
            return
        if self._complaints.is_open("write"):
            self._complaints.resolved("write", logging.WARNING, "%s is written again", self.path)


def _bytes(max_mb: float) -> int:
    return max(1, int(max_mb * MIB))



class TimedAlert(Protocol):
    """What the timing log needs of one alert in a message (the worker's outbox row; an edit
    row has no transition)."""

    @property
    def transition(self) -> Transition | None: ...

    @property
    def detected_at(self) -> datetime: ...

    @property
    def enqueued_at(self) -> datetime: ...

    @property
    def attempts(self) -> int: ...


def timing_record(batch: Sequence[TimedAlert], *, chat_id: str, message_id: int | None, sent_at: datetime,
                  acked_at: datetime, status: str, tz: tzinfo, error: str | None = None,
                  kind: str = "alert") -> dict[str, Any]:
    """The timing.jsonl line for one message (detected_at/enqueued_at: its earliest alert).
    Fields: events (host, kind, from, to, at), detected_at, enqueued_at, sent_at, acked_at, latency_ms,
    attempts, chat_id, message_id, status, kind ("alert": a new message, "reply": one in an
    incident's thread) (+ error when dead; the delivery worker adds resend: true to a message sent
    again after a restart); times ISO 8601 with ms in the zone `tz` (Config.tz)."""
    record: dict[str, Any] = {
        "events": [{"host": t.host, "kind": t.kind, "from": t.from_state.value, "to": t.to_state.value,
                    "at": iso_ms(t.at.astimezone(tz))} for t in (row.transition for row in batch) if t is not None],
        **_times(batch, sent_at, acked_at, tz),
        "chat_id": chat_id,
        "message_id": message_id,
        "status": status,
        "kind": kind,
    }
    if error is not None:
        record["error"] = error
    return record


def edit_record(batch: Sequence[TimedAlert], *, reasons: Sequence[str], incident_id: int, host: str, chat_id: str,
                message_id: int | None, sent_at: datetime, acked_at: datetime, outcome: str,
                tz: tzinfo) -> dict[str, Any]:
    """The timing.jsonl line for one edit of an incident's root (kind "edit"). detected_at is
    when the edit was asked for (the press, the /ack, the recovery); latency_ms runs from it to
    Telegram's answer. `outcome` says what came of it ("edited", "already up to date", "root
    gone: sent as a new message", ...)."""
    record: dict[str, Any] = {"kind": "edit", "reasons": list(reasons), "incident": incident_id, "host": host,
                              "events": []}
    record.update(_times(batch, sent_at, acked_at, tz))
    record.update(chat_id=chat_id, message_id=message_id, status="sent", outcome=outcome)
    return record


def _times(batch: Sequence[TimedAlert], sent_at: datetime, acked_at: datetime, tz: tzinfo) -> dict[str, Any]:
    """detected_at .. acked_at, latency_ms and attempts of a message (its earliest row)."""
    detected = min(row.detected_at for row in batch)
    enqueued = min(row.enqueued_at for row in batch)
    return {
        "detected_at": iso_ms(detected.astimezone(tz)),
        "enqueued_at": iso_ms(enqueued.astimezone(tz)),
        "sent_at": iso_ms(sent_at.astimezone(tz)),
        "acked_at": iso_ms(acked_at.astimezone(tz)),
        # never negative: a message waiting across a step back of the wall clock would read < 0
        "latency_ms": max(0, round((acked_at - detected).total_seconds() * 1000)),
        "attempts": max(row.attempts for row in batch),
    }
