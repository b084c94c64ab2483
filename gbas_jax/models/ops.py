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
