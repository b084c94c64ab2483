"""Seeded query latents: the one rule every job uses to turn a seed into queries."""

from __future__ import annotations

from typing import Optional

import jax
import numpy as np


def query_latents(latent_dim: int, seed: int, count: Optional[int] = None) -> np.ndarray:
    """``N(0, I)`` latents from ``jax.random.key(seed)``: ``(latent_dim,)`` when
    ``count`` is ``None``, else ``(count, latent_dim)`` (host float32)."""
    shape = (latent_dim,) if count is None else (count, latent_dim)
    return np.asarray(jax.random.normal(jax.random.key(seed), shape), np.float32)
