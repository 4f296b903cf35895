"""TEMPORARY permissive loader (to be replaced by the validating parser). Do not rely on its
error messages. It maps hosts.yaml onto the dataclasses in config.py."""

from __future__ import annotations

import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from netwatchd.config import (Config, FlapPolicy, HostSpec, MaintenanceWindow, RetentionSpec,
                              RouterSpec, SelfCheck, TelegramSpec, Thresholds, WebSpec)
from netwatchd.errors import ConfigError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            raise ValueError(text)
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(text)
    return total


def _expand(value: Any, environ: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"__NWENV_(\w+?)__", lambda m: environ.get(m.group(1), ""), value)
    if isinstance(value, list):
        return [_expand(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, environ) for k, v in value.items()}
    return value


def _host(raw: dict[str, Any], defaults: dict[str, Any]) -> HostSpec:
    merged = {**defaults, **raw}
    names = {f.name for f in fields(HostSpec)}
    kwargs: dict[str, Any] = {}
    for key, value in merged.items():
        if key == "thresholds":
            kwargs[key] = Thresholds(**{k: (float(str(v).rstrip("%").rstrip("ms")) if v is not None else None)
                                        for k, v in value.items()})
        elif key in ("interval", "timeout", "packet_interval", "retry_interval", "reminder_every"):
            kwargs[key] = parse_duration(value)
        elif key in names:
            kwargs[key] = value
    return HostSpec(**kwargs)


def load(path: Path, environ: dict[str, str] | None = None) -> Config:
    env = dict(os.environ if environ is None else environ)
    try:
        text = re.sub(r"\$\{(\w+)\}", r"__NWENV_\1__", path.read_text("utf-8"))
        raw = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    raw = _expand(raw, env)
    defaults = raw.get("defaults", {}) or {}
    tg = raw.get("telegram") or {}
    web = raw.get("web", {})
    if web is False:
        web_spec = WebSpec(enabled=False)
    else:
        listen = str((web or {}).get("listen", "127.0.0.1:8080"))
        host, _, port = listen.rpartition(":")
        web_spec = WebSpec(host=host or "127.0.0.1", port=int(port))
    return Config(
        path=path,
        data_dir=(path.parent / str(raw.get("data_dir", "./netwatchd-data"))).resolve(),
        timezone=raw.get("timezone", "Asia/Jakarta"),
        hosts=tuple(_host(h, defaults) for h in raw.get("hosts", []) or []),
        routers=tuple(RouterSpec(**r) for r in raw.get("routers", []) or []),
        telegram=TelegramSpec(token=tg.get("token", "") or "", chat_ids=tuple(tg.get("chat_ids", ())),
                              admins=tuple(tg.get("admins", ())),
                              api_url=tg.get("api_url", "https://api.telegram.org"),
                              language=tg.get("language", "id")),
        web=web_spec,
        maintenance=tuple(MaintenanceWindow(**{**m, "targets": tuple(m.get("targets", ()))})
                          for m in raw.get("maintenance", []) or []),
        self_check=SelfCheck(anchors=tuple((raw.get("self_check") or {}).get("anchors", ()))),
        flapping=FlapPolicy(**(raw.get("flapping") or {})),
        retention=RetentionSpec(),
    )
