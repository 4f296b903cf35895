"""What a user template in `telegram.templates` may contain: its keys, its placeholders, its syntax.

The formatter (netwatchd.notify.format) renders with these; the loader validates hosts.yaml with
`check_templates`, so a bad template is a located config error, not a broken alert at 3 a.m.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TEMPLATE_KEYS: tuple[str, ...] = ("down", "up", "degraded", "unreachable", "unknown", "flapping", "stable",
                                  "reminder", "maintenance_end", "uplink_lost", "uplink_back", "startup",
                                  "reload", "crosscheck", "crosscheck_agree", "group_header", "group_line", "test",
                                  "path", "path_end", "router_health", "router_ok", "router_restart", "escalation",
                                  "escalated")
PLACEHOLDERS: tuple[str, ...] = ("icon", "host", "address", "group", "state", "from_state", "at",
                                 "time", "since", "duration", "evidence", "affected",
                                 "affected_count", "affected_line", "count", "summary", "server", "note",
                                 "confirm", "diagnosis", "cause")
FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


def check_templates(templates: Mapping[str, str]) -> list[str]:
    """Problems with user templates (unknown key, unknown placeholder, bad braces, unbalanced
    tags), one line each, for config validation. Empty list: all fine."""
    problems = []
    for key, template in templates.items():
        if key not in TEMPLATE_KEYS:
            problems.append(f"telegram.templates.{key}: unknown template (one of {', '.join(TEMPLATE_KEYS)})")
            continue
        if not isinstance(template, str) or not template.strip():
            problems.append(f"telegram.templates.{key}: must be a non-empty text")
            continue
        stray = FIELD.sub("", template)
        if "{" in stray or "}" in stray:
            problems.append(f"telegram.templates.{key}: unmatched brace (write {{{{ or }}}} for a literal one)")
        for match in FIELD.finditer(template):
            name = match.group(1)
            if name is not None and name not in PLACEHOLDERS:
                problems.append(f"telegram.templates.{key}: unknown placeholder {{{name}}} "
                                f"(one of {', '.join(PLACEHOLDERS)})")
        tags = re.findall(r"<(/?)([a-z-]+)[^>]*>", template)
        stack: list[str] = []
        for closing, tag in tags:
            if not closing:
                stack.append(tag)
            elif not stack or stack.pop() != tag:
                stack.append("?")
                break
        if stack:
            problems.append(f"telegram.templates.{key}: unbalanced HTML tags (Telegram would refuse it)")
    return problems
