r"""Halfspace indicators and region membership (Definitions 2-5 of the paper).

The generative region of an indicator :math:`V \in \{-1, 0, +1\}^{D_l}` is

.. math::  GR_V = \{ z : V^i a_l^i(z) \ge 0 \ \ \forall i \text{ with } V^i \ne 0 \},

with :math:`a_l` the pre-activations of layer ``l`` (``Generator.boundary``).
:func:`in_region` is the single membership test; every faster path must agree
with it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import precision, validation


def sign_indicator(a: jax.Array) -> jax.Array:
    """``sign(a)`` as int8 (zero stays zero)."""
    return jnp.sign(a).astype(jnp.int8)


def halfspace_indicator(gen, z0, layer: int, theta, threshold=0.5) -> jax.Array:
    r""":math:`V^* = \mathbb{1}[\theta^* > p] \cdot \mathrm{sign}(a_l(z_0))`, int8 ``(D_l,)``.

    Args:
      z0: query ``(Dz,)``; theta: keep-probabilities ``(D_l,)``, or ``(C,)`` per
        channel (channel units: a kept channel keeps every unit of it, with its
        sign at ``z0``, inactive units' ``-1`` included); threshold: ``p``.
    """
    layer = validation.check_layer(gen, layer)
    validation.check_latents(gen, z0, batched=False)
    threshold = validation.check_threshold(threshold)
    shape = gen.layer_shape(layer)
    n = getattr(theta, "shape", (None,))[0] if getattr(theta, "ndim", 0) == 1 else None
    if n not in (gen.layer_size(layer), shape[-1]):
        raise ValueError(f"theta must have shape ({gen.layer_size(layer)},) (units) or ({shape[-1]},) (channels) "
                         f"for layer {layer}, got {getattr(theta, 'shape', type(theta).__name__)}")
    return compute_indicator(gen, jnp.asarray(z0, jnp.float32), layer, theta, threshold)


def compute_indicator(gen, z0, layer: int, theta, threshold) -> jax.Array:
    """:func:`halfspace_indicator` without input checks (traceable)."""
    with precision.exact():
        return _indicator(gen, z0, layer, theta, threshold)


def _indicator(gen, z0, layer, theta, threshold):
    a0 = gen.boundary(z0[None], layer)[0]
    keep = theta > threshold
    if keep.shape[0] != a0.shape[0]:
        # channel units: theta (C,) over NHWC units, whose channel is the fastest axis
        keep = jnp.tile(keep, a0.shape[0] // keep.shape[0])
    return jnp.where(keep, sign_indicator(a0), jnp.int8(0))


def slack(a: jax.Array, signs: jax.Array) -> jax.Array:
    r""":math:`\min_{i: s^i \ne 0} s^i a^i` over the last axis (``+inf`` when every
    sign is 0): ``a`` ``(..., D)`` pre-activations, ``signs`` ``(D,)`` in
    ``{-1, 0, +1}`` (any dtype)."""
    return jnp.min(jnp.where(signs != 0, signs.astype(a.dtype) * a, jnp.inf), axis=-1)


def region_margin(gen, z, layer: int, V) -> jax.Array:
    r"""Signed slack :math:`\min_{i: V^i \ne 0} V^i a_l^i(z)`, ``(B,)``; ``+inf``
    when no boundary is kept.  ``z`` is in the region iff the slack is ``>= 0``.
    Float32 at full precision, whatever the backend's default."""
    with precision.exact():
        return slack(gen.boundary(z, layer), V)


def in_region(gen, z, layer: int, V, margin: float = 0.0) -> jax.Array:
    r"""Membership in :math:`GR_V`: ``(B, Dz) -> (B,)`` bool.

    ``margin`` > 0 accepts points up to ``margin`` outside each kept boundary
    (for re-checking points that sit on a boundary by construction).
    """
    layer = validation.check_layer(gen, layer)
    validation.check_latents(gen, z, batched=True, name="z")
    validation.check_indicator(gen, layer, V)
    return _in_region(gen, jnp.asarray(z, jnp.float32), layer, jnp.asarray(V), margin)


def _in_region(gen, z, layer, V, margin=0.0):
    return region_margin(gen, z, layer, V) >= -margin


def nrs_fraction(gen, z, layer: int, z0) -> jax.Array:
    """Fraction of rows of ``z`` (``(B, Dz)``) that satisfy the full NRS condition
    (Definition 4): every unit of ``layer`` has the same sign as at ``z0``."""
    layer = validation.check_layer(gen, layer)
    validation.check_latents(gen, z, batched=True, name="z")
    validation.check_latents(gen, z0, batched=False)
    with precision.exact():
        s = sign_indicator(gen.boundary(jnp.asarray(z, jnp.float32), layer))
        s0 = sign_indicator(gen.boundary(jnp.asarray(z0, jnp.float32)[None], layer))
    return jnp.mean(jnp.all(s == s0, axis=-1).astype(jnp.float32))
