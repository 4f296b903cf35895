"""The bot's words in Indonesian (default, `telegram.language: id`) and English (`en`).

`say(lang, key, **params)` escapes every parameter for parse_mode=HTML; the catalogue itself may
contain HTML tags. An unknown language falls back to Indonesian.
"""

from __future__ import annotations

import html
from typing import Any

_TEXTS: dict[str, dict[str, str]] = {
    # refusals and input mistakes
    "refused_not_admin": {
        "id": "Maaf, perintah hanya untuk admin. ID pengguna Telegram Anda <code>{user_id}</code>; "
              "minta admin menambahkannya ke telegram.admins.",
        "en": "Your Telegram user id is <code>{user_id}</code>; ask an admin to add it to telegram.admins.",
    },
    "refused_chat": {
        "id": "Chat ini (id <code>{chat_id}</code>) tidak ada di telegram.chat_ids; pakai chat pribadi "
              "dengan bot atau minta admin menambahkannya.",
        "en": "This chat (id <code>{chat_id}</code>) is not in telegram.chat_ids; use a private chat "
              "with the bot or ask an admin to add it.",
    },
    "busy": {"id": "⏳ Sibuk — {queued} perintah antre, sekitar {seconds} detik. {command} dijalankan setelah "
                   "itu; tidak perlu dikirim ulang.",
             "en": "⏳ Busy — {queued} commands queued, about {seconds} s. {command} runs then; no need to "
                   "send it again."},
    "busy_1": {"id": "⏳ Sibuk — 1 perintah antre, sekitar {seconds} detik. {command} dijalankan setelah itu; "
                     "tidak perlu dikirim ulang.",
               "en": "⏳ Busy — 1 command queued, about {seconds} s. {command} runs then; no need to send it "
                     "again."},
    "busy_full_1": {"id": "⏳ Sibuk — 1 perintah antre, sekitar {seconds} detik. {command} tidak dijalankan; "
                          "kirim lagi setelah itu.",
                    "en": "⏳ Busy — 1 command queued, about {seconds} s. {command} was not run; send it again "
                          "after that."},
    "busy_full": {"id": "⏳ Sibuk — {queued} perintah antre, sekitar {seconds} detik. {command} tidak "
                        "dijalankan; kirim lagi setelah itu.",
                  "en": "⏳ Busy — {queued} commands queued, about {seconds} s. {command} was not run; send it "
                        "again after that."},
    "unknown_command": {"id": "Perintah {command} tidak dikenal; lihat /help.",
                        "en": "Unknown command {command}; see /help."},
    "unknown_router": {"id": "Router {router} tidak dikenal; router yang ada: {known}.",
                       "en": "Unknown router {router}; configured routers: {known}."},
    "no_router_here": {"id": "{command} tidak memakai router; tulis tanpa @router.",
                       "en": "{command} does not ask a router; write it without @router."},
    "bad_count": {"id": "Jumlah {value} tidak sah; pakai angka 1 sampai {max}.",
                  "en": "Count {value} is not valid; use a number from 1 to {max}."},
    "bad_duration": {"id": "Durasi {value} tidak sah; contoh: 30m, 2h, 1d, 1h30m.",
                     "en": "Duration {value} is not valid; examples: 30m, 2h, 1d, 1h30m."},
    "duration_range": {"id": "Durasi {value} di luar batas; pakai 1m sampai 30d.",
                       "en": "Duration {value} is out of range; use 1m to 30d."},
    "unknown_site": {"id": "Tidak ada situs atau grup bernama {value} di konfigurasi; contoh: {example}.",
                     "en": "No site or group named {value} in the config; for example: {example}."},
    "bad_target": {"id": "{value} bukan nama situs, alamat IP, atau nama host yang sah; contoh situs: {example}.",
                   "en": "{value} is not a site name, an IP address or a valid host name; sites are e.g. {example}."},
    "usage": {"id": "Cara pakai: {usage}", "en": "Usage: {usage}"},
    "bad_interface": {"id": "Nama interface {value} tidak sah.", "en": "Interface name {value} is not valid."},
    "no_routers": {"id": "Belum ada router di konfigurasi (routers:).",
                   "en": "No router is configured (routers:)."},
    "router_error": {"id": "⚠️ {message}", "en": "⚠️ {message}"},
    "router_policy": {
        "id": "⚠️ Router {router} menolak {command}: grup user <code>{user}</code> tidak punya policy "
              "<b>{policy}</b> (not enough permissions). Di router: <code>/user group set GRUP "
              "policy=read,test,api</code>",
        "en": "⚠️ Router {router} refused {command}: the user group of <code>{user}</code> lacks the "
              "<b>{policy}</b> policy (not enough permissions). On the router: <code>/user group set GROUP "
              "policy=read,test,api</code>",
    },
    "router_busy_ping": {"id": "⏳ Router {router} sibuk (ping sedang berjalan); coba lagi dalam {seconds} detik.",
                         "en": "⏳ Router {router} busy (ping in progress), try again in {seconds} s."},
    "router_busy": {"id": "⏳ Router {router} sibuk (perintah lain sedang berjalan); coba lagi dalam {seconds} detik.",
                    "en": "⏳ Router {router} busy (another command in progress), try again in {seconds} s."},
    "router_timeout": {"id": "⚠️ Router {router} tidak menjawab dalam {seconds} detik; coba lagi nanti.",
                       "en": "⚠️ Router {router} did not answer within {seconds} s; try again later."},
    "command_timeout": {"id": "⚠️ Perintah {command} tidak selesai dalam {seconds} detik.",
                        "en": "⚠️ {command} did not finish within {seconds} s."},
    "reply_cut_many": {"id": "… terpotong di sini: bagian {first}–{last} dari {total} tidak terkirim",
                       "en": "… cut here: parts {first}–{last} of {total} could not be sent"},
    "reply_cut_one": {"id": "… terpotong di sini: bagian {last} dari {total} tidak terkirim",
                      "en": "… cut here: part {last} of {total} could not be sent"},
    "reply_refused": {"id": "Telegram menolak: {reason}", "en": "Telegram refused: {reason}"},
    "reply_no_slot": {"id": "tidak ada slot pesan dalam {seconds} detik; alarm didahulukan",
                      "en": "no free message slot within {seconds} s; alerts go first"},
    "internal_error": {"id": "⚠️ Perintah gagal karena kesalahan di netwatchd; detail ada di log.",
                       "en": "⚠️ The command failed inside netwatchd; the log has the details."},
    "ping_error": {"id": "⚠️ Ping gagal: {message}", "en": "⚠️ Ping failed: {message}"},
    "nothing": {"id": "(kosong)", "en": "(none)"},
    # titles
    "title_monitor": {"id": "<b>Monitor</b> {time} — {total} situs: {summary}",
                      "en": "<b>Monitor</b> {time} — {total} sites: {summary}"},
    "problems": {"id": "Bermasalah: {names}", "en": "Problems: {names}"},
    "no_sites": {"id": "Belum ada situs di konfigurasi (hosts:).", "en": "No site is configured (hosts:)."},
    "no_group": {"id": "tanpa grup", "en": "no group"},
    "muted_mark": {"id": "🔕 = dibisukan", "en": "🔕 = muted"},
    "title_ping_agent": {"id": "<b>Ping</b> {target} dari server netwatchd",
                         "en": "<b>Ping</b> {target} from the netwatchd server"},
    "title_ping_router": {"id": "<b>Ping</b> {target} dari router {router}",
                          "en": "<b>Ping</b> {target} from router {router}"},
    "ping_summary": {"id": "{verdict}: terkirim {sent}, diterima {received}, hilang {loss}%{rtt}",
                     "en": "{verdict}: sent {sent}, received {received}, loss {loss}%{rtt}"},
    "ping_up": {"id": "UP", "en": "UP"},
    "ping_down": {"id": "DOWN (tidak ada balasan)", "en": "DOWN (no reply)"},
    "title_dhcp": {"id": "<b>DHCP lease</b> di {router} ({count})", "en": "<b>DHCP leases</b> on {router} ({count})"},
    "title_address": {"id": "<b>IP address</b> di {router}", "en": "<b>IP addresses</b> on {router}"},
    "title_pool": {"id": "<b>IP pool</b> di {router}", "en": "<b>IP pools</b> on {router}"},
    "title_traffic": {"id": "<b>Traffic</b> di {router} (saat ini)", "en": "<b>Traffic</b> on {router} (now)"},
    "title_interface": {"id": "<b>Interface</b> di {router}", "en": "<b>Interfaces</b> on {router}"},
    "interface_legend": {"id": "R = jalan, X = dimatikan, - = link putus",
                         "en": "R = running, X = disabled, - = no link"},
    "title_dns": {"id": "<b>DNS</b> di {router}", "en": "<b>DNS</b> on {router}"},
    "title_neighbor": {"id": "<b>Tetangga</b> (IP neighbor) {router}", "en": "<b>Neighbors</b> of {router}"},
    "title_resource": {"id": "<b>Resource</b> {router}", "en": "<b>Resources</b> of {router}"},
    "title_status": {"id": "<b>Status netwatchd</b>", "en": "<b>netwatchd status</b>"},
    "store_ok": {"id": "ok", "en": "ok"},
    "store_bad": {"id": "⚠️ GAGAL", "en": "⚠️ FAILING"},
    "store_failing": {
        "id": "⚠️ <b>Penyimpanan netwatchd gagal</b> sejak {since}: {what} ({detail}). Peringatan tetap "
              "dikirim dari memori{held}. {todo}",
        "en": "⚠️ <b>netwatchd's store is failing</b> since {since}: {what} ({detail}). Alerts are still sent, "
              "from memory{held}. {todo}"},
    "store_held": {"id": "; {count} peringatan belum tersimpan", "en": "; {count} alert(s) not saved yet"},
    "store_full": {"id": "disk penuh, sisa {free} di {folder}", "en": "the disk is full, {free} free in {folder}"},
    "store_damaged": {"id": "berkas penyimpanan rusak", "en": "the store file is damaged"},
    "store_io": {"id": "galat I/O disk", "en": "disk I/O error"},
    "store_readonly": {"id": "tidak bisa ditulis", "en": "it cannot be written"},
    "store_locked": {"id": "terkunci proses lain", "en": "locked by another process"},
    "store_other": {"id": "gagal", "en": "it failed"},
    "store_todo_full": {"id": "Kosongkan ruang di disk {folder}.", "en": "Free space on the disk holding {folder}."},
    "store_todo_damaged": {"id": "Jalankan ulang netwatchd dengan --move-damaged-store (lihat log).",
                           "en": "Restart netwatchd with --move-damaged-store (see the log)."},
    "store_todo_other": {"id": "Detail dan langkahnya ada di log.", "en": "The log says more and what to do."},
    "store_unusable": {
        "id": "⚠️ Penyimpanan netwatchd sedang gagal ({what}): perintah ini tidak bisa dijalankan sekarang. "
              "Peringatan tetap dikirim; /status menjelaskan.",
        "en": "⚠️ netwatchd's store is failing ({what}): this command cannot run now. Alerts are still sent; "
              "/status says more."},
    "title_history": {"id": "<b>Riwayat</b> {site} ({count} kejadian terakhir)",
                      "en": "<b>History</b> of {site} (last {count} events)"},
    "history_empty": {"id": "Belum ada kejadian tercatat untuk {site}.", "en": "No event recorded for {site} yet."},
    "muted": {"id": "🔕 {target} dibisukan sampai {until} ({duration}).",
              "en": "🔕 {target} muted until {until} ({duration})."},
    "unmuted": {"id": "🔔 {target} tidak dibisukan lagi.", "en": "🔔 {target} is no longer muted."},
    "not_muted": {"id": "{target} tidak sedang dibisukan.", "en": "{target} is not muted."},
    "title_mutes": {"id": "<b>Dibisukan</b> ({count})", "en": "<b>Muted</b> ({count})"},
    "no_mutes": {"id": "Tidak ada yang dibisukan. Bisukan: /mute &lt;situs|grup&gt; &lt;durasi&gt;",
                 "en": "Nothing is muted. Mute: /mute &lt;site|group&gt; &lt;duration&gt;"},
    "title_report": {"id": "<b>Ketersediaan</b> {month} (sampai {time})",
                     "en": "<b>Availability</b> {month} (to {time})"},
    "report_overall": {"id": "Ketersediaan {percent}% • {outages} gangguan • putus sendiri {down}",
                       "en": "Availability {percent}% • {outages} outages • own downtime {down}"},
    "report_excused": {"id": "Tidak dihitung: induk putus {parent} • pemeliharaan {maintenance} • monitor buta {blind}",
                       "en": "Not counted: parent down {parent} • maintenance {maintenance} • monitor blind {blind}"},
    "report_usage": {"id": "/report, /report pdf, /report html atau /report csv",
                     "en": "/report, /report pdf, /report html or /report csv"},
    "report_document": {"id": "Laporan ketersediaan {month} (sampai {time})",
                        "en": "Availability report {month} (to {time})"},
    "report_no_pdf": {"id": "PDF tidak bisa dibuat di server ini (WeasyPrint belum terpasang); coba /report html.",
                      "en": "A PDF cannot be made on this server (WeasyPrint is not installed); try /report html."},
    "title_crosscheck": {"id": "<b>Cek silang Netwatch</b> {router}", "en": "<b>Netwatch cross-check</b> {router}"},
    "cc_disagree": {"id": "Status berbeda ({count})", "en": "Status disagrees ({count})"},
    "cc_only_ours": {"id": "Hanya dipantau netwatchd ({count})", "en": "Only netwatchd watches ({count})"},
    "cc_only_router": {"id": "Hanya dipantau router ({count})", "en": "Only the router watches ({count})"},
    "cc_all_agree": {"id": "✅ {count} situs yang sama-sama dipantau statusnya cocok.",
                     "en": "✅ {count} sites watched by both agree."},
    "cc_unknown": {"id": "Belum bisa dibandingkan ({count}: status belum diketahui atau entri nonaktif): {names}",
                   "en": "Not comparable yet ({count}: state unknown or entry disabled): {names}"},
    "refused_viewer": {
        "id": "Viewer hanya boleh melihat (/monitor, /status, /history, /report), tidak menjalankan {command}; "
              "minta admin.",
        "en": "Viewers may read (/monitor, /status, /history, /report) but not run {command}; ask an admin.",
    },
    # incidents: /ack, /snooze, /diagnose and the buttons' replies
    "ack_done": {"id": "✅ {site} ditangani oleh {who}: pengingat dan eskalasi berhenti; kabar pulihnya tetap dikirim.",
                 "en": "✅ {site} acknowledged by {who}: reminders and escalation stop; the recovery will "
                       "still be announced."},
    "snooze_done": {"id": "🔕 {site} ditunda sampai {until} oleh {who}: tanpa pengingat dan eskalasi sampai saat itu.",
                    "en": "🔕 {site} snoozed by {who} until {until}: no reminder and no escalation until then."},
    "already_acked": {"id": "{site} sudah ditangani oleh {who} pada {time}.",
                      "en": "{site} was already acknowledged by {who} at {time}."},
    "no_incident": {"id": "{site} tidak sedang padam (tidak ada gangguan terbuka).",
                    "en": "{site} has no open outage."},
    "incident_over": {"id": "Gangguan {site} sudah selesai (pulih {time}).",
                      "en": "The outage of {site} is over (resolved {time})."},
    "title_open": {"id": "<b>Gangguan terbuka</b> ({count})", "en": "<b>Open outages</b> ({count})"},
    "no_open": {"id": "🟢 Tidak ada gangguan terbuka.", "en": "🟢 No open outage."},
    "open_usage": {"id": "Tangani: /ack &lt;situs&gt; · tunda: /snooze &lt;situs&gt; &lt;30m|2h&gt;",
                   "en": "Acknowledge: /ack &lt;site&gt; · snooze: /snooze &lt;site&gt; &lt;30m|2h&gt;"},
    "status_acked": {"id": "✅ {who} {time}", "en": "✅ {who} {time}"},
    "status_snoozed": {"id": "🔕 s/d {time}", "en": "🔕 until {time}"},
    "status_waiting": {"id": "belum ditangani", "en": "not acknowledged"},
    "status_escalated": {"id": "⏫ level {level}", "en": "⏫ level {level}"},
    "title_diagnose": {"id": "<b>Diagnosa</b> {site} ({address}) — kini {state} sejak {since}",
                       "en": "<b>Diagnosis</b> of {site} ({address}) — {state} since {since}"},
    "diagnose_last": {"id": "Bukti terakhir: {evidence}", "en": "Last evidence: {evidence}"},
    "diagnose_parent": {"id": "Induk {parent}: {state}", "en": "Parent {parent}: {state}"},
    "title_incidents": {"id": "<b>Gangguan</b> (terbaru dulu)", "en": "<b>Outages</b> (newest first)"},
    "menu_text": {"id": "Pilih menu (atau ketik perintahnya):", "en": "Choose a menu (or type the command):"},
    "keyboard_ready": {"id": "Menu netwatchd siap di keyboard.", "en": "The netwatchd menu is on your keyboard."},
}

