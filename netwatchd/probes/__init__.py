"""Probers: one function per probe type, one result shape (netwatchd.models.ProbeResult).

`probe_hosts` runs one round of mixed probe types, like blackbox_exporter's name -> prober
table: every ICMP host goes into a single batched IcmpEngine round (run in the calling thread),
the other probe types run concurrently in a small thread pool, and results come back in the
order of the hosts given.

Owns: icmp.py (the batched raw/unprivileged ICMP engine), tcp.py, http.py, dns.py. May import config
and the leaves (models, errors, clock, logs); never engine, router, schedule (its siblings) or above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from netwatchd.clock import Clock
from netwatchd.config.model import HostSpec
from netwatchd.models import PROBE_TYPES, ProbeResult
from netwatchd.probes.dns import probe_dns
from netwatchd.probes.http import probe_http
from netwatchd.probes.icmp import IcmpEngine, IcmpTarget
from netwatchd.probes.tcp import probe_tcp

log = logging.getLogger(__name__)

Prober = Callable[..., ProbeResult]
"""prober(host: HostSpec, *, clock: Clock) -> ProbeResult; never raises for the target's failure."""

PROBERS: dict[str, Prober] = {"tcp": probe_tcp, "http": probe_http, "https": probe_http, "dns": probe_dns}
MAX_PARALLEL = 32


def icmp_target(host: HostSpec) -> IcmpTarget:
    """The engine's view of an icmp host."""
    return IcmpTarget(host=host.name, address=host.address, count=host.count,
                      interval=host.packet_interval, timeout=host.timeout,
                      payload_size=host.packet_size)


def _run_prober(prober: Prober, host: HostSpec, clock: Clock) -> ProbeResult:
    try:
        return prober(host, clock=clock)
    except Exception as exc:  # a prober bug must not cost the other hosts their round
        log.exception("%s probe of %s crashed", host.probe, host.name)
        return ProbeResult(host=host.name, address=host.address, probe=host.probe, at=clock.now(),
                           alive=False, error=f"probe crashed: {type(exc).__name__}: {exc}")


def probe_hosts(hosts: Sequence[HostSpec], *, clock: Clock, icmp: IcmpEngine | None = None) -> list[ProbeResult]:
    """Probe every host once now; results in the order of `hosts`.

    Never raises for a target's failure (it is in that host's result). Raises PermissionProblem
    when there are ICMP hosts and ICMP is not permitted at all.
    """
    results: list[ProbeResult | None] = [None] * len(hosts)
    icmp_indexes: list[int] = []
    futures: list[tuple[int, Future[ProbeResult]]] = []
    others = [i for i, host in enumerate(hosts) if host.probe != "icmp"]
    pool = ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(others)),
                              thread_name_prefix="probe") if others else None
    try:
        for i, host in enumerate(hosts):
            if host.probe == "icmp":
                icmp_indexes.append(i)
                continue
            prober = PROBERS.get(host.probe)
            if prober is None:
                results[i] = ProbeResult(host=host.name, address=host.address, probe=host.probe,
                                         at=clock.now(), alive=False,
                                         error=f"unknown probe type {host.probe!r} "
                                               f"(one of {', '.join(PROBE_TYPES)})")
                continue
            assert pool is not None
            futures.append((i, pool.submit(_run_prober, prober, host, clock)))
        if icmp_indexes:
            engine = icmp or IcmpEngine()
            pinged = engine.ping([icmp_target(hosts[i]) for i in icmp_indexes], clock=clock)
            for i, result in zip(icmp_indexes, pinged, strict=True):
                results[i] = result
        for i, future in futures:
            results[i] = future.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    return [r for r in results if r is not None]
