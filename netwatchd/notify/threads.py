"""The conversation of an outage in Telegram: buttons, the root's status lines, and Telegram's
answers that call for a fallback. Pure: no store, no HTTP (the delivery worker calls these).

The root of an incident's thread (its first message in a chat) carries the buttons

    ✅ Ack   🔕 1 h            (admins: acknowledge; snooze reminders and escalation for an hour)
    🔍 Diagnose  📈 History    (admins: ping it now; admins and viewers: its recent events)

and, once something happened, status lines under the alert ("✅ acknowledged by @budi, 10:05 WIB",
"🔕 snoozed by @budi until 11:05 WIB", "🟢 resolved after 4 min 10 s"). An acknowledged incident
keeps Diagnose and History; a resolved one History only.

Several outages announced at once (three or more waiting together: sites failing together that
no parent folds, the backlog of a Telegram outage; two once a group has used half its minute)
share one message, as alerts always have: it is the root of each of their threads, with a row of
buttons per site ("✅ Waru  🔕 1 h  🔍 Diagnose  📈 History") and status lines naming their site.
A group's 20 messages a minute are shared by sends and edits alike (Telegram counts both), so a
burst must not cost one message per site, and edits wait for the chat's alerts.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo
from typing import Any

from netwatchd.engine.incidents import ACK, DIAGNOSE, HISTORY, SNOOZE, Incident, callback_data
from netwatchd.models import Transition
from netwatchd.notify import format as fmt
from netwatchd.textsplit import TELEGRAM_LIMIT

STATUS_RESERVE = 300
"""UTF-16 units a root message leaves free for its status lines (its text is split shorter)."""
ROOT_LIMIT = TELEGRAM_LIMIT - STATUS_RESERVE

_LABELS = {
    "id": {ACK: "✅ Tangani", SNOOZE: "🔕 1 jam", DIAGNOSE: "🔍 Diagnosa", HISTORY: "📈 Riwayat"},
    "en": {ACK: "✅ Ack", SNOOZE: "🔕 1 h", DIAGNOSE: "🔍 Diagnose", HISTORY: "📈 History"},
}
_STATUS = {
    "id": {"ack": "✅ ditangani oleh {who}, {time}", "snooze": "🔕 ditunda oleh {who} sampai {time}",
           "resolved": "🟢 pulih setelah {duration}",
           "ack_news": "✅ <b>{host}</b> ditangani oleh {who}, {time}",
           "snooze_news": "🔕 <b>{host}</b> ditunda oleh {who} sampai {time}"},
    "en": {"ack": "✅ acknowledged by {who}, {time}", "snooze": "🔕 snoozed by {who} until {time}",
           "resolved": "🟢 resolved after {duration}",
           "ack_news": "✅ <b>{host}</b> acknowledged by {who}, {time}",
           "snooze_news": "🔕 <b>{host}</b> snoozed by {who} until {time}"},
}


def _lang(language: str) -> str:
    return language if language in _LABELS else "id"


def short_time(moment: datetime, tz: tzinfo) -> str:
    """10:03 WIB"""
    local = moment.astimezone(tz)
    return f"{local:%H:%M} {local.tzname()}"


def keyboard(incident: Incident, language: str) -> dict[str, Any]:
    """The inline keyboard for the incident as it stands (see the module docstring)."""
    return {"inline_keyboard": _rows(incident, language, None)}


def _rows(incident: Incident, language: str, name: str | None) -> list[list[dict[str, str]]]:
    """The keyboard rows of one incident; with `name` (a message of several outages) one row,
    its first button naming the site."""
    labels = _LABELS[_lang(language)]

    def button(action: str, first: bool = False) -> dict[str, str]:
        text = labels[action] if name is None or not first else f"{labels[action].split()[0]} {name}"
        return {"text": text, "callback_data": callback_data(incident.token, action)}

    if not incident.open:
        actions = [HISTORY]
    elif incident.acked_at is not None:
        actions = [DIAGNOSE, HISTORY]
    else:
        actions = [ACK, SNOOZE, DIAGNOSE, HISTORY]
    if name is not None:
        return [[button(action, first=index == 0) for index, action in enumerate(actions)]]
    if len(actions) == 4:
        return [[button(ACK), button(SNOOZE)], [button(DIAGNOSE), button(HISTORY)]]
    return [[button(action) for action in actions]]


MAX_GROUPED_BUTTON_ROWS = 20
"""A message of many outages has a row of buttons for each of its first 20 (the others: /ack)."""


def grouped_keyboard(incidents: Sequence[Incident], language: str) -> dict[str, Any]:
    """One row per incident of a message that announced several outages at once."""
    rows: list[list[dict[str, str]]] = []
    for incident in incidents[:MAX_GROUPED_BUTTON_ROWS]:
        rows += _rows(incident, language, "server" if incident.host == "__self__" else incident.host)
    return {"inline_keyboard": rows}


def status_lines(incident: Incident, language: str, tz: tzinfo) -> list[str]:
    """What happened to the incident so far, one line each (HTML-escaped)."""
    texts = _STATUS[_lang(language)]
    lines = []
    if incident.acked_at is not None:
        lines.append(texts["ack"].format(who=html.escape(incident.acked_by or "?"),
                                         time=html.escape(short_time(incident.acked_at, tz))))
    elif incident.snoozed_until is not None:
        lines.append(texts["snooze"].format(who=html.escape(incident.snoozed_by or "?"),
                                            time=html.escape(short_time(incident.snoozed_until, tz))))
    if incident.resolved_at is not None:
        seconds = (incident.resolved_at - incident.opened_at).total_seconds()
        lines.append(texts["resolved"].format(duration=html.escape(fmt.format_duration(seconds, _lang(language)))))
    return lines


def root_text(transition: Transition, *, language: str, tz: tzinfo,
              templates: Mapping[str, str] | None = None) -> list[str]:
    """The root message's parts, split ROOT_LIMIT long so its status lines fit in an edit."""
    return fmt.plan_messages([transition], language=language, tz=tz, templates=templates, limit=ROOT_LIMIT)[0][1]