# Column headers, short so a table fits a phone screen.
_HEADERS = {
    "id": {"site": "situs", "state": "status", "since": "sejak", "rtt": "rtt", "loss": "loss",
           "address": "alamat", "mac": "mac", "host": "host", "status": "status", "expires": "habis",
           "interface": "interface", "network": "network", "flags": "f", "name": "nama", "ranges": "range",
           "used": "terpakai", "rx": "rx", "tx": "tx", "downs": "putus", "identity": "identitas",
           "platform": "board", "version": "versi", "key": "", "value": "", "at": "waktu",
           "event": "kejadian", "detail": "bukti", "until": "sampai", "by": "oleh", "ended": "selesai",
           "availability": "tersedia", "outages": "gangguan", "down": "putus", "parent": "induk",
           "maintenance": "pemel", "blind": "buta", "router": "router",
           "seq": "seq", "time": "waktu", "ttl": "ttl", "ours": "netwatchd", "theirs": "router"},
    "en": {"site": "site", "state": "state", "since": "since", "rtt": "rtt", "loss": "loss",
           "address": "address", "mac": "mac", "host": "host", "status": "status", "expires": "expires",
           "interface": "interface", "network": "network", "flags": "f", "name": "name", "ranges": "ranges",
           "used": "used", "rx": "rx", "tx": "tx", "downs": "downs", "identity": "identity",
           "platform": "board", "version": "version", "key": "", "value": "", "at": "at",
           "event": "event", "detail": "evidence", "until": "until", "by": "by", "ended": "ended",
           "availability": "avail", "outages": "outages", "down": "down", "parent": "parent",
           "maintenance": "maint", "blind": "blind", "router": "router",
           "seq": "seq", "time": "time", "ttl": "ttl", "ours": "netwatchd", "theirs": "router"},
}

