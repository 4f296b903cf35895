"""The guard that keeps every test's packets on loopback and in its own namespaces can refuse."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import netwatchd_packet_guard as guard
import pytest


@pytest.fixture
def private_log(tmp_path, monkeypatch):
    """Point the guard at a log of this test's own, so its deliberate violations don't fail the run."""
    log = tmp_path / "guard.log"
    monkeypatch.setenv("NETWATCHD_PACKET_GUARD_LOG", str(log))
    return log


def test_loopback_is_allowed():
    guard.check_destination(("127.0.0.1", 9))
    guard.check_destination(("::1", 9, 0, 0))
    guard.check_name("localhost")


@pytest.mark.parametrize("address", ["192.0.2.7", "198.51.100.1", "2001:db8::1"])
def test_outside_addresses_are_refused_and_recorded(private_log, address):
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        with pytest.raises(PermissionError, match="packet guard"):
            sock.sendto(b"x", (address, 9))
    assert address in private_log.read_text()


def test_lab_addresses_are_refused_from_the_machines_own_namespace(private_log):
    if guard._in_own_namespace():
        pytest.skip("the test process itself runs inside a namespace")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(PermissionError, match="lab address 198.18.4.2"):
            sock.connect(("198.18.4.2", 80))


def test_public_name_lookups_are_refused(private_log):
    with pytest.raises(PermissionError, match="name lookup"):
        socket.getaddrinfo("example.org", 80)


def test_python_subprocesses_get_the_guard_too(private_log):
    code = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.9', 9))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ))
    assert proc.returncode != 0 and "packet guard" in proc.stderr
    assert "192.0.2.9" in Path(private_log).read_text()
