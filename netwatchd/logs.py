"""Logging set-up and secret redaction.

Every secret found in the config is registered with `add_secret()` when the config is loaded;
every log line, exception text and CLI error goes through `redact()`. Even before the config is
known, `redact()` masks what is shaped like a secret: a Telegram bot token (in a URL `/bot123:ABC.../`,
percent-encoded, or bare), a RouterOS API `=password=` word, the password in `scheme://user:pass@host`
and HTTP Authorization headers. Uncaught exceptions (main thread and worker threads) and Python
warnings are routed through the same formatter, so a traceback cannot print a token either.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import IO, Any

_SHAPES: tuple[tuple[str, int, str], ...] = (
    (r"bot\d{3,}(?::|%3[Aa])[A-Za-z0-9_-]{10,}", 0, "bot***"),                       # Bot API URL path
    (r"\b\d{6,}(?::|%3[Aa])[A-Za-z0-9_-]{30,}", 0, "***"),                            # bare bot token
    (r"(=password=)[^\s'\",;)\]}]*", 0, r"\1***"),                                   # RouterOS API word
    (r"([?&](?:password|passwd|token)=)[^\s&#'\"]+", re.IGNORECASE, r"\1***"),        # query strings
    (r"(://[^/\s:@]+:)[^/\s@]+@", 0, r"\1***@"),                                     # user:pass@ in URLs
    (r"(Authorization['\"]?\s*[:=]\s*['\"]?(?:Basic|Bearer)\s+)[A-Za-z0-9+/=._~-]+", re.IGNORECASE, r"\1***"),
)
"""What is shaped like a secret: (pattern, flags, replacement), compiled on the first redact()
(compiling them cost every `netwatchd` start ~2.5 ms, most of which never log a line)."""
_patterns: list[tuple[re.Pattern[str], str]] = []
MIN_SECRET_LENGTH = 3
_secrets: set[str] = set()
_lock = threading.Lock()

# Attributes every LogRecord has; anything else was passed with `extra=` and goes into JSON lines.
_STANDARD_ATTRS = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}


def add_secret(value: str | None) -> None:
    """Register a value that must never be printed, with the escaped forms it may appear in
    (percent-encoded in a URL, escaped by repr() or JSON). Values shorter than 3 characters are
    not registered: masking them would garble every line."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    import json
    from urllib.parse import quote

    forms = {value, quote(value, safe=""), quote(value), repr(value)[1:-1], json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1]}
    with _lock:
        _secrets.update(form for form in forms if len(form) >= MIN_SECRET_LENGTH)


@contextmanager
def isolated_secrets() -> Iterator[None]:
    """Secrets registered inside the block are forgotten after it (for tests that load many configs
    in one process, so one test's made-up secrets cannot mask another test's output)."""
    with _lock:
        saved = set(_secrets)
    try:
        yield
    finally:
        with _lock:
            _secrets.clear()
            _secrets.update(saved)


def secret_forms() -> frozenset[str]:
    """Every registered secret form (to hand to another process that must mask them too)."""
    with _lock:
        return frozenset(_secrets)


def adopt_secret_forms(forms: Iterable[str]) -> None:
    """Register forms taken from secret_forms() of another process (already expanded)."""
    with _lock:
        _secrets.update(form for form in forms if len(form) >= MIN_SECRET_LENGTH)


def registered_secret_count() -> int:
    """How many secret forms are registered (for tests and `--log-level debug` start-up lines)."""
    with _lock:
        return len(_secrets)


def redact(text: str) -> str:
    """`text` with every registered secret and everything shaped like a secret replaced by ***."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "***")
    if not _patterns:
        compiled = [(re.compile(shape, flags), replacement) for shape, flags, replacement in _SHAPES]
        with _lock:
            _patterns[:] = compiled
    for pattern, replacement in _patterns:
        text = pattern.sub(replacement, text)
    return text


def describe_exception(exc: BaseException) -> str:
    """One redacted line for an exception, e.g. for a delivery or router error message:
    'ConnectionError: HTTPSConnectionPool(host=..., ...): Max retries exceeded with url: /bot***/getMe'."""
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    name = type(exc).__name__
    return redact(f"{name}: {detail}" if detail else name)


class RedactingFormatter(logging.Formatter):
    """Readable lines: `2026-11-27 21:04:33.120 INFO    netwatchd.app: message`, redacted."""

    def __init__(self, fmt: str | None = None, datefmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s",
                         datefmt or "%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, fields given with
    `extra=`, and exception/stack text; every string is redacted before it is encoded."""

    def format(self, record: logging.LogRecord) -> str:
        import json
        from datetime import datetime, timezone

        moment = datetime.fromtimestamp(record.created, timezone.utc)
        data: dict[str, Any] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                data[key] = value if isinstance(value, (int, float, bool, type(None))) else str(value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_redact_tree(data), ensure_ascii=False)


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redact_tree(v) for k, v in value.items()}
    return value


