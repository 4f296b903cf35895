"""A progress bar on stderr that only appears once a report has taken more than a second."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


class ProgressBar:
    """`update(done, total, stage)` redraws one line; silent for `delay` seconds and when the
    stream is not a terminal (pipes, cron mail, CI logs stay clean). `close()` erases the line."""

    def __init__(self, stream: TextIO, *, delay: float = 1.0, width: int = 30,
                 monotonic: Callable[[], float] = time.monotonic, force: bool = False) -> None:
        self._stream = stream
        self._delay = delay
        self._width = width
        self._monotonic = monotonic
        self._started = monotonic()
        self._enabled = force or bool(getattr(stream, "isatty", lambda: False)())
        self._drawn = False

    def update(self, done: int, total: int, stage: str = "") -> None:
        if not self._enabled or self._monotonic() - self._started < self._delay:
            return
        share = 0.0 if total <= 0 else min(1.0, done / total)
        filled = int(round(share * self._width))
        bar = "#" * filled + "-" * (self._width - filled)
        self._stream.write(f"\rreport [{bar}] {share * 100:5.1f}% {stage[:30]:<30}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\r" + " " * (self._width + 50) + "\r")
            self._stream.flush()
            self._drawn = False
