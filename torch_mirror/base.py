r"""What every PyTorch mirror of a gbas-jax generator shares: the block
decomposition on top of ``pre_activation`` / ``activation`` and the conversions
between the JAX unit order (row-major NHWC) and PyTorch's NCHW.

A subclass defines ``latent_dim``, ``num_layers``, ``channels_last``,
``pre_activation(h, l)`` (NCHW in and out; ``(B, Dz)`` in for ``l = 1``),
``activation(a, l)`` and ``layer_shape_nchw(l)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def as_tensor(x) -> torch.Tensor:
    """A float32 CPU tensor holding a copy of ``x`` (numpy or JAX array)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x, np.float32)))


def dense_weight_nchw(kernel, size: int, channels: int) -> np.ndarray:
    """A Flax Dense kernel ``(D_in, size*size*channels)`` whose columns are in NHWC
    order ``(i, j, c)`` as an ``nn.Linear`` weight ``(channels*size*size, D_in)``
    whose rows are in NCHW order ``(c, i, j)``: the Linear output is the NCHW map."""
    kernel = np.asarray(kernel)
    d_in = kernel.shape[0]
    return kernel.reshape(d_in, size, size, channels).transpose(3, 1, 2, 0).reshape(-1, d_in)


def conv_weight(kernel) -> np.ndarray:
    """A Flax ``Conv`` kernel ``(kh, kw, in, out)`` (a correlation, like PyTorch) as a
    ``Conv2d`` weight ``(out, in, kh, kw)``."""
    return np.asarray(kernel).transpose(3, 2, 0, 1)


class MirrorBase(nn.Module):
    """The decomposition of :class:`gbas_jax.Generator` in PyTorch (NCHW inside)."""

    @staticmethod
    def units(h):
        """The maskable units of a layer state (the state itself unless a subclass
        carries more, as :class:`torch_mirror.stylegan2.TorchStyleGAN2Layers`)."""
        return h

    @staticmethod
    def with_units(h, x):
        """The state ``h`` with its units replaced by ``x`` (batch ``S``)."""
        return x

    def features(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Block-``layer`` output: ``(B, Dz) -> (B, C, H, W)`` NCHW (``z`` for ``layer = 0``)."""
        h = self.input_transform(z)
        for k in range(1, layer + 1):
            h = self.activation(self.pre_activation(h, k), k)
        return h

    def input_transform(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def pre_activation_nchw(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Pre-activations of ``layer`` flattened in NCHW order: ``(B, Dz) -> (B, D_l)``."""
        a = self.pre_activation(self.features(z, layer - 1), layer)
        return a.reshape(a.shape[0], -1)

    def boundary(self, z: torch.Tensor, layer: int) -> torch.Tensor:
        """Pre-activations of ``layer`` flattened in the JAX order (row-major NHWC):
        ``(B, Dz) -> (B, D_l)``, comparable with ``Generator.boundary``."""
        a = self.pre_activation(self.features(z, layer - 1), layer)
        return a.permute(0, 2, 3, 1).reshape(a.shape[0], -1)

    def decode_nchw(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """Remaining blocks on NCHW features; image NCHW ``(B, C, H, W)``."""
        if layer == 0:
            h = self.input_transform(h)
        for k in range(layer + 1, self.num_layers + 2):
            h = self.activation(self.pre_activation(h, k), k)
        return h

    def decode(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """Remaining blocks: NCHW features ``(B, C, H, W)`` -> image NHWC ``(B, H, W, C)``."""
        return self.decode_nchw(h, layer).permute(0, 2, 3, 1)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """``G(z)``: ``(B, Dz) -> (B, H, W, C)`` NHWC."""
        return self.decode(z, 0)

    def forward(self, z):
        return self.generate(z)

    def to_nchw_order(self, v, layer: int):
        """A per-unit vector in the JAX (NHWC) order -> the NCHW order, ``(D_l,)``.
        Works for numpy arrays and torch tensors."""
        c, h, w = self.layer_shape_nchw(layer)
        if isinstance(v, torch.Tensor):
            return v.reshape(h, w, c).permute(2, 0, 1).reshape(-1)
        return np.asarray(v).reshape(h, w, c).transpose(2, 0, 1).reshape(-1)

    def to_jax_order(self, v, layer: int):
        """Inverse of :meth:`to_nchw_order`: NCHW-ordered ``(D_l,)`` -> NHWC order."""
        c, h, w = self.layer_shape_nchw(layer)
        if isinstance(v, torch.Tensor):
            return v.reshape(c, h, w).permute(1, 2, 0).reshape(-1)
        return np.asarray(v).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)

    def finish(self, channels_last: bool, dtype=torch.float32):
        """Freeze the weights, cast, and optionally store activations physically NHWC."""
        self.requires_grad_(False)  # the generator is fixed; BerOpt differentiates wrt the mask
        net = self.to(dtype).eval()
        net.channels_last = False
        if channels_last:
            net = net.to(memory_format=torch.channels_last)
            net.channels_last = True
        return net
