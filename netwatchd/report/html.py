"""Report -> one self-contained HTML file (charts embedded as base64 PNG), readable on screen and
laid out for A4 (@page rules, no external resources): the PDF is this page printed by WeasyPrint.

Sections: the headline cards, where the time went (the honest split), the ranking of the sites,
the split per site, daily availability and the state timeline, outages with their causes and
acknowledgements, latency, notification delivery, and how the figures are computed.
"""

from __future__ import annotations

import base64
from datetime import datetime, tzinfo
from html import escape

from netwatchd.report import charts, words
from netwatchd.report.data import ReportInputs
from netwatchd.report.progress import ProgressBar
from netwatchd.report.render import cause_text
from netwatchd.report.stats import PARTS, Report, SiteReport

CSS = """
@page { size: A4; margin: 14mm 12mm 16mm;
        @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #777; } }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10pt; color: #1b1b1b; margin: 0 auto;
       max-width: 190mm; padding: 8mm 4mm; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; border-bottom: 1px solid #bbb; padding-bottom: 1mm;
     page-break-after: avoid; }
.meta { color: #555; margin-bottom: 4mm; }
.cards { display: flex; gap: 3mm; flex-wrap: wrap; }
.card { border: 1px solid #ccc; border-radius: 2mm; padding: 2mm 3mm; flex: 1 1 0; min-width: 34mm; }
.card b { display: block; font-size: 15pt; }
.card small { color: #666; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
th, td { border-bottom: 1px solid #ddd; padding: 1mm 1.2mm; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; background: #f0f0f0; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
td.text { white-space: normal; }
tr { page-break-inside: avoid; }
tr.total td { font-weight: bold; border-top: 1px solid #999; }
table.split { font-size: 7.5pt; }
table.split td { white-space: normal; }
.bad { color: #c62828; font-weight: bold; }
.nodata { color: #888; font-style: italic; }
.swatch { display: inline-block; width: 3mm; height: 3mm; margin-right: 1mm; vertical-align: middle; }
img { width: 100%; height: auto; max-height: 250mm; object-fit: contain; page-break-inside: avoid; }
figure { margin: 3mm 0; page-break-inside: avoid; }
@media print { body { padding: 0; max-width: none; } h2 { page-break-after: avoid; } }
"""


def _img(png: bytes | None, alt: str, language: str) -> str:
    if not png:
        return f'<p class="nodata">{escape(alt)}: {escape(words.word(language, "no_data"))}.</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _t(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _ms(value: float | None, language: str) -> str:
    return "-" if value is None else f"{words.number(value, 0, language)} ms"


def _avail_cell(value: float | None, language: str) -> str:
    cls = "nodata" if value is None else ("bad" if value < 99.0 else "")
    return f'<td class="{cls}">{escape(words.percent(value, language))}</td>'


def ranked(report: Report) -> list[SiteReport]:
    """Sites best first: availability, then less own downtime, then name; sites without data last."""
    return sorted(report.sites, key=lambda s: (s.availability_percent is None, -(s.availability_percent or 0.0),
                                               s.downtime_s, s.site.name.lower()))


