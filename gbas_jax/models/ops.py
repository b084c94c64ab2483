r"""2-D convolution (NHWC, HWIO) with a hand-written input gradient.

Why: JAX differentiates a convolution with respect to its input by emitting a
convolution whose kernel is reversed and has its in/out dimensions swapped
*through the dimension numbers*.  Inside a ``lax.while_loop`` body, XLA:CPU
(jax 0.10) lowers that non-canonical convolution to a slow generic loop (figures
in ``docs/performance.md``).  Here the backward pass uses a physically
transposed, reversed kernel in canonical HWIO layout, which XLA lowers to its
fast kernels everywhere.

The forward map, per spatial axis with kernel size ``K``, window stride ``s_w``,
input (lhs) dilation ``s_l`` and padding ``(lo, hi)``:

.. math::  y[o] = \sum_a \tilde x[o s_w + a - lo] \, k[a], \quad
           \tilde x[i s_l] = x[i]\ (\text{zero elsewhere}),

so :math:`\partial x[i] = \sum_b \partial\tilde y[i + lo - (K-1) + b]\,k[K-1-b]`: a
convolution of the (dilated by ``s_w``) output gradient with the reversed kernel,
window stride ``s_l``, low padding ``K - 1 - lo``.
"""

from __future__ import annotations

import functools
from typing import Tuple

import jax
import jax.numpy as jnp
from jax import lax

from ..core.model import subpixel_applies, upsample_subpixel_applies

_DN = ("NHWC", "HWIO", "NHWC")
Pad = Tuple[Tuple[int, int], Tuple[int, int]]


def _primal(x, k, stride, padding, lhs_dilation):
    return lax.conv_general_dilated(x, k, window_strides=stride, padding=padding,
                                    lhs_dilation=lhs_dilation, dimension_numbers=_DN)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def conv2d(x, k, stride: Tuple[int, int], padding: Pad, lhs_dilation: Tuple[int, int]):
    """``lax.conv_general_dilated`` in NHWC/HWIO with a loop-friendly input gradient.

    ``stride`` and ``lhs_dilation`` may not both exceed 1 on the same axis.
    """
    return _primal(x, k, stride, padding, lhs_dilation)


def _fwd(x, k, stride, padding, lhs_dilation):
    return _primal(x, k, stride, padding, lhs_dilation), (x, k)


def _bwd(stride, padding, lhs_dilation, res, dy):
    x, k = res
    kt = jnp.transpose(k[::-1, ::-1], (0, 1, 3, 2))  # reversed, in/out swapped: canonical HWIO
    pads, window, dil = [], [], []
    for ax in range(2):
        n, size, lo = x.shape[1 + ax], k.shape[ax], padding[ax][0]
        s_w, s_l, length = stride[ax], lhs_dilation[ax], dy.shape[1 + ax]
        if s_w > 1 and s_l > 1:
            raise NotImplementedError("stride and lhs_dilation > 1 on the same axis")
        length_dil = (length - 1) * s_w + 1
        low = size - 1 - lo
        high = (n - 1) * s_l + size - length_dil - low
        pads.append((low, high))
        window.append(s_l)
        dil.append(s_w)
    dx = lax.conv_general_dilated(dy, kt, window_strides=tuple(window), padding=tuple(pads),
                                  lhs_dilation=tuple(dil), dimension_numbers=_DN)
    # The kernel gradient is only needed for training; it is dead code (and removed
    # by XLA) when differentiating with respect to the input alone.
    _, vjp_k = jax.vjp(lambda kk: _primal(x, kk, stride, padding, lhs_dilation), k)
    return dx, vjp_k(dy)[0]


conv2d.defvjp(_fwd, _bwd)


def _dilated_transpose(x, k, stride: int, padding: int):
    q = k.shape[0] - 1 - padding
    return conv2d(x, k, (1, 1), ((q, q), (q, q)), (stride, stride))


