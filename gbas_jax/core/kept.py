r"""Region membership from the kept boundaries only (the fast path of
``docs/design.md``, "Region membership").

Membership depends only on the units with :math:`V^i \ne 0`.  Their
pre-activations are an affine function of the previous block's output
:math:`h = f_{l-1:1}(t(z))`:

.. math::  a^i = s_{c(i)} \, \langle w_{c(i)}, \pi(h)_{\mathrm{RF}(p(i))} \rangle + b_{c(i)}

with :math:`\pi` an optional per-position prelude (the dissect PGGAN's pixel norm),
:math:`p(i), c(i)` the unit's output position and channel,
:math:`\mathrm{RF}(p)` the position's receptive field (``T`` taps of ``C_in``
channels), :math:`w_c` the channel's kernel and :math:`(s, b)` the per-channel
affine map that eval-mode BatchNorm or the equalised-learning-rate constant and
bias fold into.

* A dense layer (layer 1 on the latent) keeps one weight row per kept unit: the
  region is an explicit polytope in :math:`t(z)` (:class:`KeptRegion`).
* A conv layer is grouped by output position (:class:`PatchRegion`): the ``P``
  positions that hold a kept unit gather their patch once (``T * C_in`` values),
  and one small matrix product per position gives its kept channels (at most
  ``C`` of them, zero-padded).  A candidate costs :math:`f_{l-1:1}` plus
  ``P * T * C_in * C`` multiply-adds instead of the whole layer ``l``.

:func:`plan` sizes the buffers from the indicator after one host synchronisation
(powers of two, so each size compiles once) and chooses the path: dense layers
always take it; a conv layer takes it where a cost model fitted offline says it
is cheaper than the full layer as the compiled program computes it
(:func:`min_mac_ratio`; ``docs/performance.md``).

A model opts in by implementing ``LayeredModel.linear_map(params, layer)``
returning a :class:`~gbas_jax.core.model.LinearMap`; without it the full layer is
used.  The fast path must agree with :func:`gbas_jax.region_margin`: the two
differ only by float rounding (tests check :data:`MARGIN_RTOL` relative to the
pre-activations' scale).
"""

from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from . import precision
from .model import ConvGeometry, Generator, abstract_params, shape_signature
from .region import region_margin, slack

#: Documented agreement with the full computation: ``|margin_kept - margin_full|
#: <= MARGIN_RTOL * max|a_l|`` (float32 sums in a different order; with
#: ``jax_default_matmul_precision="highest"`` on accelerators, whose TF32 default
#: makes either path differ from float32 by ~1e-3 relative).
MARGIN_RTOL = 1e-5

#: The CPU cost model of :func:`plan`: the kept path costs ``KEPT_MAC_COST_CPU`` per
#: multiply-add, ``KEPT_GATHER_COST_CPU`` per gathered input value (``P * T *
#: C_in`` a candidate; a gather is memory-bound) and ``KEPT_POSITION_COST_CPU``
#: times the full layer's work per position ``P`` (each position is its own small
#: matrix product, which at ``C`` of 8-16 channels runs far below the full layer's
#: rate), all in units of one multiply-add of the full layer as the compiled
#: program computes it.  Fitted offline as the least-regret triple over 55 measured
#: points (``python -m benchmarks kept-crossover``, ``docs/performance.md``); the
#: position term was added on Dec 5 2026, after the two-term model sent the 64x64
#: DCGAN's layer 3 (``P = 256``, ``C = 16``) the kept way at 0.74x the full layer.
KEPT_MAC_COST_CPU = 1.2
KEPT_GATHER_COST_CPU = 80.0
KEPT_POSITION_COST_CPU = 0.02

#: Other backends: the kept path when the full layer's multiply-adds (all ``k^2``
#: taps) exceed the grouped path's by more than this: a conservative ratio, since
#: an accelerator runs the full layer's dense convolution far more efficiently
#: than the kept path's gathers (not measured on a GPU; docs/performance.md).
KEPT_MIN_MAC_RATIO = 16


