"""Talking to MikroTik routers over the RouterOS API, and their own Netwatch tables.

Owns: client.py (RouterClient/RouterPool over librouteros: deadlines, TLS, read-only commands), ros.py
(librouteros imported when a router is first reached),
values.py (what RouterOS prints: ping times, flags, numbers, timestamps; durations are
config.kinds.parse_duration), netwatch.py (read the Netwatch table, compare it with netwatchd's view),
crosscheck_watch.py + crosscheck_text.py (the periodic cross-check and its tables), rsc.py + hosts_yaml.py
(`import-netwatch`: export scripts -> hosts.yaml). May import config and the leaves (models, errors, clock,
logs); never engine, probes, schedule (its siblings) or anything above.
"""
