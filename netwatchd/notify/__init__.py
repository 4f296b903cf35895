"""Getting alerts to the administrators.

format.py        pure: Transitions -> Telegram HTML (Indonesian/English, WIB, grouping, 4096 split)
telegram_api.py  the one HTTP seam to the Bot API; token-free errors mapped for retry decisions
outbox.py        DeliveryWorker decides what to claim, send, retry, give up (rows: store.outbox_repo)
pacing.py        Telegram's rate limits and the backoff schedule
timing.py        data_dir/timing.jsonl records
"""
