"""Availability and delivery-latency reports (`netwatchd report`, the bot's /report).

Owns: data.py (the report's only reading: store rollups and events, data_dir/timing.jsonl), stats.py
(the arithmetic, pure), render.py (text, CSV, JSON), html.py + charts.py (one self-contained HTML file
with matplotlib charts), progress.py (a stderr progress bar). May import store and what is below it;
never notify, web, lab, bot, commands, cli or app.
"""
