"""Enter a lab network namespace from inside this process, for one block of code.

A socket belongs to the network namespace of the thread that created it, for its whole life.
So a test or the demo can run a stand-in server *in* the monitor namespace while staying in its
own: enter the namespace, create the listening socket (start the server), leave again. The
server thread keeps accepting connections that arrive on the monitor namespace's loopback,
and the test talks to the stand-in object directly, in-process.

Linux only; needs CAP_SYS_ADMIN (root). Raises LabError when the namespace does not exist or
entering it is refused.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

from netwatchd.errors import LabError

CLONE_NEWNET = 0x40000000
NETNS_RUN_DIR = "/run/netns"


def _setns(fd: int) -> None:
    """Move the calling thread into the network namespace open at `fd` (raises OSError)."""
    setns = getattr(os, "setns", None)  # Python >= 3.12
    if setns is not None:
        setns(fd, CLONE_NEWNET)
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


@contextmanager
def inside_namespace(name: str) -> Iterator[None]:
    """Run the block with the calling thread in the named namespace (`ip netns` name).

    Sockets created inside the block stay in that namespace after it ends. Raises LabError.
    """
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    except OSError as exc:
        raise LabError(f"cannot read this thread's network namespace: {exc}") from None
    try:
        try:
            target = os.open(os.path.join(NETNS_RUN_DIR, name), os.O_RDONLY)
        except OSError:
            raise LabError(f"network namespace {name!r} does not exist (was the lab torn down?)") from None
        try:
            try:
                _setns(target)
            except OSError as exc:
                raise LabError(f"cannot enter network namespace {name!r}: {exc.strerror} "
                               "(entering a namespace needs root)") from None
            try:
                yield
            finally:
                _setns(own)
        finally:
            os.close(target)
    finally:
        os.close(own)
