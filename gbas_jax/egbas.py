"""E-GBAS (Algorithm 3): BerOpt, then the halfspace indicator, then GB-RRT.

Built from two jitted stages (BerOpt + indicator, then GB-RRT), each compiled
once per distinct static size; ``egbas_batch`` runs the same stages vmapped over
queries, query ``i`` with key ``jax.random.split(key, B)[i]``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _tracing
from . import _validation as V_
from .beropt import _ber_opt_core
from .config import EGBASConfig
from .region import _indicator
from .rrt import RRTResult, _gb_rrt_core


class EGBASResult(NamedTuple):
    """One query's result (every field gains a leading query axis in ``egbas_batch``).

    query ``(Dz,)``; theta ``(D_l,)``; indicator int8 ``(D_l,)``; num_kept ``()``
    (nonzero entries of the indicator; 0 means the region is the whole space);
    ber_loss ``()``; ber_steps ``()``; ber_converged ``()``; kept_error ``()``
    (MSE of the output with only the kept units against ``G(z0)``); tree:
    :class:`~gbas_jax.RRTResult`.
    """

    query: jax.Array
    theta: jax.Array
    indicator: jax.Array
    num_kept: jax.Array
    ber_loss: jax.Array
    ber_steps: jax.Array
    ber_converged: jax.Array
    kept_error: jax.Array
    tree: RRTResult


class _Stage1(NamedTuple):
    theta: jax.Array
    indicator: jax.Array
    num_kept: jax.Array
    loss: jax.Array
    steps: jax.Array
    converged: jax.Array
    kept_error: jax.Array


def _stage1_core(gen, z0, layer, cfg, key):
    ber = _ber_opt_core(gen, z0, layer, cfg, key)
    V = _indicator(gen, z0, layer, ber.theta, cfg.threshold)
    return _Stage1(ber.theta, V, jnp.sum(V != 0, dtype=jnp.int32), ber.loss, ber.steps,
                   ber.converged, ber.kept_error)


@functools.partial(jax.jit, static_argnames=("layer", "cfg"))
def _stage1(gen, z0, layer, cfg, key):
    _tracing.traced("egbas.stage1")
    return _stage1_core(gen, z0, layer, cfg, key)


@functools.partial(jax.jit, static_argnames=("layer", "cfg"))
def _stage2(gen, z0, layer, V, cfg, key):
    _tracing.traced("egbas.stage2")
    return _gb_rrt_core(gen, z0, layer, V, cfg, key)


@functools.partial(jax.jit, static_argnames=("layer", "cfg"))
def _stage1_batch(gen, z0s, layer, cfg, keys):
    _tracing.traced("egbas_batch.stage1")
    return jax.vmap(_stage1_core, in_axes=(None, 0, None, None, 0))(gen, z0s, layer, cfg, keys)


@functools.partial(jax.jit, static_argnames=("layer", "cfg"))
def _stage2_batch(gen, z0s, layer, Vs, cfg, keys):
    _tracing.traced("egbas_batch.stage2")
    return jax.vmap(_gb_rrt_core, in_axes=(None, 0, None, 0, None, 0))(gen, z0s, layer, Vs, cfg, keys)


def _assemble(z0, s1: _Stage1, tree) -> EGBASResult:
    return EGBASResult(query=z0, theta=s1.theta, indicator=s1.indicator, num_kept=s1.num_kept,
                       ber_loss=s1.loss, ber_steps=s1.steps, ber_converged=s1.converged,
                       kept_error=s1.kept_error, tree=tree)


def _check(gen, z, layer, cfg, batched):
    layer = V_.check_layer(gen, layer)
    cfg = V_.check_config(cfg)
    V_.check_latents(gen, z, batched=batched, name="z0s" if batched else "z0")
    V_.check_interval(gen, cfg)
    return layer, cfg


def egbas(gen, z0, layer: int, cfg: EGBASConfig, *, key) -> EGBASResult:
    """Explorative generative-boundary-aware sampling for one query.

    Args:
      gen: :class:`~gbas_jax.Generator`.
      z0: query latent ``(Dz,)``.
      layer: probe-able layer ``1 .. gen.num_layers`` (static).
      cfg: :class:`~gbas_jax.EGBASConfig` (static).
      key: PRNG key; split once into a BerOpt key and a GB-RRT key.

    Returns:
      :class:`EGBASResult`; ``tree.samples[:tree.num_samples]`` are the samples.
    """
    layer, cfg = _check(gen, z0, layer, cfg, batched=False)
    z0 = jnp.asarray(z0, jnp.float32)
    k_ber, k_rrt = jax.random.split(key)
    s1 = _stage1(gen, z0, layer, cfg, k_ber)
    tree = _stage2(gen, z0, layer, s1.indicator, cfg, k_rrt)
    return _assemble(z0, s1, tree)


def egbas_batch(gen, z0s, layer: int, cfg: EGBASConfig, *, key) -> EGBASResult:
    """:func:`egbas` over queries ``z0s`` ``(B, Dz)``; every result field gains a
    leading axis ``B``.  Query ``i`` uses key ``jax.random.split(key, B)[i]``, so row
    ``i`` matches ``egbas(gen, z0s[i], layer, cfg, key=split(key, B)[i])``.
    """
    layer, cfg = _check(gen, z0s, layer, cfg, batched=True)
    z0s = jnp.asarray(z0s, jnp.float32)
    keys = jax.random.split(key, z0s.shape[0])
    pair = jax.vmap(jax.random.split)(keys)
    s1 = _stage1_batch(gen, z0s, layer, cfg, pair[:, 0])
    tree = _stage2_batch(gen, z0s, layer, s1.indicator, cfg, pair[:, 1])
    return _assemble(z0s, s1, tree)
