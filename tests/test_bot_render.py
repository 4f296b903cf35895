"""Pure renderers: exact strings for the tables admins read, escaping, splitting at 4,096."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from netwatchd.bot import render as c
from netwatchd.bot.i18n import bot_commands, say
from netwatchd.bot.text import bits_per_second, byte_size, duration, table
from netwatchd.config.model import HostSpec
from netwatchd.models import ProbeResult, State, Transition
from netwatchd.textsplit import split_html as split_message

TZ = ZoneInfo("Asia/Jakarta")
NOW = datetime(2026, 11, 27, 7, 0, tzinfo=timezone.utc)   # 14:00 WIB
HOSTS = [HostSpec("Waru", "198.18.15.2", group="kecamatan"), HostSpec("Krian", "198.18.9.2", group="kecamatan"),
         HostSpec("srv<1>", "127.0.0.1")]
VIEWS = {"Waru": c.SiteView("up", NOW - timedelta(hours=2, minutes=3), 1.234, 0.0),
         "Krian": c.SiteView("down", NOW - timedelta(minutes=3, seconds=5), None, 100.0, muted=True)}


def test_monitor_in_indonesian_grouped_with_problems_first_line() -> None:
    assert c.render_monitor(HOSTS, VIEWS, now=NOW, tz=TZ, language="id", tz_name="WIB") == (
        "<b>Monitor</b> 14:00 WIB — 3 situs: 1 UP, 1 DOWN, 1 TIDAK DIKETAHUI\n"
        "Bermasalah: Krian\n"
        "<b>kecamatan</b>\n"
        "<pre>situs status sejak rtt loss\n"
        "Waru  UP     2h03m 1.2   0%\n"
        "Krian DOWN   3m05s   - 100% 🔕</pre>\n"
        "<b>tanpa grup</b>\n"
        "<pre>situs  status          sejak rtt loss\n"
        "srv&lt;1&gt; TIDAK DIKETAHUI -       -    -</pre>\n"
        "🔕 = dibisukan")


@pytest.mark.parametrize("language", ["id", "en"])
@pytest.mark.parametrize("state", [State.UP, State.DEGRADED, State.DOWN, State.UNREACHABLE, State.UNKNOWN])
def test_the_bot_and_the_alerts_use_one_word_per_state(language: str, state: State) -> None:
    """DEGRADED was TERGANGGU in alerts but LAMBAT in /monitor: an admin reads one word for one state."""
    from netwatchd.notify.format import render_one

    alert = render_one(Transition(host="Waru", address="198.18.15.2", from_state=State.UP, to_state=state,
                                  at=NOW), language=language, tz=TZ)
    monitor = c.render_monitor(HOSTS[:1], {"Waru": c.SiteView(state.value, NOW, 1.0, 0.0)}, now=NOW, tz=TZ,
                               language=language)
    word = {"id": {State.DEGRADED: "TERGANGGU", State.UNREACHABLE: "TAK TERJANGKAU", State.UNKNOWN: "TIDAK DIKETAHUI"},
            "en": {State.DEGRADED: "DEGRADED", State.UNREACHABLE: "UNREACHABLE", State.UNKNOWN: "UNKNOWN"}
            }[language].get(state, state.value.upper())
    assert f"<b>Waru {word}</b>" in alert
    summary, *_, row = monitor.removesuffix("</pre>").splitlines()
    assert summary.endswith(f": 1 {word}") and row.split()[1:1 + len(word.split())] == word.split()


def test_monitor_in_english() -> None:
    text = c.render_monitor(HOSTS[:2], VIEWS, now=NOW, tz=TZ, language="en")
    assert text.splitlines()[:4] == ["<b>Monitor</b> 14:00 — 2 sites: 1 UP, 1 DOWN", "Problems: Krian",
                                     "<b>kecamatan</b>", "<pre>site  state since rtt loss"]


def test_monitor_without_sites_says_so() -> None:
    assert c.render_monitor([], {}, now=NOW, tz=TZ, language="en") == "No site is configured (hosts:)."


def test_ping_from_the_agent_up_and_down() -> None:
    alive = ProbeResult.from_rtts(host="x", address="127.0.0.1", probe="icmp", at=NOW, sent=3,
                                  rtts_ms=[0.05, 0.07, 0.06])
    assert c.render_ping_result("127.0.0.1", alive, "en") == (
        "<b>Ping</b> 127.0.0.1 from the netwatchd server\n"
        "UP: sent 3, received 3, loss 0%, rtt 0.05/0.06/0.07 ms")
    dead = ProbeResult.from_rtts(host="x", address="198.18.9.2", probe="icmp", at=NOW, sent=3, rtts_ms=[])
    assert c.render_ping_result("Krian", dead, "id") == (
        "<b>Ping</b> Krian (198.18.9.2) dari server netwatchd\n"
        "DOWN (tidak ada balasan): terkirim 3, diterima 0, hilang 100% (timeout)")


def test_ping_from_a_router_lists_each_echo() -> None:
    rows = [{"seq": 0, "host": "198.18.4.2", "status": "timeout", "sent": 1, "received": 0, "packet-loss": 100},
            {"seq": 1, "host": "198.18.4.2", "ttl": 64, "time": "1ms812us", "sent": 2, "received": 1,
             "packet-loss": 50, "min-rtt": "1ms812us", "avg-rtt": "1ms812us", "max-rtt": "1ms812us"}]
    assert c.render_ping_router("Porong", "198.18.4.2", "core", rows, "en") == (
        "<b>Ping</b> Porong (198.18.4.2) from router core\n"
        "<pre>seq host       ttl time\n"
        "  0 198.18.4.2   - timeout\n"
        "  1 198.18.4.2  64 1ms812us</pre>\n"
        "UP: sent 2, received 1, loss 50%, rtt 1ms812us/1ms812us/1ms812us")


def test_pool_usage_counts_used_addresses_against_the_ranges() -> None:
    pools = [{"name": "pool-lan", "ranges": "198.18.0.50-198.18.0.200"},
             {"name": "pool-tamu", "ranges": "198.18.2.0/28,198.18.3.1"}]
    used = [{"pool": "pool-lan"}, {"pool": "pool-lan"}, {"pool": "pool-tamu"}]
    assert c.render_pool(pools, used, "core", "en") == (
        "<b>IP pools</b> on core\n"
        "<pre>name      ranges                    used  %\n"
        "pool-lan  198.18.0.50-198.18.0.200 2/151 1%\n"
        "pool-tamu 198.18.2.0/28,198.18.3.1  1/17 6%</pre>")


@pytest.mark.parametrize("ranges, size", [("10.0.0.1-10.0.0.10", 10), ("10.0.0.0/24", 256), ("10.0.0.5", 1),
                                          ("10.0.0.1-10.0.0.2,10.0.1.0/30", 6), ("garbage", 0), ("", 0)])
def test_pool_size(ranges: str, size: int) -> None:
    assert c.pool_size(ranges) == size


def test_interface_flags_counters_and_legend() -> None:
    rows = [{"name": "ether1", "running": True, "disabled": False, "link-downs": 1, "rx-byte": 123456789,
             "tx-byte": 1024},
            {"name": "ether3", "running": "false", "disabled": "false", "link-downs": "7"},
            {"name": "ether4", "running": False, "disabled": True}]
    assert c.render_interface(rows, "core", "en") == (
        "<b>Interfaces</b> on core\n"
        "<pre>  name   downs        rx      tx\n"
        "R ether1     1 117.7 MiB 1.0 KiB\n"
        "- ether3     7         -       -\n"
        "X ether4     0         -       -</pre>\n"
        "R = running, X = disabled, - = no link")


def test_traffic_is_humanized_bits_per_second() -> None:
    samples = [("ether1", {"rx-bits-per-second": "48200000", "tx-bits-per-second": 12750000}),
               ("ether2", {"rx-bits-per-second": 950, "tx-bits-per-second": "2400"})]
    assert c.render_traffic(samples, "core", "id") == (
        "<b>Traffic</b> di core (saat ini)\n"
        "<pre>interface        rx        tx\n"
        "ether1    48.2 Mbps 12.8 Mbps\n"
        "ether2      950 bps  2.4 kbps</pre>")


def test_dns_key_value_block() -> None:
    row = {"servers": "198.18.0.53,198.18.0.54", "dynamic-servers": "", "allow-remote-requests": True,
           "cache-size": "2048KiB", "cache-used": "412KiB"}
    assert c.render_dns(row, "core", "en") == (
        "<b>DNS</b> on core\n"
        "<pre>servers         198.18.0.53,198.18.0.54\n"
        "dynamic servers -\n"
        "allow remote    yes\n"
        "cache           412 / 2048 KiB (20%)</pre>")


def test_resource_in_indonesian() -> None:
    row = {"uptime": "3d4h17m", "version": "7.15.3 (stable)", "cpu-load": 7, "free-memory": 3286188032,
           "total-memory": 4294967296, "board-name": "CCR2004", "architecture-name": "arm64",
           "free-hdd-space": 109780992, "total-hdd-space": 134217728}
    assert c.render_resource(row, "core", "id") == (
        "<b>Resource</b> core\n"
        "<pre>board      CCR2004\n"
        "versi      7.15.3 (stable)\n"
        "uptime     3d4h17m\n"
        "cpu        7%\n"
        "memori     962.0 MiB / 4.0 GiB (23%)\n"
        "disk       104.7 MiB free / 128.0 MiB\n"
        "arsitektur arm64</pre>")


def test_dhcp_neighbor_address_escape_router_values() -> None:
    leases = [{"address": "198.18.0.50", "mac-address": "3C:52:82:4A:10:11", "host-name": "<script>",
               "status": "bound", "expires-after": "8m12s"}]
    text = c.render_dhcp(leases, "core", "en")
    assert "&lt;script&gt;" in text and "<script>" not in text
    assert text.startswith("<b>DHCP leases</b> on core (1)\n<pre>address     mac")
    assert c.render_neighbor([], "core", "en") == "<b>Neighbors</b> of core\n(none)"
    addresses = [{"address": "198.18.0.1/24", "interface": "bridge-lan", "network": "198.18.0.0",
                  "dynamic": True, "disabled": False}]
    assert c.render_address(addresses, "core", "en") == (
        "<b>IP addresses</b> on core\n"
        "<pre>address       interface  network    f\n"
        "198.18.0.1/24 bridge-lan 198.18.0.0 D</pre>")


def test_history_newest_first_with_evidence() -> None:
    events = [Transition("Krian", "198.18.9.2", State.UP, State.DOWN, NOW - timedelta(minutes=3),
                         evidence={"loss_percent": 100.0, "failures_in_row": 3}),
              Transition("Krian", "198.18.9.2", State.DOWN, State.UP, NOW - timedelta(days=2),
                         evidence={"loss_percent": 0.0, "rtt_avg_ms": 1.5})]
    assert c.render_history("Krian", events, now=NOW, tz=TZ, language="en") == (
        "<b>History</b> of Krian (last 2 events)\n"
        "<pre>at          event   evidence\n"
        "13:57       UP→DOWN loss 100% 3x\n"
        "25-11 14:00 DOWN→UP loss 0% rtt 1.5ms</pre>")
    assert c.render_history("Krian", [], now=NOW, tz=TZ, language="id") == "Belum ada kejadian tercatat untuk Krian."


def test_history_shows_the_routers_vote_the_path_and_the_cause() -> None:
    events = [Transition("Waru", "198.18.15.2", State.DOWN, State.UP, NOW - timedelta(minutes=1),
                         evidence={"cause": {"router": "waru-rb", "result": "restarted", "uptime_s": 60}}),
              Transition("Waru", "198.18.15.2", State.UP, State.DOWN, NOW - timedelta(minutes=9),
                         evidence={"loss_percent": 100.0, "failures_in_row": 3,
                                   "confirm": {"via": "core", "result": "down", "sent": 3, "received": 0}}),
              Transition("Waru", "198.18.15.2", State.PATH, State.UP, NOW - timedelta(minutes=30)),
              Transition("Waru", "198.18.15.2", State.UP, State.PATH, NOW - timedelta(minutes=40),
                         evidence={"confirm": {"via": "core", "result": "reachable", "sent": 3, "received": 3}})]
    assert c.render_history("Waru", events, now=NOW, tz=TZ, language="en") == (
        "<b>History</b> of Waru (last 4 events)\n"
        "<pre>at    event           evidence\n"
        "13:59 DOWN→UP         restarted\n"
        "13:51 UP→DOWN         loss 100% 3x core 0/3\n"
        "13:30 PATH PROBLEM→UP -\n"
        "13:20 UP→PATH PROBLEM core ok 3/3</pre>")


def test_report_worst_first_and_no_data_last() -> None:
    rows = [c.Availability("Candi", 100.0, 0, 0.0, parent_s=2400.0, available_s=864000.0 - 2400.0),
            c.Availability("Waru", 90.0, 0, 86400.0, available_s=777600.0),
            c.Availability("Krian", 99.58, 1, 3600.0, maintenance_s=7200.0, blind_s=600.0, available_s=853200.0),
            c.Availability("Porong", None, 0, 0.0, blind_s=864000.0)]
    # time-weighted: (861600 + 777600 + 853200) / (861600 + 777600 + 86400 + 853200 + 3600)
    assert c.render_report(rows, month="11/2026", now=NOW, tz=TZ, language="en") == (
        "<b>Availability</b> 11/2026 (to 14:00)\n"
        "Availability 96.51% • 1 outages • own downtime 1d01h\n"
        "Not counted: parent down 40m00s • maintenance 2h00m • monitor blind 10d00h\n"
        "<pre>site     avail  down parent maint  blind\n"
        "Waru    90.00% 1d00h      -     -      -\n"
        "Krian   99.58% 1h00m      - 2h00m 10m00s\n"
        "Candi  100.00%     - 40m00s     -      -\n"
        "Porong       -     -      -     - 10d00h</pre>")


def test_status_block() -> None:
    status = c.AgentStatus(uptime_s=3725, sites_by_state={"up": 17, "down": 1}, outbox_pending=0, outbox_dead=1,
                           last_delivery_at=NOW - timedelta(minutes=1), last_latency_ms=412.3, commands_answered=5,
                           routers=("core",), muted=1)
    assert c.render_status(status, now=NOW, tz=TZ, language="en") == (
        "<b>netwatchd status</b>\n"
        "<pre>uptime            1h02m\n"
        "sites             17 UP, 1 DOWN\n"
        "muted             1\n"
        "outbox            0\n"
        "dead letters      1\n"
        "last delivery     412 ms (13:59)\n"
        "commands answered 5\n"
        "routers           core</pre>")


def test_refusal_texts_show_the_user_id() -> None:
    assert say("en", "refused_not_admin", user_id=12345) == (
        "Your Telegram user id is <code>12345</code>; ask an admin to add it to telegram.admins.")
    assert "<code>12345</code>" in say("id", "refused_not_admin", user_id=12345)
    assert say("en", "unknown_site", value="<b>", example="Waru") == (
        "No site or group named &lt;b&gt; in the config; for example: Waru.")


def test_menu_buttons_carry_commands_and_fit_callback_limits() -> None:
    keyboard, inline = c.menu_markups()
    assert keyboard["keyboard"][0] == [{"text": "/monitor"}, {"text": "/ping"}, {"text": "/status"}]
    datas = [b["callback_data"] for row in inline["inline_keyboard"] for b in row]
    assert "/monitor" in datas and all(len(d.encode()) <= 64 for d in datas)
    names = [name for name, _ in bot_commands("en")]
    assert names[:2] == ["menu", "monitor"] and all(n.islower() and len(n) <= 32 for n in names)
    assert all("&lt;" not in desc for _, desc in bot_commands("id"))


@pytest.mark.parametrize("value, text", [(0, "0 bps"), (999, "999 bps"), (1000, "1.0 kbps"), (1_500_000, "1.5 Mbps"),
                                         (2_500_000_000, "2.5 Gbps"), ("12", "12 bps"), (None, "-"), ("x", "-")])
def test_bits_per_second(value: object, text: str) -> None:
    assert bits_per_second(value) == text


@pytest.mark.parametrize("value, text", [(512, "512 B"), (1536, "1.5 KiB"), (3 << 30, "3.0 GiB"), (None, "-")])
def test_byte_size(value: object, text: str) -> None:
    assert byte_size(value) == text


@pytest.mark.parametrize("seconds, text", [(0, "0s"), (59, "59s"), (61, "1m01s"), (3600, "1h00m"), (90061, "1d01h")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_table_never_shows_a_python_repr() -> None:
    text = table(["a", "b"], [[None, True], [[1, 2], 3.14159]])
    assert text == "<pre>a    b\n-    yes\n1, 2 3.1</pre>"
    assert "None" not in text and "True" not in text and "[" not in text


def test_split_keeps_every_chunk_under_the_limit_and_pre_balanced() -> None:
    body = table(["n"], [[f"row {i:04d} " + "x" * 60] for i in range(300)])
    text = "<b>Title</b>\n" + body + "\nfooter"
    chunks = split_message(text)
    assert len(chunks) >= 5
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert all(chunk.count("<pre>") == chunk.count("</pre>") for chunk in chunks)
    joined = "\n".join(chunk.replace("<pre>", "").replace("</pre>", "") for chunk in chunks)
    assert joined == text.replace("<pre>", "").replace("</pre>", "")   # nothing lost, nothing reordered


def test_split_cuts_an_overlong_line_outside_entities() -> None:
    text = "&amp;" * 2000
    chunks = split_message(text)
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert all(chunk.count("&") == chunk.count("&amp;") for chunk in chunks)
    assert "".join(chunks) == text


def test_short_messages_are_not_split() -> None:
    assert split_message("hello") == ["hello"]


def test_router_error_is_one_line_and_escaped() -> None:
    message = "router core (10.0.0.1:8728): the router refused the command:\n  no such item <x>"
    assert c.render_router_error(message, "id") == (
        "⚠️ Router core (10.0.0.1:8728): the router refused the command: no such item &lt;x&gt;")


def test_a_missing_router_policy_is_one_line_in_the_admins_language() -> None:
    from netwatchd.errors import RouterError, RouterPolicyError

    missing = RouterPolicyError("router core (10.0.0.1:8728): user 'nw<1>' may not run /ping: ...", router="core",
                                user="nw<1>", command="/ping", policy="test")
    indonesian = c.render_router_failure(missing, str(missing), "id")
    assert indonesian == ("⚠️ Router core menolak /ping: grup user <code>nw&lt;1&gt;</code> tidak punya policy "
                          "<b>test</b> (not enough permissions). Di router: <code>/user group set GRUP "
                          "policy=read,test,api</code>")
    assert "\n" not in indonesian
    unknown_policy = RouterPolicyError("router core (10.0.0.1:8728): user 'nw' may not run /x/run: not enough "
                                       "permissions (9)", router="core", user="nw", command="/x/run", policy=None)
    assert c.render_router_failure(unknown_policy, str(unknown_policy), "en") == (
        "⚠️ Router core (10.0.0.1:8728): user 'nw' may not run /x/run: not enough permissions (9)")
    other = RouterError("router core (10.0.0.1:8728): no reply within the time allowed (timeout 5 s)")
    assert c.render_router_failure(other, str(other), "en") == c.render_router_error(str(other), "en")
