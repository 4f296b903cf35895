"""netwatchd: an independent poller-and-notifier for a MikroTik-based intranet.

One package per concern, in layers; an import may only point down (.importlinter, checked in CI):

    __main__ -> cli -> commands -> app      entry points; app.py builds and starts everything
    bot                                     the Telegram command bot
    notify | report | web | lab             alert delivery, reports, status page + /metrics, the namespace lab
    store                                   SQLite: every SQL statement
    engine | probes | router | schedule     the alert brain, probers, RouterOS, when each host is due
    config                                  hosts.yaml -> frozen dataclasses (Config.tz)
    models | errors | clock | logs | jsonl | textsplit   the leaves every layer may use
    files                                   private files (0600) and folders (0700)

Packages on one line do not import each other, and nothing anywhere imports in a cycle.
"""

__version__ = "0.1.0"
