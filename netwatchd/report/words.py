"""The report's words and number formats in English (`en`) and Indonesian (`id`).

Indonesian writes a decimal comma and a point between thousands (99,812 %; 1.234); durations are
written with hari/jam/mnt/dtk. CSV and JSON keep their machine-readable English column names in
every language (a spreadsheet or a script reads them).
"""

from __future__ import annotations

LANGUAGES = ("en", "id")

PART_WORDS: dict[str, dict[str, str]] = {
    "en": {"up": "up", "degraded": "degraded", "down": "own downtime", "parent": "parent down",
           "path": "path problem", "maintenance": "maintenance", "blind": "monitor blind",
           "unknown": "not yet watched"},
    "id": {"up": "normal", "degraded": "terganggu", "down": "putus sendiri", "parent": "induk putus",
           "path": "gangguan jalur", "maintenance": "pemeliharaan", "blind": "monitor buta",
           "unknown": "belum dipantau"},
}

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Network availability report",
        "text_title": "netwatchd availability report",
        "window": "window", "overall": "overall", "sites": "sites", "site": "Site", "group": "Group",
        "availability": "Availability", "own_down": "Own downtime", "parent": "Parent down",
        "maintenance": "Maintenance", "blind": "Monitor blind", "outages": "Outages", "longest": "Longest",
        "mttr": "MTTR", "mtbf": "MTBF", "degraded": "Degraded", "rtt_avg": "RTT avg ms", "loss": "Loss %",
        "rank": "Rank", "ranking": "Ranking of sites", "split": "Where the time went",
        "daily": "Daily availability", "state_over_time": "State over time", "latency": "Latency",
        "delivery": "Notification delivery", "start": "Start", "end": "End", "duration": "Duration",
        "cause": "Cause", "acknowledged": "Acknowledged", "ongoing": "ongoing",
        "no_outages": "No outages in this window.",
        "no_data": "no data", "generated": "generated", "by_netwatchd": "by netwatchd",
        "overall_availability": "overall availability", "sites_with_outages": "sites with own outages",
        "sites_without_data": "sites without data", "within_1s": "alerts delivered within 1 s",
        "messages": "Messages", "delivered": "Delivered", "failed": "Failed", "mean": "Mean",
        "no_notifications": "no notifications in this window", "over_sites": "over {n} sites",
        "headline_note": "own downtime over the observable time",
        "cause_down": "down", "cause_parent": "unreachable (parent {parent} down)", "cause_unreachable": "unreachable",
        "recovery_restarted": "restarted (power cut?)", "recovery_link": "link restored",
        "recovery_unknown": "cause unknown",
        "total": "All sites", "note": "note", "time": "time", "observable": "Observable", "part": "Part",
        "explain": ("Availability = (up + degraded) / (up + degraded + own downtime): only the site's own "
                    "downtime counts against it, over the time it was observable. Parent down (unreachable "
                    "because a parent such as the core was down), maintenance (a maintenance window or an "
                    "admin's mute), path problem (netwatchd could not reach the site but its via router "
                    "could: the path was at fault, not the site) and monitor blind (netwatchd not running, or "
                    "the server's own uplink lost) are shown beside it and do not count. MTTR: mean length of "
                    "own outages that ended in the window; MTBF: available time per own outage that began in "
                    "it. Delivery latency: from detection to Telegram's acknowledgement."),
    },
    "id": {
        "title": "Laporan ketersediaan jaringan",
        "text_title": "laporan ketersediaan netwatchd",
        "window": "periode", "overall": "total", "sites": "situs", "site": "Situs", "group": "Grup",
        "availability": "Ketersediaan", "own_down": "Putus sendiri", "parent": "Induk putus",
        "maintenance": "Pemeliharaan", "blind": "Monitor buta", "outages": "Gangguan", "longest": "Terlama",
        "mttr": "MTTR", "mtbf": "MTBF", "degraded": "Terganggu", "rtt_avg": "RTT rata² ms", "loss": "Loss %",
        "rank": "Peringkat", "ranking": "Peringkat kecamatan", "split": "Rincian waktu",
        "daily": "Ketersediaan harian", "state_over_time": "Status sepanjang waktu", "latency": "Latensi",
        "delivery": "Pengiriman notifikasi", "start": "Mulai", "end": "Selesai", "duration": "Durasi",
        "cause": "Penyebab", "acknowledged": "Ditangani", "ongoing": "berlangsung",
        "no_outages": "Tidak ada gangguan pada periode ini.",
        "no_data": "tidak ada data", "generated": "dibuat", "by_netwatchd": "oleh netwatchd",
        "overall_availability": "ketersediaan total", "sites_with_outages": "situs dengan gangguan sendiri",
        "sites_without_data": "situs tanpa data", "within_1s": "peringatan terkirim dalam 1 detik",
        "messages": "Pesan", "delivered": "Terkirim", "failed": "Gagal", "mean": "Rata²",
        "no_notifications": "tidak ada notifikasi pada periode ini", "over_sites": "dari {n} situs",
        "headline_note": "putus sendiri dibanding waktu yang teramati",
        "cause_down": "putus", "cause_parent": "tak terjangkau (induk {parent} putus)",
        "cause_unreachable": "tak terjangkau",
        "recovery_restarted": "restart (listrik padam?)", "recovery_link": "link pulih",
        "recovery_unknown": "penyebab tidak diketahui",
        "total": "Semua situs", "note": "catatan", "time": "waktu", "observable": "Teramati", "part": "Bagian",
        "explain": ("Ketersediaan = (normal + terganggu) / (normal + terganggu + putus sendiri): hanya putus "
                    "milik situs itu sendiri yang dihitung, selama waktu situs dapat diamati. Induk putus (tak "
                    "terjangkau karena induknya, misalnya core, putus), pemeliharaan (jadwal pemeliharaan atau "
                    "mute oleh admin), gangguan jalur (netwatchd tidak dapat menjangkau situs tetapi router "
                    "via-nya dapat: jalurnya yang bermasalah, bukan situs) dan monitor buta (netwatchd tidak "
                    "berjalan, atau uplink server sendiri putus) ditampilkan di sampingnya dan tidak dihitung. "
                    "MTTR: rata-rata lama gangguan sendiri yang selesai dalam periode; MTBF: waktu tersedia per "
                    "gangguan sendiri yang mulai di dalamnya. Latensi pengiriman: dari deteksi sampai diterima "
                    "Telegram."),
    },
}


