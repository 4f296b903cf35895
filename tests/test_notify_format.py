"""Alert texts, exact strings: both languages, escaping, WIB, grouping, splitting, templates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from netwatchd.models import State, Transition
from netwatchd.notify.format import (
    check_templates,
    format_duration,
    format_evidence,
    format_time,
    plan_messages,
    render_alerts,
    render_message,
    render_test,
    to_plain_text,
)
from netwatchd.textsplit import split_html as split_message

AT = datetime(2026, 11, 27, 14, 3, 5, 123000, tzinfo=timezone.utc)      # 21:03:05 WIB
EVIDENCE = {"loss_percent": 100.0, "failures_in_row": 3, "error": "timeout"}


def t(host="Waru", to=State.DOWN, frm=State.UP, at=AT, **kw) -> Transition:
    return Transition(host=host, address=kw.pop("address", "172.16.200.117"), from_state=frm, to_state=to,
                      at=at, **kw)


def test_down_in_indonesian_and_english():
    down = t(evidence=EVIDENCE)
    assert render_alerts([down]) == [
        "🔴 <b>Waru DOWN</b>\nAlamat: 172.16.200.117\nSejak: 27/11/2026 21:03:05 WIB\n"
        "Bukti: loss 100%, 3 gagal berturut-turut, error: timeout"]
    assert render_alerts([down], language="en") == [
        "🔴 <b>Waru DOWN</b>\nAddress: 172.16.200.117\nSince: 27/11/2026 21:03:05 WIB\n"
        "Evidence: loss 100%, 3 failures in a row, error: timeout"]


def test_recovery_says_how_long_it_was_out():
    back = t(to=State.UP, frm=State.DOWN, at=AT + timedelta(minutes=42, seconds=7), since=AT,
             evidence={"rtt_avg_ms": 3.456, "rtt_max_ms": 12.0})
    assert render_message([back]) == (
        "🟢 <b>Waru UP</b>\nAlamat: 172.16.200.117\nPulih: 27/11/2026 21:45:12 WIB\n"
        "Lama padam: 42 mnt 7 dtk (sejak 27/11/2026 21:03:05 WIB)")
    assert render_message([back], language="en") == (
        "🟢 <b>Waru UP</b>\nAddress: 172.16.200.117\nRecovered: 27/11/2026 21:45:12 WIB\n"
        "Outage: 42 min 7 s (since 27/11/2026 21:03:05 WIB)")


def test_every_dynamic_value_is_escaped():
    nasty = t(host="<b>Waru</b> & co", address="a<b", evidence={"error": "HTTP <503> & \"x\""})
    text = render_message([nasty], language="en")
    assert text == ("🔴 <b>&lt;b&gt;Waru&lt;/b&gt; &amp; co DOWN</b>\nAddress: a&lt;b\n"
                    "Since: 27/11/2026 21:03:05 WIB\nEvidence: error: HTTP &lt;503&gt; &amp; &quot;x&quot;")
    assert to_plain_text(text).startswith("🔴 <b>Waru</b> & co DOWN\n")


def test_a_parent_down_folds_its_children():
    core = t(host="Core", address="172.16.0.1", affected=("Waru", "Taman", "Candi"), evidence={"loss_percent": 100})
    assert render_message([core], language="en") == (
        "🔴 <b>Core DOWN</b> — 3 sites unreachable: Waru, Taman, Candi\nAddress: 172.16.0.1\n"
        "Since: 27/11/2026 21:03:05 WIB\nEvidence: loss 100%")


def test_a_burst_becomes_one_grouped_message_in_order():
    burst = [t("Waru", evidence=EVIDENCE), t("Taman", address="172.16.14.1", evidence={"loss_percent": 100}),
             t("Candi", to=State.UP, frm=State.DOWN, at=AT + timedelta(seconds=65), since=AT, address="172.16.3.1")]
    assert render_message(burst) == (
        "🔔 <b>2 situs DOWN, 1 situs UP</b>\n"
        "🔴 <b>Waru</b> (172.16.200.117) DOWN 21:03:05 WIB — loss 100%, 3 gagal berturut-turut, error: timeout\n"
        "🔴 <b>Taman</b> (172.16.14.1) DOWN 21:03:05 WIB — loss 100%\n"
        "🟢 <b>Candi</b> (172.16.3.1) UP 21:04:10 WIB — padam 1 mnt 5 dtk")
    assert render_message(burst[:2], language="en").split("\n")[0] == "🔴 <b>2 sites DOWN</b>"


@pytest.mark.parametrize("kind, to, language, expected", [
    ("flapping", State.DOWN, "en", "🟠 <b>Waru FLAPPING</b>, now DOWN\nAddress: 172.16.200.117\nIts state keeps "
     "changing since 27/11/2026 21:03:05 WIB; alerts for it are held until it is stable again."),
    ("stable", State.UP, "id", "🔵 <b>Waru STABIL</b>, kini UP\nAlamat: 172.16.200.117\nPada: 27/11/2026 21:03:05 WIB"),
    ("maintenance_end", State.DOWN, "en", "🛠 <b>Waru</b>: maintenance over, now <b>DOWN</b>\n"
     "Address: 172.16.200.117\nAt: 27/11/2026 21:03:05 WIB"),
    ("uplink_lost", State.DOWN, "id", "⚠️ <b>Server monitoring kehilangan jaringan</b>\nSejak: 27/11/2026 "
     "21:03:05 WIB\nStatus situs tidak dapat dinilai sampai jaringan kembali."),
    ("degraded", State.DEGRADED, "id", "🟡 <b>Waru TERGANGGU</b>\nAlamat: 172.16.200.117\nSejak: 27/11/2026 "
     "21:03:05 WIB"),
])
def test_other_kinds(kind, to, language, expected):
    transition = t(to=to, kind="state" if kind == "degraded" else kind)
    assert render_message([transition], language=language) == expected


def test_an_early_flapping_message_says_how_many_outages_in_how_long_and_the_state_now():
    flapping = t("Porong", address="198.18.4.2", kind="flapping", since=AT - timedelta(seconds=6),
                 evidence={"outages": 2, "outages_window_s": 6.2, "loss_percent": 100})
    assert render_message([flapping], language="en") == (
        "🟠 <b>Porong FLAPPING</b>, now DOWN\nAddress: 198.18.4.2\n2 outages in 6 s (since 21:02:59 WIB); "
        "alerts for it are held until it is stable again.\nEvidence: loss 100%")
    assert render_message([flapping]).split("\n")[2].startswith("2 kali padam dalam 6 dtk (sejak 21:02:59 WIB)")
    burst = render_message([t("Waru", evidence={"loss_percent": 100}), flapping], language="en")
    assert burst.split("\n")[2] == ("🟠 <b>Porong</b> (198.18.4.2) FLAPPING 21:03:05 WIB — 2 outages in 6 s "
                                    "(since 21:02:59 WIB), now DOWN, loss 100%")


def test_reminder_uplink_and_startup_as_the_state_machine_emits_them():
    reminder = t(kind="reminder", at=AT + timedelta(hours=2, minutes=5), since=AT, evidence={"loss_percent": 100})
    assert render_message([reminder], language="en") == (
        "🔴 <b>Waru still DOWN</b>\nAddress: 172.16.200.117\nSince: 27/11/2026 21:03:05 WIB (2 h 5 min)\n"
        "Evidence: loss 100%")
    lost = t(host="__self__", address="198.18.0.1,198.18.0.2", kind="uplink_lost",
             evidence={"anchors": ["198.18.0.1", "198.18.0.2"]})
    assert render_message([lost], language="en") == (
        "⚠️ <b>The monitoring server lost its network</b>\nSince: 27/11/2026 21:03:05 WIB\n"
        "Site states cannot be judged until it is back.\nEvidence: no reply from 198.18.0.1, 198.18.0.2")
    back = t(host="__self__", address="198.18.0.1,198.18.0.2", kind="uplink_back", to=State.UP, frm=State.DOWN,
             at=AT + timedelta(seconds=90), since=AT, affected=("Waru", "Taman"),
             evidence={"lost_for_s": 88.0, "changes": {"Waru": "up", "Taman": "down"}, "lost_at": AT.isoformat()})
    assert render_message([back]) == ("✅ <b>Server monitoring terhubung kembali</b>\nPada: 27/11/2026 21:04:35 WIB\n"
                                      "Terputus selama: 1 mnt 30 dtk\nPerubahan selama terputus: Waru UP, Taman DOWN")
    startup = t(host="__self__", address="", kind="startup", frm=State.UNKNOWN, to=State.UP, affected=("Waru",),
                evidence={"watching": 18, "down": 1, "unreachable": 2})
    assert render_message([startup], language="en") == (
        "ℹ️ <b>netwatchd started watching</b>: 18 sites, 1 DOWN, 2 unreachable (Waru)\nAt: 27/11/2026 21:03:05 WIB")
    assert render_message([lost, back, t("Candi", address="172.16.3.1")], language="en") == (
        "🔔 <b>UPLINK LOST, UPLINK BACK, 1 site DOWN</b>\n"
        "⚠️ <b>Monitoring server</b> (198.18.0.1,198.18.0.2) UPLINK LOST 21:03:05 WIB — no reply from "
        "198.18.0.1, 198.18.0.2\n"
        "✅ <b>Monitoring server</b> (198.18.0.1,198.18.0.2) UPLINK BACK 21:04:35 WIB — 1 min 30 s, "
        "changes: Waru UP, Taman DOWN\n"
        "🔴 <b>Candi</b> (172.16.3.1) DOWN 21:03:05 WIB")


def test_times_follow_the_configured_zone():
    assert format_time(AT, ZoneInfo("Asia/Jakarta")) == "27/11/2026 21:03:05 WIB"
    assert format_time(AT, ZoneInfo("Asia/Makassar")) == "27/11/2026 22:03:05 WITA"
    assert format_time(AT, timezone.utc) == "27/11/2026 14:03:05 UTC"
    assert format_time(AT, None) == "27/11/2026 21:03:05 WIB"     # the default config's zone


def test_durations_and_evidence():
    assert [format_duration(s, "id") for s in (0, 42, 303, 3 * 3600 + 60, 2 * 86400 + 3 * 3600 + 7)] == [
        "0 dtk", "42 dtk", "5 mnt 3 dtk", "3 jam 1 mnt", "2 hari 3 jam"]
    assert format_duration(3725, "en") == "1 h 2 min"
    assert format_evidence({"loss_percent": 33.33, "rtt_avg_ms": 12.0, "rtt_max_ms": 40.5, "jitter_ms": 1.25,
                            "http_status": 503}, "en") == (
        "loss 33.3%, rtt 12 ms (max 40.5 ms), jitter 1.25 ms, HTTP 503")


def test_split_at_4096_on_line_boundaries():
    lines = [f"line {i:04d} " + "x" * 90 for i in range(100)]
    parts = split_message("\n".join(lines))
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts).split("\n") == lines
    one_long_line = ", ".join(f"site-{i}" for i in range(1000))
    parts = split_message(one_long_line, limit=100)
    assert all(len(p) <= 100 for p in parts) and all(p.endswith(",") for p in parts[:-1])
    emoji = "🔴" * 3000                                     # 2 UTF-16 units each, as Telegram counts
    assert [len(p) for p in split_message(emoji)] == [2048, 952]


def test_plan_packs_as_many_as_fit_and_keeps_order():
    many = [t(f"site-{i:03d}", evidence=EVIDENCE) for i in range(120)]
    plan = plan_messages(many)
    assert sum(n for n, _ in plan) == 120 and all(len(parts) == 1 for _, parts in plan)
    assert all(len(parts[0]) <= 4096 for _, parts in plan)
    assert len(plan) == 4
    huge = t("Core", affected=tuple(f"kecamatan-{i:03d}" for i in range(600)))
    [(count, parts)] = plan_messages([huge])
    assert count == 1 and len(parts) == 3


def test_templates_can_be_overridden_and_are_checked():
    custom = {"down": "🚨 {host} ({address}) mati sejak {at}\nKeterangan: {evidence}",
              "group_header": "<b>{count} peringatan</b>"}
    assert check_templates(custom) == []
    assert render_message([t()], templates=custom) == "🚨 Waru (172.16.200.117) mati sejak 27/11/2026 21:03:05 WIB"
    assert render_message([t(), t("Taman")], templates=custom).split("\n")[0] == "<b>2 peringatan</b>"
    assert check_templates({"down": "{hots}", "dwon": "x", "up": "<b>{host}", "stable": "{ host"}) == [
        "telegram.templates.down: unknown placeholder {hots} (one of icon, host, address, group, state, "
        "from_state, at, time, since, duration, evidence, affected, affected_count, affected_line, count, "
        "summary, server, note, confirm, diagnosis, cause)",
        "telegram.templates.dwon: unknown template (one of down, up, degraded, unreachable, unknown, flapping, "
        "stable, reminder, maintenance_end, uplink_lost, uplink_back, startup, reload, crosscheck, crosscheck_agree, "
        "group_header, group_line, test, path, path_end, router_health, router_ok, router_restart, escalation, "
        "escalated)",
        "telegram.templates.up: unbalanced HTML tags (Telegram would refuse it)",
        "telegram.templates.stable: unmatched brace (write {{ or }} for a literal one)",
    ]
    # an invalid override never loses the alert: the built-in text is used
    assert render_message([t()], templates={"down": "{nope}"}).startswith("🔴 <b>Waru DOWN</b>")


def test_test_message():
    assert render_test(language="id", server="mon<1>", at=AT) == (
        "✅ <b>Tes netwatchd</b>\nPesan uji dari mon&lt;1&gt; pada 27/11/2026 21:03:05 WIB.\n"
        "Jika pesan ini sampai, peringatan juga akan sampai ke chat ini.")


def test_children_folded_into_a_parents_recovery_came_back_with_it():
    core_up = t(host="Core", address="172.16.0.1", to=State.UP, frm=State.DOWN, at=AT + timedelta(minutes=3),
                since=AT, affected=("Waru", "Taman"))
    assert render_message([core_up], language="en").split("\n")[0] == (
        "🟢 <b>Core UP</b> — 2 sites back with it: Waru, Taman")
    assert render_message([core_up]).split("\n")[0] == "🟢 <b>Core UP</b> — 2 situs ikut pulih: Waru, Taman"


@pytest.mark.parametrize("language", ["id", "en"])
def test_a_netwatch_disagreement_is_not_announced_as_an_outage(language):
    """The cross-check alert (the router's Netwatch says DOWN, netwatchd sees the site UP) must say
    so; rendered as a plain "🔴 Porong DOWN" it was a false outage alert without any UP to follow."""
    found = t("Porong", kind="crosscheck", evidence={
        "router": "core", "router_entry": "Porong", "router_status": "down", "router_since": None,
        "netwatchd_state": "up", "netwatchd_since": None})
    for text in (render_alerts([found], language=language, tz=ZoneInfo("Asia/Jakarta"))[0],
                 render_alerts([found, t("Waru")], language=language, tz=ZoneInfo("Asia/Jakarta"))[0]):
        line = next(x for x in text.splitlines() if "Porong" in x)
        assert "Netwatch" in text and "core" in text and "netwatchd: up" in text
        assert not line.startswith("🔴") and "Porong DOWN" not in text and "Porong</b> — DOWN" not in text
