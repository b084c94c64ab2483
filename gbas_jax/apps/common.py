"""Pieces every job shares: a progress bar over named steps with timings, and
JSON output."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Dict, Iterator, List


class Progress:
    """A progress bar over a fixed list of steps; ``step(key)`` times one and
    stores the seconds under ``timings[key]``."""

    def __init__(self, desc: str, names: List[str], progress: bool = True):
        from tqdm.auto import tqdm

        self.names = names
        self.timings: Dict[str, float] = {}
        self._bar = tqdm(total=len(names), desc=desc, disable=not progress,
                         bar_format="{l_bar}{bar}| {n}/{total} {postfix}")
        self._i = 0

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:        # an error: clear the bar, the error line follows alone
            self._bar.leave = False
        self._bar.close()

    @contextlib.contextmanager
    def step(self, key: str) -> Iterator[None]:
        self._bar.set_postfix_str(self.names[self._i])
        t = time.perf_counter()
        yield
        self.timings[key] = time.perf_counter() - t
        self._i += 1
        self._bar.update(1)


class Timings:
    """The stand-in for :class:`Progress` where no bar is shown: ``step(key)`` only
    times."""

    def __init__(self):
        self.timings: Dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, key: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.timings[key] = time.perf_counter() - t


def write_json(path: str, obj, indent: int = 2) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
