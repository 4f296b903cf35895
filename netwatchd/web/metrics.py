"""Prometheus metrics of one agent (served at /metrics).

    netwatchd_probe_rtt_seconds{host}            average rtt of the last probe (NaN when no reply)
    netwatchd_probe_loss_ratio{host}             0..1 of the last probe
    netwatchd_probe_success{host}                1 when the last probe got an answer
    netwatchd_probes_total{host,result}          probes run (result ok|fail)
    netwatchd_host_state{host,state}             1 for the host's current state, 0 for the others
    netwatchd_probe_lateness_seconds             histogram: when a probe started minus when it was due
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
                                                 parent, path, maintenance, blind, unknown
    netwatchd_hook_runs_total{hook,outcome}      hook runs (ok | failed | dead)
    netwatchd_hook_failing{hook}                 1 while the hook's oldest event keeps failing

The per-host families are not prometheus_client objects: a labelled child costs ~600 bytes and
a lock, and with 10,000 hosts their 100,000 children were 57 MB and most of the work of every
probe round (the availability families would add 80,000 more). The last result, counts, state
and availability of each host are kept in plain dicts and written out as
exposition text when /metrics is scraped; the low-cardinality families stay in the registry.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import threading
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.utils import floatToGoString

from netwatchd.models import ProbeResult, State, Transition, TransitionKind

STATES = tuple(s.value for s in State)
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)
LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_PER_HOST = (
    ("netwatchd_probe_rtt_seconds", "gauge", "Average round-trip time of the last probe"),
    ("netwatchd_probe_loss_ratio", "gauge", "Packet loss of the last probe (0..1)"),
    ("netwatchd_probe_success", "gauge", "1 when the last probe got an answer"),
    ("netwatchd_probes", "counter", "Probes run"),
    ("netwatchd_host_state", "gauge", "1 for the current state of the host"),
    ("netwatchd_availability_ratio", "gauge", "Month-to-date availability: own downtime over the observable "
                                              "time (0..1, NaN without data)"),
    ("netwatchd_availability_seconds", "gauge", "Month-to-date seconds per part of the time (up, degraded, "
                                                "down, parent, path, maintenance, blind, unknown)"),
)
STATE_KINDS: frozenset[TransitionKind] = frozenset({"state", "stable", "flapping", "maintenance_end"})
RENDER_CHUNK = 5_000   # /metrics lines encoded at a time
GZIP_LEVEL = 1         # /metrics for a gzip client: ~10x smaller at level 1; higher levels cost CPU for little
AVAILABILITY_PARTS = ("up", "degraded", "down", "parent", "path", "maintenance", "blind", "unknown")
AVAILABILITY_WIDTH = 1 + len(AVAILABILITY_PARTS)      # a host's row: the percent, then each part's seconds
_FAIL_SHIFT = 40
_FAIL = 1 << _FAIL_SHIFT     # a host's failed probes count in the bits above its ok ones (2^40: ages)
_OK_MASK = _FAIL - 1
_LABEL_OK = re.compile(r"[a-z0-9_]{1,32}")


def _safe_label(value: str) -> str:
    """Bot command names come from users: keep label values short and tame (else 'other')."""
    text = value.lower().lstrip("/")
    return text if _LABEL_OK.fullmatch(text) else "other"


def _label(value: str) -> str:
    """A label value as the exposition format writes it (backslash, quote and newline escaped)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """Counters and gauges the agent updates as it works; `render()` gives the exposition text."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.transitions = Counter("netwatchd_transitions", "Transitions decided by the alert engine",
                                   ["kind", "to"], registry=reg)
        self.delivery_latency = Histogram("netwatchd_delivery_latency_seconds",
                                          "From detection to Telegram's acknowledgement",
                                          buckets=LATENCY_BUCKETS, registry=reg)
        self.probe_lateness = Histogram("netwatchd_probe_lateness_seconds",
                                        "When a host's probe started minus when it was due",
                                        buckets=LATENESS_BUCKETS, registry=reg)
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
        self.hook_runs = Counter("netwatchd_hook_runs", "Hook runs by outcome", ["hook", "outcome"], registry=reg)
        self.hook_failing = Gauge("netwatchd_hook_failing", "1 while the hook's oldest event keeps failing",
                                  ["hook"], registry=reg)
        self._lock = threading.Lock()
        self._lateness_lock = threading.Lock()
        # host -> its last result: the agent's own table of latest results too (Agent.latest), one
        # 10,000-entry dict instead of two
        self.latest_results: dict[str, ProbeResult] = {}
        # host -> ok + fail * _FAIL: one int per host (a [ok, fail] list was 72 bytes more, 0.7 MB
        # at 10,000 hosts)
        self._counts: dict[str, int] = {}
        self._states: dict[str, str] = {}            # host -> state value
        # host -> its row in _availability_values: [percent, then the seconds of each of
        # AVAILABILITY_PARTS], NaN for none. Every host's row in one flat array (an array per host
        # was two allocations of ~80 bytes each: 1.6 MB at 10,000 hosts, where the rows are 0.4 MB)
        self._availability_row: dict[str, int] = {}
        self._availability_values: array[float] = array("d")
        self._availability_free: list[int] = []       # rows of removed hosts, used again first

    def observe_probe(self, result: ProbeResult) -> None:
        self.observe_probes((result,))

    def observe_probes(self, results: Iterable[ProbeResult]) -> None:
        """observe_probe for a whole round."""
        with self._lock:
            last, counts, get = self.latest_results, self._counts, self._counts.get
            for result in results:
                host = result.host
                last[host] = result
                counts[host] = get(host, 0) + (1 if result.alive else _FAIL)

    def observe_lateness(self, seconds: Iterable[float]) -> None:
        """How late probes started (actual start - due time), one value per host probed.

        A probe round brings ~50 values 20 times a second: they are counted into their buckets in
        one pass (bisect) and each bucket and the sum is updated once per round, not once per
        value (Histogram.observe takes two locks and walks the buckets per value). The result is
        exactly what observe() per value gives (a test holds them equal); a prometheus_client
        without these internals gets observe() per value."""
        values = [value if value > 0.0 else 0.0 for value in seconds]   # as max(0.0, value), NaN too
        if not values:
            return
        histogram = self.probe_lateness
        bounds = getattr(histogram, "_upper_bounds", None)
        buckets = getattr(histogram, "_buckets", None)
        total = getattr(histogram, "_sum", None)
        if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
            for value in values:
                histogram.observe(value)
            return
        counts: dict[int, int] = {}
        for value in values:
            index = bisect_left(bounds, value)
            counts[index] = counts.get(index, 0) + 1
        with self._lateness_lock:
            for index, count in counts.items():
                buckets[index].inc(count)
            running = total.get()
            for value in values:          # the same additions in the same order as observe()
                running += value
            total.set(running)

    def set_state(self, host: str, state: State | str) -> None:
        """Mark `state` as the host's current one (the others 0)."""
        current = state.value if isinstance(state, State) else str(state)
        with self._lock:
            self._states[host] = current

    def set_states(self, states: Mapping[str, Any]) -> None:
        """At start-up / reload: host -> HostState (or State / name) for every watched host."""
        for host, held in states.items():
            state = getattr(held, "state", held)
            self.set_state(host, state)

    def remove_host(self, host: str) -> None:
        """Drop a host's series (removed from the config on reload)."""
        with self._lock:
            for table in (self.latest_results, self._counts, self._states):
                table.pop(host, None)
            row = self._availability_row.pop(host, None)
            if row is not None:
                self._availability_free.append(row)

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
        """host -> (availability percent or None, seconds per part), month to date; written in place
        (_write_availability)."""
        with self._lock:
            for host, (percent, parts) in figures.items():
                self._write_availability(host, (math.nan if percent is None else percent,
                                                *(parts.get(p, math.nan) for p in AVAILABILITY_PARTS)))

    def set_availability_values(self, hosts: Iterable[str], values: array) -> None:
        """set_availability from a flat array: per host (in `hosts` order) the percent (NaN
        without data), then the seconds of each AVAILABILITY_PARTS."""
        width = AVAILABILITY_WIDTH
        with self._lock:
            for index, host in enumerate(hosts):
                self._write_availability(host, values[index * width:(index + 1) * width])

    def _write_availability(self, host: str, row: Sequence[float]) -> None:
        """One host's row into the flat array, in place (every 5 minutes for every host: new
        objects each time were churn among the agent's lasting objects). Caller holds the lock.
        Raises ValueError for a row that is not AVAILABILITY_WIDTH long."""
        if len(row) != AVAILABILITY_WIDTH:
            raise ValueError(f"an availability row has {AVAILABILITY_WIDTH} values, not {len(row)}")
        values = self._availability_values
        index = self._availability_row.get(host)
        if index is None:
            if not self._availability_free:
                self._availability_row[host] = len(values) // AVAILABILITY_WIDTH
                values.extend(row)
                return
            index = self._availability_row[host] = self._availability_free.pop()
        start = index * AVAILABILITY_WIDTH
        values[start:start + AVAILABILITY_WIDTH] = array("d", row)

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
        out = io.BytesIO()
        self._render(out.write)
        return out.getvalue()

    def render_gzip(self) -> bytes:
        """render() gzip-compressed (what Prometheus asks for: Accept-Encoding: gzip), compressed
        as it is written: at 10,000 hosts the text is ~11 MB, which render() holds for a moment
        (RSS +11 MB at every scrape); compressed it is ~1 MB."""
        packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
        pieces: list[bytes] = []
        self._render(lambda data: pieces.append(packer.compress(data)))
        pieces.append(packer.flush())
        return b"".join(pieces)

    def _render(self, write: Callable[[bytes], object]) -> None:
        write(generate_latest(self.registry))
        if not self._render_hosts(write):
            write(b"\n")

    def _render_hosts(self, write: Callable[[bytes], object]) -> bool:
        """The per-host families as exposition text, encoded RENDER_CHUNK lines at a time: at
        10,000 hosts the text is ~8 MB in ~200,000 lines, and building every line first (then
        one str, then its bytes) held ~35 MB for a moment on every scrape, which the process
        kept. Written into `out` (the text as one growing buffer, not a list of encoded chunks
        joined at the end, which held it twice for a moment), or compressed piece by piece by
        `write`; False when there is no host."""
        with self._lock:
            last, counts, states = dict(self.latest_results), dict(self._counts), dict(self._states)
            availability = dict(self._availability_row)
            rows = self._availability_values[:]
        # made for this scrape (a table kept between scrapes was 0.3 MB more at 10,000 hosts; a
        # name needing no escape is its own label, no new string)
        labels = {host: _label(host) for host in last.keys() | states.keys() | availability.keys()}
        number = floatToGoString

        def rtt() -> Iterator[str]:
            for host, result in last.items():
                average = result.rtt_avg_ms
                seconds = "NaN" if average is None or not result.alive else number(average / 1000.0)
                yield f'netwatchd_probe_rtt_seconds{{host="{labels[host]}"}} {seconds}'

        def loss() -> Iterator[str]:
            for host, result in last.items():
                yield f'netwatchd_probe_loss_ratio{{host="{labels[host]}"}} {number(result.loss_percent / 100.0)}'

        def success() -> Iterator[str]:
            for host, result in last.items():
                yield f'netwatchd_probe_success{{host="{labels[host]}"}} {"1.0" if result.alive else "0.0"}'

        def probes() -> Iterator[str]:
            for host in last:
                label = labels[host]
                both = counts.get(host, 0)
                ok, fail = both & _OK_MASK, both >> _FAIL_SHIFT
                yield f'netwatchd_probes_total{{host="{label}",result="ok"}} {ok:.1f}'
                yield f'netwatchd_probes_total{{host="{label}",result="fail"}} {fail:.1f}'

        def held() -> Iterator[str]:
            for host, current in states.items():
                label = labels[host]
                for name in STATES:
                    yield f'netwatchd_host_state{{host="{label}",state="{name}"}} {"1.0" if name == current else "0.0"}'

        def ratio() -> Iterator[str]:
            for host, index in availability.items():
                percent = rows[index * AVAILABILITY_WIDTH]
                yield (f'netwatchd_availability_ratio{{host="{labels[host]}"}} '
                       f'{"NaN" if percent != percent else number(percent / 100.0)}')

        def seconds() -> Iterator[str]:
            for host, index in availability.items():
                label = labels[host]
                start = index * AVAILABILITY_WIDTH + 1
                for part, value in zip(AVAILABILITY_PARTS, rows[start:start + len(AVAILABILITY_PARTS)], strict=True):
                    if value == value:
                        yield f'netwatchd_availability_seconds{{host="{label}",part="{part}"}} {number(value)}'

        wrote = False
        for (name, kind, text), lines in zip(_PER_HOST, (rtt(), loss(), success(), probes(), held(), ratio(),
                                                         seconds()), strict=True):
            total = f"{name}{'_total' if kind == 'counter' else ''}"
            head = f"# HELP {total} {text}\n# TYPE {total} {kind}\n".encode()
            first = True
            while chunk := list(itertools.islice(lines, RENDER_CHUNK)):
                if first:
                    write(head)
                    first = False
                write(("\n".join(chunk) + "\n").encode("utf-8"))
                wrote = True
        return wrote