def _log_uncaught(kind: str, exc_type: type[BaseException], exc: BaseException | None,
                  tb: TracebackType | None) -> None:
    error = exc if exc is not None else exc_type()
    logging.getLogger("netwatchd").critical("uncaught exception in %s", kind, exc_info=(exc_type, error, tb))


def _sys_hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _log_uncaught("the main thread", exc_type, exc, tb)


def _thread_hook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "a thread"
    _log_uncaught(f"thread {name}", args.exc_type, args.exc_value, args.exc_traceback)


def setup_logging(level: str = "info", fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """Send every log record, uncaught exception and warning to stderr (or `stream`), redacted,
    as text lines or JSON (`fmt="json"`). Returns the handler it installed."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else RedactingFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # urllib3 logs full URLs (with the token) at debug; the formatter redacts, but keep it quiet too.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, root.level))
    logging.captureWarnings(True)
    sys.excepthook = _sys_hook
    threading.excepthook = _thread_hook
    return handler


def _span(seconds: float) -> str:
    """'45 s', '3 min', '2 h 5 min' (for repeated-problem lines)."""
    seconds = max(0, int(round(seconds)))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class _Repeated:
    """One recurring problem (a plain class: `dataclasses` costs every `netwatchd probe` ~5 ms)."""

    __slots__ = ("first", "last_line", "since_line", "total")

    def __init__(self, first: float, last_line: float, since_line: int = 0, total: int = 1) -> None:
        self.first = first            # monotonic time of the first occurrence
        self.last_line = last_line    # when it was last written to the log
        self.since_line = since_line  # occurrences not written since then
        self.total = total


class LogThrottle:
    """Say a recurring problem at once, then at most once every `every` seconds with a count.

    A full disk fails every store write, several a second; logging each would bury everything
    else (and, on the same disk, the log itself). Problems are told apart by a key:

        throttle = LogThrottle(log, every=60)
        throttle.log("store", logging.ERROR, "the store cannot be written: %s", why)   # at once
        ... the same key again: counted; once a minute the line again with
            "[again 412 times in the last 60 s; for 3 min now]"
        throttle.resolved("store", logging.WARNING, "the store is writable again")
            -> "the store is writable again [after 1,930 failures in 4 min]"

    Thread-safe; `monotonic` is injected for tests. Never raises.
    """

    def __init__(self, logger: logging.Logger, every: float = 60.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.every = every
        self.monotonic = monotonic
        self._open: dict[str, _Repeated] = {}
        self._lock = threading.Lock()

    def log(self, key: str, level: int, msg: str, *args: Any) -> bool:
        """Log `msg % args` if `key` is new or its last line is `every` seconds old (with how
        often it happened meanwhile); otherwise only count it. Returns whether a line was written."""
        now = self.monotonic()
        with self._lock:
            seen = self._open.get(key)
            if seen is None:
                self._open[key] = _Repeated(first=now, last_line=now)
                suffix = ""
            else:
                seen.total += 1
                seen.since_line += 1
                if now - seen.last_line < self.every:
                    return False
                suffix = (f" [again {seen.since_line:,} times in the last {_span(now - seen.last_line)}; "
                          f"for {_span(now - seen.first)} now]")
                seen.last_line, seen.since_line = now, 0
        self.logger.log(level, "%s", (msg % args if args else msg) + suffix)
        return True

    def resolved(self, key: str, level: int, msg: str, *args: Any) -> int:
        """The problem `key` is over: log `msg` with how many times it happened and for how long
        (nothing when `key` was not open). Returns that count."""
        now = self.monotonic()
        with self._lock:
            seen = self._open.pop(key, None)
        if seen is None:
            return 0
        self.logger.log(level, "%s", (msg % args if args else msg)
                        + f" [after {seen.total:,} failure(s) in {_span(now - seen.first)}]")
        return seen.total

    def is_open(self, key: str) -> bool:
        with self._lock:
            return key in self._open

    def count(self, key: str) -> int:
        """How many times `key` happened since it began (0 when it is not open)."""
        with self._lock:
            seen = self._open.get(key)
            return seen.total if seen is not None else 0