# Labels of key/value blocks (/status, /resource, /dns).
_LABELS = {
    "id": {"uptime": "uptime", "version": "versi", "board": "board", "cpu": "cpu", "memory": "memori",
           "disk": "disk", "sites": "situs", "outbox": "antrian kirim", "dead": "gagal permanen",
           "last_delivery": "kirim terakhir", "latency": "latensi", "commands": "perintah dijawab",
           "routers": "router", "servers": "server", "dynamic_servers": "server dinamis",
           "remote": "izinkan remote", "cache": "cache", "muted": "dibisukan", "arch": "arsitektur",
           "store": "penyimpanan"},
    "en": {"uptime": "uptime", "version": "version", "board": "board", "cpu": "cpu", "memory": "memory",
           "disk": "disk", "sites": "sites", "outbox": "outbox", "dead": "dead letters",
           "last_delivery": "last delivery", "latency": "latency", "commands": "commands answered",
           "routers": "routers", "servers": "servers", "dynamic_servers": "dynamic servers",
           "remote": "allow remote", "cache": "cache", "muted": "muted", "arch": "architecture",
           "store": "store"},
}

HELP = {
    "id": [
        ("menu", "tampilkan menu tombol"),
        ("monitor", "status semua situs [grup]"),
        ("ping", "ping &lt;situs|alamat&gt; [1-20] [router]"),
        ("dhcp", "lease DHCP di router"),
        ("address", "IP address di router"),
        ("pool", "IP pool dan pemakaiannya"),
        ("traffic", "traffic saat ini [interface]"),
        ("interface", "status interface"),
        ("dns", "status DNS server"),
        ("neighbor", "perangkat tetangga (IP neighbor)"),
        ("resource", "cpu, memori, uptime, versi router"),
        ("status", "kesehatan netwatchd"),
        ("history", "riwayat &lt;situs&gt;"),
        ("mute", "bisukan &lt;situs|grup&gt; &lt;durasi&gt; [alasan]"),
        ("unmute", "batalkan bisu &lt;situs|grup&gt;"),
        ("ack", "tangani gangguan &lt;situs&gt; (tanpa argumen: daftar gangguan)"),
        ("snooze", "tunda pengingat &lt;situs&gt; &lt;durasi&gt;"),
        ("diagnose", "ping &lt;situs&gt; sekarang, dari server dan router"),
        ("report", "ketersediaan bulan ini"),
        ("crosscheck", "bandingkan dengan Netwatch router"),
        ("help", "bantuan ini"),
    ],
    "en": [
        ("menu", "show the button menu"),
        ("monitor", "every site's state [group]"),
        ("ping", "ping &lt;site|address&gt; [1-20] [router]"),
        ("dhcp", "DHCP leases on the router"),
        ("address", "IP addresses on the router"),
        ("pool", "IP pools and their usage"),
        ("traffic", "traffic right now [interface]"),
        ("interface", "interface status"),
        ("dns", "DNS server status"),
        ("neighbor", "neighbouring devices (IP neighbor)"),
        ("resource", "router cpu, memory, uptime, version"),
        ("status", "netwatchd's own health"),
        ("history", "recent events of &lt;site&gt;"),
        ("mute", "mute &lt;site|group&gt; &lt;duration&gt; [reason]"),
        ("unmute", "unmute &lt;site|group&gt;"),
        ("ack", "acknowledge the outage of &lt;site&gt; (no argument: the open outages)"),
        ("snooze", "snooze reminders of &lt;site&gt; &lt;duration&gt;"),
        ("diagnose", "ping &lt;site&gt; now, from the server and its router"),
        ("report", "month-to-date availability"),
        ("crosscheck", "compare with the router's Netwatch"),
        ("help", "this help"),
    ],
}

