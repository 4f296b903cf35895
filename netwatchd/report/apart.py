"""The month-to-date availability /metrics shows, computed by a new interpreter.

Every 5 minutes the agent gives /metrics each site's availability and the seconds of each part,
the same figures as the month's report. Computed in the agent's own process, the reading and the
per-site work (~1 KB of objects a site, 10,000 sites) ran among the probe rounds' lasting objects,
and the memory pools they used could not all be given back: RSS stepped up ~5 MB at the first
pass and stayed. Here `python -m netwatchd.report.apart` reads the store and answers with one
array of doubles (9 per site, ~0.7 MB at 10,000 sites); the agent writes them in place.

Protocol: stdin gets pickle (config, since, until, now, parts); stdout gets the doubles, per
enabled site of the config in its order: the availability percent (NaN without data), then each
of `parts` in seconds (NaN when absent). Exit 0, or 1 with nothing on stdout (the caller then
computes in-process and reports the error itself).
"""

from __future__ import annotations

import math
import os
import pickle
import subprocess
import sys
from array import array
from collections.abc import Sequence
from datetime import datetime

from netwatchd.config.model import Config


def figures_apart(config: Config, since: datetime, until: datetime, now: datetime,
                  parts: Sequence[str]) -> array | None:
    """The doubles of every enabled site of `config` (see the module), or None when the child did
    not answer in full (the caller computes in-process)."""
    payload = pickle.dumps((config, since, until, now, tuple(parts)), pickle.HIGHEST_PROTOCOL)
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=payload, capture_output=True,
                              env=dict(os.environ), timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sites = sum(1 for h in config.hosts if not h.disabled)
    width = 1 + len(parts)
    if done.returncode != 0 or len(done.stdout) != sites * width * 8:
        return None
    values = array("d")
    values.frombytes(done.stdout)
    return values


def _main() -> int:
    from netwatchd.report.make import all_sites, iter_availability_figures

    try:
        config, since, until, now, parts = pickle.loads(sys.stdin.buffer.read())
        out = array("d")
        for _, (percent, seconds) in iter_availability_figures(config, since, until, all_sites(config), now=now):
            out.append(math.nan if percent is None else percent)
            out.extend(seconds.get(part, math.nan) for part in parts)
    except Exception:   # noqa: BLE001 - the caller computes in-process and reports the error itself
        return 1
    sys.stdout.buffer.write(out.tobytes())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
