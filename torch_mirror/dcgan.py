r"""A PyTorch copy of a gbas-jax DCGAN generator, for the PyTorch reference benchmarks.

:class:`TorchDCGAN` is built from a gbas-jax DCGAN :class:`~gbas_jax.Generator`
(``gb.models.dcgan(...)`` or ``gb.load_pretrained("dcgan-mnist")``) by copying its
weights, and computes the same blocks with PyTorch's own kernels in NCHW:

=======================  ==========================================================
block 1 (probe-able)     ``nn.Linear(Dz, b*b*w_1, bias=False)``, output viewed as
                         ``(B, w_1, b, b)``; a transposed conv of a ``b x b`` kernel
                         on a ``1 x 1`` input is exactly this dense layer, and the
                         Flax model stores it as a Dense, so a Linear is used.
                         Then ``BatchNorm2d`` (eval), ReLU.
blocks 2 .. u            ``ConvTranspose2d(k=4, s=2, p=1, bias=False)``,
                         ``BatchNorm2d`` (eval), ReLU.
blocks u+1 .. num_layers ``Conv2d(k=3, s=1, p=1, bias=False)``, ``BatchNorm2d``
                         (eval), ReLU (the "extra" layers).
output (not probe-able)  ``ConvTranspose2d(k=4, s=2, p=1, bias=False)``, tanh.
=======================  ==========================================================

Weight mapping (the Flax layout is described in ``gbas_jax/models/dcgan.py``):

* Dense kernel ``(Dz, b*b*w)`` whose columns are in NHWC order ``(i, j, c)``
  becomes a Linear weight ``(w*b*b, Dz)`` whose rows are in NCHW order ``(c, i, j)``,
  so the Linear output is already the NCHW tensor.
* A Flax ``ConvTranspose`` kernel ``(kh, kw, in, out)`` is used *unflipped* as a
  correlation over the stride-dilated input padded by ``k - 1 - p``; PyTorch's
  ``ConvTranspose2d`` weight is ``(in, out, kh, kw)`` = ``kernel[::-1, ::-1]``
  transposed ``(2, 3, 0, 1)``.
* A Flax ``Conv`` kernel ``(kh, kw, in, out)`` (a correlation, like PyTorch)
  becomes the ``Conv2d`` weight ``(out, in, kh, kw)`` by a transpose.
* BatchNorm: ``scale``/``bias`` -> ``weight``/``bias``, ``batch_stats`` ``mean``/
  ``var`` -> ``running_mean``/``running_var``, ``eps = 1e-5``, eval mode.

With ``channels_last=True`` the activations are stored physically NHWC
(``torch.channels_last``), which oneDNN runs faster on CPU.

With ``fold_bn=True`` the eval-mode BatchNorm is folded into the preceding linear
map (weight scaled per output channel, a bias added): fewer passes over memory, the
same function up to float rounding (the pre-activations differ by ~1 ulp, which
can flip a membership decision only for points on a boundary).

Layouts (the JAX interface is NHWC; this module is NCHW inside):

* ``features(z, l)`` returns the block-``l`` output in **NCHW** ``(B, C, H, W)``
  (``(B, Dz)`` for ``l = 0``); ``decode(h, l)`` takes that NCHW tensor.
* ``boundary(z, l)`` returns the pre-activations flattened in the **JAX order**
  (row-major NHWC), ``(B, D_l)``, so it compares directly with
  ``Generator.boundary``; ``pre_activation_nchw(z, l)`` is the same tensor
  flattened in NCHW order (no permute; what the fast paths use, together with
  :meth:`TorchDCGAN.to_nchw_order` for indicators).
* ``generate(z)`` and ``decode(h, l)`` return images in **NHWC** ``(B, H, W, C)``
  (a permuted view of the NCHW result) so they compare with the JAX images.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .base import MirrorBase, as_tensor as _t, conv_weight, dense_weight_nchw


def _geometry(image_size: int):
    # Same rule as gbas_jax.models.dcgan: base 7 for 28x28, else 4; u upsamplings.
    base = 7 if image_size == 28 else 4
    return base, round(math.log2(image_size // base))


class TorchDCGAN(MirrorBase):
    """PyTorch mirror of a gbas-jax DCGAN generator (NCHW inside).

    Attributes:
      latent_dim, image_size, channels, widths, num_layers: as the Flax module.
      linears: ``num_layers + 1`` modules (Linear, then ConvTranspose2d / Conv2d).
      norms: ``num_layers`` ``BatchNorm2d`` in eval mode (identity when folded).
    """

    def __init__(self, latent_dim: int, image_size: int, channels: int, widths, fold_bn: bool = False):
        super().__init__()
        self.latent_dim, self.image_size, self.channels = int(latent_dim), int(image_size), int(channels)
        self.widths = tuple(int(w) for w in widths)
        self.num_layers = len(self.widths)
        self.base, self.ups = _geometry(self.image_size)
        self.fold_bn = bool(fold_bn)
        self.channels_last = False  # set by from_jax(channels_last=True)
        b, w = self.base, self.widths
        linears = [nn.Linear(self.latent_dim, b * b * w[0], bias=self.fold_bn)]
        for k in range(1, self.num_layers):
            if k < self.ups:
                linears.append(nn.ConvTranspose2d(w[k - 1], w[k], 4, 2, 1, bias=self.fold_bn))
            else:
                linears.append(nn.Conv2d(w[k - 1], w[k], 3, 1, 1, bias=self.fold_bn))
        linears.append(nn.ConvTranspose2d(w[-1], self.channels, 4, 2, 1, bias=False))
        self.linears = nn.ModuleList(linears)
        self.norms = nn.ModuleList(
            [nn.Identity() if self.fold_bn else nn.BatchNorm2d(c, eps=1e-5) for c in w])
        self.eval()

    # -- construction ---------------------------------------------------------
    @classmethod
    def from_jax(cls, gen, fold_bn: bool = False, channels_last: bool = False,
                 dtype=torch.float32) -> TorchDCGAN:
        """Copy the weights of a gbas-jax DCGAN ``Generator`` (``gen.params`` is the
        Flax variable dict, ``gen.model.module`` the linen module).

        ``fold_bn``: fold the eval-mode BatchNorm into the linear maps.
        ``channels_last``: store conv weights (hence activations) in the
        ``torch.channels_last`` memory format, i.e. physically NHWC: oneDNN's
        convolutions are faster there on CPU, and :meth:`boundary` (JAX order) is
        then a free view.  Shapes and indexing stay NCHW either way.
        """
        m = gen.model.module
        net = cls(m.latent_dim, m.image_size, m.channels, m.widths, fold_bn=fold_bn)
        P, S = gen.params["params"], gen.params["batch_stats"]
        b = net.base
        weights, shifts = [], []
        for k in range(net.num_layers + 1):
            if set(P[f"linears_{k}"]) != {"kernel"}:
                raise NotImplementedError(f"linears_{k} has parameters {sorted(P[f'linears_{k}'])}; "
                                          "the mirror copies bias-free DCGAN generators only")
            kern = np.asarray(P[f"linears_{k}"]["kernel"], np.float32)
            if k == 0:
                # (Dz, b*b*w) NHWC columns -> (w*b*b, Dz) NCHW rows.
                wt = dense_weight_nchw(kern, b, net.widths[0])
            elif k < net.ups or k == net.num_layers:
                assert kern.shape[:2] == (4, 4), kern.shape
                wt = kern[::-1, ::-1].transpose(2, 3, 0, 1)           # (in, out, kh, kw)
            else:
                assert kern.shape[:2] == (3, 3), kern.shape
                wt = conv_weight(kern)
            weights.append(np.ascontiguousarray(wt))
            shifts.append(None)
        with torch.no_grad():
            for k in range(net.num_layers):
                scale = np.asarray(P[f"norms_{k}"]["scale"], np.float64)
                bias = np.asarray(P[f"norms_{k}"]["bias"], np.float64)
                mean = np.asarray(S[f"norms_{k}"]["mean"], np.float64)
                var = np.asarray(S[f"norms_{k}"]["var"], np.float64)
                if fold_bn:
                    # BN(x) = g * x + (bias - g * mean), g = scale / sqrt(var + eps): the
                    # per-output-channel gain goes into the weight, the rest is a bias.
                    g = scale / np.sqrt(var + 1e-5)
                    wt = weights[k].astype(np.float64)
                    if k == 0:
                        c = net.widths[0]
                        wt = (wt.reshape(c, -1) * g[:, None]).reshape(wt.shape)
                        shift = np.repeat(bias - g * mean, b * b)
                    elif isinstance(net.linears[k], nn.ConvTranspose2d):
                        wt = wt * g[None, :, None, None]
                        shift = bias - g * mean
                    else:
                        wt = wt * g[:, None, None, None]
                        shift = bias - g * mean
                    weights[k] = wt.astype(np.float32)
                    shifts[k] = shift.astype(np.float32)
                else:
                    bn = net.norms[k]
                    bn.weight.copy_(_t(scale))
                    bn.bias.copy_(_t(bias))
                    bn.running_mean.copy_(_t(mean))
                    bn.running_var.copy_(_t(var))
            for k, lin in enumerate(net.linears):
                lin.weight.copy_(_t(weights[k]))
                if shifts[k] is not None:
                    lin.bias.copy_(_t(shifts[k]))
        return net.finish(channels_last, dtype)

    # -- the decomposition (mirrors gbas_jax.Generator) ------------------------
    def pre_activation(self, h: torch.Tensor, layer: int) -> torch.Tensor:
        """``h_{l-1}`` (NCHW, or ``(B, Dz)`` for ``l = 1``) -> ``a_l`` NCHW."""
        x = self.linears[layer - 1](h)
        if layer == 1:
            x = x.view(x.shape[0], self.widths[0], self.base, self.base)
        if layer <= self.num_layers:
            x = self.norms[layer - 1](x)
        return x

    def activation(self, a: torch.Tensor, layer: int) -> torch.Tensor:
        return torch.tanh(a) if layer > self.num_layers else torch.relu(a)

    # -- layouts ---------------------------------------------------------------
    def layer_shape_nchw(self, layer: int):
        """``(C, H, W)`` of block ``layer``'s output (``(Dz,)`` for ``layer = 0``)."""
        if layer == 0:
            return (self.latent_dim,)
        size = self.base * 2 ** min(layer - 1, self.ups - 1)
        return (self.widths[layer - 1], size, size)