HELP_FOOTER = {
    "id": "Router lain: tambahkan @nama, mis. /interface@core. Perintah boleh huruf besar (/Monitor).",
    "en": "Another router: add @name, e.g. /interface@core. Commands are case-insensitive (/Monitor).",
}


# Toasts (answerCallbackQuery): plain text, at most 200 characters, never HTML.
_TOASTS: dict[str, dict[str, str]] = {
    "acknowledged": {"id": "✅ {site} ditangani", "en": "✅ {site}: acknowledged"},
    "snoozed": {"id": "🔕 {site} ditunda sampai {time}", "en": "🔕 {site}: snoozed until {time}"},
    "already acknowledged": {"id": "Sudah ditangani oleh {who} ({time})",
                             "en": "Already acknowledged by {who} ({time})"},
    "refused: not allowed": {"id": "Tidak diizinkan: ID Anda {user_id} tidak ada di telegram.admins",
                             "en": "Not allowed: your id {user_id} is not in telegram.admins"},
    "refused: viewers may only read": {"id": "Viewer hanya boleh melihat (📈 Riwayat)",
                                       "en": "Viewers may look (📈 History), not act"},
    "refused: not this message's button": {"id": "Tombol ini tidak berlaku (lagi)",
                                           "en": "This button is not valid (here) any more"},
    "refused: outage over": {"id": "Gangguan ini sudah selesai ({time})", "en": "This outage is over ({time})"},
    "diagnose": {"id": "🔍 Mendiagnosa {site}…", "en": "🔍 Diagnosing {site}…"},
    "history": {"id": "📈 Riwayat {site}…", "en": "📈 History of {site}…"},
    "store failing": {"id": "⚠️ Penyimpanan netwatchd sedang gagal: tombol tidak tercatat; coba lagi nanti",
                      "en": "⚠️ netwatchd's store is failing: not recorded; try again later"},
}


