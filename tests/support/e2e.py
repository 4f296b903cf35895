"""Helpers shared by the lab end-to-end tests (no tests here): what the agent delivered, and when."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any


def events(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(host, to_state) of every event one timing record (one delivered message) carried."""
    return [(e["host"], e["to"]) for e in record["events"]]


def wait_record(run: Any, host: str, to: str, *, after: int, timeout: float) -> dict[str, Any]:
    """The first timing record (index >= after) announcing host -> to; AssertionError (with the
    agent's log tail) when none comes within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        for record in run.timing_records()[after:]:
            if (host, to) in events(record):
                return record
        if time.monotonic() >= deadline:
            raise AssertionError(f"no {host} -> {to} delivered within {timeout} s; "
                                 f"records: {[events(r) for r in run.timing_records()[after:]]}\n"
                                 + run.log_text()[-3000:])
        time.sleep(0.05)


def acked(record: dict[str, Any]) -> float:
    """When Telegram (the stand-in) acknowledged the message, as time.time()."""
    return datetime.fromisoformat(record["acked_at"]).timestamp()


def message(run: Any, record: dict[str, Any]) -> dict[str, Any]:
    """The message the stand-in received for a timing record (maybe a grouped one)."""
    found = [m for m in run.alerts() if m["message_id"] == record["message_id"]]
    assert found, f"timing record {record} has no message at the stand-in"
    return found[0]
