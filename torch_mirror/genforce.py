"""PyTorch PGGAN generators written after genforce's ``models/pggan_generator.py``
and InterFaceGAN's ``models/pggan_generator_model.py`` (both MIT), with their
state-dict names, for the converters' tests.

genforce: ``layer{m}.weight`` / ``layer{m}.bias`` (the weight scaled by
``gain / sqrt(k^2 C_in)`` in ``forward``, the bias not), ``output{b}.*`` to-RGB
layers, a ``lod`` buffer; the latent is pixel-normalised, then again by the first
block.  InterFaceGAN: ``layer{m}.conv.weight`` (no conv bias) and
``layer{m}.wscale.bias``, the scale applied to the conv's output; ``lod`` a
parameter.  Both: a fused up-sampling layer (``fused_scale``) sums the padded
3x3 weight over its four shifts and runs a stride-2 transposed conv.  Only
``lod = 0`` (the final resolution) is run.  ``self.pre`` holds each layer's
pre-activation after ``forward``.  Channels ``min(fmaps_base // res, fmaps_max)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _pn(x, eps=1e-8):
    return x / torch.sqrt(torch.mean(x ** 2, dim=1, keepdim=True) + eps)


def _shift_sum_oihw(w):
    """genforce: an ``(in, out, 3, 3)`` kernel padded and summed over its four shifts."""
    w = F.pad(w, (1, 1, 1, 1))
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


def _shift_sum_hwio(w):
    """InterFaceGAN: the same for a ``(3, 3, in, out)`` kernel."""
    w = F.pad(w, (0, 0, 0, 0, 1, 1, 1, 1))
    return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]


class _Block(nn.Module):
    def __init__(self, cin, cout, k=3, pad=1, up=False, fused=False, gain=math.sqrt(2.0), act=True,
                 interfacegan=False):
        super().__init__()
        self.pad, self.up, self.fused, self.act, self.ifg = pad, up, up and fused, act, interfacegan
        self.scale = gain / math.sqrt(k * k * cin)
        if interfacegan:
            if self.fused:
                self.weight = nn.Parameter(torch.randn(k, k, cin, cout))
            else:
                self.conv = nn.Conv2d(cin, cout, k, padding=pad, bias=False)
                nn.init.normal_(self.conv.weight)
            self.wscale = nn.Module()
            self.wscale.bias = nn.Parameter(0.1 * torch.randn(cout))
        else:
            self.weight = nn.Parameter(torch.randn(*((cin, cout) if self.fused else (cout, cin)), k, k))
            self.bias = nn.Parameter(0.1 * torch.randn(cout))

    def forward(self, x):
        x = _pn(x)
        if self.up and not self.fused:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.ifg:
            if self.fused:
                kernel = _shift_sum_hwio(self.weight * self.scale).permute(2, 3, 0, 1)
                y = F.conv_transpose2d(x, kernel, stride=2, padding=1) / self.scale
            else:
                y = self.conv(x)
            y = y * self.scale + self.wscale.bias.view(1, -1, 1, 1)
        elif self.fused:
            y = F.conv_transpose2d(x, _shift_sum_oihw(self.weight * self.scale), self.bias, stride=2, padding=1)
        else:
            y = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        self.pre = y
        return F.leaky_relu(y, 0.2) if self.act else y


class _PGGAN(nn.Module):
    interfacegan = False

    def __init__(self, resolution=16, z_dim=16, channels=3, fmaps_base=64, fmaps_max=16, fused_scale=False):
        super().__init__()
        nf = lambda res: min(fmaps_base // res, fmaps_max)
        self.S = int(math.log2(resolution)) - 1
        kw = {"interfacegan": self.interfacegan}
        for b in range(self.S):
            res = 4 * 2 ** b
            if b == 0:
                first = _Block(z_dim, nf(4), k=4, pad=3, **kw)
            else:
                first = _Block(nf(res // 2), nf(res), up=True, fused=fused_scale, **kw)
            self.add_module(f"layer{2 * b}", first)
            self.add_module(f"layer{2 * b + 1}", _Block(nf(res), nf(res), **kw))
            self.add_module(f"output{b}", _Block(nf(res), channels, k=1, pad=0, gain=1.0, act=False, **kw))
        if self.interfacegan:
            self.lod = nn.Parameter(torch.zeros(()))
        else:
            self.register_buffer("lod", torch.zeros(()))

    def forward(self, z):
        if float(self.lod) != 0.0:
            raise ValueError("the mirror runs lod 0 only")
        x = z if self.interfacegan else _pn(z)      # genforce normalises z here and again in layer0
        x = x.view(x.shape[0], x.shape[1], 1, 1)
        self.pre = []
        for m in range(2 * self.S):
            x = getattr(self, f"layer{m}")(x)
            self.pre.append(getattr(self, f"layer{m}").pre)
        return getattr(self, f"output{self.S - 1}")(x)


class GenforcePGGAN(_PGGAN):
    interfacegan = False


class InterfaceganPGGAN(_PGGAN):
    interfacegan = True


__all__ = ["GenforcePGGAN", "InterfaceganPGGAN"]
