"""Compute precision: BerOpt's decoder passes may trade precision for speed; every
decision about a region (membership, the kept-unit path, GB-RRT) is float32.

``EGBASConfig.ber_precision``:

* ``"float32"``: float32 multiplies at full precision (``Precision.HIGHEST``);
* ``"tf32"``: TensorFloat-32 multiplies on GPUs that have them (``"tensorfloat32"``;
  the same as float32 on a CPU);
* ``"bfloat16"``: the decoder's weights and activations in bfloat16, the loss in float32;
* ``"auto"``: ``float32`` on a CPU, ``tf32`` on accelerators.  Measured on an
  H200 with a 256x256 PGGAN at layers 2 / 4 / 6 and 600 BerOpt steps
  (docs/performance.md, "Paper-scale PGGAN on a GPU"): tf32 made an ``egbas`` call
  4.5-4.7x faster than float32 with J within 1.1 % and the kept set's Jaccard
  index 0.016-0.032 below the float32 noise floor (two float32 runs in different
  batch shapes); bfloat16 was 5.8-6.2x faster but 0.029-0.045 below it, close
  to the 0.05 that the project accepts, so it stays an opt-in.

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
