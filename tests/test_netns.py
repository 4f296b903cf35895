import subprocess

import pytest

from netwatchd.errors import LabError


def test_lab_links_answer_and_blackhole_drops(lab):
    lab.add_namespace("mon")
    lab.add_namespace("site")
    lab.link("mon", "eth0", "198.18.0.1/30", "site", "eth0", "198.18.0.2/30")
    # one answer of three is enough: a fresh veth may still be coming up on a loaded machine
    ok = subprocess.run(lab.command("mon", ["fping", "-c3", "-p200", "-t1000", "198.18.0.2"]), capture_output=True)
    assert ok.returncode == 0
    lab.set_loss("site", 0, drop_all=True)
    dropped = subprocess.run(lab.command("mon", ["fping", "-c1", "-t300", "198.18.0.2"]), capture_output=True)
    assert dropped.returncode != 0
    assert "default" not in lab.exec("mon", ["ip", "route"])


def test_lab_refuses_addresses_outside_the_lab_range(lab):
    lab.add_namespace("a")
    lab.add_namespace("b")
    with pytest.raises(LabError, match="outside the lab range"):
        lab.link("a", "eth0", "192.0.2.1/30", "b", "eth0", "192.0.2.2/30")
