"""The single HTTP seam to the Telegram Bot API (or the stand-in, or a local Bot API server).

Every failure becomes a `TelegramError` (a DeliveryError) whose message is rebuilt from safe
parts — the method, the API host, Telegram's error code and description — never from a
`requests` exception, whose text contains the URL and therefore the bot token. The token is
also registered with `netwatchd.logs.add_secret`, and urllib3's debug lines (which print the
request path) are redacted at the source.

How errors map (what the delivery worker does with them):
  429 Too Many Requests           -> retry_after = parameters.retry_after
  400 with migrate_to_chat_id     -> migrate_to_chat_id (group became a supergroup: resend there)
  403 blocked / kicked            -> permanent for that chat
  400 "chat not found"            -> permanent for that chat
  other 400 (bad HTML, too long)  -> permanent (retrying the same request cannot help)
  413 Request Entity Too Large    -> permanent (a document over 50 MB)
  401 / 404 (token rejected)      -> retry (alerts wait until the token is fixed), message says so
  5xx, non-JSON answer, network errors, timeouts, 409 -> retry

Deadlines. requests' own timeout bounds each socket read, so a server (or proxy) that trickles
its answer a byte at a time would hold the caller for good. Every call here also has a deadline
for the whole request — `timeout`, and for getUpdates its long-poll seconds + `timeout` — kept by
one shared watchdog thread that shuts down the request's socket when it passes; the call then
fails with "no complete answer within N s" (and is retried like any network error).
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from netwatchd.errors import DeliveryError
from netwatchd.logs import add_secret, redact

log = logging.getLogger(__name__)

MAX_DOCUMENT_BYTES = 50 * 1000 * 1000
"""The Bot API's upload limit for sendDocument (a local Bot API server allows more)."""


class TelegramError(DeliveryError):
    """A failed Bot API call. `error_code` is Telegram's (None for network errors)."""

    def __init__(self, message: str, *, method: str, error_code: int | None = None,
                 description: str = "", permanent: bool = False, retry_after: float | None = None,
                 migrate_to_chat_id: int | None = None) -> None:
        super().__init__(redact(message), permanent=permanent, retry_after=retry_after,
                         migrate_to_chat_id=migrate_to_chat_id)
        self.method = method
        self.error_code = error_code
        self.description = redact(description)

    @property
    def bad_entities(self) -> bool:
        """Telegram could not parse our HTML (resending as plain text would work)."""
        return self.error_code == 400 and "parse entities" in self.description


class _RedactRecords(logging.Filter):
    """Rewrites a record's text through redact() (urllib3 logs request paths = the token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args or isinstance(record.msg, str):
            record.msg = redact(record.getMessage())
            record.args = ()
        return True


def _install_urllib3_redaction() -> None:
    for name in ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _RedactRecords) for f in logger.filters):
            logger.addFilter(_RedactRecords())


_install_urllib3_redaction()


# ----------------------------------------------------------------------------- whole-request deadlines

class _RequestDeadline:
    """One request's deadline: the connections it used (registered by the pool as it hands them
    out) are shut down when it passes, so a blocked read returns at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.passed = False
        self.finished = False
        self._connections: list[Any] = []
        self._lock = threading.Lock()

    def add(self, connection: Any) -> None:
        with self._lock:
            self._connections.append(connection)

    def expire(self) -> bool:
        """Shut down every socket of the request; False while one is still connecting (no socket
        yet: the watchdog comes back for it)."""
        with self._lock:
            if self.finished:
                return True
            self.passed = True
            connections = list(self._connections)
        complete = True
        for connection in connections:
            sock = getattr(connection, "sock", None)
            if sock is None:
                complete = False
                continue
            try:   # the plain socket's shutdown: an SSLSocket's own would pull its state from under the reader
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except OSError:
                pass
        return complete

    def finish(self) -> None:
        with self._lock:
            self.finished = True


