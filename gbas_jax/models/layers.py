"""Convolution layers (Flax linen) built on :func:`gbas_jax.models.ops.conv2d`.

Parameters are named and shaped as Flax's own ``nn.Conv`` / ``nn.ConvTranspose``
(``kernel`` ``(kh, kw, in, out)``, optional ``bias`` ``(out,)``), so checkpoints
and converters see the usual layout.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn

from .ops import conv2d, conv_transpose, upsample2, upsample_conv


class Conv(nn.Module):
    """Cross-correlation ``(B, H, W, in) -> (B, H', W', out)``, symmetric padding;
    with ``upsample=2``, of the nearest-neighbour x2 upsampled input (stride 1:
    through :func:`gbas_jax.models.ops.upsample_conv`)."""

    features: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    use_bias: bool = True
    kernel_init: Callable = nn.initializers.lecun_normal()
    upsample: int = 1

    @nn.compact
    def __call__(self, x):
        k = self.param("kernel", self.kernel_init,
                       (self.kernel_size, self.kernel_size, x.shape[-1], self.features))
        p = self.padding
        if self.upsample not in (1, 2):
            raise ValueError(f"Conv upsample must be 1 or 2, got {self.upsample}")
        if self.upsample == 2 and self.stride == 1:
            y = upsample_conv(x, k, p)          # a sub-pixel convolution where one exists
        else:
            x = upsample2(x) if self.upsample == 2 else x
            y = conv2d(x, k, (self.stride, self.stride), ((p, p), (p, p)), (1, 1))
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class ConvTranspose(nn.Module):
    """PyTorch ``ConvTranspose2d(kernel_size, stride, padding)`` semantics.

    The kernel is stored for a convolution of the input dilated by ``stride`` and
    padded by ``kernel_size - 1 - padding``, used unflipped; a PyTorch weight
    ``W[in, out, kh, kw]`` is ``kernel = W.transpose(2, 3, 0, 1)[::-1, ::-1]``.
    :func:`gbas_jax.models.ops.conv_transpose` computes it (on a CPU, as a
    sub-pixel convolution).
    """

    features: int
    kernel_size: int = 4
    stride: int = 2
    padding: int = 1
    use_bias: bool = False

    @nn.compact
    def __call__(self, x):
        k = self.param("kernel", nn.initializers.lecun_normal(),
                       (self.kernel_size, self.kernel_size, x.shape[-1], self.features))
        y = conv_transpose(x, k, self.stride, self.padding)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y