def _phases(size: int, stride: int, padding: int):
    """Per output phase ``r``: first tap ``a0[r]`` and input offset ``d[r]`` of
    ``y[s m + r] = sum_t x[m + d[r] + t] k[a0[r] + s t]``, ``t < size / s``."""
    q = size - 1 - padding
    a0 = [(q - r) % stride for r in range(stride)]
    d = [(r + a0[r] - q) // stride for r in range(stride)]
    return a0, d


def _subpixel(x, phase_kernels, d, s: int):
    """Output phases ``(ry, rx)`` of an ``s``-times larger map: phase kernel
    ``phase_kernels[ry][rx]`` ``(T, T, C_in, C_out)`` over ``x[m + d[r] + t]``,
    one stride-1 convolution per phase, padded so that it computes exactly the
    phase's ``H x W`` outputs, then interleaved: ``(B, H, W, C_in) -> (B, sH, sW, C_out)``.

    Why one convolution per phase: all phases as a single convolution with
    ``s^2 C_out`` outputs share one window grid, ``(H + 1) x (W + 1)`` for the 4x4 / 2
    kernels, so ``(H + 1)^2 / H^2`` of the work (1.13-1.56x at H = 16-4) was cropped
    away.  Per phase, on this project's CPU (batch 32, ``docs/performance.md``):
    4x4x512 -> 256 22.0 -> 13.5 ms, 8x8x256 -> 128 16.4 -> 13.6 ms, 7x7x64 -> 32
    1.22 -> 0.92 ms.
    """
    # Phase r reads x[m + d[r] + t], t < T: padding (-d[r], d[r] + T - 1), never
    # negative for the geometries that take this form (-(T - 1) <= d[r] <= 0).
    taps = phase_kernels[0][0].shape[0]
    b, n_h, n_w, _ = x.shape
    rows = []
    for ry in range(s):
        cols = [conv2d(x, phase_kernels[ry][rx], (1, 1), ((-d[ry], d[ry] + taps - 1), (-d[rx], d[rx] + taps - 1)),
                       (1, 1)) for rx in range(s)]
        rows.append(jnp.stack(cols, axis=3))             # (B, H, W, s_x, C)
    return jnp.stack(rows, axis=2).reshape(b, n_h * s, n_w * s, cols[0].shape[-1])


def _subpixel_transpose(x, k, stride: int, padding: int):
    s = stride
    a0, d = _phases(k.shape[0], s, padding)
    return _subpixel(x, [[k[a0[ry]::s, a0[rx]::s] for rx in range(s)] for ry in range(s)], d, s)


def conv_transpose(x, k, stride: int, padding: int):
    r"""PyTorch's ``ConvTranspose2d(kernel, stride, padding)`` on NHWC ``x`` with the
    kernel ``k`` ``(K, K, C_in, C_out)`` stored for the dilated correlation (see
    :class:`gbas_jax.models.layers.ConvTranspose`).

    On a CPU, when ``K`` is a multiple of the stride and the output is exactly
    ``stride`` times the input, as a *sub-pixel* convolution: output phase
    :math:`r` of each axis reads :math:`K/s` input taps,

    .. math::  y[s m + r] = \sum_{t < K/s} x[m + d_r + t]\, k[a_r + s t],

    so each of the :math:`s^2` phases is a stride-1 ``(K/s) x (K/s)`` convolution
    over exactly the input's extent, then the phases are interleaved.  XLA:CPU
    computes the dilated form with the zeros of the dilated input inside its
    patches (``s^2`` times the multiply-adds) and on one core; this form was
    1.25-1.95x faster for the DCGAN shapes at 32 images (``docs/performance.md``).  Other devices keep the dilated
    form, which their libraries treat as a transposed convolution.  Same values
    up to float32 rounding.
    """
    if not subpixel_applies(k.shape[0], stride, padding):
        return _dilated_transpose(x, k, stride, padding)
    return lax.platform_dependent(
        x, k, cpu=lambda x, k: _subpixel_transpose(x, k, stride, padding),
        default=lambda x, k: _dilated_transpose(x, k, stride, padding))


def upsample2(x):
    """Nearest-neighbour x2 upsampling of NHWC maps."""
    return jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)


def _upsample_conv_direct(x, k, padding: int = 1):
    p = padding
    return conv2d(upsample2(x), k, (1, 1), ((p, p), (p, p)), (1, 1))


def _upsample_conv_subpixel(x, k):
    # per axis: phase 0 reads x[m-1] with k0 and x[m] with k1 + k2; phase 1 reads
    # x[m] with k0 + k1 and x[m+1] with k2
    groups = (((0,), (1, 2)), ((0, 1), (2,)))

    def tap(ry, ty, rx, tx):
        return sum(k[a, b] for a in groups[ry][ty] for b in groups[rx][tx])

    kernels = [[jnp.stack([jnp.stack([tap(ry, ty, rx, tx) for tx in range(2)]) for ty in range(2)])
                for rx in range(2)] for ry in range(2)]
    return _subpixel(x, kernels, [-1, 0], 2)


def upsample_conv(x, k, padding: int = 1):
    r"""A stride-1 convolution (symmetric ``padding``) of the nearest-neighbour x2
    upsampled ``x``: ``(B, H, W, C_in) -> (B, 2H + 2p - K + 1, ..., C_out)``, ``k``
    ``(K, K, C_in, C_out)``.

    For a 3x3 kernel with padding 1, on a CPU, a sub-pixel convolution: each
    output phase sees only two distinct
    input rows and columns, so the 9 taps fold into 4 (per axis, phase 0:
    :math:`x[m-1] k_0 + x[m] (k_1 + k_2)`, phase 1: :math:`x[m] (k_0 + k_1) +
    x[m+1] k_2`); no upsampled map is built and the multiply-adds fall 2.25x.
    Other devices upsample and convolve.  Same values up to float32 rounding.
    """
    if k.shape[0] != k.shape[1] or not upsample_subpixel_applies(k.shape[0], padding):
        return _upsample_conv_direct(x, k, padding)
    return lax.platform_dependent(x, k, cpu=_upsample_conv_subpixel, default=_upsample_conv_direct)
