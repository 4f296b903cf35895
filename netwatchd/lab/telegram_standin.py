"""A Telegram Bot API stand-in: a real threaded HTTP server on loopback.

It answers the methods netwatchd uses (getMe, sendMessage, sendDocument, getUpdates with long
polling and offsets, setMyCommands/getMyCommands, deleteWebhook, getWebhookInfo,
answerCallbackQuery, editMessageText, editMessageReplyMarkup, sendChatAction) with full Bot API
objects (Message, User, Chat with `date`, Document ...), so python-telegram-bot, which parses every
response strictly, accepts them.

Conversations as Telegram keeps them: `reply_parameters` (and the older reply_to_message_id) make
a reply whose Message carries `reply_to_message`; a reply to a message that is gone is refused
with "message to be replied not found" unless allow_sending_without_reply. Forum supergroups
(`create_forum_topic`) have topics: `message_thread_id` puts a message in one ("message thread
not found" for an unknown one, "TOPIC_CLOSED" for a closed one), and a reply lands in its
target's topic. Inline keyboards are checked (callback_data 1-64 bytes, else BUTTON_DATA_INVALID).
Edits fail as Telegram's do: "message to edit not found" (deleted, `delete_message`), "message
can't be edited" (not the bot's own), "message is not modified" (same text and keyboard); like
Telegram, editMessageText without reply_markup removes the inline keyboard. answerCallbackQuery
takes a toast of at most 200 characters (MESSAGE_TOO_LONG) and is recorded (`callback_answers`).

Bodies may be JSON, form-encoded, multipart/form-data (uploads) or query parameters, as with
Telegram. A wrong token or an unknown method gets
`404 {"ok": false, "error_code": 404, "description": "Not Found"}` like Telegram.

sendDocument takes an uploaded file (multipart/form-data) like the Bot API: at most 50 MB (413
"Request Entity Too Large" beyond, as api.telegram.org answers), not empty ("file must be
non-empty"), a caption of at most 1024 characters after entity parsing; a `document` given as a
text (a file_id or URL this stand-in never issued) is "wrong file identifier/HTTP URL specified".

Faults are programmable (`fail_next`, `set_outage`), and optionally Telegram's rate limits are
enforced (429 with retry_after), so tests and benchmarks can prove the delivery worker's pacing.

    with TelegramStandIn() as tg:
        config telegram.api_url = tg.api_url, telegram.token = tg.token
        tg.fail_next(2, "5xx"); tg.wait_for_messages(1, timeout=2)

Run by hand: `python -m netwatchd.lab.telegram_standin --port 8081 --token 123:ABC...`.
Only loopback addresses are accepted.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import ipaddress
import json
import re
import signal
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

DEFAULT_TOKEN = "123456:TEST-token-for-the-stand-in-0000000000"
MAX_UPLOAD_BYTES = 50 * 1000 * 1000          # the Bot API's limit for bots (sendDocument)
MAX_CAPTION = 1024
FAULT_KINDS = ("5xx", "drop", "slow", "429", "403", "chat_not_found", "migrate")
_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                 "blockquote", "tg-spoiler", "span", "tg-emoji"}
_HTTP_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
                 504: "Gateway Timeout"}
_NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
              b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
              b"</body>\r\n</html>\r\n")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


class BotAPIError(Exception):
    """An error answer: Telegram's error_code, description and optional parameters."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class Fault:
    kind: str
    remaining: int
    method: str | None = None          # None: any method
    chat_id: int | None = None         # None: any chat (or a call without chat_id)
    params: dict[str, Any] = field(default_factory=dict)
    after: int = 0                     # matching calls still answered normally before the fault starts

    def matches(self, method: str, chat_id: int | None) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


