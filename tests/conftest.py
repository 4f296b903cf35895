"""Shared fixtures. Namespace tests need root; under CI (CI=true, root) they must run, never skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

from netwatchd.clock import FakeClock

TESTDATA = Path(__file__).parent / "testdata"


def _lab_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root for network namespaces"
    for tool in ("ip", "nft", "fping"):
        if shutil.which(tool) is None:
            return f"needs '{tool}' (apt-get install iproute2 nftables fping)"
    return None


@pytest.fixture
def lab() -> Iterator["object"]:
    """A fresh NetnsLab, torn down after the test. Skips off-CI without root; fails in CI."""
    reason = _lab_unavailable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"namespace tests must run in CI: {reason}")
        pytest.skip(reason)
    from netwatchd.lab.netns import NetnsLab

    with NetnsLab() as created:
        yield created


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
