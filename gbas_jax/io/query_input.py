"""Reading a query latent given on the command line: a ``.npy`` file, or numbers."""

from __future__ import annotations

import math
import os
from typing import Sequence

import numpy as np


def read_query_file(path: str, latent_dim: int) -> np.ndarray:
    """A ``(Dz,)`` (or ``(1, Dz)``) float query from a ``.npy`` file; ``ValueError``
    naming the file and the problem otherwise.  Pickled objects are refused."""
    if not os.path.exists(path):
        raise ValueError(f"{path}: no such file")
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a folder, not a .npy file")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise ValueError(f"{path}: cannot be read ({e.strerror})") from None
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file (save the query with numpy.save, or give the numbers)")
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npy array ({str(e).splitlines()[0][:120]})") from None
    if z.dtype.kind not in "fiu":
        raise ValueError(f"{path}: holds {z.dtype} values, not numbers")
    return check_query(np.asarray(z, np.float32).reshape(-1) if z.ndim == 2 and z.shape[0] == 1 else z,
                       latent_dim, path)


def check_query(z, latent_dim: int, label: str) -> np.ndarray:
    z = np.asarray(z, np.float32)
    if z.shape != (latent_dim,):
        raise ValueError(f"{label}: the query has shape {z.shape}; this model needs ({latent_dim},)")
    if not np.all(np.isfinite(z)):
        raise ValueError(f"{label}: the query is not finite")
    return z


def read_query(tokens: Sequence[str], latent_dim: int) -> np.ndarray:
    """The ``--query`` argument: one ``.npy`` file, or ``latent_dim`` numbers."""
    tokens = list(tokens)
    if len(tokens) == 1 and (tokens[0].endswith(".npy") or os.path.exists(tokens[0])):
        return read_query_file(tokens[0], latent_dim)
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        bad = next(t for t in tokens if not _is_float(t))
        raise ValueError(f"--query: {bad!r} is neither a number nor an existing .npy file") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError("--query: the numbers must be finite")
    return check_query(values, latent_dim, "--query")


def _is_float(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False
