"""Pieces every job shares: a progress bar over named stages with timings, the
settings of a run, and JSON output."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from typing import Dict, Iterator, List

from ..core.config import EGBASConfig, check_config
from .settings import Settings


class Stages:
    """A progress bar over a fixed list of stages; ``stage(key)`` times one and
    stores the seconds under ``timings[key]``."""

    def __init__(self, desc: str, names: List[str], progress: bool = True):
        from tqdm.auto import tqdm

        self.names = names
        self.timings: Dict[str, float] = {}
        self._bar = tqdm(total=len(names), desc=desc, disable=not progress,
                         bar_format="{l_bar}{bar}| {n}/{total} {postfix}")
        self._i = 0

    def __enter__(self) -> "Stages":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:        # an error: clear the bar, the error line follows alone
            self._bar.leave = False
        self._bar.close()

    @contextlib.contextmanager
    def stage(self, key: str) -> Iterator[None]:
        self._bar.set_postfix_str(self.names[self._i])
        t = time.perf_counter()
        yield
        self.timings[key] = time.perf_counter() - t
        self._i += 1
        self._bar.update(1)


def as_settings(cfg) -> Settings:
    """``None`` (library defaults), an :class:`EGBASConfig` (every non-default field
    counted as given by the caller) or :class:`Settings` -> :class:`Settings`."""
    if isinstance(cfg, Settings):
        return cfg
    cfg = EGBASConfig() if cfg is None else check_config(cfg)
    default = EGBASConfig()
    return Settings(cfg, {f.name: "caller" for f in dataclasses.fields(EGBASConfig)
                          if getattr(cfg, f.name) != getattr(default, f.name)})


def settings_line(record: dict) -> str:
    """The settings line of a record (``config`` and ``config_sources``)."""
    sources = record.get("config_sources", {})
    return Settings(EGBASConfig(**{k: tuple(v) if isinstance(v, list) else v
                                   for k, v in record["config"].items()}), sources).describe()


def write_json(path: str, obj, indent: int = 2) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
