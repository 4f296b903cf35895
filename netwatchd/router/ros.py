"""librouteros, imported when a router is first reached.

librouteros imports asyncio (for its async API) at the top: ~5 MB of an agent's memory when nothing
else needs asyncio (the status page's server does), ~0.5 MB and ~10 ms of start-up when something
does, paid even by offices that configure no router. The router modules name what they need
from here (`ros.TrapError`, `ros.connect`, ...); the first name asked for imports librouteros, so
an agent with no router configured never loads it. Raises ImportError as the import would.
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # the names this module hands out, for type checkers
    from librouteros import connect as connect
    from librouteros.api import Api as Api
    from librouteros.connections import SocketTransport as SocketTransport
    from librouteros.exceptions import ConnectionClosed as ConnectionClosed
    from librouteros.exceptions import FatalError as FatalError
    from librouteros.exceptions import LibRouterosError as LibRouterosError
    from librouteros.exceptions import MultiTrapError as MultiTrapError
    from librouteros.exceptions import TrapError as TrapError
    from librouteros.login import encode_password as encode_password
    from librouteros.protocol import parse_word as parse_word

_WHERE = {
    "connect": "librouteros",
    "Api": "librouteros.api",
    "SocketTransport": "librouteros.connections",
    "ConnectionClosed": "librouteros.exceptions",
    "FatalError": "librouteros.exceptions",
    "LibRouterosError": "librouteros.exceptions",
    "MultiTrapError": "librouteros.exceptions",
    "TrapError": "librouteros.exceptions",
    "encode_password": "librouteros.login",
    "parse_word": "librouteros.protocol",
}


@functools.cache
def _module(name: str) -> ModuleType:
    import importlib

    return importlib.import_module(name)


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_module(where), name)
    globals()[name] = value         # later lookups are plain module attributes
    return value


def lazy_connect(*args: Any, **kwargs: Any) -> Any:
    """librouteros.connect, imported on the first call (the default connector)."""
    return __getattr__("connect")(*args, **kwargs)
