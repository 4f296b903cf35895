"""Probers: one function per probe type, one result shape (netwatchd.models.ProbeResult).

`probe_hosts` runs one round of mixed probe types, like blackbox_exporter's name -> prober
table: every ICMP host goes into a single batched IcmpEngine round (run in the calling thread),
the other probe types run concurrently in a small thread pool, and results come back in the
order of the hosts given.

Owns: icmp.py (the batched raw/unprivileged ICMP engine), tcp.py, http.py, dns.py. May import config
and the leaves (models, errors, clock, logs); never engine, router, schedule (its siblings) or above.

Probers are imported on first use: `netwatchd probe 10.0.0.1` must not pay for http.client and
the DNS code, and a tcp-only run never loads icmplib (and with it asyncio).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from concurrent.futures import Future

    from netwatchd.clock import Clock
    from netwatchd.config.model import HostSpec
    from netwatchd.models import ProbeResult
    from netwatchd.probes.icmp import IcmpEngine


Prober = Callable[..., "ProbeResult"]
"""prober(host: HostSpec, *, clock: Clock) -> ProbeResult; never raises for the target's failure."""

_PROBER_HOMES: dict[str, tuple[str, str]] = {
    "tcp": ("netwatchd.probes.tcp", "probe_tcp"), "http": ("netwatchd.probes.http", "probe_http"),
    "https": ("netwatchd.probes.http", "probe_http"), "dns": ("netwatchd.probes.dns", "probe_dns")}
PROBERS: dict[str, Prober] = {}
"""Probe type -> prober, filled on first use of each type (tests may put their own in)."""
MAX_PARALLEL = 32


def prober_for(kind: str) -> Prober | None:
    """The prober of a non-ICMP probe type (imported on first use), None for an unknown type."""
    found = PROBERS.get(kind)
    if found is None and kind in _PROBER_HOMES:
        module, name = _PROBER_HOMES[kind]
        found = PROBERS.setdefault(kind, getattr(importlib.import_module(module), name))
    return found


def _run_prober(prober: Prober, host: HostSpec, clock: Clock) -> ProbeResult:
    from netwatchd.models import ProbeResult

    try:
        return prober(host, clock=clock)
    except Exception as exc:  # a prober bug must not cost the other hosts their round
        import logging

        logging.getLogger(__name__).exception("%s probe of %s crashed", host.probe, host.name)
        return ProbeResult(host=host.name, address=host.address, probe=host.probe, at=clock.now(),
                           alive=False, error=f"probe crashed: {type(exc).__name__}: {exc}")


def probe_hosts(hosts: Sequence[HostSpec], *, clock: Clock, icmp: IcmpEngine | None = None) -> list[ProbeResult]:
    """Probe every host once now; results in the order of `hosts`.

    Never raises for a target's failure (it is in that host's result). Raises PermissionProblem
    when there are ICMP hosts and ICMP is not permitted at all.
    """
    from netwatchd.models import PROBE_TYPES, ProbeResult

    results: list[ProbeResult | None] = [None] * len(hosts)
    icmp_indexes: list[int] = []
    futures: list[tuple[int, Future[ProbeResult]]] = []
    others = [i for i, host in enumerate(hosts) if host.probe != "icmp"]
    pool = None
    if others:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(others)), thread_name_prefix="probe")
    try:
        for i, host in enumerate(hosts):
            if host.probe == "icmp":
                icmp_indexes.append(i)
                continue
            prober = prober_for(host.probe)
            if prober is None:
                results[i] = ProbeResult(host=host.name, address=host.address, probe=host.probe,
                                         at=clock.now(), alive=False,
                                         error=f"unknown probe type {host.probe!r} "
                                               f"(one of {', '.join(PROBE_TYPES)})")
                continue
            assert pool is not None
            futures.append((i, pool.submit(_run_prober, prober, host, clock)))
        if icmp_indexes:
            from netwatchd.probes.icmp import IcmpEngine, IcmpTarget

            engine = icmp or IcmpEngine()
            targets = [IcmpTarget(h.name, h.address, h.count, h.packet_interval, h.timeout, h.packet_size)
                       for h in (hosts[i] for i in icmp_indexes)]
            pinged = engine.ping(targets, clock=clock)
            for i, result in zip(icmp_indexes, pinged, strict=True):
                results[i] = result
        for i, future in futures:
            results[i] = future.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return [r for r in results if r is not None]
