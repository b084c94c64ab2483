"""Pieces every job shares: a progress bar over named stages with timings, the
query reader, and JSON output."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Dict, Iterator, List

import numpy as np


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

    def __exit__(self, *exc) -> None:
        self._bar.close()

    @contextlib.contextmanager
    def stage(self, key: str) -> Iterator[None]:
        self._bar.set_postfix_str(self.names[self._i])
        t = time.perf_counter()
        yield
        self.timings[key] = time.perf_counter() - t
        self._i += 1
        self._bar.update(1)


def read_query_file(path: str, latent_dim: int) -> np.ndarray:
    """A ``(Dz,)`` (or ``(1, Dz)``) float query from a ``.npy`` file."""
    try:
        z = np.load(path)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read query {path!r}: {e}") from None
    z = np.asarray(z, np.float32)
    if z.ndim == 2 and z.shape[0] == 1:
        z = z.reshape(-1)
    if z.shape != (latent_dim,):
        raise ValueError(f"query {path!r} has shape {z.shape}; the model needs ({latent_dim},)")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"query {path!r} is not finite")
    return z


def write_json(path: str, obj, indent: int = 2) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=indent)