def min_mac_ratio(platform: str, n_chan: int, n_pos: int = 0) -> float:
    """The MAC ratio above which :func:`plan` takes the kept path on ``platform``
    for ``n_chan`` kept channels at each of ``n_pos`` positions: on a CPU
    ``KEPT_MAC_COST_CPU + KEPT_GATHER_COST_CPU / n_chan + KEPT_POSITION_COST_CPU *
    n_pos`` (the cost model above, divided by the kept path's multiply-adds),
    elsewhere :data:`KEPT_MIN_MAC_RATIO`."""
    if platform == "cpu":
        return KEPT_MAC_COST_CPU + KEPT_GATHER_COST_CPU / n_chan + KEPT_POSITION_COST_CPU * n_pos
    return float(KEPT_MIN_MAC_RATIO)


PATHS = ("auto", "kept", "full")


class KeptRegion(NamedTuple):
    """The kept units of a dense layer, padded to ``n`` rows (a power of two):
    weights ``(n, D_in)``, scale, shift, sign ``(n,)`` (sign 0 on padding rows)."""
    weights: jax.Array
    scale: jax.Array
    shift: jax.Array
    sign: jax.Array


class PatchRegion(NamedTuple):
    """The kept units of a conv layer, grouped by output position, padded to ``P``
    positions and ``C`` channels per position (powers of two): taps ``(P, T)``
    int32 flat input positions (``H*W`` = a zero row); weights ``(P, T*C_in, C)``;
    scale, shift, sign ``(P, C)`` (sign 0 on padding)."""
    taps: jax.Array
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


def build(gen, layer: int, V, sizes: Tuple):
    """Gather the kept units of ``V`` (``(D_l,)`` int8) into a :class:`KeptRegion`
    (``sizes = ("dense", n)``) or a :class:`PatchRegion` (``("conv", P, C)``);
    traceable, ``sizes`` static (from :func:`plan`)."""
    lm = gen.linear_map(layer)
    if sizes[0] == "dense":
        n = sizes[1]
        idx = jnp.nonzero(V != 0, size=n, fill_value=0)[0]
        sign = jnp.where(jnp.arange(n) < jnp.sum(V != 0), V[idx], 0).astype(jnp.float32)
        return KeptRegion(lm.kernel[:, idx].T, lm.scale[idx], lm.shift[idx], sign)
    _, n_pos, n_chan = sizes
    cin, cout = lm.kernel.shape[2], lm.kernel.shape[3]
    pos_t, tap_t = tap_table(lm.geometry)
    by_pos = V.reshape(-1, cout)                                                     # (H_out*W_out, C_out)
    used = jnp.any(by_pos != 0, axis=1)
    pidx = jnp.nonzero(used, size=n_pos, fill_value=0)[0]
    here = by_pos[pidx] * (jnp.arange(n_pos) < jnp.sum(used))[:, None].astype(V.dtype)  # (P, C_out)
    chan = jnp.argsort(here == 0, axis=1, stable=True)[:, :n_chan]                  # kept channels first
    sign = jnp.take_along_axis(here, chan, axis=1).astype(jnp.float32)               # (P, C)
    tk = jnp.asarray(tap_t)[pidx]                                                    # (P, T, R)
    kern = lm.kernel.reshape(-1, cin, cout)                                          # (k*k, C_in, C_out)
    w = jnp.sum(jnp.where((tk >= 0)[..., None, None], kern[jnp.maximum(tk, 0)], 0.0), axis=2)  # (P, T, C_in, C_out)
    w = jnp.take_along_axis(w, chan[:, None, None, :], axis=3)                       # (P, T, C_in, C)
    return PatchRegion(jnp.asarray(pos_t)[pidx], w.reshape(n_pos, -1, n_chan), lm.scale[chan], lm.shift[chan], sign)


def kept_pre_activations(gen, z, layer: int, region) -> jax.Array:
    """Pre-activations of the kept units, ``(B, Dz) -> (B, n)`` or ``(B, P, C)``
    (float32, full precision)."""
    with precision.exact():
        return _kept_pre_activations(gen, z, layer, region)