class _EntityParser(HTMLParser):
    """Checks Telegram's HTML subset and yields the plain text, as the Bot API does."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.error:
            return
        if tag not in _ALLOWED_TAGS:
            self.error = f'Unsupported start tag "{tag}" at byte offset {self._offset()}'
            return
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.error:
            return
        if not self.stack or self.stack[-1] != tag:
            self.error = f'Unexpected end tag at byte offset {self._offset()}'
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def _offset(self) -> int:
        return self.getpos()[1]

    def plain_text(self, text: str) -> str:
        """Raises BotAPIError 400 "can't parse entities" like Telegram."""
        self.feed(text)
        self.close()
        if self.error is None and self.stack:
            self.error = f'Can\'t find end tag corresponding to start tag "{self.stack[-1]}"'
        if self.error:
            raise BotAPIError(400, f"Bad Request: can't parse entities: {self.error}")
        return "".join(self.parts)


class TelegramStandIn:
    """The stand-in server. Thread-safe; every accessor returns copies."""

    def __init__(self, token: str = DEFAULT_TOKEN, host: str = "127.0.0.1", port: int = 0, *,
                 bot_username: str = "netwatchd_lab_bot", enforce_rate_limits: bool = False,
                 latency: float = 0.0) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the stand-in listens on loopback only, not {host}")
        self.token = token
        self.host = host
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.bot_username = bot_username
        self.enforce_rate_limits = enforce_rate_limits
        # the network's round trip in seconds: half before a request is handled (its trip to
        # Telegram), half before the answer is written (its trip back), like a far-away server
        self.latency = max(0.0, float(latency))
        self._requested_port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self._messages: list[dict[str, Any]] = []
        self._incoming: dict[tuple[int, int], dict[str, Any]] = {}     # users' messages, by (chat, id)
        self._deleted: set[tuple[int, int]] = set()
        self._topics: dict[int, dict[int, dict[str, Any]]] = {}        # forum chat -> topic id -> topic
        self._answers: list[dict[str, Any]] = []
        self._next_message_id: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 700000001
        self._poll_generation = 0
        self._callbacks: set[str] = set()
        self._next_callback = 5000000000000000001
        self._chats: dict[int, dict[str, Any]] = {}
        self._commands: dict[str, list[dict[str, str]]] = {}
        self._faults: list[Fault] = []
        self._outage: str | None = None
        self._calls: list[dict[str, Any]] = []
        self._send_times: dict[int, deque[float]] = {}
        self._global_send_times: deque[float] = deque()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> TelegramStandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        server = ThreadingHTTPServer((self.host, self._requested_port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="telegram-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TelegramStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the stand-in is not started")
        return int(self._server.server_address[1])

    @property
    def api_url(self) -> str:
        """What goes in telegram.api_url (requests go to {api_url}/bot{token}/{method})."""
        return f"http://{self.host}:{self.port}"

    # -- test controls ------------------------------------------------------------------------

    def fail_next(self, n: int, kind: str, *, method: str | None = None, chat_id: int | None = None,
                  after: int = 0, **params: Any) -> None:
        """The next `n` matching calls fail with `kind`:
        "5xx" (status=502), "drop" (connection closed, no answer), "slow" (seconds=1.0, then answered
        normally, or then=<another kind>), "429" (retry_after=3),
        "403" (description="Forbidden: bot was blocked by the user"),
        "chat_not_found", "migrate" (to_chat_id=...). `method`/`chat_id` narrow which calls match;
        `after` lets that many matching calls through first (e.g. a long answer refused from its
        4th message on: after=3)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
        with self._cond:
            self._faults.append(Fault(kind, n, method, chat_id, dict(params), after=after))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._outage = None

    def set_outage(self, on: bool, mode: str = "502") -> None:
        """While on, every call fails: mode "502" (nginx HTML page, like a real outage) or "drop"."""
        if mode not in ("502", "drop"):
            raise ValueError("outage mode is '502' or 'drop'")
        with self._cond:
            self._outage = mode if on else None

    def inject_message(self, chat_id: int, user_id: int, text: str, chat_type: str | None = None,
                       username: str = "admin", thread_id: int | None = None) -> int:
        """Queue an incoming message (as if `user_id` wrote `text` in `chat_id`, in forum topic
        `thread_id` when given); returns update_id. A leading /command gets its bot_command
        entity, as Telegram sends it. `chat_type` defaults to private for a positive id."""
        with self._cond:
            if chat_type is None:
                known = self._chats.get(chat_id)
                chat_type = known["type"] if known is not None else ("private" if chat_id > 0 else None)
            chat = self._chat(chat_id, chat_type, username)
            message: dict[str, Any] = {
                "message_id": self._new_message_id(chat_id), "from": self._user(user_id, username),
                "chat": chat, "date": int(time.time()), "text": text,
            }
            if thread_id is not None:
                if thread_id not in self._topics.get(chat_id, {}):
                    raise ValueError(f"chat {chat_id} has no forum topic {thread_id}")
                message.update(message_thread_id=thread_id, is_topic_message=True)
            command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
            if command:
                message["entities"] = [{"type": "bot_command", "offset": 0,
                                        "length": utf16_len(command.group(0))}]
            self._incoming[(chat_id, message["message_id"])] = message
            return self._add_update({"message": message})

    def inject_raw_update(self, body: dict[str, Any]) -> int:
        """Queue an update with this exact body (fault tests: wrongly typed fields); returns update_id."""
        with self._cond:
            return self._add_update(dict(body))

    def inject_callback(self, chat_id: int, user_id: int, data: str, message_id: int,
                        username: str = "admin") -> int:
        """Queue a callback_query (a press on an inline button of message `message_id`); returns
        update_id. The data is sent as given: a forged one (a modified client can send any) too."""
        with self._cond:
            stored = self._find_message(chat_id, message_id)
            message = (self._message_object(stored) if stored else
                       {"message_id": message_id, "date": int(time.time()),
                        "chat": self._chat(chat_id), "from": self._bot_user()})
            callback_id = str(self._next_callback)
            self._next_callback += 1
            self._callbacks.add(callback_id)
            query = {"id": callback_id, "from": self._user(user_id, username), "message": message,
                     "chat_instance": str(abs(chat_id) * 7 + 11), "data": data}
            return self._add_update({"callback_query": query})

    def create_forum_topic(self, chat_id: int, name: str) -> int:
        """Make `chat_id` a forum supergroup (if it is not yet) with a topic `name`; returns its
        message_thread_id (as in Telegram: the id of the topic's creation message)."""
        if chat_id > -1000000000000:
            raise ValueError("only a supergroup (id -100...) can be a forum")
        with self._cond:
            chat = self._chat(chat_id, "supergroup")
            self._chats[chat_id] = {**chat, "is_forum": True}
            thread_id = self._new_message_id(chat_id)
            self._topics.setdefault(chat_id, {})[thread_id] = {"name": name, "closed": False}
            return thread_id

    def close_forum_topic(self, chat_id: int, thread_id: int, *, delete: bool = False) -> None:
        """Close a topic (sending into it: TOPIC_CLOSED) or delete it (message thread not found)."""
        with self._cond:
            topics = self._topics.get(chat_id, {})
            if delete:
                topics.pop(thread_id, None)
            elif thread_id in topics:
                topics[thread_id]["closed"] = True

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """As if an admin deleted the message: editing it, or replying to it, fails from now on."""
        with self._cond:
            self._deleted.add((chat_id, message_id))

    def callback_answers(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls answered: {callback_query_id, text, show_alert, at}."""
        with self._cond:
            return [dict(a) for a in self._answers]

    def messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent: {chat_id, message_id, text, parse_mode, reply_markup, at, thread_id,
        reply_to (the message id it replies to), edits (how many), edited_at (time.time() of the last)}."""
        with self._cond:
            return [self._public(m) for m in self._messages if chat_id is None or m["chat_id"] == chat_id]

    def documents(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Documents the bot sent: {chat_id, message_id, file_name, mime_type, data, caption, at}."""
        with self._cond:
            return [{"chat_id": m["chat_id"], "message_id": m["message_id"], "caption": m["text"],
                     "at": m["at"], **{k: v for k, v in m["document"].items() if k != "file_id"}}
                    for m in self._messages if m.get("document") and (chat_id is None or m["chat_id"] == chat_id)]

    def wait_for_messages(self, count: int, timeout: float, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Block until at least `count` messages (for `chat_id`) exist or `timeout` passes; returns them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self._messages if chat_id is None or m["chat_id"] == chat_id]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return [self._public(m) for m in found]
                self._cond.wait(remaining)

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Requests received: {method, params, status, at} (status 0: connection dropped)."""
        with self._cond:
            return [dict(c) for c in self._calls if method is None or c["method"].lower() == method.lower()]

    def commands(self) -> list[dict[str, str]]:
        """The default-scope command list last set with setMyCommands."""
        with self._cond:
            return [dict(c) for c in self._commands.get(self._scope_key({}, ""), [])]

    def pending_updates(self) -> int:
        with self._cond:
            return len(self._updates)

    # -- request handling (called by the handler threads) ----------------------------------------

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, Any]:
        """Returns (http status, JSON body | None for a dropped connection | bytes for raw HTML)."""
        chat_id = _optional_int(params.get("chat_id"))
        record = {"method": method, "params": params, "status": 0, "at": time.time()}
        with self._cond:
            self._calls.append(record)
            outage = self._outage
            fault = next((f for f in self._faults if f.matches(method, chat_id)), None)
            if fault is not None and fault.after > 0:      # not yet: this call is answered normally
                fault.after -= 1
                fault = None
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
        status, body = self._answer(token, method, params, chat_id, outage, fault)
        record["status"] = status
        return status, body

    def _answer(self, token: str, method: str, params: dict[str, Any], chat_id: int | None,
                outage: str | None, fault: Fault | None) -> tuple[int, Any]:
        if outage == "drop":
            return 0, None
        if outage == "502":
            return 502, _NGINX_502
        if fault is not None:
            early = self._fault_answer(fault, chat_id)
            if early is not None:
                return early
        if token != self.token:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        handler = _METHODS.get(method.lower())
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        try:
            return 200, {"ok": True, "result": handler(self, params)}
        except BotAPIError as exc:
            body: dict[str, Any] = {"ok": False, "error_code": exc.code, "description": exc.description}
            if exc.parameters:
                body["parameters"] = exc.parameters
            return exc.code, body

    def _fault_answer(self, fault: Fault, chat_id: int | None) -> tuple[int, Any] | None:
        p = fault.params
        if fault.kind == "slow":
            deadline = time.monotonic() + float(p.get("seconds", 1.0))
            with self._cond:
                while not self._stopping and time.monotonic() < deadline:
                    self._cond.wait(deadline - time.monotonic())
            then = p.get("then")            # e.g. then="drop": slow, and never handled at all
            if then:
                return self._fault_answer(Fault(str(then), 1, params={k: v for k, v in p.items()
                                                                      if k not in ("then", "seconds")}), chat_id)
            return None
        if fault.kind == "drop":
            return 0, None
        if fault.kind == "5xx":
            status = int(p.get("status", 502))
            return status, {"ok": False, "error_code": status,
                            "description": _HTTP_REASONS.get(status, "Internal Server Error")}
        if fault.kind == "429":
            retry_after = int(p.get("retry_after", 3))
            return 429, {"ok": False, "error_code": 429,
                         "description": f"Too Many Requests: retry after {retry_after}",
                         "parameters": {"retry_after": retry_after}}
        if fault.kind == "403":
            return 403, {"ok": False, "error_code": 403,
                         "description": p.get("description", "Forbidden: bot was blocked by the user")}
        if fault.kind == "chat_not_found":
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"}
        if fault.kind == "migrate":
            new_id = int(p.get("to_chat_id", -1000000000000 - abs(chat_id or 1)))
            return 400, {"ok": False, "error_code": 400,
                         "description": "Bad Request: group chat was upgraded to a supergroup chat",
                         "parameters": {"migrate_to_chat_id": new_id}}
        return None

    # -- Bot API methods -------------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _required_chat_id(params)
        text, parse_mode = self._checked_text(params)
        reply_markup = _checked_markup(params.get("reply_markup"))
        reply = _json_param(params.get("reply_parameters"))
        if reply is None and params.get("reply_to_message_id") not in (None, ""):    # before Bot API 7.0
            reply = {"message_id": params.get("reply_to_message_id"),
                     "allow_sending_without_reply": _truthy(params.get("allow_sending_without_reply"))}
        if reply is not None and (not isinstance(reply, dict) or _optional_int(reply.get("message_id")) is None):
            raise BotAPIError(400, "Bad Request: invalid reply parameters specified")
        thread_id = _optional_int(params.get("message_thread_id"))
        with self._cond:
            reply_to = None
            if reply is not None:
                target_chat = _optional_int(reply.get("chat_id")) or chat_id
                reply_to = self._find_any(target_chat, int(reply["message_id"]))
                if reply_to is None and not _truthy(reply.get("allow_sending_without_reply")):
                    raise BotAPIError(400, "Bad Request: message to be replied not found")
                if reply_to is not None and target_chat == chat_id and thread_id is None:
                    thread_id = reply_to.get("thread_id") or reply_to.get("message_thread_id")
            if thread_id is not None:
                self._check_thread(chat_id, thread_id)
            self._check_rate_limits(chat_id)
            stored = {"chat_id": chat_id, "message_id": self._new_message_id(chat_id), "text": text,
                      "plain_text": self._plain(text, parse_mode), "parse_mode": parse_mode,
                      "reply_markup": reply_markup, "at": time.time(), "date": int(time.time()),
                      "edit_date": None, "thread_id": thread_id,
                      "reply_to": (reply_to["chat_id"] if "chat_id" in reply_to else reply_to["chat"]["id"],
                                   reply_to["message_id"]) if reply_to is not None else None}
            self._messages.append(stored)
            self._cond.notify_all()
            return self._message_object(stored)

    def _send_document(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _required_chat_id(params)
        upload = params.get("document")
        if upload is None or upload == "":
            raise BotAPIError(400, "Bad Request: there is no document in the request")
        if not isinstance(upload, _Upload):
            raise BotAPIError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        if not upload.data:
            raise BotAPIError(400, "Bad Request: file must be non-empty")
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise BotAPIError(413, "Request Entity Too Large")
        caption = params.get("caption") or ""
        parse_mode = params.get("parse_mode") or None
        plain = self._plain(str(caption), parse_mode) if caption else ""
        if utf16_len(plain) > MAX_CAPTION:
            raise BotAPIError(400, "Bad Request: message caption is too long")
        reply_markup = _json_param(params.get("reply_markup"))
        with self._cond:
            self._check_rate_limits(chat_id)
            number = self._new_message_id(chat_id)
            document = {"file_id": f"BQACAgUAAx0{chat_id & 0xffffff:06x}{number:06d}",
                        "file_unique_id": f"AgAD{number:06d}", "file_name": upload.filename or "document",
                        "mime_type": upload.content_type or "application/octet-stream",
                        "file_size": len(upload.data), "data": upload.data}
            stored = {"chat_id": chat_id, "message_id": number, "text": str(caption), "plain_text": plain,
                      "parse_mode": parse_mode, "reply_markup": reply_markup, "at": time.time(),
                      "date": int(time.time()), "edit_date": None, "document": document}
            self._messages.append(stored)
            self._cond.notify_all()
            return self._message_object(stored)

    def _editable(self, params: dict[str, Any]) -> dict[str, Any]:
        """The bot's message an edit names (holds self._cond). Raises BotAPIError as Telegram does."""
        chat_id = _required_chat_id(params)
        message_id = _optional_int(params.get("message_id"))
        if message_id is None:
            raise BotAPIError(400, "Bad Request: message identifier is not specified")
        if (chat_id, message_id) in self._deleted:
            raise BotAPIError(400, "Bad Request: message to edit not found")
        stored = self._find_message(chat_id, message_id)
        if stored is None:
            if (chat_id, message_id) in self._incoming:
                raise BotAPIError(400, "Bad Request: message can't be edited")
            raise BotAPIError(400, "Bad Request: message to edit not found")
        return stored

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        text, parse_mode = self._checked_text(params)
        reply_markup = _checked_markup(params.get("reply_markup"))
        with self._cond:
            stored = self._editable(params)
            plain = self._plain(text, parse_mode)
            if stored["plain_text"] == plain and stored["text"] == text and stored["reply_markup"] == reply_markup:
                raise BotAPIError(400, "Bad Request: message is not modified: specified new message "
                                       "content and reply markup are exactly the same as a current "
                                       "content and reply markup of the message")
            stored.update(text=text, plain_text=plain, parse_mode=parse_mode,
                          reply_markup=reply_markup, edit_date=int(time.time()))
            stored["edits"] = stored.get("edits", 0) + 1
            stored["edited_at"] = time.time()
            self._cond.notify_all()
            return self._message_object(stored)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any]:
        reply_markup = _checked_markup(params.get("reply_markup"))
        with self._cond:
            stored = self._editable(params)
            if stored["reply_markup"] == reply_markup:
                raise BotAPIError(400, "Bad Request: message is not modified: specified new message "
                                       "content and reply markup are exactly the same as a current "
                                       "content and reply markup of the message")
            stored.update(reply_markup=reply_markup, edit_date=int(time.time()))
            stored["edits"] = stored.get("edits", 0) + 1
            stored["edited_at"] = time.time()
            self._cond.notify_all()
            return self._message_object(stored)

    def _check_thread(self, chat_id: int, thread_id: int) -> None:
        """A message_thread_id must name an open topic of a forum (holds self._cond)."""
        topic = self._topics.get(chat_id, {}).get(thread_id)
        if topic is None:
            raise BotAPIError(400, "Bad Request: message thread not found")
        if topic["closed"]:
            raise BotAPIError(400, "Bad Request: TOPIC_CLOSED")

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = _optional_int(params.get("offset"))
        limit = min(max(_optional_int(params.get("limit")) or 100, 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        allowed = _json_param(params.get("allowed_updates"))
        deadline = time.monotonic() + timeout
        with self._cond:
            if offset is not None and offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset is not None and offset < 0:
                self._updates = self._updates[offset:]
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            while True:
                if generation != self._poll_generation:
                    raise BotAPIError(409, "Conflict: terminated by other getUpdates request; make "
                                           "sure that only one bot instance is running")
                ready = [u for u in self._updates
                         if not allowed or any(kind in u for kind in allowed)][:limit]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._stopping:
                    return json.loads(json.dumps(ready))
                self._cond.wait(remaining)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = _json_param(params.get("commands"))
        if not isinstance(commands, list) or len(commands) > 100:
            raise BotAPIError(400, "Bad Request: commands must be a list of at most 100 BotCommand")
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME.fullmatch(str(command.get("command", ""))):
                raise BotAPIError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise BotAPIError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._scope_key(_json_param(params.get("scope")) or {}, str(params.get("language_code") or ""))
        with self._cond:
            self._commands[key] = [{"command": str(c["command"]), "description": str(c["description"])}
                                   for c in commands]
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        key = self._scope_key(_json_param(params.get("scope")) or {}, str(params.get("language_code") or ""))
        with self._cond:
            return [dict(c) for c in self._commands.get(key, [])]

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        callback_id = str(params.get("callback_query_id", ""))
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise BotAPIError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._cond:
            if callback_id not in self._callbacks:
                raise BotAPIError(400, "Bad Request: query is too old and response timeout expired "
                                       "or query ID is invalid")
            self._callbacks.discard(callback_id)
            self._answers.append({"callback_query_id": callback_id, "text": text,
                                  "show_alert": _truthy(params.get("show_alert")), "at": time.time()})
            self._cond.notify_all()
        return True

    def wait_for_answers(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Block until at least `count` callback queries were answered or `timeout` passes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._answers) < count and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            return [dict(a) for a in self._answers]

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        return True

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        _required_chat_id(params)
        return True

    # -- helpers (callers hold self._cond where noted) --------------------------------------------

    def _checked_text(self, params: dict[str, Any]) -> tuple[str, str | None]:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            raise BotAPIError(400, "Bad Request: message text is empty")
        parse_mode = params.get("parse_mode") or None
        if parse_mode is not None and str(parse_mode).lower() not in ("html", "markdown", "markdownv2"):
            raise BotAPIError(400, f"Bad Request: unsupported parse_mode \"{parse_mode}\"")
        if utf16_len(self._plain(text, parse_mode)) > 4096:
            raise BotAPIError(400, "Bad Request: message is too long")
        return text, parse_mode

    @staticmethod
    def _plain(text: str, parse_mode: str | None) -> str:
        if parse_mode and parse_mode.lower() == "html":
            return _EntityParser().plain_text(text)
        return text

    def _check_rate_limits(self, chat_id: int) -> None:
        """Telegram's limits as 429s (only with enforce_rate_limits). Holds self._cond.
        1 message per second per chat (with 0.1 s of network slack), 20 per minute per group,
        30 per second overall."""
        now = time.monotonic()
        recent = self._send_times.setdefault(chat_id, deque())
        while recent and now - recent[0] > 60:
            recent.popleft()
        while self._global_send_times and now - self._global_send_times[0] > 1:
            self._global_send_times.popleft()
        if self.enforce_rate_limits:
            too_fast = recent and now - recent[-1] < 0.9
            group_full = chat_id < 0 and len(recent) >= 20
            global_full = len(self._global_send_times) >= 30
            if too_fast or group_full or global_full:
                retry_after = max(1, int(60 - (now - recent[0])) + 1) if group_full else 1
                raise BotAPIError(429, f"Too Many Requests: retry after {retry_after}",
                                  {"retry_after": retry_after})
        recent.append(now)
        self._global_send_times.append(now)

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "netwatchd lab",
                "username": self.bot_username}

    @staticmethod
    def _user(user_id: int, username: str) -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": username.capitalize() or "Admin",
                "username": username, "language_code": "id"}

    def _chat(self, chat_id: int, chat_type: str | None = None, username: str = "admin") -> dict[str, Any]:
        known = self._chats.get(chat_id)
        if known is not None and (chat_type is None or known["type"] == chat_type):
            return dict(known)
        if chat_type is None:
            chat_type = "private" if chat_id > 0 else ("supergroup" if chat_id <= -1000000000000 else "group")
        if chat_type == "private":
            chat = {"id": chat_id, "type": "private", "first_name": username.capitalize() or "Admin",
                    "username": username}
        else:
            chat = {"id": chat_id, "type": chat_type, "title": "Lab admins"}
            if known is not None and known.get("is_forum"):
                chat["is_forum"] = True
        self._chats[chat_id] = chat
        return dict(chat)

    def _new_message_id(self, chat_id: int) -> int:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        return self._next_message_id[chat_id]

    def _add_update(self, body: dict[str, Any]) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, **body})
        self._cond.notify_all()
        return update_id

    def _find_message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """One of the bot's own messages (a deleted one too)."""
        return next((m for m in self._messages
                     if m["chat_id"] == chat_id and m["message_id"] == message_id), None)

    def _find_any(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """A message that is still there, the bot's or a user's (a reply target)."""
        if (chat_id, message_id) in self._deleted:
            return None
        return self._find_message(chat_id, message_id) or self._incoming.get((chat_id, message_id))

    def _message_object(self, stored: dict[str, Any], nested: bool = False) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": stored["message_id"], "from": self._bot_user(),
                                   "chat": self._chat(stored["chat_id"]), "date": stored["date"]}
        document = stored.get("document")
        if document:
            message["document"] = {k: v for k, v in document.items() if k != "data"}
            if stored["plain_text"]:
                message["caption"] = stored["plain_text"]
        else:
            message["text"] = stored["plain_text"]
        if stored.get("thread_id"):
            message.update(message_thread_id=stored["thread_id"], is_topic_message=True)
        if stored.get("edit_date"):
            message["edit_date"] = stored["edit_date"]
        markup = stored.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        target = stored.get("reply_to")
        if target is not None and not nested:
            found = self._find_message(*target)
            if found is not None:
                message["reply_to_message"] = self._message_object(found, nested=True)
            elif target in self._incoming:
                message["reply_to_message"] = dict(self._incoming[target])
        return message

    @staticmethod
    def _public(stored: dict[str, Any]) -> dict[str, Any]:
        public = {key: stored[key] for key in ("chat_id", "message_id", "text", "parse_mode", "reply_markup", "at")}
        if stored.get("document"):
            public["document"] = {k: v for k, v in stored["document"].items() if k != "data"}
        public.update(thread_id=stored.get("thread_id"), reply_to=stored["reply_to"][1] if stored.get("reply_to")
                      else None, edits=stored.get("edits", 0), edited_at=stored.get("edited_at"))
        return public

    @staticmethod
    def _scope_key(scope: Any, language_code: str) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True) + "|" + language_code


