"""Shared helpers for the deadline tests (no tests here): a peer that trickles, a call in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from netwatchd.lab.trickle import trickling_server  # noqa: F401 - re-exported for the tests


def in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run `call` in a daemon thread; its result (or exception) lands in the returned list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def finish_within(call: Callable[[], object], seconds: float) -> tuple[object, float]:
    """(what `call` returned or raised, seconds it took); fails the test when it is still running
    after `seconds` (a test that hangs proves nothing and holds the suite)."""
    started = time.monotonic()
    thread, outcome = in_thread(call)
    thread.join(seconds)
    assert outcome, f"still running after {seconds:g} s"
    return outcome[0], time.monotonic() - started
