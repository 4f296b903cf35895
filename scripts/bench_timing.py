#!/usr/bin/env python3
"""Benchmark the delivery log: appending timing records, and reading them back across rotated files.

Writers, on the same records (a real timing.jsonl line, ~420 bytes), each into its own real file:
  * append     — the writer before rotation: open(path, "a"), write one line, close (never rotates);
  * stdlib     — logging.handlers.RotatingFileHandler, the peer an administrator knows (threads only,
                 no crash recovery, no lock across processes), same size limit and backup count;
  * rotating   — netwatchd.jsonl.RotatingJsonl: thread lock + flock + O_APPEND + rotation.
Readers: netwatchd.jsonl.read_records over the rotating writer's files (what the report does), and
json.loads over the append writer's one file (the floor).

A delivery writes one record per Telegram message (about 1 per second per chat at most), so the
writer only needs to be far below a millisecond; the report reads everything the log keeps.

Usage: python scripts/bench_timing.py [--records 20000] [--max-mb 1] [--keep 10] [--json-only]
Prints a table, then one JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.handlers
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from netwatchd.jsonl import MIB, RotatingJsonl, log_files, read_records


def sample(n: int) -> dict[str, Any]:
    at = f"2026-11-27T21:{n // 60 % 60:02d}:{n % 60:02d}.120+07:00"
    return {"events": [{"host": f"kec-{n % 18:02d}", "from": "up", "to": "down", "at": at}],
            "detected_at": at, "enqueued_at": at, "sent_at": at, "acked_at": at, "latency_ms": 190 + n % 50,
            "attempts": 1, "chat_id": "-1001234567890", "message_id": 4711 + n, "status": "sent"}


def time_it(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--max-mb", type=float, default=1.0)
    parser.add_argument("--keep", type=int, default=10)
    parser.add_argument("--json-only", action="store_true")
    args = parser.parse_args(argv)
    records = [sample(n) for n in range(args.records)]
    max_bytes = int(args.max_mb * MIB)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-timing-") as folder:
        root = Path(folder)

        def append() -> None:
            path = root / "append" / "timing.jsonl"
            path.parent.mkdir()
            for record in records:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")

        def stdlib() -> None:
            path = root / "stdlib" / "timing.jsonl"
            path.parent.mkdir()
            handler = logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=args.keep,
                                                           encoding="utf-8", delay=True)
            logger = logging.getLogger("bench-timing")
            logger.propagate = False
            logger.setLevel(logging.INFO)
            logger.addHandler(handler)
            for record in records:
                logger.info("%s", json.dumps(record, ensure_ascii=False))
            logger.removeHandler(handler)
            handler.close()

        def rotating() -> None:
            log = RotatingJsonl(root / "rotating" / "timing.jsonl", max_bytes=max_bytes, keep=args.keep)
            for record in records:
                log.write(record)

        for name, action in (("append", append), ("stdlib", stdlib), ("rotating", rotating)):
            seconds, _ = time_it(action)
            files = log_files(root / name / "timing.jsonl")
            rows[name] = {"seconds": round(seconds, 4), "us_per_record": round(seconds / len(records) * 1e6, 1),
                          "files": len(files), "bytes_on_disk": sum(f.stat().st_size for f in files)}

        def read_one_file() -> int:
            with (root / "append" / "timing.jsonl").open(encoding="utf-8") as handle:
                return sum(1 for line in handle if json.loads(line))

        def read_rotated() -> int:
            return sum(1 for _ in read_records(root / "rotating" / "timing.jsonl"))

        for name, action in (("read one file", read_one_file), ("read rotated", read_rotated)):
            seconds, count = time_it(action)
            rows[name] = {"seconds": round(seconds, 4), "records": count,
                          "us_per_record": round(seconds / max(count, 1) * 1e6, 1)}
    report = {"records": args.records, "max_mb": args.max_mb, "keep": args.keep, "rows": rows}
    if not args.json_only:
        print(f"bench_timing: {args.records:,} records, rotate at {args.max_mb:g} MiB, keep {args.keep}")
        print(f"{'variant':<14} {'seconds':>8} {'us/record':>10} {'files':>6} {'bytes / records':>16}")
        for name, row in rows.items():
            last = row.get("bytes_on_disk", row.get("records"))
            print(f"{name:<14} {row['seconds']:>8.3f} {row['us_per_record']:>10.1f} {row.get('files', ''):>6} "
                  f"{last:>16,}")
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
