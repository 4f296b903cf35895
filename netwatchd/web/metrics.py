"""Prometheus metrics of one agent, in its own CollectorRegistry (served at /metrics).

    netwatchd_probe_rtt_seconds{host}            average rtt of the last probe (NaN when no reply)
    netwatchd_probe_loss_ratio{host}             0..1 of the last probe
    netwatchd_probe_success{host}                1 when the last probe got an answer
    netwatchd_probes_total{host,result}          probes run (result ok|fail)
    netwatchd_host_state{host,state}             1 for the host's current state, 0 for the others
    netwatchd_transitions_total{kind,to}         decided transitions
    netwatchd_delivery_latency_seconds           histogram: detection -> Telegram acknowledged
    netwatchd_deliveries_total{status}           messages by final status (sent|dead|...)
    netwatchd_outbox_depth                       messages waiting to be sent
    netwatchd_store_healthy                      1 while the store takes writes and is not damaged
    netwatchd_alerts_in_memory                   alerts decided while the store failed, not saved yet
    netwatchd_bot_commands_total{command,outcome}
    netwatchd_availability_ratio{host}           month-to-date own availability 0..1 (NaN: no data): only
                                                 the site's own downtime, over the time it was observable
    netwatchd_availability_seconds{host,part}    month-to-date seconds per part: up, degraded, down (own),
                                                 parent, maintenance, blind, unknown
    netwatchd_hook_runs_total{hook,outcome}      hook runs (ok | failed | dead)
    netwatchd_hook_failing{hook}                 1 while the hook's oldest event keeps failing
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from netwatchd.models import ProbeResult, State, Transition, TransitionKind

STATES = tuple(s.value for s in State)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
STATE_KINDS: frozenset[TransitionKind] = frozenset({"state", "stable", "flapping", "maintenance_end"})
_LABEL_OK = re.compile(r"[a-z0-9_]{1,32}")


def _safe_label(value: str) -> str:
    """Bot command names come from users: keep label values short and tame (else 'other')."""
    text = value.lower().lstrip("/")
    return text if _LABEL_OK.fullmatch(text) else "other"


class Metrics:
    """Counters and gauges the agent updates as it works; `render()` gives the exposition text."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.probe_rtt = Gauge("netwatchd_probe_rtt_seconds", "Average round-trip time of the last probe",
                               ["host"], registry=reg)
        self.probe_loss = Gauge("netwatchd_probe_loss_ratio", "Packet loss of the last probe (0..1)",
                                ["host"], registry=reg)
        self.probe_success = Gauge("netwatchd_probe_success", "1 when the last probe got an answer",
                                   ["host"], registry=reg)
        self.probes = Counter("netwatchd_probes", "Probes run", ["host", "result"], registry=reg)
        self.host_state = Gauge("netwatchd_host_state", "1 for the current state of the host",
                                ["host", "state"], registry=reg)
        self.transitions = Counter("netwatchd_transitions", "Transitions decided by the alert engine",
                                   ["kind", "to"], registry=reg)
        self.delivery_latency = Histogram("netwatchd_delivery_latency_seconds",
                                          "From detection to Telegram's acknowledgement",
                                          buckets=LATENCY_BUCKETS, registry=reg)
        self.deliveries = Counter("netwatchd_deliveries", "Messages by final status", ["status"], registry=reg)
        self.outbox_depth = Gauge("netwatchd_outbox_depth", "Messages waiting in the outbox", registry=reg)
        self.store_healthy = Gauge("netwatchd_store_healthy",
                                   "1 while the store takes writes and its checks pass, 0 when it fails (/healthz "
                                   "says why)", registry=reg)
        self.store_healthy.set(1)
        self.alerts_in_memory = Gauge("netwatchd_alerts_in_memory",
                                      "Alerts decided while the store could not be written and not saved yet "
                                      "(delivered from memory)", registry=reg)
        self.bot_commands = Counter("netwatchd_bot_commands", "Bot commands handled", ["command", "outcome"],
                                    registry=reg)
        self.availability = Gauge("netwatchd_availability_ratio", "Month-to-date availability: own downtime "
                                  "over the observable time (0..1, NaN without data)", ["host"], registry=reg)
        self.availability_seconds = Gauge("netwatchd_availability_seconds", "Month-to-date seconds per part of "
                                          "the time (up, degraded, down, parent, maintenance, blind, unknown)",
                                          ["host", "part"], registry=reg)
        self.hook_runs = Counter("netwatchd_hook_runs", "Hook runs by outcome", ["hook", "outcome"], registry=reg)
        self.hook_failing = Gauge("netwatchd_hook_failing", "1 while the hook's oldest event keeps failing",
                                  ["hook"], registry=reg)
        self._lock = threading.Lock()

    def observe_probe(self, result: ProbeResult) -> None:
        host = result.host
        rtt = result.rtt_avg_ms
        self.probe_rtt.labels(host).set(math.nan if rtt is None or not result.alive else rtt / 1000.0)
        self.probe_loss.labels(host).set(result.loss_percent / 100.0)
        self.probe_success.labels(host).set(1 if result.alive else 0)
        self.probes.labels(host, "ok" if result.alive else "fail").inc()

    def set_state(self, host: str, state: State | str) -> None:
        """Mark `state` as the host's current one (the others 0)."""
        current = state.value if isinstance(state, State) else str(state)
        with self._lock:
            for name in STATES:
                self.host_state.labels(host, name).set(1 if name == current else 0)

    def set_states(self, states: Mapping[str, Any]) -> None:
        """At start-up / reload: host -> HostState (or State / name) for every watched host."""
        for host, held in states.items():
            state = getattr(held, "state", held)
            self.set_state(host, state)

    def remove_host(self, host: str) -> None:
        """Drop a host's series (removed from the config on reload)."""
        for gauge in (self.probe_rtt, self.probe_loss, self.probe_success):
            try:
                gauge.remove(host)
            except KeyError:
                pass
        for labels in [(host, name) for name in STATES]:
            try:
                self.host_state.remove(*labels)
            except KeyError:
                pass
        for result in ("ok", "fail"):
            try:
                self.probes.remove(host, result)
            except KeyError:
                pass
        try:
            self.availability.remove(host)
        except KeyError:
            pass
        for part in ("up", "degraded", "down", "parent", "maintenance", "blind", "unknown"):
            try:
                self.availability_seconds.remove(host, part)
            except KeyError:
                pass

    def observe_transition(self, transition: Transition) -> None:
        self.transitions.labels(transition.kind, transition.to_state.value).inc()
        if transition.kind in STATE_KINDS:
            self.set_state(transition.host, transition.to_state)

    def observe_delivery(self, record: Mapping[str, Any]) -> None:
        """One timing-log record of the delivery worker."""
        if record.get("kind") == "edit":       # an incident's root edited: not an alert's delivery
            return
        status = str(record.get("status") or "unknown").lower()
        self.deliveries.labels(_safe_label(status)).inc()
        latency = record.get("latency_ms")
        if status == "sent" and isinstance(latency, (int, float)) and latency >= 0:
            self.delivery_latency.observe(latency / 1000.0)

    def observe_command(self, name: str, outcome: str) -> None:
        self.bot_commands.labels(_safe_label(name), _safe_label(outcome)).inc()

    def set_availability(self, figures: Mapping[str, tuple[float | None, Mapping[str, float]]]) -> None:
        """host -> (availability percent or None, seconds per part), month to date."""
        for host, (percent, parts) in figures.items():
            self.availability.labels(host).set(math.nan if percent is None else percent / 100.0)
            for part, seconds in parts.items():
                self.availability_seconds.labels(host, part).set(seconds)

    def observe_hook(self, name: str, outcome: str, error: str | None = None) -> None:
        """One hook run: ok, failed (retried) or dead (given up)."""
        label = name[:64]
        self.hook_runs.labels(label, _safe_label(outcome)).inc()
        self.hook_failing.labels(label).set(1 if outcome == "failed" else 0)

    def set_outbox_depth(self, n: int) -> None:
        self.outbox_depth.set(n)

    def set_store(self, healthy: bool, in_memory: int) -> None:
        self.store_healthy.set(1 if healthy else 0)
        self.alerts_in_memory.set(in_memory)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
