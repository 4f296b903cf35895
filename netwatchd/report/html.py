"""Report -> one self-contained HTML file (charts embedded as base64 PNG), readable on screen and
printable on A4 (@page rules, no external resources)."""

from __future__ import annotations

import base64
from datetime import datetime, tzinfo
from html import escape

from netwatchd.report import charts
from netwatchd.report.data import ReportInputs
from netwatchd.report.progress import ProgressBar
from netwatchd.report.render import availability_text
from netwatchd.report.stats import Report, format_duration

CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", Arial, sans-serif; font-size: 10.5pt; color: #1b1b1b; margin: 0 auto;
       max-width: 190mm; padding: 8mm 4mm; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; margin: 7mm 0 2mm; border-bottom: 1px solid #bbb; padding-bottom: 1mm;
     page-break-after: avoid; }
.meta { color: #555; margin-bottom: 4mm; }
.cards { display: flex; gap: 3mm; flex-wrap: wrap; }
.card { border: 1px solid #ccc; border-radius: 2mm; padding: 2mm 3mm; flex: 1 1 0; min-width: 34mm; }
.card b { display: block; font-size: 15pt; }
table { border-collapse: collapse; width: 100%; font-size: 8.5pt; }
th, td { border-bottom: 1px solid #ddd; padding: 1mm 1.2mm; text-align: right; white-space: nowrap; }
th { white-space: normal; vertical-align: bottom; }
th:first-child, td:first-child, td.text, th.text { text-align: left; }
th { background: #f0f0f0; }
tr { page-break-inside: avoid; }
.bad { color: #c62828; font-weight: bold; }
.nodata { color: #888; font-style: italic; }
img { width: 100%; height: auto; max-height: 250mm; object-fit: contain; page-break-inside: avoid; }
figure { margin: 3mm 0; page-break-inside: avoid; }
@media print { body { padding: 0; } h2 { page-break-after: avoid; } }
"""


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return f'<p class="nodata">{escape(alt)}: no data in this window.</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _t(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def _site_rows(report: Report) -> str:
    rows = []
    for site in report.sites:
        avail = site.availability_percent
        cls = "nodata" if avail is None else ("bad" if avail < 99.0 else "")
        rtt = site.rtt
        rows.append(
            f"<tr><td>{escape(site.site.name)}</td><td class=text>{escape(site.site.group)}</td>"
            f'<td class="{cls}">{availability_text(avail)}</td><td>{format_duration(site.downtime_s)}</td>'
            f"<td>{len(site.outages)}</td><td>{format_duration(site.longest_outage_s)}</td>"
            f"<td>{format_duration(site.mttr_s)}</td><td>{format_duration(site.mtbf_s)}</td>"
            f"<td>{format_duration(site.degraded_s)}</td>"
            f"<td>{'-' if rtt.rtt_avg_ms is None else f'{rtt.rtt_avg_ms:.1f}'}</td>"
            f"<td>{'-' if rtt.loss_percent is None else f'{rtt.loss_percent:.1f}'}</td></tr>")
    return "\n".join(rows)


def _outage_rows(report: Report, tz: tzinfo) -> str:
    pairs = sorted(((o, s) for s in report.sites for o in s.outages), key=lambda p: p[0].start)
    if not pairs:
        return '<tr><td colspan="5" class="nodata">No outages in this window.</td></tr>'
    return "\n".join(
        f"<tr><td>{escape(s.site.name)}</td><td>{_t(o.start, tz)}</td>"
        f"<td>{'ongoing' if o.ongoing else _t(o.end, tz)}</td><td>{format_duration(o.seconds)}</td>"
        f"<td class=text>{escape(o.cause)}</td></tr>" for o, s in pairs)


def render_html(report: Report, inputs: ReportInputs, tz: tzinfo, progress: ProgressBar | None = None) -> str:
    """The whole report as one HTML document."""
    steps = 4

    def step(number: int, label: str) -> None:
        if progress:
            progress.update(number, steps, label)

    step(0, "chart: timeline")
    timeline = charts.availability_timeline(report, tz)
    step(1, "chart: daily availability")
    daily = charts.daily_uptime(report)
    step(2, "chart: latency")
    latency = charts.latency_over_time(inputs, tz)
    step(3, "chart: delivery")
    delivery_png = charts.delivery_histogram(report.delivery.latencies_ms)
    step(4, "writing")
    d = report.delivery
    down_sites = sum(1 for s in report.sites if s.outages)
    no_data = sum(1 for s in report.sites if not s.has_data)
    notes = "".join(f'<p class="nodata">{escape(n)}</p>' for n in report.notes)
    within = "-" if d.within_1s_percent is None else f"{d.within_1s_percent:.1f} %"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>netwatchd availability report {_t(report.since, tz)} to {_t(report.until, tz)}</title>
<style>{CSS}</style></head>
<body>
<h1>Network availability report</h1>
<div class="meta">{_t(report.since, tz)} to {_t(report.until, tz)} ({escape(report.timezone)}) &middot;
{len(report.sites)} sites &middot; generated {_t(report.generated_at, tz)} by netwatchd</div>
{notes}
<div class="cards">
<div class="card">overall availability<b>{availability_text(report.overall_availability_percent)}</b></div>
<div class="card">sites with outages<b>{down_sites} / {len(report.sites)}</b></div>
<div class="card">sites without data<b>{no_data}</b></div>
<div class="card">alerts delivered within 1 s<b>{within}</b></div>
</div>
<h2>Daily availability</h2>
{_img(daily, "Daily availability")}
<h2>State over time</h2>
{_img(timeline, "State over time")}
<h2>Sites</h2>
<table><thead><tr><th>Site</th><th>Group</th><th>Availability</th><th>Downtime</th><th>Outages</th>
<th>Longest</th><th>MTTR</th><th>MTBF</th><th>Degraded</th><th>RTT avg ms</th><th>Loss %</th></tr></thead>
<tbody>
{_site_rows(report)}
</tbody></table>
<h2>Outages</h2>
<table><thead><tr><th>Site</th><th>Start</th><th>End</th><th>Duration</th><th class=text>Cause</th></tr></thead>
<tbody>
{_outage_rows(report, tz)}
</tbody></table>
<h2>Latency</h2>
{_img(latency, "Latency over time")}
<h2>Notification delivery</h2>
<table><thead><tr><th>Messages</th><th>Delivered</th><th>Failed</th><th>Mean</th><th>p50</th><th>p95</th>
<th>Max</th><th>Within 1 s</th></tr></thead>
<tbody><tr><td>{d.count}</td><td>{d.delivered}</td><td>{d.failures}</td><td>{_ms(d.mean_ms)}</td>
<td>{_ms(d.p50_ms)}</td><td>{_ms(d.p95_ms)}</td><td>{_ms(d.max_ms)}</td><td>{within}</td></tr></tbody></table>
{_img(delivery_png, "Notification delivery latency")}
<p class="meta">Availability = time up or degraded / time with a known state. Unreachable means the
site's parent was down. MTTR: mean length of outages that ended in the window; MTBF: available time per
outage that began in it. Delivery latency: from detection to Telegram's acknowledgement (timing.jsonl).</p>
</body></html>
"""