_METHODS = {
    "getme": TelegramStandIn._get_me,
    "sendmessage": TelegramStandIn._send_message,
    "senddocument": TelegramStandIn._send_document,
    "editmessagetext": TelegramStandIn._edit_message_text,
    "editmessagereplymarkup": TelegramStandIn._edit_message_reply_markup,
    "getupdates": TelegramStandIn._get_updates,
    "setmycommands": TelegramStandIn._set_my_commands,
    "getmycommands": TelegramStandIn._get_my_commands,
    "answercallbackquery": TelegramStandIn._answer_callback_query,
    "deletewebhook": TelegramStandIn._delete_webhook,
    "getwebhookinfo": TelegramStandIn._get_webhook_info,
    "sendchataction": TelegramStandIn._send_chat_action,
}


@dataclass(frozen=True)
class _Upload:
    """A file part of a multipart/form-data request."""

    filename: str
    content_type: str
    data: bytes = field(repr=False)


def _multipart(content_type: str, raw: bytes) -> dict[str, Any]:
    """Fields of a multipart/form-data body: text for plain parts, _Upload for file parts.
    Raises ValueError for a body that is not multipart."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
    if not message.is_multipart():
        raise ValueError("not multipart")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        raw_payload = part.get_payload(decode=True)
        payload = raw_payload if isinstance(raw_payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields[str(name)] = _Upload(str(filename), part.get_content_type(), payload)
        else:
            fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8")
    return fields


def _optional_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _required_chat_id(params: dict[str, Any]) -> int:
    if params.get("chat_id") in (None, ""):
        raise BotAPIError(400, "Bad Request: chat_id is empty")
    chat_id = _optional_int(params.get("chat_id"))
    if chat_id is None:
        raise BotAPIError(400, "Bad Request: chat not found")
    return chat_id


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _checked_markup(value: Any) -> Any:
    """reply_markup as Telegram checks an inline keyboard: each button has a text and one action;
    callback_data is 1-64 bytes (else BUTTON_DATA_INVALID)."""
    markup = _json_param(value)
    if not isinstance(markup, dict) or "inline_keyboard" not in markup:
        return markup
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise BotAPIError(400, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must "
                               "be an Object")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or ""):
                raise BotAPIError(400, "Bad Request: can't parse inline keyboard button: Text buttons are "
                                       "unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                raise BotAPIError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _json_param(value: Any) -> Any:
    """Form-encoded bodies carry objects as JSON strings; JSON bodies carry them as objects."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            raise BotAPIError(400, "Bad Request: can't parse JSON object") from None
    return value


