"""The lab itself (netwatchd.lab.topology): real namespaces, real ICMP with fping from the monitor.

Cuts both ways the study made them, nftables loss, the core cut, no way out of the monitor,
teardown on SIGTERM and of leftovers, and a lab hosts.yaml that the real config checker accepts.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from netwatchd.errors import LabError
from netwatchd.lab.topology import PREFIX_STEM, LabTiming, SidoarjoLab, list_namespaces, sweep_stale_labs

pytestmark = pytest.mark.netns


@pytest.fixture
def star(lab) -> Iterator[SidoarjoLab]:   # `lab` only decides skip (off CI, no root) or fail (CI)
    with SidoarjoLab(["Waru", "Taman", "Candi"]) as built:
        yield built


def fping_loss(star: SidoarjoLab, address: str, count: int = 1, period_ms: int = 20) -> int:
    """Loss percent of `count` echoes from the monitor namespace."""
    proc = subprocess.run(star.command(["fping", "-q", f"-c{count}", f"-p{period_ms}", "-t300", address]),
                          capture_output=True, text=True)
    found = re.search(r"xmt/rcv/%loss = \d+/\d+/(\d+)%", proc.stderr)
    assert found, proc.stderr
    return int(found.group(1))


def answers_again(star: SidoarjoLab, address: str, within: float = 3.0) -> bool:
    """True once `address` answers (ARP after a link comes back retries once a second)."""
    deadline = time.monotonic() + within
    while fping_loss(star, address):
        if time.monotonic() > deadline:
            return False
    return True


@pytest.mark.parametrize("how", ["interface", "cable"])
def test_a_cut_silences_exactly_one_site_until_restored(star, how):
    waru, taman = star.site("Waru").address, star.site("Taman").address
    assert fping_loss(star, waru) == 0 and fping_loss(star, star.core_address) == 0
    star.cut("waru", how)
    assert fping_loss(star, waru) == 100
    assert fping_loss(star, taman) == 0
    star.restore("Waru")
    assert answers_again(star, waru)


def test_cutting_the_core_silences_the_core_and_every_site(star):
    star.cut_core()
    assert {fping_loss(star, a) for a in [star.core_address, *(s.address for s in star.sites.values())]} == {100}
    star.restore_core()
    assert answers_again(star, star.site("Candi").address)


def test_random_loss_drops_about_that_share_of_echo_requests(star):
    star.set_loss("Taman", 30)
    loss = fping_loss(star, star.site("Taman").address, count=300, period_ms=2)
    star.set_loss("Taman", 0)
    assert 20 <= loss <= 40, loss                 # 300 echoes at p=0.3: 4.5 sigma is 12 points
    assert fping_loss(star, star.site("Taman").address, count=20, period_ms=2) == 0


def test_the_monitor_has_no_way_out_of_the_lab(star):
    routes = star.mon_routes()
    assert "default" not in routes
    assert "198.18.0.0/15 via 198.18.0.2" in routes
    out = subprocess.run(star.command(["ip", "route", "get", "192.0.2.1"]), capture_output=True, text=True)
    assert out.returncode != 0 and "unreachable" in out.stderr.lower()


def test_unknown_sites_and_cuts_are_clear_errors(star):
    with pytest.raises(LabError, match="no site 'Porong'"):
        star.cut("Porong")
    with pytest.raises(LabError, match="unknown cut 'unplug'"):
        star.cut("Waru", "unplug")
    with pytest.raises(LabError, match="1..250 sites"):
        SidoarjoLab([])


def test_the_lab_config_passes_the_real_checker(star, tmp_path):
    config = tmp_path / "hosts.yaml"
    config.write_text(star.hosts_yaml(data_dir=tmp_path / "data", timing=LabTiming(), api_url="http://127.0.0.1:9",
                                      chat_ids=[-100], admins=[1], router_port=8728), "utf-8")
    env = {**os.environ, "NETWATCHD_LAB_TOKEN": "123456:TEST-token-for-the-stand-in-0000000000",
           "NETWATCHD_LAB_ROUTER_PASSWORD": "x-secret"}
    proc = subprocess.run([sys.executable, "-m", "netwatchd", "check", "-c", str(config)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "4 hosts, 1 router" in proc.stdout


def test_sigterm_to_a_process_holding_a_lab_removes_it(lab):
    script = ("from netwatchd.lab.topology import SidoarjoLab\n"
              "import time\n"
              "with SidoarjoLab(['Waru']) as lab:\n"
              "    print(lab.mon, flush=True)\n"
              "    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        mon = proc.stdout.readline().strip()
        assert mon in list_namespaces()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 128 + signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
    assert mon not in list_namespaces()
    assert not [n for n in list_namespaces() if n.startswith(f"{PREFIX_STEM}{proc.pid}x")]


def test_leftovers_of_a_killed_run_are_swept_and_live_labs_are_left_alone(lab, star):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{PREFIX_STEM}{dead.pid}x1-mon"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    try:
        removed = sweep_stale_labs()
        assert stale in removed
        assert stale not in list_namespaces()
        assert star.mon in list_namespaces()        # our own (live) lab stays
    finally:
        subprocess.run(["ip", "netns", "del", stale], capture_output=True)
