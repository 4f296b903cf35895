"""Getting alerts to the administrators: delivery only (the rows themselves are store.outbox_repo's).

format.py        pure: Transitions -> Telegram HTML (Indonesian/English, the configured zone, grouping, 4096 split)
telegram_api.py  the one HTTP seam to the Bot API; token-free errors mapped for retry decisions
outbox.py        DeliveryWorker: claims, sends, retries, gives up (clock.Backoff), one lane per chat
pacing.py        Telegram's rate limits
timing.py        data_dir/timing.jsonl records

May import store and what is below it (engine, probes, router, schedule, config, models, errors, clock, logs);
never bot, report, web, lab, commands, cli or app.
"""
