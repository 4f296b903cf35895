"""Shared helpers for the delivery tests (no tests here): a stand-in fixture, configs, rows."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from netwatchd.clock import FakeClock
from netwatchd.config.model import Config, TelegramSpec
from netwatchd.lab.telegram_standin import TelegramStandIn
from netwatchd.models import State, Transition
from netwatchd.notify.outbox import DeliveryWorker, destinations_for, enqueue
from netwatchd.notify.telegram_api import TelegramAPI
from netwatchd.store import Database, transaction

GROUP = -1001234567890
ADMIN = 5550001


def make_config(data_dir: Path, tg: TelegramStandIn | None = None, *,
                chat_ids: Sequence[int] = (GROUP, ADMIN), language: str = "id",
                templates: dict[str, str] | None = None) -> Config:
    telegram = TelegramSpec()
    if tg is not None:
        telegram = TelegramSpec(token=tg.token, chat_ids=tuple(chat_ids), api_url=tg.api_url,
                                language=language, templates=dict(templates or {}))
    return Config(path=data_dir / "hosts.yaml", data_dir=data_dir, telegram=telegram)


def down(host: str, at: datetime, **evidence: Any) -> Transition:
    return Transition(host=host, address="198.18.1.1", from_state=State.UP, to_state=State.DOWN, at=at,
                      evidence=evidence or {"loss_percent": 100.0, "failures_in_row": 3, "error": "timeout"})


def up(host: str, at: datetime, since: datetime) -> Transition:
    return Transition(host=host, address="198.18.1.1", from_state=State.DOWN, to_state=State.UP, at=at,
                      since=since, evidence={"loss_percent": 0.0, "rtt_avg_ms": 1.2})


class Rig:
    """A real SQLite store + a worker talking over real HTTP to the stand-in, on a FakeClock."""

    def __init__(self, tmp_path: Path, tg: TelegramStandIn | None, clock: FakeClock, **worker_args: Any) -> None:
        self.config = worker_args.pop("config", None) or make_config(tmp_path, tg)
        self.clock = clock
        self.db = Database.in_dir(tmp_path)
        self.conn = self.db.open()
        api = TelegramAPI(tg.api_url, tg.token, timeout=worker_args.pop("timeout", 2.0)) if tg else None
        worker_args.setdefault("random_draw", lambda: 0.0)   # no jitter: exact retry times
        self.worker = DeliveryWorker(self.db, self.config, clock, api=api, **worker_args)

    def add(self, *transitions: Transition) -> None:
        with transaction(self.conn):
            for transition in transitions:
                enqueue(self.conn, None, transition, destinations_for(self.config), self.clock.now())

    def rows(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        query = "SELECT * FROM outbox" + (" WHERE chat_id=?" if chat_id is not None else "") + " ORDER BY id"
        args = (str(chat_id),) if chat_id is not None else ()
        return [dict(r) for r in self.conn.execute(query, args).fetchall()]

    def timing(self) -> list[dict[str, Any]]:
        path = self.config.data_dir / "timing.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text("utf-8").splitlines()]

    def run(self, seconds_between: float = 1.0, rounds: int = 10) -> int:
        """run_once, advance the clock, repeat; returns messages sent."""
        sent = 0
        for _ in range(rounds):
            sent += self.worker.run_once()
            self.clock.advance(seconds_between)
        return sent


def hosts_in(texts: Sequence[str], names: Sequence[str]) -> list[str]:
    """The names in the order they first appear in the concatenated texts."""
    joined = "\n".join(texts)
    found = sorted((joined.find(f"<b>{n}</b>") if f"<b>{n}</b>" in joined else joined.find(f"<b>{n} "), n)
                   for n in names)
    return [n for pos, n in found if pos >= 0]


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)