def _split_summary(report: Report, language: str) -> str:
    parts = report.parts
    total = sum(parts.values())
    rows = []
    for part in PARTS:
        seconds = parts.get(part, 0.0)
        if part == "unknown" and seconds <= 0:
            continue
        share = words.percent(100.0 * seconds / total, language) if total > 0 else "-"
        rows.append(f'<tr><td><span class="swatch" style="background:{charts.STATE_COLOURS[part]}"></span>'
                    f"{escape(words.part_word(language, part))}</td><td>{escape(words.duration(seconds, language))}"
                    f"</td><td>{escape(share)}</td></tr>")
    w = words.word
    return (f'<table><thead><tr><th class="text">{escape(w(language, "part"))}</th>'
            f'<th>{escape(w(language, "duration"))}</th><th>%</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _ranking_rows(report: Report, language: str) -> str:
    rows = []
    d = words.duration
    for rank, site in enumerate(ranked(report), 1):
        shown = str(rank) if site.has_data else "-"
        rows.append(
            f"<tr><td>{shown}</td><td class=text>{escape(site.site.name)}</td>"
            f"<td class=text>{escape(site.site.group)}</td>{_avail_cell(site.availability_percent, language)}"
            f"<td>{escape(d(site.downtime_s, language))}</td><td>{len(site.own_outages)}</td>"
            f"<td>{escape(d(max((o.seconds for o in site.own_outages), default=0.0), language))}</td>"
            f"<td>{escape(d(site.mttr_s, language))}</td></tr>")
    return "\n".join(rows)


def _split_rows(report: Report, language: str) -> str:
    rows = []
    d = words.duration
    for site in report.sites:
        cells = "".join(f"<td>{escape(d(site.parts.get(p, 0.0), language))}</td>"
                        for p in ("up", "degraded", "down", "parent", "maintenance", "blind"))
        rows.append(f"<tr><td>{escape(site.site.name)}</td><td>{escape(d(site.observable_s, language))}</td>{cells}"
                    f"{_avail_cell(site.availability_percent, language)}</tr>")
    parts = report.parts
    cells = "".join(f"<td>{escape(d(parts.get(p, 0.0), language))}</td>"
                    for p in ("up", "degraded", "down", "parent", "maintenance", "blind"))
    observable = sum(parts[p] for p in ("up", "degraded", "down"))
    rows.append(f'<tr class="total"><td>{escape(words.word(language, "total"))}</td>'
                f"<td>{escape(d(observable, language))}</td>{cells}"
                f"{_avail_cell(report.overall_availability_percent, language)}</tr>")
    return "\n".join(rows)


def _outage_rows(report: Report, tz: tzinfo, language: str) -> str:
    pairs = sorted(((o, s) for s in report.sites for o in s.outages), key=lambda p: p[0].start)
    if not pairs:
        return f'<tr><td colspan="6" class="nodata">{escape(words.word(language, "no_outages"))}</td></tr>'
    rows = []
    for outage, site in pairs:
        ack = "-"
        if outage.acknowledged_by:
            ack = outage.acknowledged_by + (f" {_t(outage.acknowledged_at, tz)}" if outage.acknowledged_at else "")
        end = words.word(language, "ongoing") if outage.ongoing else _t(outage.end, tz)
        rows.append(f"<tr><td>{escape(site.site.name)}</td><td>{_t(outage.start, tz)}</td><td>{escape(end)}</td>"
                    f"<td>{escape(words.duration(outage.seconds, language))}</td>"
                    f"<td class=text>{escape(cause_text(outage, site, language).split('; ')[0])}</td>"
                    f"<td class=text>{escape(ack)}</td></tr>")
    return "\n".join(rows)


def _rtt_rows(report: Report, language: str) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else words.number(value, 1, language)

    return "\n".join(f"<tr><td>{escape(s.site.name)}</td><td>{num(s.rtt.rtt_min_ms)}</td><td>{num(s.rtt.rtt_avg_ms)}"
                     f"</td><td>{num(s.rtt.rtt_max_ms)}</td><td>{num(s.rtt.loss_percent)}</td></tr>"
                     for s in report.sites)


def render_html(report: Report, inputs: ReportInputs, tz: tzinfo, progress: ProgressBar | None = None,
                language: str = "en") -> str:
    """The whole report as one HTML document, in `language` (en | id)."""
    steps = 5
    lang = words.lang(language)

    def step(number: int, label: str) -> None:
        if progress:
            progress.update(number, steps, label)

    def w(key: str, **params: object) -> str:
        return escape(words.word(lang, key, **params))

    step(0, "chart: timeline")
    timeline = charts.availability_timeline(report, tz, language=lang)
    step(1, "chart: split")
    split = charts.split_bars(report, lang)
    step(2, "chart: daily availability")
    daily = charts.daily_uptime(report, lang)
    step(3, "chart: latency")
    latency = charts.latency_over_time(inputs, tz, lang)
    step(4, "chart: delivery")
    delivery_png = charts.delivery_histogram(report.delivery.latencies_ms, lang)
    step(5, "writing")
    d = report.delivery
    down_sites = sum(1 for s in report.sites if s.own_outages)
    no_data = sum(1 for s in report.sites if not s.has_data)
    notes = "".join(f'<p class="nodata">{escape(n)}</p>' for n in report.notes)
    within = "-" if d.within_1s_percent is None else words.percent(d.within_1s_percent, lang, 1)
    part_heads = "".join(f"<th>{escape(words.part_word(lang, p))}</th>"
                         for p in ("up", "degraded", "down", "parent", "maintenance", "blind"))
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netwatchd {w("title").lower()} {_t(report.since, tz)} - {_t(report.until, tz)}</title>
<style>{CSS}</style></head>
<body>
<h1>{w("title")}</h1>
<div class="meta">{_t(report.since, tz)} &ndash; {_t(report.until, tz)} ({escape(report.timezone)}) &middot;
{len(report.sites)} {w("sites")} &middot; {w("generated")} {_t(report.generated_at, tz)} {w("by_netwatchd")}</div>
{notes}
<div class="cards">
<div class="card">{w("overall_availability")}<b>{escape(words.percent(report.overall_availability_percent, lang))}</b>
<small>{w("headline_note")}</small></div>
<div class="card">{w("sites_with_outages")}<b>{down_sites} / {len(report.sites)}</b></div>
<div class="card">{w("sites_without_data")}<b>{no_data}</b></div>
<div class="card">{w("within_1s")}<b>{escape(within)}</b></div>
</div>
<h2>{w("split")}</h2>
{_split_summary(report, lang)}
{_img(split, words.word(lang, "split"), lang)}
<h2>{w("ranking")}</h2>
<table><thead><tr><th>{w("rank")}</th><th class=text>{w("site")}</th><th class=text>{w("group")}</th>
<th>{w("availability")}</th><th>{w("own_down")}</th><th>{w("outages")}</th><th>{w("longest")}</th>
<th>{w("mttr")}</th></tr></thead>
<tbody>
{_ranking_rows(report, lang)}
</tbody></table>
<h2>{w("split")}: {w("sites")}</h2>
<table class="split"><thead><tr><th>{w("site")}</th><th>{w("observable")}</th>{part_heads}
<th>{w("availability")}</th></tr></thead>
<tbody>
{_split_rows(report, lang)}
</tbody></table>
<h2>{w("daily")}</h2>
{_img(daily, words.word(lang, "daily"), lang)}
<h2>{w("state_over_time")}</h2>
{_img(timeline, words.word(lang, "state_over_time"), lang)}
<h2>{w("outages")}</h2>
<table><thead><tr><th>{w("site")}</th><th>{w("start")}</th><th>{w("end")}</th><th>{w("duration")}</th>
<th class=text>{w("cause")}</th><th class=text>{w("acknowledged")}</th></tr></thead>
<tbody>
{_outage_rows(report, tz, lang)}
</tbody></table>
<h2>{w("latency")}</h2>
{_img(latency, words.word(lang, "latency"), lang)}
<table><thead><tr><th>{w("site")}</th><th>RTT min ms</th><th>{w("rtt_avg")}</th><th>RTT max ms</th>
<th>{w("loss")}</th></tr></thead>
<tbody>
{_rtt_rows(report, lang)}
</tbody></table>
<h2>{w("delivery")}</h2>
<table><thead><tr><th>{w("messages")}</th><th>{w("delivered")}</th><th>{w("failed")}</th><th>{w("mean")}</th>
<th>p50</th><th>p95</th><th>Max</th><th>{w("within_1s")}</th></tr></thead>
<tbody><tr><td>{d.count}</td><td>{d.delivered}</td><td>{d.failures}</td><td>{_ms(d.mean_ms, lang)}</td>
<td>{_ms(d.p50_ms, lang)}</td><td>{_ms(d.p95_ms, lang)}</td><td>{_ms(d.max_ms, lang)}</td>
<td>{escape(within)}</td></tr></tbody></table>
{_img(delivery_png, words.word(lang, "delivery"), lang)}
<p class="meta">{w("explain")}</p>
</body></html>
"""