class _Watchdog:
    """One daemon thread for every TelegramAPI: expires request deadlines in time order."""

    RECHECK = 0.05      # a request still connecting when its deadline passed is looked at again

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _RequestDeadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, deadline: _RequestDeadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.at, next(self._order), deadline))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="telegram-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].finished:
                        heapq.heappop(self._heap)
                    wait = self._heap[0][0] - time.monotonic() if self._heap else None
                    if wait is not None and wait <= 0:
                        deadline = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            if not deadline.expire():
                with self._cond:
                    heapq.heappush(self._heap, (time.monotonic() + self.RECHECK, next(self._order), deadline))


_WATCHDOG = _Watchdog()
_CURRENT = threading.local()          # the calling thread's _RequestDeadline, for the pools below
_DEADLINE_POOLS: dict[type, type] = {}


def _deadline_pool(pool_class: type) -> type:
    """A subclass of a urllib3 pool class whose connections join the calling request's deadline."""
    if pool_class not in _DEADLINE_POOLS:
        def _get_conn(self: Any, timeout: float | None = None) -> Any:
            connection = pool_class._get_conn(self, timeout)   # type: ignore[attr-defined]
            deadline = getattr(_CURRENT, "deadline", None)
            if deadline is not None:
                deadline.add(connection)
            return connection

        _DEADLINE_POOLS[pool_class] = type(f"Deadline{pool_class.__name__}", (pool_class,), {"_get_conn": _get_conn})
    return _DEADLINE_POOLS[pool_class]


def _with_deadline_pools(manager: Any) -> Any:
    classes = getattr(manager, "pool_classes_by_scheme", None)
    if isinstance(classes, dict) and not all(c in _DEADLINE_POOLS.values() for c in classes.values()):
        manager.pool_classes_by_scheme = {scheme: c if c in _DEADLINE_POOLS.values() else _deadline_pool(c)
                                          for scheme, c in classes.items()}
    return manager


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connection pools (direct or through a proxy) take part in deadlines."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _with_deadline_pools(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        return _with_deadline_pools(super().proxy_manager_for(proxy, **proxy_kwargs))


