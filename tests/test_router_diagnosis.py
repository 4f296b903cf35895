"""What a router's tables say about a site, as tables of rows in and facts out (v6 and v7 rows)."""

from __future__ import annotations

import pytest

from netwatchd.models import CONFIRMED, NO_ANSWER, REACHABLE
from netwatchd.router.diagnosis import interface_item, log_item, neighbor_item, ping_verdict, route_interface

ADDRESSES = [
    {"address": "198.18.0.2/30", "network": "198.18.0.0", "interface": "ether1", "disabled": False, "invalid": False},
    {"address": "198.18.15.1/30", "network": "198.18.15.0", "interface": "ether16", "disabled": False,
     "invalid": False},
    {"address": "198.18.16.1/30", "network": "198.18.16.0", "interface": "ether17", "disabled": True,
     "invalid": False},
    {"address": "10.9.0.1/16", "network": "10.9.0.0", "interface": "bridge", "disabled": False, "invalid": False},
]
ROUTES_V7 = [
    {"dst-address": "0.0.0.0/0", "gateway": "198.18.0.1", "immediate-gw": "198.18.0.1%ether1", "distance": 1,
     "active": True},
    {"dst-address": "172.16.200.0/24", "gateway": "198.18.15.2", "immediate-gw": "198.18.15.2%ether16",
     "distance": 1, "active": True},
    {"dst-address": "172.16.200.0/24", "gateway": "198.18.0.1", "immediate-gw": "198.18.0.1%ether1",
     "distance": 5, "active": True},
    {"dst-address": "10.9.8.0/24", "gateway": "198.18.15.2", "immediate-gw": "198.18.15.2%ether16", "distance": 1,
     "active": False},
]
ROUTES_V6 = [
    {"dst-address": "172.16.200.0/24", "gateway": "198.18.15.2", "gateway-status": "198.18.15.2 reachable via  ether16",
     "distance": 1, "active": True},
    {"dst-address": "172.16.201.0/24", "gateway": "pppoe-waru", "distance": 1, "active": True},
    {"dst-address": "172.16.202.0/24", "gateway": "198.18.15.2", "distance": 1, "active": True},
]


@pytest.mark.parametrize("address, routes, expected", [
    ("198.18.15.2", ROUTES_V7, ("ether16", None)),               # connected network
    ("198.18.16.2", [], (None, None)),                           # its address is disabled: no way there
    ("172.16.200.117", ROUTES_V7, ("ether16", "198.18.15.2")),    # v7 immediate-gw; lower distance wins
    ("8.8.8.8", ROUTES_V7, ("ether1", "198.18.0.1")),             # the default route
    ("10.9.8.5", ROUTES_V7, ("bridge", None)),                   # inactive /24 ignored: the connected /16
    ("172.16.200.117", ROUTES_V6, ("ether16", "198.18.15.2")),    # v6 gateway-status
    ("172.16.201.9", ROUTES_V6, ("pppoe-waru", None)),            # the gateway is an interface
    ("172.16.202.9", ROUTES_V6, ("ether16", "198.18.15.2")),      # the gateway's connected network
    ("waru.example", ROUTES_V7, (None, None)),                   # a name: the router's table cannot say
])
def test_route_interface(address, routes, expected):
    assert route_interface(address, ADDRESSES, routes) == expected


@pytest.mark.parametrize("rows, expected", [
    ([], (NO_ANSWER, 0, 0, None)),
    ([{"seq": 0, "status": "timeout", "sent": 1, "received": 0, "packet-loss": 100}] * 3,
     (CONFIRMED, 1, 0, None)),
    ([{"seq": 0, "time": "1ms234us", "sent": 1, "received": 1},
      {"seq": 1, "status": "timeout", "sent": 2, "received": 1},
      {"seq": 2, "time": "2ms", "sent": 3, "received": 2, "avg-rtt": "1ms617us"}], (REACHABLE, 3, 2, 1.617)),
    ([{"seq": 0, "time": "0ms", "sent": 1, "received": 1}], (REACHABLE, 1, 1, 0.0)),          # v6 whole ms
    ([{"seq": 0, "status": "host unreachable", "sent": 1, "received": 0}], (CONFIRMED, 1, 0, None)),
])
def test_ping_verdict(rows, expected):
    assert ping_verdict(rows) == expected


def test_interface_item_against_the_last_look():
    rows = [{"name": "ether16", "running": False, "disabled": False, "link-downs": 8, "comment": "Waru fiber",
             "last-link-down-time": "2026-11-27 21:02:51"}]
    item = interface_item("core", "ether16", rows, (7, "2026-11-27T13:58:00.000+00:00"))
    assert item == {"kind": "interface", "router": "core", "name": "ether16", "found": True, "running": False,
                    "disabled": False, "link_downs": 8, "link_downs_before": 7,
                    "last_look": "2026-11-27T13:58:00.000+00:00", "last_link_down": "2026-11-27 21:02:51",
                    "comment": "Waru fiber"}
    assert interface_item("core", "ether99", rows, None)["found"] is False


@pytest.mark.parametrize("row, expected", [
    ({"address": "198.18.15.2", "mac-address": "48:A9:8A:20:15:01", "interface": "ether16", "status": "reachable"},
     {"present": True, "mac": "48:A9:8A:20:15:01", "interface": "ether16", "status": "reachable"}),
    ({"address": "198.18.15.2", "mac-address": "48:A9:8A:20:15:01", "interface": "ether16", "complete": True},
     {"present": True, "mac": "48:A9:8A:20:15:01", "interface": "ether16", "status": "complete"}),     # v6
    ({"address": "198.18.15.2", "interface": "ether16", "complete": False},
     {"present": True, "mac": "", "interface": "ether16", "status": "incomplete"}),
    ({"address": "198.18.15.3", "mac-address": "x", "interface": "ether16"}, {"present": False}),
])
def test_neighbor_item(row, expected):
    item = neighbor_item("core", "198.18.15.2", [row])
    assert {k: v for k, v in item.items() if k not in ("kind", "router", "address")} == expected


def test_log_item_keeps_the_last_lines_naming_the_interface_as_a_word():
    log = [{"time": f"10:0{i}:00", "message": message} for i, message in enumerate(
        ["ether16 link down", "ether160 link down", "ether16 link up (speed 1G, full duplex)", "user admin logged in",
         "ether1 link down", "ether16   link down", "bridge: ether16 port disabled"])]
    item = log_item("core", "ether16", log)
    assert item is not None and item["lines"] == [["10:02:00", "ether16 link up (speed 1G, full duplex)"],
                                                  ["10:05:00", "ether16 link down"],
                                                  ["10:06:00", "bridge: ether16 port disabled"]]
    assert log_item("core", "ether2", log) is None
