"""The two stages of E-GBAS (Algorithm 3) as pure, traceable functions.

Stage 1 is BerOpt and the halfspace indicator, stage 2 GB-RRT.  Between them a
host synchronisation sizes the kept-unit buffers (:func:`gbas_jax.core.kept.plan`),
so the stages are compiled apart (:mod:`gbas_jax.runtime.egbas`).

Both are written over a leading query axis (:func:`map_stage1`,
:func:`map_stage2`): a single query runs them over a batch of one with
``chunk=1``, exactly as a CPU batch runs each of its rows, so that ``egbas`` and a
row of ``egbas_batch`` run the same compiled step and agree bit for bit.  BerOpt
amplifies float rounding over its steps (a theta difference of 1e-6 after one step
can flip kept units after hundreds), so anything less would make the two disagree
in the indicator.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp

from . import kept, validation
from .beropt import optimise
from .config import EGBASConfig, check_config
from .region import compute_indicator
from .results import EGBASResult, RRTResult
from .rrt import grow


class Stage1(NamedTuple):
    """BerOpt and the indicator of one query (leading query axis when mapped)."""

    theta: jax.Array
    indicator: jax.Array
    num_kept: jax.Array
    loss: jax.Array
    steps: jax.Array
    converged: jax.Array
    kept_error: jax.Array
    objective: jax.Array



def stage1_one(gen, z0, layer: int, cfg: EGBASConfig, key) -> Stage1:
    """BerOpt + indicator for one query ``(Dz,)`` (traceable)."""
    ber = optimise(gen, z0, layer, cfg, key)
    V = compute_indicator(gen, z0, layer, ber.theta, cfg.threshold)
    return Stage1(ber.theta, V, jnp.sum(V != 0, dtype=jnp.int32), ber.loss, ber.steps,
                  ber.converged, ber.kept_error, ber.objective)


def stage2_one(gen, layer: int, cfg: EGBASConfig, kept_sizes: Optional[tuple], z0, V, key) -> RRTResult:
    """GB-RRT for one query; ``kept_sizes`` (static, :func:`gbas_jax.core.kept.plan`)
    selects the kept-unit path."""
    region = V if kept_sizes is None else kept.build(gen, layer, V, kept_sizes)
    return grow(gen, z0, layer, region, cfg, key)


def map_queries(fn, args, chunk: Optional[int]):
    """``fn`` over the leading axis of ``args``: vmapped (``chunk=None``), or a
    ``lax.map`` over chunks of ``chunk`` queries (1: a plain scan, no inner vmap)."""
    if chunk is None:
        return jax.vmap(fn)(*args)
    return jax.lax.map(lambda a: fn(*a), args, batch_size=None if chunk == 1 else chunk)


def map_stage1(gen, z0s, layer: int, cfg: EGBASConfig, keys, chunk: Optional[int]) -> Stage1:
    """:func:`stage1_one` over queries ``(B, Dz)`` (see :func:`map_queries`)."""
    return map_queries(lambda z, k: stage1_one(gen, z, layer, cfg, k), (z0s, keys), chunk)


def map_stage2(gen, z0s, layer: int, Vs, cfg: EGBASConfig, keys, chunk: Optional[int],
               kept_sizes: Optional[tuple]) -> RRTResult:
    """:func:`stage2_one` over queries.  Mapped in chunks, each chunk's
    ``while_loop`` stops on its own; vmapped, every query iterates as long as the
    slowest."""
    return map_queries(functools.partial(stage2_one, gen, layer, cfg, kept_sizes), (z0s, Vs, keys), chunk)


def assemble(z0, s1: Stage1, tree: RRTResult) -> EGBASResult:
    return EGBASResult(query=z0, theta=s1.theta, indicator=s1.indicator, num_kept=s1.num_kept,
                       ber_loss=s1.loss, ber_steps=s1.steps, ber_converged=s1.converged,
                       kept_error=s1.kept_error, tree=tree, objective=s1.objective)


def check_inputs(gen, z, layer, cfg, batched: bool):
    """Validate the arguments of :func:`egbas` / ``egbas_batch`` before tracing."""
    layer = validation.check_layer(gen, layer)
    cfg = check_config(cfg)
    validation.check_latents(gen, z, batched=batched, name="z0s" if batched else "z0")
    validation.check_interval(gen, cfg)
    return layer, cfg
