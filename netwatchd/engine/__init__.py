"""The alert brain, pure: probe results + time in, transitions out; no I/O, no threads, no SQL.

Owns: `engine` (classify, per-host debounce, parents and the fold, uplink self-check, reminders, and the
"probe this soon" hints: `AlertEngine.probe_soon`), `flapping`,
`mutes` (maintenance windows and bot mutes), `sharding` (which sites one agent of N watches). May import
config and the leaves (models, errors, clock, logs).
"""
