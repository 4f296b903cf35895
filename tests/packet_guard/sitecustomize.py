"""Installs the test suite's packet guard in Python subprocesses started by the tests."""

import os

if os.environ.get("NETWATCHD_PACKET_GUARD_LOG"):
    try:
        import netwatchd_packet_guard

        netwatchd_packet_guard.install()
    except Exception:  # noqa: BLE001 - never break a subprocess over the guard itself
        pass
