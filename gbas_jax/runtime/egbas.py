"""E-GBAS's jitted entry points: :func:`ber_opt`, :func:`gb_rrt` and :func:`egbas`.

Each checks its arguments in Python (a ``ValueError`` before anything is traced)
and calls one :class:`~gbas_jax.runtime.programs.Program` per stage over the
core's pure functions (:mod:`gbas_jax.core.stages`).  ``egbas`` runs stage 1
(BerOpt + indicator), one host synchronisation that sizes the kept-unit buffers,
then stage 2 (GB-RRT); each stage compiles once per distinct static size.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..core import kept, validation
from ..core.beropt import optimise
from ..core.config import EGBASConfig, check_config
from ..core.results import EGBASResult, RRTResult
from ..core.rrt import grow
from ..core.stages import Stage1, assemble, check_inputs, map_stage1, map_stage2
from . import program_store
from .programs import Program

program_store.register_result(Stage1, "gbas_jax.Stage1")
program_store.register_result(RRTResult, "gbas_jax.RRTResult")


def _first(tree):
    return jax.tree_util.tree_map(lambda x: x[0], tree)


def _stage1(gen, z0, key, *, layer, cfg):
    return _first(map_stage1(gen, z0[None], layer, cfg, key[None], 1))


def _stage2(gen, z0, V, key, *, layer, cfg, kept_sizes=None):
    return _first(map_stage2(gen, z0[None], layer, V[None], cfg, key[None], 1, kept_sizes))


def _ber_opt(gen, z0, key, *, layer, cfg):
    return optimise(gen, z0, layer, cfg, key)


def _gb_rrt(gen, z0, V, key, *, layer, cfg, kept_sizes=None):
    region = V if kept_sizes is None else kept.build(gen, layer, V, kept_sizes)
    return grow(gen, z0, layer, region, cfg, key)


STAGE1 = Program("egbas.stage1", _stage1, ("layer", "cfg"))
STAGE2 = Program("egbas.stage2", _stage2, ("layer", "cfg", "kept_sizes"))
BER_OPT = Program("ber_opt", _ber_opt, ("layer", "cfg"))
GB_RRT = Program("gb_rrt", _gb_rrt, ("layer", "cfg", "kept_sizes"))


def ber_opt(gen, z0, layer: int, cfg: EGBASConfig, *, key, full_output: bool = False):
    r"""Optimise the keep-probabilities :math:`\theta^*` of layer ``layer`` for query ``z0``.

    Args:
      gen: a :class:`~gbas_jax.Generator`.
      z0: query latent ``(Dz,)``.
      layer: probe-able layer, ``1 .. gen.num_layers`` (static).
      cfg: :class:`~gbas_jax.EGBASConfig` (static).
      key: PRNG key (keyword-only).
      full_output: return a :class:`~gbas_jax.BerOptResult` instead of ``theta``.

    Returns:
      ``theta`` ``(D_l,)`` in ``[0, 1]``, or a :class:`~gbas_jax.BerOptResult`.
    """
    layer = validation.check_layer(gen, layer)
    cfg = check_config(cfg)
    validation.check_latents(gen, z0, batched=False)
    res = BER_OPT(gen, jnp.asarray(z0, jnp.float32), key, layer=layer, cfg=cfg)
    return res if full_output else res.theta


def gb_rrt(gen, z0, layer: int, V, cfg: EGBASConfig, *, key) -> RRTResult:
    """Grow a GB-RRT from ``z0`` inside the region of indicator ``V``.

    Args:
      gen: :class:`~gbas_jax.Generator`; z0: ``(Dz,)``; layer: static int;
      V: int8 indicator ``(D_l,)``; cfg: :class:`~gbas_jax.EGBASConfig`; key: PRNG key.

    Returns:
      :class:`~gbas_jax.RRTResult` with fixed-size buffers of capacity
      ``cfg.capacity`` and ``cfg.reject_capacity``.
    """
    layer = validation.check_layer(gen, layer)
    cfg = check_config(cfg)
    validation.check_latents(gen, z0, batched=False)
    validation.check_indicator(gen, layer, V)
    validation.check_interval(gen, cfg)
    V = jnp.asarray(V, jnp.int8)
    sizes = kept.plan(gen, layer, V, cfg.region_path)        # one host sync
    return GB_RRT(gen, jnp.asarray(z0, jnp.float32), V, key, layer=layer, cfg=cfg, kept_sizes=sizes)


def egbas(gen, z0, layer: int, cfg: EGBASConfig, *, key) -> EGBASResult:
    """Explorative generative-boundary-aware sampling for one query.

    Args:
      gen: :class:`~gbas_jax.Generator`.
      z0: query latent ``(Dz,)``.
      layer: probe-able layer ``1 .. gen.num_layers`` (static).
      cfg: :class:`~gbas_jax.EGBASConfig` (static).
      key: PRNG key; split once into a BerOpt key and a GB-RRT key.

    Returns:
      :class:`~gbas_jax.EGBASResult`; ``tree.accepted()`` are the samples.
    """
    layer, cfg = check_inputs(gen, z0, layer, cfg, batched=False)
    z0 = jnp.asarray(z0, jnp.float32)
    k_ber, k_rrt = jax.random.split(key)
    s1 = STAGE1(gen, z0, k_ber, layer=layer, cfg=cfg)
    # The one host synchronisation: size the kept-unit buffers.
    sizes = kept.plan(gen, layer, s1.indicator, cfg.region_path)
    tree = STAGE2(gen, z0, s1.indicator, k_rrt, layer=layer, cfg=cfg, kept_sizes=sizes)
    return assemble(z0, s1, tree)
