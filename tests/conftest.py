"""Shared fixtures. Namespace tests need root; under CI (CI=true, root) they must run, never skip."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from netwatchd.clock import FakeClock

TESTDATA = Path(__file__).parent / "testdata"
_GUARD_DIR = Path(__file__).parent / "packet_guard"


def pytest_configure(config: pytest.Config) -> None:
    """Install the packet guard here and, through PYTHONPATH, in every Python subprocess."""
    import sys
    import tempfile

    if os.environ.get("NETWATCHD_PACKET_GUARD_LOG") is None:
        fd, log = tempfile.mkstemp(prefix="netwatchd-packet-guard-", suffix=".log")
        os.close(fd)
        os.environ["NETWATCHD_PACKET_GUARD_LOG"] = log
    if os.environ.get("NETWATCHD_PACKET_GUARD_ROOT_NS") is None:
        os.environ["NETWATCHD_PACKET_GUARD_ROOT_NS"] = str(os.stat("/proc/self/ns/net").st_ino)
    paths = [str(_GUARD_DIR)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    sys.path.insert(0, str(_GUARD_DIR))
    import netwatchd_packet_guard

    netwatchd_packet_guard.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run if any test process tried to reach beyond loopback and its own namespaces."""
    log = Path(os.environ.get("NETWATCHD_PACKET_GUARD_LOG", ""))
    if log.is_file() and log.stat().st_size:
        text = log.read_text("utf-8", "replace")
        print("\nPACKET GUARD: tests tried to reach addresses outside loopback and their own "
              f"namespaces:\n{text[:8000]}")
        session.exitstatus = 1


def _lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "nft", "fping"):
        if shutil.which(tool) is None:
            return f"needs '{tool}' (apt-get install iproute2 nftables fping)"
    return None


def require_lab() -> None:
    """Skip a namespace test off CI when the lab cannot be built here (no root, a tool missing);
    in CI, fail it instead: there it must run."""
    reason = _lab_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"namespace tests must run in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture
def lab() -> Iterator[object]:
    """A fresh NetnsLab, torn down after the test. Skips off-CI without root; fails in CI."""
    require_lab()
    from netwatchd.lab.netns import NetnsLab

    with NetnsLab() as created:
        yield created


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def standin() -> Iterator[object]:
    """A Telegram Bot API stand-in on loopback (the RouterOS tests define their own `standin`)."""
    from netwatchd.lab.telegram_standin import TelegramStandIn

    with TelegramStandIn() as tg:
        yield tg


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP socket listening on a free loopback port (a stand-in for a port something else holds)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield sock
    sock.close()
