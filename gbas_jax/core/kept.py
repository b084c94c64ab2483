r"""Region membership from the kept boundaries only (the fast path of
``docs/design.md``, "Region membership").

Membership depends only on the units with :math:`V^i \ne 0`.  Their
pre-activations are an affine function of the previous block's output
:math:`h = f_{l-1:1}(t(z))`:

.. math::  a^i = s_{c(i)} \, \langle w_i, \pi(h)_{\mathrm{RF}(i)} \rangle + b_{c(i)}

with :math:`\pi` an optional per-position prelude (the dissect PGGAN's pixel norm),
:math:`\mathrm{RF}(i)` the unit's receptive field (``T`` taps of ``C_in``
channels: im2col at the kept positions only), :math:`w_i` the matching kernel
slice and :math:`(s, b)` the per-channel affine map that eval-mode BatchNorm or
the equalised-learning-rate constant and bias fold into.  A dense layer (the
DCGAN/PGGAN layer 1 on the latent) is one row of its weight matrix per kept unit:
at layer 1 the region is an explicit polytope in :math:`t(z)`.

A candidate then costs :math:`f_{l-1:1}` plus ``n_kept * T * C_in`` multiply-adds
instead of the whole layer ``l``.  The gathered product is memory-bound while the
full convolution is compute-bound, so the fast path pays only when few units are
kept: :func:`choose_path` takes it at a dense layer, and at a conv layer when the
full layer needs more than :data:`KEPT_MIN_MAC_RATIO` times the multiply-adds
(the crossover was measured offline; ``docs/performance.md``).

A model opts in by implementing ``LayeredModel.linear_map(params, layer)``
returning a :class:`~gbas_jax.core.model.LinearMap`; without it the full layer is
used.  The fast path must agree with :func:`gbas_jax.region_margin`: the two differ only by float
rounding (tests check :data:`MARGIN_RTOL` relative to the pre-activations' scale).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .model import ConvGeometry, Generator, abstract_params, shape_signature
from .region import region_margin, slack

#: Documented agreement with the full computation: ``|margin_kept - margin_full|
#: <= MARGIN_RTOL * max|a_l|`` (float32 sums in a different order; with
#: ``jax_default_matmul_precision="highest"`` on accelerators, whose TF32 default
#: makes either path differ from float32 by ~1e-3 relative).
MARGIN_RTOL = 1e-5

#: ``choose_path`` takes the kept path at a conv layer when the full layer's
#: multiply-adds exceed the kept units' by more than this factor.
KEPT_MIN_MAC_RATIO = 32

PATHS = ("auto", "kept", "full")


class KeptRegion(NamedTuple):
    """The kept units of one region, padded to ``n`` (a power of two).

    taps ``(n, T)`` int32 flat input positions (``H*W`` = a zero row) or ``None``
    for a dense layer; weights ``(n, T, C_in)`` or ``(n, D_in)``; scale, shift,
    sign ``(n,)`` (sign 0 on padding rows).
    """
    taps: Optional[jax.Array]
    weights: jax.Array
    scale: jax.Array
    shift: jax.Array
    sign: jax.Array


@functools.lru_cache(maxsize=64)
def tap_table(geom: ConvGeometry) -> Tuple[np.ndarray, np.ndarray]:
    """``(positions (P, T), taps (P, T, R))`` for the ``P = H_out*W_out`` output
    positions: each position's distinct non-zero source positions (flat input
    index; padded with ``H_in*W_in``, a zero row) and, per source, the kernel taps
    ``i*k + j`` that read it (``-1`` padding).  Nearest-neighbour upsampling makes
    several taps read one source: their kernel slices are summed, so a 3x3 conv
    after x2 upsampling costs 4 taps, not 9."""
    k, q, d, u = geom.kernel, geom.padding, geom.dilation, geom.upsample
    (hi, wi), (ho, wo) = geom.in_hw, geom.out_hw

    def source(o, i, n_in):
        y = o + i - q                       # in the dilated, padded, upsampled input
        if y % d:
            return -1
        y //= d
        return y // u if 0 <= y < n_in * u else -1

    rows = []
    for yo in range(ho):
        for xo in range(wo):
            row: dict = {}
            for i in range(k):
                ys = source(yo, i, hi)
                for j in range(k):
                    xs = source(xo, j, wi)
                    if ys >= 0 and xs >= 0:
                        row.setdefault(ys * wi + xs, []).append(i * k + j)
            rows.append(row)
    t = max(1, max(len(r) for r in rows))
    r_max = max([1] + [len(v) for row in rows for v in row.values()])
    pos = np.full((ho * wo, t), hi * wi, np.int32)
    tap = np.full((ho * wo, t, r_max), -1, np.int32)
    for p, row in enumerate(rows):
        for m, (src, kk) in enumerate(sorted(row.items())):
            pos[p, m] = src
            tap[p, m, :len(kk)] = kk
    return pos, tap


def map_info(gen, layer: int) -> Optional[Tuple[str, Optional[ConvGeometry]]]:
    """``None`` (the model has no linear map for ``layer``), ``("dense", None)`` or
    ``("conv", ConvGeometry)``, by an abstract trace cached per architecture and
    parameter shapes (it runs on every call)."""
    return _map_info_cached(gen.model, shape_signature(gen.params), layer)


@functools.lru_cache(maxsize=256)
def _map_info_cached(model, signature, layer):
    out = []

    def probe(p):
        m = Generator(model, p).linear_map(layer)
        out.append(None if m is None else ("dense" if m.geometry is None else "conv", m.geometry))
        return 0

    jax.eval_shape(probe, abstract_params(signature))
    return out[0]


def build(gen, layer: int, V, n: int) -> KeptRegion:
    """Gather the kept units of ``V`` (``(D_l,)`` int8) into a :class:`KeptRegion`
    with ``n >= count(V != 0)`` rows (traceable; ``n`` static)."""
    lm = gen.linear_map(layer)
    idx = jnp.nonzero(V != 0, size=n, fill_value=0)[0]
    sign = jnp.where(jnp.arange(n) < jnp.sum(V != 0), V[idx], 0).astype(jnp.float32)
    if lm.geometry is None:
        return KeptRegion(None, lm.kernel[:, idx].T, lm.scale[idx], lm.shift[idx], sign)
    cout = lm.kernel.shape[-1]
    pos_t, tap_t = tap_table(lm.geometry)
    p, c = idx // cout, idx % cout
    k2 = lm.geometry.kernel ** 2
    kern = jnp.transpose(lm.kernel.reshape(k2, lm.kernel.shape[2], cout), (2, 0, 1))   # (C_out, k*k, C_in)
    taps = jnp.asarray(pos_t)[p]                                                        # (n, T)
    tk = jnp.asarray(tap_t)[p]                                                          # (n, T, R)
    w = kern[c[:, None, None], jnp.maximum(tk, 0)]                                      # (n, T, R, C_in)
    weights = jnp.sum(jnp.where((tk >= 0)[..., None], w, 0.0), axis=2)                 # (n, T, C_in)
    return KeptRegion(taps, weights, lm.scale[c], lm.shift[c], sign)


def kept_pre_activations(gen, z, layer: int, region: KeptRegion) -> jax.Array:
    """Pre-activations of the kept units, ``(B, Dz) -> (B, n)``."""
    h = gen.features(z, layer - 1)
    prelude = gen.linear_map(layer).prelude     # static; the unused arrays are dropped by XLA
    if prelude is not None:
        h = prelude(h)
    b = h.shape[0]
    if region.taps is None:
        return region.scale * (h.reshape(b, -1) @ region.weights.T) + region.shift
    cin = h.shape[-1]
    flat = jnp.concatenate([h.reshape(b, -1, cin), jnp.zeros((b, 1, cin), h.dtype)], axis=1)
    acc = 0.0
    for t in range(region.taps.shape[1]):      # T <= k*k, small and static
        acc = acc + jnp.einsum("bnc,nc->bn", flat[:, region.taps[:, t]], region.weights[:, t])
    return region.scale * acc + region.shift


def kept_margin(gen, z, layer: int, region: KeptRegion) -> jax.Array:
    """Same as :func:`gbas_jax.region_margin` from the kept units only, ``(B,)``."""
    return slack(kept_pre_activations(gen, z, layer, region), region.sign)


def margin(gen, z, layer: int, region) -> jax.Array:
    """Dispatch on the region's type (static): a :class:`KeptRegion` or an indicator."""
    if isinstance(region, KeptRegion):
        return kept_margin(gen, z, layer, region)
    return region_margin(gen, z, layer, region)


def padded_size(num_kept: int) -> int:
    """Next power of two >= ``num_kept`` (at least 8)."""
    n = 8
    while n < num_kept:
        n *= 2
    return n


def choose_path(gen, layer: int, num_kept: int, path: str = "auto") -> Optional[int]:
    """``n_pad`` for the kept path, or ``None`` for the full layer.

    ``path``: ``"full"``, ``"kept"`` (when the model supports it) or ``"auto"``:
    kept when the layer is dense (layer 1 on the latent) or when
    ``D_l * T_full > KEPT_MIN_MAC_RATIO * n_pad * T_kept`` (``T``: non-zero kernel taps
    per output unit, counted on the tap table).
    """
    if path not in PATHS:
        raise ValueError(f"region path must be one of {PATHS}, got {path!r}")
    info = None if path == "full" or num_kept == 0 else map_info(gen, layer)
    if info is None:
        return None
    kind, geometry = info
    n = padded_size(num_kept)
    if path == "kept" or kind == "dense":
        return n
    pos, taps = tap_table(geometry)
    t_kept, t_full = pos.shape[1], float((taps >= 0).sum()) / pos.shape[0]
    return n if gen.layer_size(layer) * t_full > KEPT_MIN_MAC_RATIO * n * t_kept else None
