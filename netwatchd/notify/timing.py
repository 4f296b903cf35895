"""data_dir/timing.jsonl: one JSON line per delivered (or dead) message, for reports."""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, Sequence

from netwatchd.clock import iso_ms
from netwatchd.models import Transition
from netwatchd.notify import format as fmt

log = logging.getLogger(__name__)

TIMING_FILENAME = "timing.jsonl"


class TimingLog:
    """Appends one JSON line per delivered (or dead) message to data_dir/timing.jsonl."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line)
            except OSError as exc:
                log.error("cannot write %s: %s (check data_dir is writable)", self.path, exc.strerror)



class TimedAlert(Protocol):
    """What the timing log needs of one alert in a message (the worker's outbox row)."""

    transition: Transition
    detected_at: datetime
    enqueued_at: datetime
    attempts: int


def timing_record(batch: Sequence[TimedAlert], *, chat_id: str, message_id: int | None, sent_at: datetime,
                  acked_at: datetime, status: str, tz: str, error: str | None = None) -> dict[str, Any]:
    """The timing.jsonl line for one message (detected_at/enqueued_at: its earliest alert).
    Fields: events, detected_at, enqueued_at, sent_at, acked_at, latency_ms, attempts, chat_id,
    message_id, status (+ error when dead); times ISO 8601 with ms in the zone `tz`."""
    zone = fmt.zone(tz)
    detected = min(row.detected_at for row in batch)
    enqueued = min(row.enqueued_at for row in batch)
    record: dict[str, Any] = {
        "events": [{"host": row.transition.host, "from": row.transition.from_state.value,
                    "to": row.transition.to_state.value,
                    "at": iso_ms(row.transition.at.astimezone(zone))} for row in batch],
        "detected_at": iso_ms(detected.astimezone(zone)),
        "enqueued_at": iso_ms(enqueued.astimezone(zone)),
        "sent_at": iso_ms(sent_at.astimezone(zone)),
        "acked_at": iso_ms(acked_at.astimezone(zone)),
        "latency_ms": round((acked_at - detected).total_seconds() * 1000),
        "attempts": max(row.attempts for row in batch),
        "chat_id": chat_id,
        "message_id": message_id,
        "status": status,
    }
    if error is not None:
        record["error"] = error
    return record
