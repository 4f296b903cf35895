"""One exception hierarchy for netwatchd.

Every message is written for a network administrator: it says what is wrong and
how to fix it, on one line, and never contains a secret. The CLI catches
`NetwatchError` once and exits 2 for user mistakes (`exit_code`).
"""

from __future__ import annotations


class NetwatchError(Exception):
    """Base of every error netwatchd raises on purpose."""

    exit_code: int = 1


class UsageError(NetwatchError):
    """The command line is wrong (bad flag value, missing argument)."""

    exit_code = 2


class ConfigError(NetwatchError):
    """hosts.yaml is wrong. `problems` holds every located message found.

    Each problem reads `FILE:LINE: key.path: what is wrong (what is allowed)`.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ProbeError(NetwatchError):
    """A probe could not be run at all (not: the target did not answer)."""


class PermissionProblem(ProbeError):
    """Raw and unprivileged ICMP sockets are both refused; the message says how to fix it."""

    exit_code = 2


class DeliveryError(NetwatchError):
    """Sending a notification failed. `permanent` stops retries for that chat."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None,
                 migrate_to_chat_id: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


class RouterError(NetwatchError):
    """Talking to a RouterOS device failed (timeout, refused, trap, fatal, bad login)."""


class RouterPolicyError(RouterError):
    """The router refused a command because the API user's group lacks a policy (`not enough
    permissions (9)`). `policy` names the missing one when the command tells which (e.g. /ping: test)."""

    def __init__(self, message: str, *, router: str, user: str, command: str, policy: str | None) -> None:
        super().__init__(message)
        self.router = router
        self.user = user
        self.command = command
        self.policy = policy


class RouterBusyError(RouterError):
    """The router's API session for this kind of command is taken (a ping is running, or a slow
    read): nothing was sent. `doing` is "ping" or "command"; `retry_after` whole seconds until it
    should be free."""

    def __init__(self, message: str, *, router: str, doing: str, retry_after: int) -> None:
        super().__init__(message)
        self.router = router
        self.doing = doing
        self.retry_after = retry_after


class ReportError(NetwatchError):
    """A report cannot be made as asked (a PDF without WeasyPrint, a file that cannot be written)."""

    exit_code = 2


class StoreError(NetwatchError):
    """The SQLite store cannot be opened, migrated or written."""

    exit_code = 2


class StoreDamaged(StoreError):
    """The store file is damaged (not a database, or SQLite finds it malformed). The message
    names the file, what is damaged and the commands that move it aside; `path` and `detail`
    say the same for callers that word it themselves."""

    def __init__(self, message: str, *, path: str, detail: str) -> None:
        super().__init__(message)
        self.path = path
        self.detail = detail


class LabError(NetwatchError):
    """The network-namespace lab cannot be built (no root, no iproute2, ...)."""

    exit_code = 2
