"""Which router the bot asks to ping a site (/diagnose, /ping SITE router): the one that voted on
its DOWN (`via`) before the parent chain — a site behind `edge` but confirmed by `edge` while its
parent chain reaches `core` must be diagnosed from `edge`, as its DOWN was."""

from __future__ import annotations

import pytest

from netwatchd.bot.handlers import router_for_site
from netwatchd.bot.parse import CommandInputError
from netwatchd.config.model import RouterSpec
from support.state import config, host


def _config(*hosts):
    return config(hosts, routers=(RouterSpec(name="core", address="198.18.0.1"),
                                  RouterSpec(name="edge", address="198.18.0.2")))


def test_via_wins_over_the_parent_chain():
    site = host("Waru", parent="core", via="edge")
    assert router_for_site(site, _config(site)) == "edge"


def test_without_via_the_first_router_up_the_parent_chain():
    switch = host("sw-waru", parent="edge")
    site = host("Waru", parent="sw-waru")
    assert router_for_site(site, _config(switch, site)) == "edge"


def test_via_matches_a_router_name_whatever_its_case():
    site = host("Waru", via="EDGE")
    assert router_for_site(site, _config(site)) == "edge"


def test_neither_via_nor_a_router_parent_is_the_first_router():
    site = host("Waru")
    assert router_for_site(site, _config(site)) == "core"


def test_no_router_configured_is_a_command_error():
    site = host("Waru", via="edge")
    with pytest.raises(CommandInputError):
        router_for_site(site, config([site]))