def _kept_pre_activations(gen, z, layer, region):
    h = gen.features(z, layer - 1)
    prelude = gen.linear_map(layer).prelude     # static; the unused arrays are dropped by XLA
    if prelude is not None:
        h = prelude(h)
    b = h.shape[0]
    if isinstance(region, KeptRegion):
        return region.scale * (h.reshape(b, -1) @ region.weights.T) + region.shift
    cin = h.shape[-1]
    flat = jnp.concatenate([h.reshape(b, -1, cin), jnp.zeros((b, 1, cin), h.dtype)], axis=1)
    patches = flat[:, region.taps].reshape(b, region.taps.shape[0], -1)             # (B, P, T*C_in)
    return region.scale * jnp.einsum("bpk,pkc->bpc", patches, region.weights) + region.shift


def kept_margin(gen, z, layer: int, region) -> jax.Array:
    """Same as :func:`gbas_jax.region_margin` from the kept units only, ``(B,)``."""
    a = kept_pre_activations(gen, z, layer, region)
    return slack(a.reshape(a.shape[0], -1), region.sign.reshape(-1))


def margin(gen, z, layer: int, region) -> jax.Array:
    """Dispatch on the region's type (static): a kept region or an indicator."""
    if isinstance(region, (KeptRegion, PatchRegion)):
        return kept_margin(gen, z, layer, region)
    return region_margin(gen, z, layer, region)


def padded_size(count: int, minimum: int = 8) -> int:
    """Next power of two >= ``count`` (at least ``minimum``)."""
    n = minimum
    while n < count:
        n *= 2
    return n


def plan(gen, layer: int, V, path: str = "auto", platform: Optional[str] = None) -> Optional[Tuple]:
    """The kept path's static sizes for indicator(s) ``V`` (host or device, ``(D_l,)``
    or ``(B, D_l)``: sized for the largest row), or ``None`` for the full layer.

    ``("dense", n)`` at a dense layer (always, for ``"auto"`` and ``"kept"``);
    ``("conv", P, C)`` at a conv layer when ``path == "kept"``, or for ``"auto"``
    when :func:`mac_ratio` (the full layer's multiply-adds as ``platform``'s program
    computes them over the grouped path's ``P * T * C_in * C``) exceeds
    :func:`min_mac_ratio` (``platform``: default JAX's default backend).  This reads
    ``V`` on the host: the one synchronisation between BerOpt and GB-RRT.
    """
    if path not in PATHS:
        raise ValueError(f"region path must be one of {PATHS}, got {path!r}")
    V = np.asarray(V)
    V = V.reshape(-1, V.shape[-1]) != 0
    info = None if path == "full" or not V.any() else map_info(gen, layer)
    if info is None:
        return None
    kind, geometry = info
    if kind == "dense":
        return ("dense", padded_size(int(V.sum(axis=1).max())))
    cout = gen.layer_shape(layer)[-1]
    per_pos = V.reshape(V.shape[0], -1, cout).sum(axis=2)                  # (B, positions)
    n_pos = padded_size(int((per_pos > 0).sum(axis=1).max()))
    n_chan = padded_size(int(per_pos.max()), minimum=1)
    if path == "kept":
        return ("conv", n_pos, n_chan)
    platform = jax.default_backend() if platform is None else platform
    return ("conv", n_pos, n_chan) if mac_ratio(gen, layer, geometry, n_pos, n_chan, platform) > \
        min_mac_ratio(platform, n_chan, n_pos) else None


def mac_ratio(gen, layer: int, geometry: ConvGeometry, n_pos: int, n_chan: int, platform: str) -> float:
    """Multiply-adds of the full conv layer as ``platform``'s program computes them
    (``D_l * computed_taps * C_in``) over the grouped kept path's (``P * T * C * C_in``)."""
    pos, _ = tap_table(geometry)
    return gen.layer_size(layer) * geometry.computed_taps(platform) / (n_pos * pos.shape[1] * n_chan)
