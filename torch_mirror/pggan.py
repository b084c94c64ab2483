r"""A PyTorch copy of a gbas-jax PGGAN generator (both layouts), for the PyTorch
reference benchmarks.

:class:`TorchPGGAN` is built from a gbas-jax PGGAN :class:`~gbas_jax.Generator`
(``gb.models.pggan(...)``, a converted checkpoint or ``gb.load_pretrained
("pggan-mnist")``) by copying its weights, and computes the same layers as
``gbas_jax/models/pggan.py`` with PyTorch's own kernels in NCHW, the way a PyTorch
PGGAN is written:

=======================  ==========================================================
input                    pixel norm of ``z`` (zoo with normalisation; dissect)
layer 1                  ``nn.Linear(Dz, 16 w_0)``, output viewed as ``(B, w_0, 4, 4)``
layer 2                  ``Conv2d(w_0, w_0, 3, padding=1)``
layer 2k+1               ``F.interpolate(scale_factor=2, mode="nearest")``, ``Conv2d(3, padding=1)``
layer 2k+2               ``Conv2d(3, padding=1)``
output (not probe-able)  ``Conv2d(w, channels, 1)`` (a hardtanh when ``output_clamp``)
=======================  ==========================================================

Activation LReLU(0.2), then the pixel norm (zoo); in the dissect layout the pixel
norm opens the next layer instead.  Equalised learning rate: layer ``l``'s
pre-activation is :math:`c_l (W h + b)` (zoo) or :math:`c_l W h + b` (dissect)
with the constant :math:`c_l` of the JAX module.  ``fold=True`` multiplies the
constant into the stored weight (and the zoo bias) once, as a careful PyTorch
user would for inference: fewer passes over memory, the same function up to
float rounding.  ``fold=False`` applies it at run time, as the training code does.

Weight mapping: the Dense kernel ``(Dz, 16 w_0)`` has its columns in NHWC order
``(i, j, c)``; the Linear weight ``(16 w_0, Dz)`` gets its rows in NCHW order
``(c, i, j)`` (the bias likewise), so the Linear output is already NCHW.  A Flax
``Conv`` kernel ``(kh, kw, in, out)`` becomes the ``Conv2d`` weight ``(out, in, kh,
kw)`` by a transpose.  Interfaces and layouts as :mod:`torch_mirror.dcgan`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import MirrorBase, as_tensor, conv_weight, dense_weight_nchw

PIXEL_NORM_EPS = 1e-8


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    """``x / sqrt(mean over channels (dim 1) of x**2 + 1e-8)``."""
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + PIXEL_NORM_EPS)


class TorchPGGAN(MirrorBase):
    """PyTorch mirror of a gbas-jax PGGAN generator (NCHW inside).

    Attributes:
      latent_dim, widths, channels, layout, num_layers: as the Flax module.
      linears: ``num_layers + 1`` modules (a Linear, then Conv2d).
      scales: the per-layer equalised-learning-rate constants still to apply
        (all 1 when folded).
    """

    def __init__(self, latent_dim: int, widths, channels: int, layout: str = "zoo",
                 normalization: bool = True, leak: float = 0.2, output_clamp: bool = False,
                 fold: bool = False):
        super().__init__()
        self.latent_dim, self.channels = int(latent_dim), int(channels)
        self.widths = tuple(int(w) for w in widths)
        self.num_layers = 2 * len(self.widths)
        self.layout, self.leak, self.fold = layout, float(leak), bool(fold)
        self.normalize = bool(normalization) or layout == "dissect"
        self.output_clamp = bool(output_clamp)
        self.channels_last = False
        w = self.widths
        # unfolded dissect adds its bias after the scale: keep it out of the linear map
        bias = self.fold or layout == "zoo"
        linears = [nn.Linear(self.latent_dim, 16 * w[0], bias=bias)]
        self.upsample = [False, False]
        for layer in range(2, self.num_layers + 2):
            if layer > self.num_layers:
                cin, cout, k, up = w[-1], self.channels, 1, False
            elif layer == 2:
                cin, cout, k, up = w[0], w[0], 3, False
            else:
                s = (layer - 1) // 2
                cin, cout, k, up = (w[s - 1], w[s], 3, True) if layer % 2 else (w[s], w[s], 3, False)
            linears.append(nn.Conv2d(cin, cout, k, 1, k // 2, bias=bias))
            self.upsample.append(up)
        self.linears = nn.ModuleList(linears)
        self.scales = [1.0] * (self.num_layers + 2)
        self.eval()

    @classmethod
    def from_jax(cls, gen, fold: bool = False, channels_last: bool = False,
                 dtype=torch.float32) -> TorchPGGAN:
        """Copy the weights of a gbas-jax PGGAN ``Generator``.

        ``fold``: multiply the equalised-learning-rate constants into the weights.
        ``channels_last``: store activations physically NHWC (oneDNN's faster
        layout on CPU; :meth:`boundary` is then a free view).
        """
        m = gen.model.module
        net = cls(m.latent_dim, m.widths, m.channels, m.layout, m.normalization, m.leak,
                  m.output_clamp, fold=fold)
        P = gen.params["params"]
        w0 = net.widths[0]
        with torch.no_grad():
            for layer in range(1, net.num_layers + 2):
                c = float(m.weight_scale(layer))
                kern = np.asarray(P[f"linears_{layer - 1}"]["kernel"], np.float64)
                b = np.asarray(P[f"bias_{layer - 1}"], np.float64)
                if layer == 1:
                    wt = dense_weight_nchw(kern, 4, w0)
                    b = b.reshape(4, 4, w0).transpose(2, 0, 1).reshape(-1)
                else:
                    wt = conv_weight(kern)
                lin = net.linears[layer - 1]
                if fold:
                    wt = c * wt
                    b = c * b if net.layout == "zoo" else b
                else:
                    net.scales[layer] = c
                lin.weight.copy_(as_tensor(wt))
                if lin.bias is not None:
                    lin.bias.copy_(as_tensor(b))
                else:   # a buffer: moves and casts with the module
                    shape = (1, -1, 4, 4) if layer == 1 else (1, -1, 1, 1)
                    net.register_buffer(f"late_bias_{layer}", as_tensor(b).view(shape))
        return net.finish(channels_last, dtype)

    # -- the decomposition (mirrors gbas_jax.Generator) ------------------------
    def input_transform(self, z: torch.Tensor) -> torch.Tensor:
        return pixel_norm(z) if self.normalize else z

    def pre_activation(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """``h_{l-1}`` (NCHW, or ``(B, Dz)`` for ``l = 1``) -> ``a_l`` NCHW."""
        if self.layout == "dissect" and layer > 1:
            h = pixel_norm(h)
        if self.upsample[layer]:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        x = self.linears[layer - 1](h)
        if layer == 1:
            x = x.view(x.shape[0], self.widths[0], 4, 4)
        if self.scales[layer] != 1.0:
            x = x * self.scales[layer]
        late = getattr(self, f"late_bias_{layer}", None)   # unfolded dissect: bias after the scale
        if late is not None:
            x = x + late
        return x

    def activation(self, a: torch.Tensor, layer: int) -> torch.Tensor:
        if layer > self.num_layers:
            return torch.clamp(a, -1.0, 1.0) if self.output_clamp else a
        h = F.leaky_relu(a, self.leak)
        return pixel_norm(h) if (self.layout == "zoo" and self.normalize) else h

    # -- layouts ---------------------------------------------------------------
    def layer_shape_nchw(self, layer: int):
        """``(C, H, W)`` of block ``layer``'s output (``(Dz,)`` for ``layer = 0``)."""
        if layer == 0:
            return (self.latent_dim,)
        s = (layer - 1) // 2
        return (self.widths[s], 4 * 2 ** s, 4 * 2 ** s)
