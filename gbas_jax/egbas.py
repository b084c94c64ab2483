"""E-GBAS (Algorithm 3): BerOpt, then the halfspace indicator, then GB-RRT.

Built from two jitted stages (BerOpt + indicator, then GB-RRT), each compiled
once per distinct static size; ``egbas_batch`` runs the same stages vmapped over
queries, query ``i`` with key ``jax.random.split(key, B)[i]``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _tracing
from . import _validation as V_
from . import kept as kept_
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




def _rrt_one(gen, layer, cfg, n_kept, z0, V, key):
    region = V if n_kept is None else kept_.build(gen, layer, V, n_kept)
    return _gb_rrt_core(gen, z0, layer, region, cfg, key)




def _map_stage1(gen, z0s, layer, cfg, keys, chunk):
    if chunk is None:
        return jax.vmap(_stage1_core, in_axes=(None, 0, None, None, 0))(gen, z0s, layer, cfg, keys)
    # On a CPU, BerOpt vmapped over many queries (B x S masks decoded per step)
    # outgrows the caches: 64 dcgan-mnist queries took 0.38 s each vmapped against
    # 0.25 s one at a time.
    return jax.lax.map(lambda a: _stage1_core(gen, a[0], layer, cfg, a[1]), (z0s, keys),
                       batch_size=None if chunk == 1 else chunk)   # 1: a plain scan, no inner vmap


@functools.partial(jax.jit, static_argnames=("layer", "cfg", "chunk", "mesh"))
def _stage1_batch(gen, z0s, layer, cfg, keys, chunk=None, mesh=None):
    _tracing.traced("egbas_batch.stage1")
    if mesh is None:
        return _map_stage1(gen, z0s, layer, cfg, keys, chunk)
    rows = PartitionSpec("queries")
    per_device = jax.shard_map(lambda g, z, k: _map_stage1(g, z, layer, cfg, k, chunk), mesh=mesh,
                               in_specs=(PartitionSpec(), rows, rows), out_specs=rows, check_vma=False)
    return per_device(gen, z0s, keys)


def _map_queries(gen, z0s, layer, Vs, cfg, keys, chunk, n_kept):
    one = functools.partial(_rrt_one, gen, layer, cfg, n_kept)
    if chunk is None:
        return jax.vmap(one)(z0s, Vs, keys)
    # A vmapped while_loop runs every query for as many iterations as the slowest
    # one; mapping over chunks of queries lets each chunk stop on its own.
    return jax.lax.map(lambda a: one(*a), (z0s, Vs, keys), batch_size=None if chunk == 1 else chunk)


# A single query runs through the same mapped program as one row of a batch with
# chunk 1 (the CPU default): BerOpt amplifies float rounding over its steps (a
# theta difference of 1e-6 after one step grew to 0.5 after 300 on dcgan-mnist and
# flipped ~20 kept units), so `egbas` and `egbas_batch` rows agree bit for bit only
# if they run the same compiled step.
@functools.partial(jax.jit, static_argnames=("layer", "cfg"))
def _stage1(gen, z0, layer, cfg, key):
    _tracing.traced("egbas.stage1")
    out = _map_stage1(gen, z0[None], layer, cfg, key[None], 1)
    return jax.tree_util.tree_map(lambda x: x[0], out)


@functools.partial(jax.jit, static_argnames=("layer", "cfg", "n_kept"))
def _stage2(gen, z0, layer, V, cfg, key, n_kept=None):
    _tracing.traced("egbas.stage2")
    out = _map_queries(gen, z0[None], layer, V[None], cfg, key[None], 1, n_kept)
    return jax.tree_util.tree_map(lambda x: x[0], out)


@functools.partial(jax.jit, static_argnames=("layer", "cfg", "chunk", "n_kept", "mesh"))
def _stage2_batch(gen, z0s, layer, Vs, cfg, keys, chunk=None, n_kept=None, mesh=None):
    _tracing.traced("egbas_batch.stage2")
    if mesh is None:
        return _map_queries(gen, z0s, layer, Vs, cfg, keys, chunk, n_kept)
    # One program per device over its own queries (shard_map): a device stops when
    # its queries are done instead of running until the slowest query of the
    # whole batch, as one SPMD while_loop over the global batch would.
    rows = PartitionSpec("queries")
    per_device = jax.shard_map(
        lambda g, z, v, k: _map_queries(g, z, layer, v, cfg, k, chunk, n_kept), mesh=mesh,
        in_specs=(PartitionSpec(), rows, rows, rows), out_specs=rows, check_vma=False)
    return per_device(gen, z0s, Vs, keys)


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
    # The one host synchronisation (DESIGN.md section 6): size the kept-unit buffers.
    n_kept = kept_.choose_path(gen, layer, int(s1.num_kept), cfg.region_path)
    tree = _stage2(gen, z0, layer, s1.indicator, cfg, k_rrt, n_kept=n_kept)
    return _assemble(z0, s1, tree)


def memory_per_query(gen, layer: int, cfg: EGBASConfig) -> int:
    r"""Estimated device bytes one query needs in ``egbas_batch`` (float32).

    BerOpt: per-unit state (logits, Adam moments, theta, ...: ~6 D_l) plus, per mask,
    forward and backward activations of every block and the image (~3 x). GB-RRT:
    the sample and rejected buffers ((N + M) Dz), the proposals' distance rows
    (K N) and the proposals' forward pass (K x activations).  An estimate for
    planning chunks, not a bound: XLA may fuse away or add temporaries.
    """
    act = sum(gen.layer_size(k) for k in range(1, gen.num_layers + 1))
    img = int(np.prod(gen.image_shape))
    dz, d = gen.latent_dim, gen.layer_size(layer)
    ber = 6 * d + cfg.ber_samples * 3 * (act + img)
    rrt = (cfg.capacity + cfg.reject_capacity) * dz + cfg.proposals * (cfg.capacity + cfg.proposals + act + dz)
    return 4 * (ber + rrt)


def query_mesh(devices=None):
    """A 1-D mesh named ``"queries"`` over ``devices`` (default: all local devices)."""
    devices = list(jax.local_devices() if devices is None else devices)
    return Mesh(np.array(devices), ("queries",))


def _shard_queries(mesh, gen, arrays, b):
    """Pad the query axis to a multiple of the mesh size by repeating the last row,
    then place it sharded over ``"queries"``; the generator is replicated."""
    n = mesh.shape["queries"]
    padded = -(-b // n) * n
    rows = NamedSharding(mesh, PartitionSpec("queries"))
    out = []
    for x in arrays:
        if padded != b:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], padded - b, axis=0)])
        out.append(jax.device_put(x, rows))
    return jax.device_put(gen, NamedSharding(mesh, PartitionSpec())), out


def egbas_batch(gen, z0s, layer: int, cfg: EGBASConfig, *, key, mesh: Optional[Mesh] = None,
                rrt_chunk: Optional[int] = -1, memory_budget: Optional[int] = None,
                ber_chunk: Optional[int] = -1) -> EGBASResult:
    """:func:`egbas` over queries ``z0s`` ``(B, Dz)``; every result field gains a
    leading axis ``B``.  Query ``i`` uses key ``jax.random.split(key, B)[i]``, so row
    ``i`` matches ``egbas(gen, z0s[i], layer, cfg, key=split(key, B)[i])``.

    With several local devices (or an explicit ``mesh`` with an axis ``"queries"``)
    the query axis is sharded over them and the parameters are replicated; a batch
    whose size is not a multiple of the device count is padded with copies of its
    last query, and the padding rows are dropped from the result.  Results stay
    sharded (when ``B`` is a multiple of the device count); nothing is gathered to
    one device in between.

    ``rrt_chunk``: GB-RRT runs its ``while_loop`` vmapped over this many queries at a
    time (``None``: all at once).  Vmapped, every query iterates as long as the
    slowest; on ``dcgan-mnist`` some regions need hundreds of iterations more than
    others, and 16 queries took 70 s vmapped against ~5 s one by one on a 2-core
    CPU.  The default ``-1`` means 1 on a single CPU device and ``None`` otherwise
    (accelerators and sharded runs, where the batch is what keeps devices busy).

    ``ber_chunk``: the same for BerOpt (``-1``: 1 on CPUs, where many vmapped
    queries outgrow the caches, ``None`` on accelerators).

    ``memory_budget``: bytes a call may use (per device when sharded); larger batches
    run as several calls of ``budget // memory_per_query`` queries (times the device
    count), the last one padded to the same size, so one program serves all chunks.
    """
    layer, cfg = _check(gen, z0s, layer, cfg, batched=True)
    keys = jax.random.split(key, np.shape(z0s)[0])
    if memory_budget is None:
        return egbas_batch_keys(gen, z0s, layer, cfg, keys, mesh=mesh, rrt_chunk=rrt_chunk, ber_chunk=ber_chunk)
    if isinstance(memory_budget, bool) or not isinstance(memory_budget, int) or memory_budget < 1:
        raise ValueError(f"memory_budget must be a positive int (bytes), got {memory_budget!r}")
    n_dev = mesh.shape["queries"] if mesh is not None else jax.local_device_count()
    chunk = max(1, memory_budget // memory_per_query(gen, layer, cfg)) * n_dev
    b = np.shape(z0s)[0]
    if b <= chunk:
        return egbas_batch_keys(gen, z0s, layer, cfg, keys, mesh=mesh, rrt_chunk=rrt_chunk, ber_chunk=ber_chunk)
    z0s = jnp.asarray(z0s, jnp.float32)
    chunks = [np.minimum(np.arange(start, start + chunk), b - 1) for start in range(0, b, chunk)]  # pad the last
    # BerOpt for every chunk first, so that one kept-unit size (the batch maximum)
    # serves every chunk's GB-RRT: one program per stage, not one per chunk.
    firsts = [_batch_stage1(gen, z0s[idx], layer, cfg, keys[idx], mesh, rrt_chunk, ber_chunk) for idx in chunks]
    n_kept = kept_.choose_path(gen, layer, max(int(jnp.max(f[1].num_kept)) for f in firsts), cfg.region_path)
    parts = []
    for start, first in zip(range(0, b, chunk), firsts):
        res = _batch_stage2(layer, cfg, first, n_kept)
        parts.append(jax.tree_util.tree_map(lambda x, n=min(chunk, b - start): x[:n], res))
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)


def egbas_batch_keys(gen, z0s, layer: int, cfg: EGBASConfig, keys, *, mesh: Optional[Mesh] = None,
                     rrt_chunk: Optional[int] = -1, ber_chunk: Optional[int] = -1) -> EGBASResult:
    """:func:`egbas_batch` with one explicit key per query (``keys`` ``(B,)``), so that
    a share of a larger batch (one host's, in a multi-host run) reproduces the rows
    of the whole batch exactly: row ``i`` equals ``egbas(gen, z0s[i], ..., key=keys[i])``."""
    layer, cfg = _check(gen, z0s, layer, cfg, batched=True)
    first = _batch_stage1(gen, z0s, layer, cfg, keys, mesh, rrt_chunk, ber_chunk)
    n_kept = kept_.choose_path(gen, layer, int(jnp.max(first[1].num_kept)), cfg.region_path)   # one host sync
    return _batch_stage2(layer, cfg, first, n_kept)


def _chunk(value, name):
    if value == -1:
        return 1 if jax.default_backend() == "cpu" else None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be None, -1 or an int >= 1, got {value!r}")
    return value


def _batch_stage1(gen, z0s, layer, cfg, keys, mesh, rrt_chunk, ber_chunk):
    z0s = jnp.asarray(z0s, jnp.float32)
    b = z0s.shape[0]
    if jnp.shape(keys)[0] != b:
        raise ValueError(f"need one key per query: {b} queries, {jnp.shape(keys)[0]} keys")
    pair = jax.vmap(jax.random.split)(keys)
    k_ber, k_rrt = pair[:, 0], pair[:, 1]
    if mesh is None and jax.local_device_count() > 1:
        mesh = query_mesh()
    if mesh is not None:
        if "queries" not in mesh.shape:
            raise ValueError(f"mesh must have an axis named 'queries'; it has {tuple(mesh.shape)}")
        gen, (z0s, k_ber, k_rrt) = _shard_queries(mesh, gen, (z0s, k_ber, k_rrt), b)
    rrt_chunk, ber_chunk = _chunk(rrt_chunk, "rrt_chunk"), _chunk(ber_chunk, "ber_chunk")
    s1 = _stage1_batch(gen, z0s, layer, cfg, k_ber, chunk=ber_chunk, mesh=mesh)
    return (gen, z0s, k_rrt, mesh, rrt_chunk, b), s1


def _batch_stage2(layer, cfg, first, n_kept):
    (gen, z0s, k_rrt, mesh, rrt_chunk, b), s1 = first
    tree = _stage2_batch(gen, z0s, layer, s1.indicator, cfg, k_rrt, chunk=rrt_chunk, n_kept=n_kept, mesh=mesh)
    res = _assemble(z0s, s1, tree)
    if z0s.shape[0] != b:
        res = jax.tree_util.tree_map(lambda x: x[:b], res)
    return res
