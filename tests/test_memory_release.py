"""release_free_memory(): the C heap's free pages go back to the system after a big pass."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROGRAM = """
import re
from netwatchd.app import release_free_memory

def rss_mb():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024

kept, passing = [], []
for i in range(60_000):       # ~90 MB of 1.5 KB blocks (malloc, not pymalloc); one in 50 stays
    (kept if i % 50 == 0 else passing).append(bytes(1500) + str(i).encode())
del passing
before = rss_mb()
release_free_memory()
print(before, rss_mb(), len(kept))
"""


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc_trim")
def test_free_heap_pages_in_the_middle_of_the_heap_are_given_back() -> None:
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, check=True).stdout
    before, after, kept = out.split()
    assert int(kept) == 1200
    assert float(before) - float(after) > 40, out     # glibc alone keeps them: nothing is at the heap's top


TUNING = """
import re, sys
from netwatchd.app import tune_malloc

def rss_mb():
    return int(re.search(r"VmRSS:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) / 1024

if sys.argv[1] == "tuned":
    assert tune_malloc()
big = bytes(8 << 20)       # an 8 MB block, freed: glibc alone now cuts blocks up to 8 MB from its heap
del big
start = rss_mb()
blocks, kept = [], []
for _ in range(40):     # 40 MB of 1 MB buffers (pages, scrapes), each followed by a block that stays
    blocks.append(b"x" * (1 << 20))
    kept.append(b"y" * 100_000)     # (under the threshold: from the heap in both cases)
del blocks
print(start, rss_mb(), len(kept))
"""


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_tuned_malloc_gives_large_buffers_back_when_they_are_freed() -> None:
    def grown(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", TUNING, mode], capture_output=True, text=True,
                             check=True).stdout
        start, end, pinned = out.split()
        assert int(pinned) == 40
        return float(end) - float(start)

    assert grown("untuned") > 30          # glibc's own policy keeps them in the heap
    assert grown("tuned") < 5             # pinned threshold: each went back with its own mapping