def root_message(transitions: Sequence[Transition], incidents: Sequence[Incident], *, language: str, tz: tzinfo,
                 templates: Mapping[str, str] | None = None, buttons: bool = True
                 ) -> tuple[str, dict[str, Any] | None]:
    """A thread root as it stands: the (last part of the) alert text of its transitions, the
    status lines of its incidents under it (each named by its site when there are several), and
    their buttons (None without `buttons`). `incidents` are the outages this message is the root
    of; a burst's message may also carry news of outages told before (more `transitions`: their
    buttons are under their own roots). What is sent and what every later edit writes."""
    if len(transitions) == 1:
        text = root_text(transitions[0], language=language, tz=tz, templates=templates)[-1]
    else:
        text = fmt.render_message(transitions, language=language, tz=tz, templates=templates)
    lines: list[str] = []
    for incident in incidents:
        own = status_lines(incident, language, tz)
        if len(incidents) > 1 or len(transitions) > 1:
            own = [f"<b>{html.escape(incident.host)}</b>: {line}" for line in own]
        lines += own
    if lines:
        text += "\n\n" + "\n".join(lines)
    markup: dict[str, Any] | None = None
    if buttons and incidents:
        markup = (keyboard(incidents[0], language) if len(incidents) == 1 and len(transitions) == 1
                  else grouped_keyboard(incidents, language))
    return text, markup


def news_text(reason: str, incident: Incident, *, language: str, tz: tzinfo) -> str | None:
    """An Ack's or a snooze's news as a message of its own, for a root that cannot be edited any
    more (deleted, too old); None for news another message already carries (the recovery)."""
    texts = _STATUS[_lang(language)]
    host = html.escape(incident.host)
    if reason == "ack" and incident.acked_at is not None:
        return texts["ack_news"].format(host=host, who=html.escape(incident.acked_by or "?"),
                                        time=html.escape(short_time(incident.acked_at, tz)))
    if reason == "snooze" and incident.snoozed_until is not None:
        return texts["snooze_news"].format(host=host, who=html.escape(incident.snoozed_by or "?"),
                                           time=html.escape(short_time(incident.snoozed_until, tz)))
    return None


# ------------------------------------------------------------------ Telegram's answers

_GONE = ("message to edit not found", "message can't be edited", "message to be replied not found",
         "reply message not found", "replied message not found", "message_id_invalid")
_THREAD_GONE = ("message thread not found", "topic_closed", "topic_deleted", "the chat is not a forum")
_BAD_BUTTONS = ("button_data_invalid", "reply markup is too long", "reply_markup_invalid",
                "can't parse inline keyboard button")


def _description(exc: BaseException) -> str:
    return str(getattr(exc, "description", "") or exc).lower()


def not_modified(exc: BaseException) -> bool:
    """Telegram already shows exactly this (an edit sent twice, e.g. after a crash): success."""
    return getattr(exc, "error_code", None) == 400 and "message is not modified" in _description(exc)


def message_gone(exc: BaseException) -> bool:
    """The message to edit or to reply to is gone (deleted, not the bot's, too old)."""
    return getattr(exc, "error_code", None) == 400 and any(text in _description(exc) for text in _GONE)


def thread_gone(exc: BaseException) -> bool:
    """The forum topic is gone or closed (the message can still go to the chat's General topic)."""
    return getattr(exc, "error_code", None) == 400 and any(text in _description(exc) for text in _THREAD_GONE)


def buttons_refused(exc: BaseException) -> bool:
    """Telegram refused the inline keyboard (the alert itself can still go without it)."""
    return getattr(exc, "error_code", None) == 400 and any(text in _description(exc) for text in _BAD_BUTTONS)