def toast(language: str, key: str, **params: Any) -> str:
    """A button's toast: plain text (not escaped: Telegram shows it as is), cut to 200 characters."""
    entry = _TOASTS[key]
    text = entry.get(lang_of(language), entry["id"]).format(**{k: "-" if v is None else str(v)
                                                                 for k, v in params.items()})
    return text if len(text) <= 200 else text[:199] + "…"


def lang_of(language: str) -> str:
    return language if language in ("id", "en") else "id"


def say(language: str, key: str, **params: Any) -> str:
    """The localized text for `key` with every parameter HTML-escaped."""
    entry = _TEXTS[key]
    template = entry.get(lang_of(language), entry["id"])
    return template.format(**{k: "-" if v is None else html.escape(str(v), quote=False) for k, v in params.items()})


def headers(language: str, *keys: str) -> list[str]:
    words = _HEADERS[lang_of(language)]
    return [words[k] for k in keys]


def label(language: str, key: str) -> str:
    return _LABELS[lang_of(language)][key]


def bot_commands(language: str) -> list[tuple[str, str]]:
    """(command, description) pairs for setMyCommands (descriptions without HTML entities)."""
    return [(name, desc.replace("&lt;", "<").replace("&gt;", ">")) for name, desc in HELP[lang_of(language)]]
