"""E-GBAS over many queries: the core's per-query programs mapped or vmapped over
a query axis, sharded over local devices, and split into memory-sized chunks.

Query ``i`` of a batch uses the key ``jax.random.split(key, B)[i]``.  On a CPU the
queries run one at a time through the same compiled step as
:func:`gbas_jax.egbas` (rows are bit-identical to single calls); on accelerators
the batch is vmapped, which keeps the device busy.
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from ..core import kept, precision
from ..core.config import EGBASConfig
from ..core.stages import Stage1, assemble, check_inputs, map_stage1, map_stage2
from ..core.results import EGBASResult
from ..core.validation import positive_int
from ..runtime.programs import Program
from .sharding import check_mesh, per_device, query_mesh, shard_queries


def _stage1_batch(gen, z0s, keys, *, layer, cfg, chunk=None, mesh=None):
    if mesh is None:
        return map_stage1(gen, z0s, layer, cfg, keys, chunk)
    run = per_device(lambda g, z, k: map_stage1(g, z, layer, cfg, k, chunk), mesh, 2)
    return run(gen, z0s, keys)


def _stage2_batch(gen, z0s, Vs, keys, *, layer, cfg, chunk=None, kept_sizes=None, mesh=None):
    if mesh is None:
        return map_stage2(gen, z0s, layer, Vs, cfg, keys, chunk, kept_sizes)
    run = per_device(lambda g, z, v, k: map_stage2(g, z, layer, v, cfg, k, chunk, kept_sizes), mesh, 3)
    return run(gen, z0s, Vs, keys)


# A mesh has no stable repr to key the program store with: these stay in-process.
STAGE1_BATCH = Program("egbas_batch.stage1", _stage1_batch, ("layer", "cfg", "chunk", "mesh"), storable=False)
STAGE2_BATCH = Program("egbas_batch.stage2", _stage2_batch, ("layer", "cfg", "chunk", "kept_sizes", "mesh"),
                       storable=False)


def default_chunk(value, name: str) -> Optional[int]:
    """Resolve a ``rrt_chunk`` / ``ber_chunk`` argument.

    ``-1`` (the default) means 1 on a CPU and ``None`` (vmapped) elsewhere.  On a
    CPU a vmapped ``while_loop`` runs every query as long as the slowest (GB-RRT
    iteration counts vary by 25x between queries), and BerOpt vmapped over many
    queries outgrows the caches; one query at a time is also what makes batch rows
    bit-identical to single calls.  On accelerators the batch keeps the device busy.
    """
    if value == -1:
        return 1 if jax.default_backend() == "cpu" else None
    if value is not None:
        positive_int(value, name)
    return value


class PreparedBatch(NamedTuple):
    """A batch after BerOpt, waiting for GB-RRT (the host synchronisation between
    the two stages sizes the kept-unit buffers over the whole batch)."""

    gen: object
    z0s: jax.Array          # (B', Dz), padded to the mesh
    rrt_keys: jax.Array     # (B',)
    mesh: Optional[Mesh]
    rrt_chunk: Optional[int]
    size: int               # B, the caller's batch size
    stage1: Stage1


def prepare(gen, z0s, layer: int, cfg: EGBASConfig, keys, mesh, rrt_chunk, ber_chunk) -> PreparedBatch:
    """Split keys, shard the queries (when there is a mesh or several local
    devices) and run BerOpt for every query."""
    z0s = jnp.asarray(z0s, jnp.float32)
    b = z0s.shape[0]
    if jnp.shape(keys)[0] != b:
        raise ValueError(f"need one key per query: {b} queries, {jnp.shape(keys)[0]} keys")
    pair = jax.vmap(jax.random.split)(keys)
    k_ber, k_rrt = pair[:, 0], pair[:, 1]
    if mesh is None and jax.local_device_count() > 1:
        mesh = query_mesh()
    if mesh is not None:
        gen, (z0s, k_ber, k_rrt) = shard_queries(check_mesh(mesh), gen, (z0s, k_ber, k_rrt), b)
    rrt_chunk, ber_chunk = default_chunk(rrt_chunk, "rrt_chunk"), default_chunk(ber_chunk, "ber_chunk")
    s1 = STAGE1_BATCH(gen, z0s, k_ber, layer=layer, cfg=cfg, chunk=ber_chunk, mesh=mesh)
    return PreparedBatch(gen, z0s, k_rrt, mesh, rrt_chunk, b, s1)


def finish(layer: int, cfg: EGBASConfig, p: PreparedBatch, kept_sizes: Optional[tuple]) -> EGBASResult:
    """GB-RRT for a prepared batch; padding rows are dropped."""
    tree = STAGE2_BATCH(p.gen, p.z0s, p.stage1.indicator, p.rrt_keys, layer=layer, cfg=cfg, chunk=p.rrt_chunk,
                        kept_sizes=kept_sizes, mesh=p.mesh)
    res = assemble(p.z0s, p.stage1, tree)
    if p.z0s.shape[0] != p.size:
        res = jax.tree_util.tree_map(lambda x: x[:p.size], res)
    return res


def egbas_batch_keys(gen, z0s, layer: int, cfg: EGBASConfig, keys, *, mesh: Optional[Mesh] = None,
                     rrt_chunk: Optional[int] = -1, ber_chunk: Optional[int] = -1) -> EGBASResult:
    """:func:`egbas_batch` with one explicit key per query (``keys`` ``(B,)``), so that
    a share of a larger batch (one host's, in a multi-host run) reproduces the rows
    of the whole batch exactly: row ``i`` equals ``egbas(gen, z0s[i], ..., key=keys[i])``."""
    layer, cfg = check_inputs(gen, z0s, layer, cfg, batched=True)
    p = prepare(gen, z0s, layer, cfg, keys, mesh, rrt_chunk, ber_chunk)
    return finish(layer, cfg, p, kept.plan(gen, layer, p.stage1.indicator, cfg.region_path))   # one host sync


#: Device values per decoder unit and mask that BerOpt holds at its peak: the saved
#: forward values, their gradients and the convolutions' workspace.  Fitted on an
#: H200 (docs/performance.md, "Paper-scale PGGAN on a GPU"): a 256x256 PGGAN at
#: layer 4 peaked at 2.2-6.0 values per unit and query over batches of 1-32 (the
#: workspace that XLA's convolution autotuner picks does not grow linearly with
#: the batch); with 5 the estimate is 1.10x the peak of 32 queries.
BEROPT_VALUES_PER_UNIT = 5


def generator_bytes(gen) -> int:
    """Device bytes of the generator's parameters (held once per device, whatever the batch)."""
    return int(sum(np.size(x) * np.dtype(x.dtype).itemsize for x in jax.tree_util.tree_leaves(gen)))


def memory_per_query(gen, layer: int, cfg: EGBASConfig) -> int:
    r"""Estimated device bytes one query adds to an ``egbas_batch`` call.

    .. math::
        4\,(6 D_l) + S\,c\,b\,\Big(\sum_{k>l} D_k + |x|\Big)
        + 4\,\Big((N + M) D_z + K\,(N + K + D_z + \sum_{k \le l} D_k)\Big)

    BerOpt: per-unit state (logits, Adam moments, theta, best logits: ~6 D_l
    float32) plus, per mask (``S``), the decoder's units from layer l+1 to the image
    at ``c`` = :data:`BEROPT_VALUES_PER_UNIT` values each, ``b`` bytes per value (2
    when ``ber_precision`` resolves to bfloat16, else 4).  GB-RRT: the sample and
    rejected buffers, the proposals' distance rows and the proposals' pass up to
    layer l (the region test never runs the layers above l).  The generator's own
    parameters are not per query (:func:`generator_bytes`).  An estimate for
    planning chunks, not a bound: on a GPU the convolution workspace varies with the
    batch (an H200's peak was 0.44-1.13x of ``generator_bytes + B x`` this over
    1-32 queries, 0.91x at 32).  The bfloat16 halving is assumed, not measured.
    """
    sizes = [gen.layer_size(k) for k in range(1, gen.num_layers + 1)]
    img = int(np.prod(gen.image_shape))
    dz, d = gen.latent_dim, gen.layer_size(layer)
    value_bytes = 2 if precision.resolve(cfg.ber_precision) == "bfloat16" else 4
    ber = 4 * 6 * d + cfg.ber_samples * BEROPT_VALUES_PER_UNIT * value_bytes * (sum(sizes[layer:]) + img)
    rrt = (cfg.capacity + cfg.reject_capacity) * dz + \
        cfg.proposals * (cfg.capacity + cfg.proposals + dz + sum(sizes[:layer]))
    return int(ber + 4 * rrt)


def compiled_batch_bytes(gen, layer: int, cfg: EGBASConfig, queries: int, *,
                         chunk: Optional[int] = -1) -> int:
    """Device bytes of one single-device ``egbas_batch`` call of ``queries`` queries,
    from XLA's buffer assignment of its two compiled programs: arguments + outputs
    + temporaries (minus aliased bytes), the larger of BerOpt's and GB-RRT's (GB-RRT
    at the full layer).  Unlike :func:`memory_per_query` this sees what the compiler
    chose, on a GPU the convolutions' workspace included; it costs two compilations
    (which the persistent compilation cache keeps for the call itself).  ``chunk``:
    as ``egbas_batch``'s ``ber_chunk`` / ``rrt_chunk``."""
    positive_int(queries, "queries")
    layer, cfg = check_inputs(gen, np.zeros((1, gen.latent_dim), np.float32), layer, cfg, batched=True)
    chunk = default_chunk(chunk, "chunk")
    z = jax.ShapeDtypeStruct((queries, gen.latent_dim), jnp.float32)
    keys = jax.ShapeDtypeStruct((queries,), jax.random.key(0).dtype)
    V = jax.ShapeDtypeStruct((queries, gen.layer_size(layer)), jnp.int8)
    progs = (STAGE1_BATCH.lower(gen, z, keys, layer=layer, cfg=cfg, chunk=chunk),
             STAGE2_BATCH.lower(gen, z, V, keys, layer=layer, cfg=cfg, chunk=chunk))

    def total(m):
        held = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
        return max(held, getattr(m, "peak_memory_in_bytes", 0) or 0)

    return int(max(total(p.compile().memory_analysis()) for p in progs))


def egbas_batch(gen, z0s, layer: int, cfg: EGBASConfig, *, key, mesh: Optional[Mesh] = None,
                rrt_chunk: Optional[int] = -1, memory_budget: Optional[int] = None,
                ber_chunk: Optional[int] = -1) -> EGBASResult:
    """:func:`~gbas_jax.egbas` over queries ``z0s`` ``(B, Dz)``; every result field
    gains a leading axis ``B``.  Query ``i`` uses key ``jax.random.split(key, B)[i]``,
    so row ``i`` matches ``egbas(gen, z0s[i], layer, cfg, key=split(key, B)[i])``.

    With several local devices (or an explicit ``mesh`` with an axis ``"queries"``)
    the query axis is sharded over them and the parameters are replicated; a batch
    whose size is not a multiple of the device count is padded with copies of its
    last query, and the padding rows are dropped from the result.  Results stay
    sharded (when ``B`` is a multiple of the device count); nothing is gathered to
    one device in between.

    ``rrt_chunk`` / ``ber_chunk``: GB-RRT's / BerOpt's loops run vmapped over this
    many queries at a time (``None``: all at once; ``-1``: :func:`default_chunk`).

    ``memory_budget``: bytes a call may use (per device when sharded); larger batches
    run as several calls of ``(budget - generator_bytes) // memory_per_query``
    queries (times the device count), the last one padded to the same size, so one
    program serves all chunks.
    """
    layer, cfg = check_inputs(gen, z0s, layer, cfg, batched=True)
    keys = jax.random.split(key, np.shape(z0s)[0])
    if memory_budget is None:
        return egbas_batch_keys(gen, z0s, layer, cfg, keys, mesh=mesh, rrt_chunk=rrt_chunk, ber_chunk=ber_chunk)
    positive_int(memory_budget, "memory_budget (bytes)")
    n_dev = mesh.shape["queries"] if mesh is not None else jax.local_device_count()
    free = memory_budget - generator_bytes(gen)
    chunk = max(1, free // memory_per_query(gen, layer, cfg)) * n_dev
    b = np.shape(z0s)[0]
    if b <= chunk:
        return egbas_batch_keys(gen, z0s, layer, cfg, keys, mesh=mesh, rrt_chunk=rrt_chunk, ber_chunk=ber_chunk)
    z0s = jnp.asarray(z0s, jnp.float32)
    starts = range(0, b, chunk)
    # BerOpt for every chunk first, so that one kept-unit size (the batch maximum)
    # serves every chunk's GB-RRT: one program per stage, not one per chunk.
    prepared = []
    for start in starts:
        idx = np.minimum(np.arange(start, start + chunk), b - 1)     # the last chunk padded
        prepared.append(prepare(gen, z0s[idx], layer, cfg, keys[idx], mesh, rrt_chunk, ber_chunk))
    sizes = kept.plan(gen, layer, np.concatenate([np.asarray(p.stage1.indicator) for p in prepared]),
                      cfg.region_path)
    parts = [jax.tree_util.tree_map(lambda x, n=min(chunk, b - start): x[:n], finish(layer, cfg, p, sizes))
             for start, p in zip(starts, prepared)]
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)
