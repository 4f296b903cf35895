"""Hooks: a command (argv, no shell) or a webhook (JSON POST) run on transitions.

Which transitions (`event_names`) — what admins are told, plus what they are not told on purpose:

  down / up / degraded / path   a site's announced change (not its first settling at start-up, not
                                a change hidden while it flaps, is muted or has alert_on_down: false)
  unreachable                   a site cut off because its parent went down (never announced alone)
  flapping                      a site started flapping, or is stable again (kind says which)
  up / down / degraded          the state announced when a maintenance window ends (kind maintenance_end)
  uplink                        the monitoring server lost its own uplink, or has it back
  acknowledged                  an admin acknowledged an incident
  router                        a router's own health figure past / back within its `health:` threshold
                                (kind router_health), a router restart (kind router_restart)

Each transition a hook wants becomes a row of the outbox in that hook's lane (`hook:NAME`), in the
same transaction as its event (store.state_repo.save), and the delivery worker runs it from there:
persisted, retried with backoff, in order per hook, at least once — a receiver may see an event
twice after a crash or a timeout, so the event carries `event_id` (and webhooks the header
X-Netwatchd-Event-Id) to recognise it. A command gets the event JSON on stdin and NETWATCHD_*
variables in an environment that holds nothing else of netwatchd's (no bot token, no password);
its output goes to the log with secrets masked. A webhook gets the JSON as the POST body and the
configured headers (their ${VAR} values are secrets: never logged).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from netwatchd import __version__
from netwatchd.config.model import HookSpec
from netwatchd.errors import DeliveryError
from netwatchd.logs import redact
from netwatchd.models import State, Transition

log = logging.getLogger("netwatchd.hooks")

HOOK_PREFIX = "hook:"
OUTPUT_LOGGED = 2000           # characters of a command's stdout/stderr written to the log
GIVE_UP_AFTER_S = 24 * 3600.0  # a hook that still fails a day after the event: the row is given up (dead)
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_RETRY_STATUSES = {408, 425, 429}


def lane(name: str) -> str:
    """The outbox lane (chat_id) of the hook called `name`."""
    return HOOK_PREFIX + name


def is_hook_lane(chat_id: str) -> bool:
    return chat_id.startswith(HOOK_PREFIX)


def event_names(transition: Transition) -> set[str]:
    """The `on:` names this transition matches (see the module docstring); empty for none."""
    kind, to = transition.kind, transition.to_state.value
    if kind in ("uplink_lost", "uplink_back"):
        return {"uplink"}
    if kind in ("acknowledged", "ack"):
        return {"acknowledged"}
    if kind in ("router_health", "router_restart"):
        return {"router"}
    if kind == "state":
        if transition.from_state == State.UNKNOWN:
            return set()                        # the first settling at start-up: nothing happened
        if to == "unreachable":
            return {"unreachable"}
        return {to} if transition.notify else set()
    if kind in ("flapping", "stable"):
        return {"flapping"} if transition.notify else set()
    if kind == "maintenance_end":
        return {to} if transition.notify and to != "unknown" else set()
    return set()


def lanes_for(hooks: Sequence[HookSpec]) -> Callable[[Transition], list[str]]:
    """transition -> the lanes of the hooks that want it (what store.state_repo.save enqueues)."""
    wanted = [(lane(h.name), frozenset(h.on)) for h in hooks]

    def lanes(transition: Transition) -> list[str]:
        names = event_names(transition)
        return [name for name, on in wanted if names & on] if names else []

    return lanes


def hook_event(transition: Transition, event_id: int | None, hook: str) -> dict[str, Any]:
    """The JSON a hook receives."""
    names = sorted(event_names(transition))
    since = transition.since
    return {
        "event": names[0] if names else transition.kind, "kind": transition.kind,
        "host": transition.host, "address": transition.address, "group": transition.group,
        "state": transition.to_state.value, "previous": transition.from_state.value,
        "at": transition.at.isoformat(timespec="milliseconds"),
        "since": since.isoformat(timespec="milliseconds") if since else None,
        "duration_s": round((transition.at - since).total_seconds(), 3) if since else None,
        "affected": list(transition.affected), "evidence": dict(transition.evidence),
        "event_id": event_id, "hook": hook, "netwatchd": __version__,
    }


def hook_environment(event: Mapping[str, Any], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A command's environment: PATH, HOME, LANG, TZ ... of netwatchd's (nothing else: no secret)
    and NETWATCHD_* from the event."""
    source = os.environ if base is None else base
    env = {key: source[key] for key in PASSED_ENV if key in source}
    env.setdefault("PATH", DEFAULT_PATH)
    values = {"EVENT": event["event"], "KIND": event["kind"], "HOST": event["host"], "ADDRESS": event["address"],
              "GROUP": event["group"], "STATE": event["state"], "PREVIOUS": event["previous"], "AT": event["at"],
              "SINCE": event["since"] or "", "EVENT_ID": "" if event["event_id"] is None else str(event["event_id"]),
              "AFFECTED": ",".join(event["affected"]), "HOOK": event["hook"]}
    env.update({f"NETWATCHD_{key}": str(value) for key, value in values.items()})
    return env


