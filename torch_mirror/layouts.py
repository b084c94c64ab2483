"""PyTorch modules written after the public architectures the converters read,
for the parity tests (torch is a test-only dependency).

* pytorch_GAN_zoo ``GNet`` / ``DNet`` (progressive_conv_net.py) at alpha = 0, with
  ``ConstrainedLayer`` equalised learning rate (the He constant multiplies the
  layer's output, bias included) and keys ``*.module.weight``.
* GAN-dissection ``proggan.ProgressiveGenerator`` (pixel norm -> conv -> wscale ->
  LReLU; layer1 is a 4x4 conv with padding 3 on the 1x1 latent).
* PyTorch examples DCGAN ``Generator`` / ``Discriminator`` (``main.N``).
* Wasserstein GAN ``DCGAN_G`` / ``DCGAN_D`` (``main.initial:...`` names).

Each generator records every block's pre-activation (the linear output before
the nonlinearity, as gbas-jax defines it) in ``self.pre`` during ``forward``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def pixel_norm(x, eps=1e-8):
    return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + eps)


# -- pytorch_GAN_zoo -----------------------------------------------------------------

class Equalized(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module
        self.module.weight.data.normal_(0, 1)
        self.module.bias.data.normal_(0, 0.1)       # random, so that bias handling is tested
        fan_in = int(np.prod(module.weight.shape[1:]))
        self.weight = math.sqrt(2.0 / fan_in)

    def forward(self, x):
        return self.module(x) * self.weight


def eq_conv(cin, cout, k, padding=0):
    return Equalized(nn.Conv2d(cin, cout, k, padding=padding))


def eq_linear(cin, cout):
    return Equalized(nn.Linear(cin, cout))


class ZooGNet(nn.Module):
    def __init__(self, dim_latent, depths, dim_output=3):
        super().__init__()
        self.formatLayer = eq_linear(dim_latent, 16 * depths[0])
        self.groupScale0 = nn.ModuleList([eq_conv(depths[0], depths[0], 3, 1)])
        self.toRGBLayers = nn.ModuleList([eq_conv(depths[0], dim_output, 1)])
        self.scaleLayers = nn.ModuleList()
        for last, new in zip(depths[:-1], depths[1:]):
            self.scaleLayers.append(nn.ModuleList([eq_conv(last, new, 3, 1), eq_conv(new, new, 3, 1)]))
            self.toRGBLayers.append(eq_conv(new, dim_output, 1))
        self.pre = []

    def forward(self, z):
        self.pre = []
        x = pixel_norm(z)
        a = self.formatLayer(x)
        self.pre.append(a.view(a.shape[0], -1, 4, 4))
        x = pixel_norm(F.leaky_relu(a, 0.2).view(a.shape[0], -1, 4, 4))
        for conv in self.groupScale0:
            a = conv(x)
            self.pre.append(a)
            x = pixel_norm(F.leaky_relu(a, 0.2))
        for group in self.scaleLayers:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            for conv in group:
                a = conv(x)
                self.pre.append(a)
                x = pixel_norm(F.leaky_relu(a, 0.2))
        return self.toRGBLayers[-1](x)


def minibatch_stddev(x, group=4):
    b, c, h, w = x.shape
    g = min(b, group)
    if b % g:
        g = b
    if g == 1:
        return torch.cat([x, torch.zeros(b, 1, h, w)], dim=1)
    y = x.view(-1, g, c, h, w)
    y = torch.sqrt(torch.var(y, 1) + 1e-8).view(b // g, -1).mean(1).view(b // g, 1)
    y = y.expand(b // g, h * w).view(b // g, 1, 1, h, w).expand(b // g, g, -1, -1, -1).contiguous().view(-1, 1, h, w)
    return torch.cat([x, y], dim=1)


class ZooDNet(nn.Module):
    def __init__(self, depths, dim_input=3, minibatch=True, decision=1):
        super().__init__()
        d0 = depths[0]
        self.fromRGBLayers = nn.ModuleList([eq_conv(dim_input, d0, 1)])
        self.groupScaleZero = nn.ModuleList([eq_conv(d0 + int(minibatch), d0, 3, 1), eq_linear(16 * d0, d0)])
        self.decisionLayer = eq_linear(d0, decision)
        self.scaleLayers = nn.ModuleList()
        for last, new in zip(depths[:-1], depths[1:]):
            self.scaleLayers.append(nn.ModuleList([eq_conv(new, new, 3, 1), eq_conv(new, last, 3, 1)]))
            self.fromRGBLayers.append(eq_conv(dim_input, new, 1))
        self.minibatch = minibatch

    def features(self, x):
        x = F.leaky_relu(self.fromRGBLayers[-1](x), 0.2)
        out = [x]
        for group in reversed(self.scaleLayers):
            for conv in group:
                x = F.leaky_relu(conv(x), 0.2)
            x = F.avg_pool2d(x, 2)
            out.append(x)
        return out

    def forward(self, x):
        x = self.features(x)[-1]
        if self.minibatch:
            x = minibatch_stddev(x)
        x = F.leaky_relu(self.groupScaleZero[0](x), 0.2)
        x = x.view(x.shape[0], -1)
        x = F.leaky_relu(self.groupScaleZero[1](x), 0.2)
        return self.decisionLayer(x)


# -- GAN dissection proggan ------------------------------------------------------------

class WScale(nn.Module):
    def __init__(self, size, fan_in, gain):
        super().__init__()
        self.scale = gain / np.sqrt(fan_in)
        self.b = nn.Parameter(0.1 * torch.randn(size))

    def forward(self, x):
        return x * self.scale + self.b.view(1, -1, 1, 1)


class NormConv(nn.Module):
    def __init__(self, cin, cout, k, padding, up=False, output=False):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, 1, padding, bias=False)
        nn.init.normal_(self.conv.weight)
        self.wscale = WScale(cout, cin, 1.0 if output else np.sqrt(2) / k)
        self.up, self.output = up, output

    def forward(self, x):
        x = pixel_norm(x)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.wscale(self.conv(x))          # pre-activation


class DissectGenerator(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        blocks = [("layer1", NormConv(sizes[0], sizes[1], 4, 3)), ("layer2", NormConv(sizes[1], sizes[1], 3, 1))]
        for si, so in zip(sizes[1:-1], sizes[2:]):
            blocks.append((f"layer{len(blocks) + 1}", NormConv(si, so, 3, 1, up=True)))
            blocks.append((f"layer{len(blocks) + 1}", NormConv(so, so, 3, 1)))
        dim = 4 * 2 ** (len(blocks) // 2 - 1)
        blocks.append((f"output_{dim}x{dim}", NormConv(sizes[-1], 3, 1, 0, output=True)))
        for name, m in blocks:
            self.add_module(name, m)
        self.names = [n for n, _ in blocks]
        self.pre = []

    def forward(self, z):
        self.pre = []
        x = z.view(z.shape[0], z.shape[1], 1, 1)
        for name in self.names[:-1]:
            a = getattr(self, name)(x)
            self.pre.append(a)
            x = F.leaky_relu(a, 0.2)
        return getattr(self, self.names[-1])(x)


# -- DCGANs ----------------------------------------------------------------------------

def _randomise_bn(module):
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.data.uniform_(0.8, 1.2)
            m.bias.data.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return module.eval()


class _Recording(nn.Module):
    """Runs ``main`` recording the input of each ReLU/LeakyReLU/Tanh (the pre-activations)."""

    def forward(self, x):
        self.pre = []
        for m in self.main:
            if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
                self.pre.append(x.clone())   # the ReLUs work in place
            x = m(x)
        return x


class ExamplesG(_Recording):
    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
        _randomise_bn(self)

    def forward(self, z):
        return super().forward(z.view(z.shape[0], z.shape[1], 1, 1))


def he_init(module):
    """He-normal weights (fan-in per output pixel), so a random
    DCGAN's activations are O(1) against its BatchNorm statistics and its images
    vary with z the way a trained model's do (PyTorch's default init makes them
    nearly constant, leaving BerOpt nothing to keep)."""
    for m in module.modules():
        if isinstance(m, nn.ConvTranspose2d):
            fan = m.in_channels * (m.kernel_size[0] // m.stride[0]) ** 2
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
        elif isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.in_channels * m.kernel_size[0] * m.kernel_size[1])))
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / m.in_features))
    return module


class ConditionalExamplesG(_Recording):
    """The conditional variant of the examples DCGAN many tutorials train: a one-hot
    label concatenated after ``z``, dropout after the first block (identity in
    eval mode, but it shifts the ``main.N`` indices)."""

    def __init__(self, nz=100, n_classes=10, ngf=64, nc=3, p_drop=0.3):
        super().__init__()
        self.n_classes = n_classes
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz + n_classes, ngf * 8, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 8), nn.ReLU(True),
            nn.Dropout(p_drop),
            nn.ConvTranspose2d(ngf * 8, ngf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())
        _randomise_bn(self)

    def forward(self, z, labels):
        c = F.one_hot(labels, self.n_classes).to(z.dtype)
        x = torch.cat([z, c], dim=1)
        return super().forward(x.view(x.shape[0], x.shape[1], 1, 1))


class UpsampleG(nn.Module):
    """The DCGAN of the PyTorch-GAN collection (``implementations/dcgan``): a Linear
    first block (``l1``), then ``conv_blocks``: BatchNorm, x2 nearest up-sampling +
    3x3 conv blocks with biases and BatchNorm ``eps = 0.8`` (its second positional
    argument), LeakyReLU 0.2, a final conv and tanh.  Records the pre-activations."""

    def __init__(self, latent_dim=8, init_size=4, widths=(16, 8), channels=1, dropout=False):
        super().__init__()
        self.init_size, self.c0 = init_size, widths[0]
        self.l1 = nn.Sequential(nn.Linear(latent_dim, widths[0] * init_size ** 2))
        blocks = [nn.BatchNorm2d(widths[0])]
        cin = widths[0]
        for w in widths:
            blocks += [nn.Upsample(scale_factor=2), nn.Conv2d(cin, w, 3, stride=1, padding=1),
                       nn.BatchNorm2d(w, 0.8), nn.LeakyReLU(0.2, inplace=True)]
            if dropout:
                blocks.append(nn.Dropout2d(0.25))
            cin = w
        blocks += [nn.Conv2d(cin, channels, 3, stride=1, padding=1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*blocks)
        _randomise_bn(self)

    def forward(self, z):
        x = self.l1(z).view(z.shape[0], self.c0, self.init_size, self.init_size)
        self.pre = []
        for m in self.conv_blocks:
            if isinstance(m, nn.LeakyReLU):
                self.pre.append(x.clone())
            x = m(x)
        return x

    def layer_list(self) -> dict:
        """Its ``convert --layers`` list."""
        ops = [{"op": "linear", "prefix": "l1."},
               {"op": "reshape", "shape": [self.c0, self.init_size, self.init_size]},
               {"op": "batchnorm", "prefix": "conv_blocks."}]
        for m in list(self.conv_blocks)[1:]:
            if isinstance(m, nn.Upsample):
                ops.append({"op": "upsample", "scale": 2})
            elif isinstance(m, nn.Conv2d):
                ops.append({"op": "conv", "kernel": 3, "padding": 1})
            elif isinstance(m, nn.BatchNorm2d):
                ops.append({"op": "batchnorm", "eps": m.eps})
            elif isinstance(m, nn.LeakyReLU):
                ops.append({"op": "leakyrelu", "slope": m.negative_slope})
            elif isinstance(m, nn.Dropout2d):
                ops.append({"op": "dropout"})
            elif isinstance(m, nn.Tanh):
                ops.append({"op": "tanh"})
        return {"layers": ops}


class _Critic(nn.Module):
    """Per-block features of a ``main`` stack: the output of each LeakyReLU."""

    def features(self, x):
        out = []
        for m in self.main:
            x = m(x)
            if isinstance(m, nn.LeakyReLU):
                out.append(x)
        return out


class ExamplesD(_Critic):
    def __init__(self, ndf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=False),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), nn.LeakyReLU(0.2),
            nn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False), nn.Sigmoid())
        _randomise_bn(self)


class WganG(_Recording):
    def __init__(self, isize, nz, nc, ngf, n_extra_layers=0):
        super().__init__()
        cngf, tisize = ngf // 2, 4
        while tisize != isize:
            cngf, tisize = cngf * 2, tisize * 2
        main = nn.Sequential()
        main.add_module(f"initial:{nz}-{cngf}:convt", nn.ConvTranspose2d(nz, cngf, 4, 1, 0, bias=False))
        main.add_module(f"initial:{cngf}:batchnorm", nn.BatchNorm2d(cngf))
        main.add_module(f"initial:{cngf}:relu", nn.ReLU(True))
        csize = 4
        while csize < isize // 2:
            main.add_module(f"pyramid:{cngf}-{cngf // 2}:convt", nn.ConvTranspose2d(cngf, cngf // 2, 4, 2, 1, bias=False))
            main.add_module(f"pyramid:{cngf // 2}:batchnorm", nn.BatchNorm2d(cngf // 2))
            main.add_module(f"pyramid:{cngf // 2}:relu", nn.ReLU(True))
            cngf, csize = cngf // 2, csize * 2
        for t in range(n_extra_layers):
            main.add_module(f"extra-layers-{t}:{cngf}:conv", nn.Conv2d(cngf, cngf, 3, 1, 1, bias=False))
            main.add_module(f"extra-layers-{t}:{cngf}:batchnorm", nn.BatchNorm2d(cngf))
            main.add_module(f"extra-layers-{t}:{cngf}:relu", nn.ReLU(True))
        main.add_module(f"final:{cngf}-{nc}:convt", nn.ConvTranspose2d(cngf, nc, 4, 2, 1, bias=False))
        main.add_module(f"final:{nc}:tanh", nn.Tanh())
        self.main = main
        _randomise_bn(self)

    def forward(self, z):
        return super().forward(z.view(z.shape[0], z.shape[1], 1, 1))


class WganD(_Critic):
    def __init__(self, isize, nc, ndf, n_extra_layers=0):
        super().__init__()
        main = nn.Sequential()
        main.add_module(f"initial:{nc}-{ndf}:conv", nn.Conv2d(nc, ndf, 4, 2, 1, bias=False))
        main.add_module(f"initial:{ndf}:relu", nn.LeakyReLU(0.2))
        csize, cndf = isize / 2, ndf
        for t in range(n_extra_layers):
            main.add_module(f"extra-layers-{t}:{cndf}:conv", nn.Conv2d(cndf, cndf, 3, 1, 1, bias=False))
            main.add_module(f"extra-layers-{t}:{cndf}:batchnorm", nn.BatchNorm2d(cndf))
            main.add_module(f"extra-layers-{t}:{cndf}:relu", nn.LeakyReLU(0.2))
        while csize > 4:
            main.add_module(f"pyramid:{cndf}-{cndf * 2}:conv", nn.Conv2d(cndf, cndf * 2, 4, 2, 1, bias=False))
            main.add_module(f"pyramid:{cndf * 2}:batchnorm", nn.BatchNorm2d(cndf * 2))
            main.add_module(f"pyramid:{cndf * 2}:relu", nn.LeakyReLU(0.2))
            cndf, csize = cndf * 2, csize / 2
        main.add_module(f"final:{cndf}-1:conv", nn.Conv2d(cndf, 1, 4, 1, 0, bias=False))
        self.main = main
        _randomise_bn(self)
