"""The configuration: hosts.yaml read, validated and turned into frozen dataclasses.

Owns: `model` (the dataclasses every other module codes against; `Config.tz` is the ready tzinfo),
`schema` (the one table of keys, defaults and help that the loader and docs/configuration.md are built
from), `kinds` (value parsers: the one RouterOS duration grammar, addresses, names), `reader` (YAML with
line numbers), `loader` (FILE:LINE errors, `${VAR}` secrets) and `apart` (the agent reads it in a
forked child, so the moment of reading never scatters its heap). May import only the leaves: models,
errors, clock, logs.
"""
