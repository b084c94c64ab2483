"""Compute precision: BerOpt's decoder passes may trade precision for speed; every
decision about a region (membership, the kept-unit path, GB-RRT) is float32.

``EGBASConfig.ber_precision``:

* ``"float32"``: float32 multiplies at full precision (``Precision.HIGHEST``);
* ``"tf32"``: TensorFloat-32 multiplies on GPUs that have them (``Precision.HIGH``;
  the same as float32 on a CPU);
* ``"bfloat16"``: the decoder's weights and activations in bfloat16, the loss in float32;
* ``"auto"``: ``float32`` on a CPU, ``tf32`` on accelerators.  (Provisional: the
  choice for accelerators waits for the GPU measurement, docs/performance.md.)

On GPUs XLA uses TF32 for float32 convolutions unless told otherwise, so the
region code states ``HIGHEST`` explicitly instead of inheriting the default.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import jax
import jax.numpy as jnp

PRECISIONS = ("auto", "float32", "tf32", "bfloat16")
_MATMUL = {"float32": "highest", "tf32": "tensorfloat32", "bfloat16": "highest"}


def resolve(name: str) -> str:
    """``"float32"``, ``"tf32"`` or ``"bfloat16"`` for a ``ber_precision`` setting."""
    if name not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {name!r}")
    if name == "auto":
        return "float32" if jax.default_backend() == "cpu" else "tf32"
    return name


@contextlib.contextmanager
def exact() -> Iterator[None]:
    """Trace float32 multiplies at full precision (for everything that decides
    membership)."""
    with jax.default_matmul_precision("highest"):
        yield


@contextlib.contextmanager
def matmuls(name: str) -> Iterator[None]:
    """Trace the multiplies of BerOpt's decoder passes at ``name``'s precision."""
    with jax.default_matmul_precision(_MATMUL[resolve(name)]):
        yield


def cast(tree, name: str):
    """Floating leaves of ``tree`` in the storage dtype of ``name`` (bfloat16 or as they are)."""
    if resolve(name) != "bfloat16":
        return tree
    return jax.tree_util.tree_map(
        lambda x: x.astype(jnp.bfloat16) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating) else x, tree)