class HookFailed(DeliveryError):
    """A hook did not succeed; `permanent` gives the event up (a webhook's 4xx)."""


class HookRunner:
    """Runs one hook for one event. `run` returns a short summary or raises HookFailed."""

    def __init__(self, hooks: Sequence[HookSpec], *, workdir: Path | str | None = None,
                 session: requests.Session | None = None) -> None:
        self.hooks = {h.name: h for h in hooks}
        self.workdir = str(workdir) if workdir is not None else None
        self.session = session or requests.Session()

    def replace_hooks(self, hooks: Sequence[HookSpec]) -> None:
        self.hooks = {h.name: h for h in hooks}

    def run(self, spec: HookSpec, event: Mapping[str, Any]) -> str:
        """Raises HookFailed."""
        payload = json.dumps(event, ensure_ascii=False, sort_keys=True).encode("utf-8")
        if spec.command:
            return self._command(spec, event, payload)
        return self._webhook(spec, event, payload)

    # -- a command ---------------------------------------------------------------------------

    def _command(self, spec: HookSpec, event: Mapping[str, Any], payload: bytes) -> str:
        program = spec.command[0]
        try:
            proc = subprocess.Popen(list(spec.command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=hook_environment(event), cwd=self.workdir,
                                    start_new_session=True, close_fds=True)
        except OSError as exc:
            raise HookFailed(f"cannot run {program}: {exc.strerror or exc} (check hooks.command and that "
                             "the program is executable by netwatchd's user)") from None
        try:
            out, err = proc.communicate(payload, timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            self._log_output(spec, out, err, logging.WARNING)
            raise HookFailed(f"{program} did not finish within {spec.timeout:g} s (killed)") from None
        failed = proc.returncode != 0
        self._log_output(spec, out, err, logging.WARNING if failed else logging.INFO)
        if proc.returncode < 0:
            raise HookFailed(f"{program} was killed by signal {-proc.returncode}")
        if failed:
            last = _last_line(err) or _last_line(out)
            raise HookFailed(f"{program} exited with status {proc.returncode}" + (f": {last}" if last else ""))
        return f"{program} exited 0"

    @staticmethod
    def _log_output(spec: HookSpec, out: bytes, err: bytes, level: int) -> None:
        for stream, data in (("stdout", out), ("stderr", err)):
            text = data.decode("utf-8", errors="replace").strip()
            if text:
                shown = text[:OUTPUT_LOGGED] + (" ..." if len(text) > OUTPUT_LOGGED else "")
                log.log(level, "hook %s %s: %s", spec.name, stream, redact(shown))

    # -- a webhook ----------------------------------------------------------------------------

    def _webhook(self, spec: HookSpec, event: Mapping[str, Any], payload: bytes) -> str:
        headers = {"Content-Type": "application/json", "User-Agent": f"netwatchd/{__version__}",
                   "X-Netwatchd-Event-Id": "" if event.get("event_id") is None else str(event["event_id"]),
                   **spec.headers}
        where = spec.target
        try:
            response = self.session.post(str(spec.url), data=payload, headers=headers,
                                         timeout=(min(spec.timeout, 5.0), spec.timeout), allow_redirects=False)
        except requests.exceptions.Timeout:
            raise HookFailed(f"webhook {where}: no answer within {spec.timeout:g} s") from None
        except requests.exceptions.RequestException as exc:
            raise HookFailed(f"webhook {where}: {_network_reason(exc)}") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"webhook {where}: HTTP {status}"
        body = redact(response.text[:200].strip().replace("\n", " ")) if response.text else ""
        what = f"webhook {where}: HTTP {status}" + (f" {body}" if body else "")
        if 300 <= status < 400:
            raise HookFailed(f"{what} (redirected: put the final URL in hooks.url)", permanent=True)
        if status in _RETRY_STATUSES or status >= 500:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise HookFailed(what, retry_after=retry_after)
        raise HookFailed(f"{what} (the receiver refuses this request: check hooks.url and hooks.headers)",
                         permanent=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)        # the command and whatever it started
    except OSError:
        proc.kill()


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", errors="replace").splitlines() if line.strip()]
    return redact(lines[-1][:200]) if lines else ""


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, min(float(value), 3600.0))
    except ValueError:
        return None


def _network_reason(exc: requests.exceptions.RequestException) -> str:
    """Why a request failed, without the URL (it may carry a secret in its query)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS handshake failed"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "Connection refused" in text:
            return "connection refused"
        if "Name or service not known" in text or "NameResolution" in text:
            return "name does not resolve"
        if "RemoteDisconnected" in text or "Connection reset" in text or "Connection aborted" in text:
            return "connection dropped before an answer"
        return "connection failed"
    return f"request failed ({type(exc).__name__})"


def age_s(enqueued_at: datetime, now: datetime) -> float:
    return (now - enqueued_at).total_seconds()
