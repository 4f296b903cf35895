"""netwatchd: an independent poller-and-notifier for a MikroTik-based intranet."""

__version__ = "0.1.0"
