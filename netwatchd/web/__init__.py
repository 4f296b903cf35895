"""The status page and Prometheus metrics of a running agent.

Owns: server.py (stdlib HTTP server: /, /api/status, /metrics, /healthz, optional basic auth),
snapshot.py (the agent's live data -> the page's JSON), metrics.py (the agent's own CollectorRegistry),
static/ (the page). May import store and what is below it; never notify, report, lab, bot, commands,
cli or app (app.py hands it the snapshot and health callables).
"""
