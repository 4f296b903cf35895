"""RouterOS user groups and policies as the stand-in enforces them.

A RouterOS user belongs to one group; the group's policies say what the user may do. Over the API:
- a group without `api` cannot log in at all (the login is refused like a wrong password: the text
  is a guess, see docs/notes/rosstrict.md);
- `/ping` (and the other tools that send packets) needs `test`: without it the router answers
  `!trap =message=not enough permissions (9)` (seen on 6.46 and 7.4 in client issue trackers);
- prints, `getall` and monitors need `read`; changing configuration needs `write`; reboot and
  shutdown need `reboot`.
"""

from __future__ import annotations

NO_PERMISSION = "not enough permissions (9)"
POLICIES = frozenset({"local", "telnet", "ssh", "ftp", "reboot", "read", "write", "policy", "test", "winbox",
                      "password", "web", "sniff", "sensitive", "api", "romon", "rest-api"})
# RouterOS's three default groups (as /user group print shows them on v7), plus the group the
# project's docs recommend for netwatchd: read, test and api only.
DEFAULT_GROUPS: dict[str, frozenset[str]] = {
    "full": POLICIES,
    "write": POLICIES - {"ftp", "policy", "sensitive"},
    "read": POLICIES - {"ftp", "reboot", "write", "policy", "sensitive"},
    "netwatchd": frozenset({"read", "test", "api"}),
}
WRITE_VERBS = frozenset({"add", "set", "remove", "enable", "disable", "unset", "edit", "move", "reset", "export",
                         "import", "comment", "reset-counters", "reset-counters-all", "make-static", "release",
                         "flush", "run", "save", "load", "upgrade"})
TEST_COMMANDS = frozenset({"/ping", "/tool/ping", "/tool/traceroute", "/tool/flood-ping", "/tool/bandwidth-test",
                           "/ping/arp"})
REBOOT_COMMANDS = frozenset({"/system/reboot", "/system/shutdown"})
NO_POLICY_COMMANDS = frozenset({"/login", "/quit", "/cancel"})


def required_policy(command: str) -> str | None:
    """The policy a command needs (None for the session commands /login, /quit, /cancel)."""
    if command in NO_POLICY_COMMANDS:
        return None
    if command in TEST_COMMANDS:
        return "test"
    if command in REBOOT_COMMANDS:
        return "reboot"
    if command.rsplit("/", 1)[-1] in WRITE_VERBS:
        return "write"
    return "read"


def check_group(policies: frozenset[str] | set[str]) -> frozenset[str]:
    """A group's policies, checked. Raises ValueError naming an unknown policy."""
    unknown = sorted(set(policies) - POLICIES)
    if unknown:
        raise ValueError(f"unknown RouterOS policy {unknown[0]!r}; one of {', '.join(sorted(POLICIES))}")
    return frozenset(policies)