class _Handler(BaseHTTPRequestHandler):
    owner: TelegramStandIn
    protocol_version = "HTTP/1.1"      # keep-alive, like Telegram: requests.Session reuses it
    server_version = "nginx/1.18.0"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        # like nginx's tcp_nodelay: a small answer must not wait for the client's delayed ACK
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)/?", parts.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_UPLOAD_BYTES + 1_000_000:    # nginx refuses it before the Bot API sees it
            self.close_connection = True
            self._reply(413, {"ok": False, "error_code": 413, "description": "Request Entity Too Large"})
            return
        raw = self.rfile.read(length) if length else b""
        if match is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        try:
            params = self._params(parts.query, raw)
        except ValueError:
            self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: can't parse JSON"})
            return
        half_trip = self.owner.latency / 2
        if half_trip > 0:
            time.sleep(half_trip)        # the request travels to Telegram...
        status, body = self.owner.handle(match.group(1), match.group(2), params)
        if half_trip > 0:
            time.sleep(half_trip)        # ...it is handled (a message is shown), the answer travels back
        if body is None:             # dropped connection: no status line at all
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self._reply(status, body)

    def _params(self, query: str, raw: bytes) -> dict[str, Any]:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        full_type = self.headers.get("Content-Type") or ""
        content_type = full_type.split(";")[0].strip().lower()
        if raw and content_type == "multipart/form-data":
            params.update(_multipart(full_type, raw))
        elif raw and content_type == "application/json":
            body = json.loads(raw.decode("utf-8"))
            if not isinstance(body, dict):
                raise ValueError("not an object")
            params.update(body)
        elif raw:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return params

    def _reply(self, status: int, body: Any) -> None:
        if isinstance(body, bytes):
            data, content_type = body, "text/html"
        else:
            data, content_type = json.dumps(body, ensure_ascii=False).encode("utf-8"), "application/json"
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m netwatchd.lab.telegram_standin",
                                     description="Telegram Bot API stand-in on loopback (lab, tests, demo).")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8081, help="default 8081 (0: any free port)")
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bot token it accepts")
    parser.add_argument("--enforce-rate-limits", action="store_true",
                        help="answer 429 like Telegram when 1/s per chat, 20/min per group or 30/s is exceeded")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the round trip of every request in ms, half each way (default 0; "
                             "150 is a realistic trip from Indonesia to Telegram's servers)")
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.exit(2, "telegram stand-in: --latency-ms must be 0 or more\n")
    try:
        standin = TelegramStandIn(args.token, args.host, args.port, enforce_rate_limits=args.enforce_rate_limits,
                                  latency=args.latency_ms / 1000).start()
    except (ValueError, OSError) as exc:
        parser.exit(2, f"telegram stand-in: cannot listen on {args.host}:{args.port}: "
                       f"{exc.strerror if isinstance(exc, OSError) else exc}\n")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"Telegram Bot API stand-in: {standin.api_url}  (set telegram.api_url to this; "
          "Ctrl-C to stop)", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
