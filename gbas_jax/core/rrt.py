r"""GB-RRT (Algorithm 2), vectorised: a rapidly-exploring random tree that stays
inside a generative region.

Each iteration draws ``K`` proposals :math:`u_k \sim U(z_0 - I, z_0 + I)`, steers
each from its nearest tree node :math:`q_k` by the step :math:`\delta`,

.. math::  z'_k = q_k + \delta \, (u_k - q_k) / \lVert u_k - q_k \rVert ,

tests all :math:`z'_k` for membership at once, and accepts :math:`z'_k` when it is
in the region and at least :math:`\delta (1 - 10^{-3})` from every tree node and
from every candidate accepted earlier in the same batch (``docs/design.md``:
the paper's strict ``> delta`` would reject every step, since :math:`z'_k` is
exactly :math:`\delta` from :math:`q_k`).  Distances to the tree come from the
expansion :math:`|a|^2 - 2a\cdot b + |b|^2` (one matrix product, centred at
:math:`z_0`); wherever its float32 error bound does not clear the threshold the
whole batch is recomputed from direct differences, so the decision is the exact
one.  Distances within the batch are direct differences.

The tree lives in fixed-capacity buffers (``N`` nodes with parent indices, ``M``
rejected candidates); the loop is ``init`` / ``step`` / ``done`` over
:class:`RRTState`, run by one ``lax.while_loop`` that stops at capacity or after
``max_iterations``.  Overflow is reported as data.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import kept
from .config import EGBASConfig
from .results import RRTResult, StopReason

#: Relative tolerance of the spacing test: accept at distance >= delta * (1 - SPACING_RTOL).
SPACING_RTOL = 1e-3


class RRTState(NamedTuple):
    samples: jax.Array        # (N, Dz); rows >= num_samples are padding
    parents: jax.Array        # (N,) int32; -1 for the root and padding
    num_samples: jax.Array    # () int32
    rejected: jax.Array       # (M, Dz)
    num_rejected: jax.Array   # () int32, all region failures, stored or not
    num_dropped: jax.Array    # () int32, accepted but beyond capacity
    iteration: jax.Array      # () int32
    added_at: jax.Array       # (N,) int32, the iteration that added each node (-1: root; padding: max)
    failures: jax.Array       # (max_iterations, ceil(K / 8)) uint8: bits of the candidates the region test rejected


def init(z0, cfg: EGBASConfig) -> RRTState:
    n, m, d = cfg.capacity, cfg.reject_capacity, z0.shape[-1]
    return RRTState(
        samples=jnp.zeros((n, d), z0.dtype).at[0].set(z0),
        parents=jnp.full((n,), -1, jnp.int32),
        num_samples=jnp.int32(1),
        rejected=jnp.zeros((m, d), z0.dtype),
        num_rejected=jnp.int32(0),
        num_dropped=jnp.int32(0),
        iteration=jnp.int32(0),
        added_at=jnp.full((n,), jnp.iinfo(jnp.int32).max, jnp.int32).at[0].set(-1),
        failures=jnp.zeros((cfg.max_iterations, -(-cfg.proposals // 8)), jnp.uint8))


def _sq_dist(a, b):
    """Squared distances ``(P, Q)`` from direct differences, one row of ``a`` at a
    time: the ``(P, Q, D)`` differences are never held at once (XLA:CPU without
    YNNPACK fusions, :mod:`gbas_jax.runtime.compiler`, would hold them: 4 MB a query
    for a 500-node tree in 64 dimensions and 32 proposals)."""
    return jax.lax.map(lambda ai: jnp.sum(jnp.square(ai[None, :] - b), axis=-1), a)


def _expanded_sq_dist(a, b, na, nb):
    """``|a|^2 - 2 a.b + |b|^2`` as one matrix product (float32, full precision)."""
    return na[:, None] - 2.0 * jnp.matmul(a, b.T, precision=jax.lax.Precision.HIGHEST) + nb[None, :]


def _dot_error_bound(na, nb, dim):
    """Bound on the float32 error of :func:`_expanded_sq_dist`: the norms and the
    dot product each carry at most ``gamma_D (|a|^2 + |b|^2)`` (Higham), ``gamma_D ~ D u``."""
    u = jnp.finfo(na.dtype).eps / 2
    return 4.0 * (dim + 2) * u * (na[:, None] + nb[None, :])


def _greedy_accept(ok, far_pairs):
    """Accept candidates in order: ``k`` is accepted when ``ok[k]`` and it is far
    from every earlier accepted candidate."""
    k_total = ok.shape[0]
    earlier = jnp.arange(k_total)

    def body(k, acc):
        clash = acc & ~far_pairs[k] & (earlier < k)
        return acc.at[k].set(ok[k] & ~jnp.any(clash))

    return jax.lax.fori_loop(0, k_total, body, jnp.zeros_like(ok))


def _append(buf, count, rows, mask):
    """Write ``rows[mask]`` after ``count`` into ``buf``; rows past the end are dropped."""
    pos = jnp.where(mask, count + jnp.cumsum(mask) - 1, buf.shape[0])
    return buf.at[pos].set(rows, mode="drop"), pos


def steer(samples, valid, z0, iteration, key, cfg: EGBASConfig):
    """Iteration ``iteration``'s ``K`` proposals steered from their nearest valid
    node: ``(nearest (K,), z_new (K, Dz), c = samples - z0, |c|^2)``.  A pure
    function of the tree and the iteration, so :func:`replay_rejection_range` can
    recompute the candidates of any past iteration."""
    k_prop = jax.random.fold_in(key, iteration)
    half = jnp.asarray(cfg.interval, z0.dtype)
    u = z0 + half * jax.random.uniform(k_prop, (cfg.proposals, z0.shape[-1]), z0.dtype, -1.0, 1.0)
    # Distances to the tree as one matrix product, in coordinates centred at z0
    # (small norms, small rounding error); the nearest node may be off by rounding,
    # which is harmless.
    c = samples - z0
    nc = jnp.sum(c * c, axis=-1)
    a = u - z0
    nearest = jnp.argmin(jnp.where(valid, _expanded_sq_dist(a, c, jnp.sum(a * a, -1), nc), jnp.inf), axis=1)
    q = samples[nearest]
    d = u - q
    norm = jnp.sqrt(jnp.sum(d * d, axis=-1, keepdims=True))
    return nearest, q + cfg.step_size * d / jnp.maximum(norm, jnp.finfo(z0.dtype).tiny), c, nc


def step(state: RRTState, gen, z0, layer: int, V, key, cfg: EGBASConfig) -> RRTState:
    n = cfg.capacity
    valid = jnp.arange(n) < state.num_samples
    nearest, z_new, c, nc = steer(state.samples, valid, z0, state.iteration, key, cfg)

    inside = kept.margin(gen, z_new, layer, V) >= 0   # V: indicator or KeptRegion
    thr2 = (cfg.step_size * (1.0 - SPACING_RTOL)) ** 2
    # The spacing decision must be exact: take the product's answer where its
    # error bound clears the threshold, and fall back to direct differences for the
    # whole batch if any pair is too close to call.  The parent is exactly
    # step_size away by construction (rounding ~1e-7 << SPACING_RTOL): never in doubt.
    b = z_new - z0
    nb = jnp.sum(b * b, axis=-1)
    d2 = _expanded_sq_dist(b, c, nb, nc)
    doubt = valid & (jnp.abs(d2 - thr2) <= _dot_error_bound(nb, nc, z0.shape[-1])) \
        & (jnp.arange(n)[None, :] != nearest[:, None])
    d2 = jax.lax.cond(jnp.any(doubt), lambda: _sq_dist(z_new, state.samples), lambda: d2)
    far_tree = jnp.min(jnp.where(valid, d2, jnp.inf), axis=1) >= thr2
    accept = _greedy_accept(inside & far_tree, _sq_dist(z_new, z_new) >= thr2)

    samples, pos = _append(state.samples, state.num_samples, z_new, accept)
    parents = state.parents.at[pos].set(nearest.astype(jnp.int32), mode="drop")
    added_at = state.added_at.at[pos].set(state.iteration, mode="drop")
    total = state.num_samples + jnp.sum(accept, dtype=jnp.int32)
    fail = ~inside
    rejected, _ = _append(state.rejected, state.num_rejected, z_new, fail)
    return RRTState(
        samples=samples, parents=parents, num_samples=jnp.minimum(total, n),
        rejected=rejected, num_rejected=state.num_rejected + jnp.sum(fail, dtype=jnp.int32),
        num_dropped=state.num_dropped + jnp.maximum(total - n, 0),
        iteration=state.iteration + 1, added_at=added_at,
        failures=state.failures.at[state.iteration].set(jnp.packbits(fail)))


def done(state: RRTState, cfg: EGBASConfig) -> jax.Array:
    return (state.num_samples >= cfg.capacity) | (state.iteration >= cfg.max_iterations)


def replay_rejection_range(state: RRTState, z0, key, cfg: EGBASConfig, center):
    r"""``(min, max)`` of :math:`\lVert z - c \rVert` over *every* candidate that
    failed the region test, stored or not, for a centre ``c`` known only at the end.

    The tree's iterations are replayed: each iteration's proposals come from
    ``fold_in(key, t)`` and are steered from the nodes that existed then (a node's
    ``added_at`` iteration), exactly as :func:`step` did; the recorded failure bits
    say which candidates the region test rejected, so no membership test runs
    again.  No new randomness: the tree is unchanged.
    """
    def body(t, acc):
        valid = state.added_at < t
        _, z_new, _, _ = steer(state.samples, valid, z0, t, key, cfg)
        dist = jnp.sqrt(jnp.sum(jnp.square(z_new - center), axis=-1))
        fail = jnp.unpackbits(state.failures[t], count=cfg.proposals).astype(bool)
        return (jnp.minimum(acc[0], jnp.min(jnp.where(fail, dist, jnp.inf))),
                jnp.maximum(acc[1], jnp.max(jnp.where(fail, dist, -jnp.inf))))

    init_acc = (jnp.asarray(jnp.inf, z0.dtype), jnp.asarray(-jnp.inf, z0.dtype))
    return jax.lax.fori_loop(0, state.iteration, body, init_acc)


def _stored_rejection_range(state: RRTState, center):
    stored = jnp.arange(state.rejected.shape[0]) < state.num_rejected
    dist = jnp.sqrt(jnp.sum(jnp.square(state.rejected - center), axis=-1))
    return jnp.min(jnp.where(stored, dist, jnp.inf)), jnp.max(jnp.where(stored, dist, -jnp.inf))


def finish(state: RRTState, z0, key, cfg: EGBASConfig) -> RRTResult:
    """The result, with the calibration statistics of the paper's Section 4: the
    mean of the samples and the range of distances from it to all rejected
    candidates (from the buffer when it holds them all, else by replay)."""
    valid = (jnp.arange(cfg.capacity) < state.num_samples)[:, None]
    mean = jnp.sum(jnp.where(valid, state.samples, 0.0), axis=0) / state.num_samples
    overflow = state.num_rejected > cfg.reject_capacity
    lo, hi = jax.lax.cond(overflow, lambda: replay_rejection_range(state, z0, key, cfg, mean),
                          lambda: _stored_rejection_range(state, mean))
    return RRTResult(
        samples=state.samples, parents=state.parents, num_samples=state.num_samples,
        rejected=state.rejected, num_rejected=state.num_rejected, iterations=state.iteration,
        num_proposals=state.iteration * cfg.proposals, num_dropped=state.num_dropped,
        stop_reason=jnp.where(state.num_samples >= cfg.capacity, int(StopReason.CAPACITY),
                              int(StopReason.MAX_ITERATIONS)).astype(jnp.int32),
        rejected_overflow=overflow, sample_mean=mean, reject_min_dist=lo, reject_max_dist=hi)


def grow(gen, z0, layer: int, region, cfg: EGBASConfig, key) -> RRTResult:
    """The whole GB-RRT loop (traceable): ``region`` is an indicator ``(D_l,)`` or a
    kept region of :mod:`gbas_jax.core.kept`."""
    final = jax.lax.while_loop(
        lambda s: ~done(s, cfg),
        lambda s: step(s, gen, z0, layer, region, key, cfg),
        init(z0, cfg))
    return finish(final, z0, key, cfg)
