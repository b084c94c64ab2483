r"""The paper's epsilon-ball baselines (Section 4), calibrated from an E-GBAS run.

With :math:`z_{avg}` the mean of the accepted samples and :math:`Z_{reject}` all
the candidates GB-RRT rejected (stored or not: the tree computes their distance
range itself, by a replay of its iterations when its buffer overflowed),

.. math::
    \epsilon_{L2} = \tfrac12 \big( \max_{z \in Z_{reject}} \lVert z_{avg} - z \rVert
                    + \min_{z \in Z_{reject}} \lVert z_{avg} - z \rVert \big),

and :math:`\epsilon_{L\infty} = a`, the half-side of the cube with the ball's
volume in :math:`D = D_z` dimensions,
:math:`(2a)^D = \pi^{D/2} \epsilon_{L2}^D / \Gamma(D/2 + 1)` (computed in logs).
Samples are drawn uniformly in the ball / cube centred at the query, as the paper
says.  These functions run on the host, outside ``jit``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Calibration(NamedTuple):
    eps_l2: float
    eps_linf: float


class CalibrationInfo(NamedTuple):
    """Details of :func:`calibrate`: ``fallback`` is True when nothing was
    rejected and ``eps_l2`` is the largest distance from ``z_avg`` to an accepted
    sample instead."""

    z_avg: np.ndarray
    min_dist: float
    max_dist: float
    num_rejected_used: int
    fallback: bool


def linf_half_side(eps_l2: float, dim: int) -> float:
    r"""Half-side ``a`` of the cube whose volume equals the ``dim``-ball of radius ``eps_l2``."""
    if dim < 1 or not eps_l2 > 0:
        raise ValueError("need dim >= 1 and eps_l2 > 0")
    log_ball = 0.5 * dim * math.log(math.pi) + dim * math.log(eps_l2) - math.lgamma(0.5 * dim + 1.0)
    return 0.5 * math.exp(log_ball / dim)


def calibrate(res, *, return_info: bool = False):
    """``(eps_l2, eps_linf)`` from one query's :class:`~gbas_jax.EGBASResult`.

    With ``return_info=True`` returns ``(Calibration, CalibrationInfo)``; its
    ``fallback`` flag says when nothing was rejected (then ``eps_l2`` is the largest
    distance from the sample mean to an accepted sample).
    Raises ``ValueError`` for a batched result (calibrate each query).
    """
    tree = res.tree
    if np.ndim(tree.num_samples) != 0:
        raise ValueError("calibrate takes one query's result; index a batched result first")
    samples = tree.accepted().astype(np.float64)
    z_avg = np.asarray(tree.sample_mean, np.float64)
    m = int(tree.num_rejected)
    if m > 0:
        # Over every rejected candidate, not only the stored ones: GB-RRT computes
        # the range at the end (replaying its iterations when the buffer overflowed).
        lo, hi, fallback = float(tree.reject_min_dist), float(tree.reject_max_dist), False
        eps = 0.5 * (lo + hi)
    else:
        d = np.linalg.norm(samples - z_avg, axis=1)
        lo, hi, fallback = float(d.min()), float(d.max()), True
        eps = hi
    if not eps > 0:
        raise ValueError("calibrate: degenerate run (zero radius); grow a larger tree")
    cal = Calibration(float(eps), linf_half_side(eps, samples.shape[1]))
    if return_info:
        return cal, CalibrationInfo(z_avg, lo, hi, m, fallback)
    return cal


def _check(z0, eps, n):
    z0 = np.asarray(z0)
    if z0.ndim != 1:
        raise ValueError(f"z0 must have shape (Dz,), got {z0.shape}")
    if not (isinstance(n, (int, np.integer)) and n >= 0):
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"eps must be finite and > 0, got {eps!r}")
    return jnp.asarray(z0, jnp.float32)


def sample_l2_ball(z0, eps: float, n: int, *, key) -> jax.Array:
    """``n`` points uniform in the L2 ball of radius ``eps`` around ``z0``: ``(n, Dz)``."""
    z0 = _check(z0, eps, n)
    k_dir, k_rad = jax.random.split(key)
    g = jax.random.normal(k_dir, (n, z0.shape[0]))
    g = g / jnp.linalg.norm(g, axis=1, keepdims=True)
    r = eps * jax.random.uniform(k_rad, (n, 1)) ** (1.0 / z0.shape[0])
    return z0 + r * g


def sample_linf_ball(z0, eps: float, n: int, *, key) -> jax.Array:
    """``n`` points uniform in the cube ``[z0 - eps, z0 + eps]``: ``(n, Dz)``."""
    z0 = _check(z0, eps, n)
    return z0 + jax.random.uniform(key, (n, z0.shape[0]), minval=-eps, maxval=eps)
