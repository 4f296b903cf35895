"""Read hosts.yaml in a child process, so that what reading it allocated for a moment never
scatters the agent's heap.

Reading a 10,000-site hosts.yaml builds ~40 MB of YAML nodes, tokens and checking state for a
moment. In the agent's own process the sites' objects that stay (~3 MB) end up spread over the
memory pools the moment used, and CPython can give a 1 MB pool back only when nothing in it is
left: at 10,000 sites 26 more pools stayed, ~25 MB of RSS for as long as the agent ran. Read in a
forked child and handed back pickled (~1.3 MB), the same Config is built in a few dense pools
(RSS 72 -> 45 MB right after reading, ~12 MB less for good).

How: at the agent's start (no other thread yet) a fork() of this process reads it; on a reload
(SIGHUP, with the agent's threads running, where forking is not safe) a new interpreter does
(`python -m netwatchd.config.apart PATH`, ~0.1 s more): without it every reload of 10,000 sites
left RSS ~45 MB higher (92 -> 138 -> 151 -> 154 MB over three reloads). Anything unusual - no
fork, the child failing for any reason (a bad config among them), a result that does not
unpickle - and the config is simply read in-process, so its errors are reported exactly as
`load_config` reports them.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from netwatchd.config.model import Config, compacted
from netwatchd.logs import adopt_secret_forms, secret_forms

log = logging.getLogger(__name__)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """The loader's `load_config`, imported only when a file is read here: the parser, YAML and the
    schema (~3 MB of modules) then live in the child that reads, not in the running agent."""
    from netwatchd.config.loader import load_config as read

    return read(path, environ)


def load_config_apart(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """`load_config(path, environ)`, read in a forked child where that is possible (see the module).

    Raises what load_config raises (InvalidConfig, ...), from an in-process read."""
    config = read_in_child(path, environ)
    if config is None:
        return load_config(path, environ)
    return dataclasses.replace(config, hosts=compacted(config.hosts))   # pickle gave each spec its own numbers


def read_in_child(path: str | Path, environ: Mapping[str, str] | None = None) -> Config | None:
    """The config read by a forked child and unpickled here, with the secrets the child registered
    registered here too; None when that was not possible (the caller reads in-process)."""
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return _unpickled(_read_in_new_interpreter(path, environ))
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
    return _unpickled(payload if status == 0 else b"")


def _read_in_new_interpreter(path: str | Path, environ: Mapping[str, str] | None) -> bytes:
    """What `python -m netwatchd.config.apart PATH` printed (b"" when it failed)."""
    try:
        done = subprocess.run([sys.executable, "-m", __name__, str(path)], capture_output=True,
                              env=dict(os.environ if environ is None else environ), timeout=300, check=False)
    except (OSError, subprocess.SubprocessError):
        return b""
    return done.stdout if done.returncode == 0 else b""


def _unpickled(payload: bytes) -> Config | None:
    if not payload:
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


def _main(argv: list[str]) -> int:
    """`python -m netwatchd.config.apart PATH`: read PATH, print (config, secret forms) pickled."""
    try:
        payload = pickle.dumps((load_config(argv[0]), secret_forms()), pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 - the caller reads in-process and reports the errors itself
        return 1
    sys.stdout.buffer.write(payload)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
