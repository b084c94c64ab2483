"""Queries sharded over devices: a 1-D mesh named ``"queries"``."""

from __future__ import annotations

from typing import Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "queries"


def query_mesh(devices=None) -> Mesh:
    """A 1-D mesh named ``"queries"`` over ``devices`` (default: all local devices)."""
    devices = list(jax.local_devices() if devices is None else devices)
    return Mesh(np.array(devices), (AXIS,))


def check_mesh(mesh: Mesh) -> Mesh:
    if AXIS not in mesh.shape:
        raise ValueError(f"mesh must have an axis named {AXIS!r}; it has {tuple(mesh.shape)}")
    return mesh


def shard_queries(mesh: Mesh, gen, arrays: Sequence[jax.Array], b: int) -> Tuple[object, list]:
    """Pad the query axis to a multiple of the mesh size by repeating the last row,
    then place it sharded over ``"queries"``; the generator is replicated."""
    n = mesh.shape[AXIS]
    padded = -(-b // n) * n
    rows = NamedSharding(mesh, PartitionSpec(AXIS))
    out = []
    for x in arrays:
        if padded != b:
            x = jnp.concatenate([x, jnp.repeat(x[-1:], padded - b, axis=0)])
        out.append(jax.device_put(x, rows))
    return jax.device_put(gen, NamedSharding(mesh, PartitionSpec())), out


def per_device(fn, mesh: Mesh, num_row_args: int):
    """``fn(gen, *rows)`` run by each device on its own rows (``shard_map``): a
    device stops when its queries are done instead of running as long as the
    slowest query of the whole batch, as one SPMD ``while_loop`` would."""
    rows = PartitionSpec(AXIS)
    return jax.shard_map(fn, mesh=mesh, in_specs=(PartitionSpec(),) + (rows,) * num_row_args,
                         out_specs=rows, check_vma=False)
