"""Read hosts.yaml in a child process, so that what reading it allocated for a moment never
scatters the agent's heap.

Reading a 10,000-site hosts.yaml builds ~40 MB of YAML nodes, tokens and checking state for a
moment. In the agent's own process the sites' objects that stay (~3 MB) end up spread over the
memory pools the moment used, and CPython can give a 1 MB pool back only when nothing in it is
left: at 10,000 sites 26 more pools stayed, ~25 MB of RSS for as long as the agent ran. Read in a
forked child and handed back pickled (~1.3 MB), the same Config is built in a few dense pools
(RSS 72 -> 45 MB right after reading, ~12 MB less for good).

Only where it is safe and useful: a POSIX system with fork(), and no other thread running (the
agent's start; a reload with its threads running reads in-process). Anything unusual - no fork,
the child failing for any reason (a bad config among them), a result that does not unpickle -
and the config is simply read in-process, so errors and warnings are reported exactly as
`load_config` reports them (a bad config's warnings may then be printed twice: once by the child).
"""

from __future__ import annotations

import logging
import os
import pickle
import threading
from collections.abc import Mapping
from pathlib import Path

from netwatchd.config.loader import load_config
from netwatchd.config.model import Config
from netwatchd.logs import adopt_secret_forms, secret_forms

log = logging.getLogger(__name__)


def load_config_apart(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """`load_config(path, environ)`, read in a forked child where that is possible (see the module).

    Raises what load_config raises (InvalidConfig, ...), from an in-process read."""
    config = read_in_child(path, environ)
    return config if config is not None else load_config(path, environ)


def read_in_child(path: str | Path, environ: Mapping[str, str] | None = None) -> Config | None:
    """The config read by a forked child and unpickled here, with the secrets the child registered
    registered here too; None when that was not possible (the caller reads in-process)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:
        return None
    readable, writable = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(readable)
        os.close(writable)
        return None
    if pid == 0:                        # the child: read, hand over, leave without cleaning up
        code = 1
        try:
            os.close(readable)
            payload = pickle.dumps((load_config(path, environ), secret_forms()), pickle.HIGHEST_PROTOCOL)
            with os.fdopen(writable, "wb") as out:
                out.write(payload)
            code = 0
        finally:
            os._exit(code)          # never the parent's atexit handlers, buffers or finally blocks
    os.close(writable)
    with os.fdopen(readable, "rb") as pipe:
        payload = pipe.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not payload:
        return None
    try:
        config, forms = pickle.loads(payload)
    except Exception:   # e.g. a Python whose dataclasses do not round-trip: read in-process
        log.debug("the config read in a child process did not unpickle; reading it in-process", exc_info=True)
        return None
    if not isinstance(config, Config):
        return None
    adopt_secret_forms(forms)
    return config