def lang(language: str | None) -> str:
    """A supported language (English for anything else)."""
    return language if language in LANGUAGES else "en"


def word(language: str | None, key: str, **params: object) -> str:
    text = _TEXT[lang(language)][key]
    return text.format(**params) if params else text


def part_word(language: str | None, part: str) -> str:
    return PART_WORDS[lang(language)].get(part, part)


def number(value: float, digits: int, language: str | None) -> str:
    """`value` with `digits` decimals; Indonesian: decimal comma, thousands point."""
    text = f"{value:,.{digits}f}"
    if lang(language) == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def percent(value: float | None, language: str | None, digits: int = 3) -> str:
    """'99.812 %' / '99,812 %'; the language's 'no data' for None."""
    return word(language, "no_data") if value is None else f"{number(value, digits, language)} %"


_UNITS = {"en": ("d", "h", "m", "s"), "id": (" hari", " jam", " mnt", " dtk")}


def duration(seconds: float | None, language: str | None = "en") -> str:
    """'1d 2h 03m', '4m 05s', '12s' (id: '1 hari 2 jam 03 mnt'); '-' for None."""
    if seconds is None:
        return "-"
    day, hour, minute, second = _UNITS[lang(language)]
    total = int(round(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}{day} {hours}{hour} {minutes:02d}{minute}"
    if hours:
        return f"{hours}{hour} {minutes:02d}{minute}"
    if minutes:
        return f"{minutes}{minute} {secs:02d}{second}"
    return f"{secs}{second}"