class TelegramAPI:
    """Bot API client. Thread-safe enough for one request per thread at a time on the session.

    `timeout` bounds every whole request (connect, send, and the answer however slowly it comes),
    so a stuck or trickling Telegram never blocks a caller for longer than that; long polls get
    `timeout + poll seconds`. (A `session` handed in keeps its own adapters: only the read
    timeouts apply to it.)
    """

    def __init__(self, api_url: str, token: str, *, session: requests.Session | None = None,
                 timeout: float = 10) -> None:
        add_secret(token)
        self._base = api_url.rstrip("/")
        self._token = token
        parts = urlsplit(self._base)
        add_secret(parts.password)            # https://user:pass@host/: the password is a secret too
        # what error messages and repr() name: the host without any user:password@
        self.host = parts.netloc.rpartition("@")[2] or self._base
        self._shown_base = self._base.replace(parts.netloc, self.host, 1) if parts.netloc else self._base
        self.timeout = float(timeout)
        if session is None:
            session = requests.Session()
            adapter = _DeadlineAdapter(pool_connections=4, pool_maxsize=64)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            # HTTPS_PROXY/NO_PROXY are read once here instead of on every request (saves ~1 ms a send)
            session.proxies.update(requests.utils.get_environ_proxies(self._base))
            session.trust_env = False
        self.session = session

    def __repr__(self) -> str:
        return f"TelegramAPI({self._shown_base!r}, token=***)"

    def call(self, method: str, *, read_timeout: float | None = None,
             files: dict[str, tuple[str, bytes, str]] | None = None, **params: Any) -> Any:
        """POST one Bot API method as JSON (or as multipart/form-data with `files`: field ->
        (filename, bytes, MIME type)); returns `result`. Raises TelegramError (token-free)."""
        body = {key: value for key, value in params.items() if value is not None}
        url = f"{self._base}/bot{self._token}/{method}"
        allowed = read_timeout or self.timeout
        started = time.monotonic()
        deadline = _RequestDeadline(allowed)
        _CURRENT.deadline = deadline
        _WATCHDOG.watch(deadline)
        timeout = (min(self.timeout, 5.0), allowed)
        try:
            if files:
                form = {key: value if isinstance(value, str) else json.dumps(value) for key, value in body.items()}
                response = self.session.post(url, data=form, files=files, timeout=timeout)
            else:
                response = self.session.post(url, json=body, timeout=timeout)
        except requests.exceptions.RequestException as exc:
            if deadline.passed:
                raise self._too_slow(method, allowed) from None
            raise self._network_error(method, exc, allowed) from None
        finally:
            deadline.finish()
            _CURRENT.deadline = None
        if deadline.passed:           # cut off: whatever arrived is not the whole answer
            raise self._too_slow(method, allowed)
        elapsed_ms = (time.monotonic() - started) * 1000
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict) or "ok" not in data:
            if response.status_code == 413:     # nginx in front of the Bot API refuses a large upload
                raise TelegramError(f"Telegram {method} via {self.host}: HTTP 413 Request Entity Too Large "
                                    "(the file is over the upload limit)", method=method, error_code=413,
                                    permanent=True)
            raise TelegramError(f"Telegram {method} via {self.host}: HTTP {response.status_code} "
                                "without a Bot API answer (Telegram or a proxy is failing; will retry)",
                                method=method, error_code=response.status_code)
        if data.get("ok"):
            log.debug("Telegram %s ok in %.1f ms", method, elapsed_ms)
            return data.get("result")
        raise self._api_error(method, data)

    def _too_slow(self, method: str, allowed: float) -> TelegramError:
        return TelegramError(f"Telegram {method} via {self.host}: no complete answer within {allowed:g} s "
                             "(will retry)", method=method)

    def _network_error(self, method: str, exc: requests.exceptions.RequestException,
                       read_timeout: float) -> TelegramError:
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            what = "connection timed out"
        elif isinstance(exc, requests.exceptions.ReadTimeout):
            what = f"no answer within {read_timeout:g} s"
        elif isinstance(exc, requests.exceptions.SSLError):
            what = "TLS handshake failed"
        elif isinstance(exc, requests.exceptions.ConnectionError):
            reason = _root_cause(exc)
            if isinstance(reason, ConnectionRefusedError):
                what = "connection refused"
            elif "RemoteDisconnected" in type(reason).__name__ or isinstance(reason, ConnectionResetError):
                what = "connection dropped before an answer"
            elif "NameResolution" in type(reason).__name__ or "gaierror" in type(reason).__name__:
                what = "name does not resolve"
            else:
                what = f"connection failed ({type(reason).__name__})"
        else:
            what = f"request failed ({type(exc).__name__})"
        return TelegramError(f"Telegram {method} via {self.host}: {what} (will retry)", method=method)

    @staticmethod
    def _api_error(method: str, data: dict[str, Any]) -> TelegramError:
        raw_code = data.get("error_code")
        code = int(str(raw_code)) if str(raw_code).isdigit() else None
        description = str(data.get("description") or "no description")
        raw_parameters = data.get("parameters")
        parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
        message = f"Telegram {method}: {code} {description}"
        if code == 429:
            retry_after = float(parameters.get("retry_after") or 1)
            return TelegramError(message, method=method, error_code=code, description=description,
                                 retry_after=retry_after)
        if parameters.get("migrate_to_chat_id") is not None:
            return TelegramError(message, method=method, error_code=code, description=description,
                                 migrate_to_chat_id=int(parameters["migrate_to_chat_id"]))
        if code in (401, 404):
            return TelegramError(f"Telegram {method}: {code} {description} (the bot token was "
                                 "rejected: check telegram.token)", method=method, error_code=code,
                                 description=description)
        permanent = code in (400, 403, 413)
        return TelegramError(message, method=method, error_code=code, description=description,
                             permanent=permanent)

    # -- the methods netwatchd uses ------------------------------------------------------------

    def send_message(self, chat_id: int | str, text: str, *, parse_mode: str | None = "HTML",
                     reply_markup: dict[str, Any] | None = None,
                     disable_notification: bool = False, reply_to: int | None = None,
                     thread_id: int | None = None) -> int:
        """Send a message; returns its message_id. `reply_to` makes it a reply to that message of the
        chat (sent as an ordinary message when that one is gone: allow_sending_without_reply),
        `thread_id` puts it in that forum topic. Raises TelegramError."""
        reply = {"message_id": reply_to, "allow_sending_without_reply": True} if reply_to else None
        result = self.call("sendMessage", chat_id=chat_id, text=text, parse_mode=parse_mode,
                           reply_markup=reply_markup,
                           disable_notification=disable_notification or None,
                           link_preview_options={"is_disabled": True},
                           reply_parameters=reply, message_thread_id=thread_id or None)
        return int(result["message_id"])

    def send_document(self, chat_id: int | str, filename: str, data: bytes, *, caption: str | None = None,
                      mime_type: str = "application/octet-stream", parse_mode: str | None = "HTML",
                      disable_notification: bool = False) -> int:
        """Upload a file (multipart/form-data, at most 50 MB) as a document; returns the message_id.
        The upload may take longer than a message: the read timeout grows with the size.
        Raises TelegramError (413 when the file is too large: permanent)."""
        if len(data) > MAX_DOCUMENT_BYTES:
            raise TelegramError(f"Telegram sendDocument: {filename} is {len(data) / 1e6:.1f} MB, over the Bot API's "
                                "50 MB limit", method="sendDocument", error_code=413, permanent=True)
        result = self.call("sendDocument", chat_id=str(chat_id), caption=caption or None,
                           parse_mode=parse_mode if caption else None,
                           disable_notification="true" if disable_notification else None,
                           files={"document": (filename, data, mime_type)},
                           read_timeout=self.timeout + len(data) / 250_000)
        return int(result["message_id"])

    def get_updates(self, offset: int | None, timeout: int,
                    allowed_updates: list[str] | None = None) -> list[dict[str, Any]]:
        """Long-poll for updates (confirming those below `offset`). Raises TelegramError."""
        result = self.call("getUpdates", offset=offset, timeout=timeout,
                           allowed_updates=allowed_updates, read_timeout=timeout + self.timeout)
        return list(result or [])

    def get_me(self) -> dict[str, Any]:
        return dict(self.call("getMe"))

    def delete_webhook(self, drop_pending_updates: bool = False) -> bool:
        return bool(self.call("deleteWebhook", drop_pending_updates=drop_pending_updates or None))

    def set_my_commands(self, commands: list[tuple[str, str]]) -> bool:
        return bool(self.call("setMyCommands",
                              commands=[{"command": c, "description": d} for c, d in commands]))

    def answer_callback_query(self, callback_query_id: str, text: str | None = None,
                              show_alert: bool = False) -> bool:
        """Stop a button's spinner, with a short toast (`text`, at most 200 characters). Raises TelegramError."""
        return bool(self.call("answerCallbackQuery", callback_query_id=callback_query_id, text=text or None,
                              show_alert=show_alert or None))

    def edit_message_text(self, chat_id: int | str, message_id: int, text: str, *,
                          parse_mode: str | None = "HTML",
                          reply_markup: dict[str, Any] | None = None) -> dict[str, Any]:
        """Replace a message's text (and its inline keyboard: none when `reply_markup` is None).
        Raises TelegramError ("message is not modified", "message to edit not found", ...)."""
        return dict(self.call("editMessageText", chat_id=chat_id, message_id=message_id, text=text,
                              parse_mode=parse_mode, reply_markup=reply_markup,
                              link_preview_options={"is_disabled": True}))

    def edit_message_reply_markup(self, chat_id: int | str, message_id: int,
                                  reply_markup: dict[str, Any] | None = None) -> dict[str, Any]:
        """Replace only a message's inline keyboard (None removes it). Raises TelegramError."""
        return dict(self.call("editMessageReplyMarkup", chat_id=chat_id, message_id=message_id,
                              reply_markup=reply_markup))


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost cause/context/reason of a requests/urllib3 exception chain."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        nested = (getattr(current, "reason", None) if isinstance(getattr(current, "reason", None), BaseException)
                  else None) or current.__cause__ or current.__context__
        if nested is None and current.args and isinstance(current.args[0], BaseException):
            nested = current.args[0]
        if nested is None:
            break
        current = nested
    return current
