r"""A PyTorch StyleGAN2 generator for the tests and benchmarks, written for this
project from the StyleGAN2 paper and the checkpoint formats' documented semantics
(stylegan2-ada-pytorch's settings; none of NVIDIA's code is used).

Its module and parameter names are the ``state_dict`` keys of stylegan2-ada-pytorch's
``Generator`` (``mapping.fc0.weight``, ``synthesis.b8.conv0.affine.weight``,
``synthesis.b8.conv0.noise_const``, ...), so the converters read it as they read
NVlabs' own networks, and the pickle / rosinality writers of the tests start from
it.  The computation is written the other way round from gbas-jax's
(:mod:`gbas_jax.models.stylegan2`): per-sample modulated weights in one grouped
convolution, the up-sampling convolution as a transposed convolution followed by
the FIR filter (zero insertion, padding, a true convolution), NCHW.

:meth:`TorchStyleGAN2.pre_activations` returns every synthesis convolution's
pre-activation (modulated convolution + noise x strength + bias, before the
leaky ReLU) in the order gbas-jax numbers its layers.
"""

from __future__ import annotations

import math
from typing import List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import MirrorBase

SQRT2 = math.sqrt(2.0)


def fir_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()


def upfirdn2d(x, f, up: int = 1, pad=(0, 0), gain: float = 1.0):
    """Insert ``up - 1`` zeros after every sample, pad ``pad`` (before, after) on both
    axes, then a true (flipped) convolution with ``f * gain``; NCHW, per channel."""
    n, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(n, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = (f * gain).flip(0, 1)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(x, k.to(x.dtype), groups=c)


def upsample2d(x, f):
    return upfirdn2d(x, f, up=2, pad=(2, 1), gain=4.0)


def lrelu_gain(x, gain: float = SQRT2, clamp: Optional[float] = None):
    x = F.leaky_relu(x, 0.2) * gain
    return x if clamp is None else x.clamp(-clamp, clamp)


class FullyConnected(nn.Module):
    def __init__(self, cin, cout, lr_multiplier=1.0, bias_init=0.0, activation="linear"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.weight_gain = lr_multiplier / math.sqrt(cin)
        self.bias_gain = lr_multiplier
        self.activation = activation

    def forward(self, x):
        y = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return lrelu_gain(y) if self.activation == "lrelu" else y


def norm2(x):
    return x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()


class Mapping(nn.Module):
    def __init__(self, z_dim, c_dim, w_dim, num_ws, num_layers=8, lr_multiplier=0.01):
        super().__init__()
        self.z_dim, self.c_dim, self.num_ws = z_dim, c_dim, num_ws
        feats = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * num_layers
        if c_dim:
            self.embed = FullyConnected(c_dim, w_dim)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnected(feats[i], feats[i + 1], lr_multiplier, activation="lrelu"))
        self.num_layers = num_layers
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def embed_map(self, c):
        """A discriminator's mapping (no latent): the label's embedding through the layers."""
        x = norm2(self.embed(c))
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return x

    def forward(self, z, c=None, psi=1.0, cutoff=None):
        x = norm2(z)
        if self.c_dim:
            x = torch.cat([x, norm2(self.embed(c))], dim=1)
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x[:, None].repeat(1, self.num_ws, 1)
        if psi != 1:
            cut = self.num_ws if cutoff is None else cutoff
            ws[:, :cut] = self.w_avg.lerp(ws[:, :cut], psi)
        return ws


def modulated_conv(x, weight, styles, demodulate=True, up=False, f=None):
    """Per-sample weights ``weight * styles`` (demodulated), one grouped convolution."""
    n, cin, h, w = x.shape
    cout, _, kh, kw = weight.shape
    wmod = weight[None] * styles[:, None, :, None, None]                    # (N, O, I, k, k)
    if demodulate:
        wmod = wmod * (wmod.square().sum(dim=(2, 3, 4)) + 1e-8).rsqrt()[:, :, None, None, None]
    xg = x.reshape(1, n * cin, h, w)
    if up:
        wt = wmod.transpose(1, 2).reshape(n * cin, cout, kh, kw)             # (N*I, O, k, k)
        y = F.conv_transpose2d(xg, wt, stride=2, groups=n)
        y = y.reshape(n, cout, y.shape[2], y.shape[3])
        return upfirdn2d(y, f, pad=(1, 1), gain=4.0)
    y = F.conv2d(xg, wmod.reshape(n * cout, cin, kh, kw), padding=kh // 2, groups=n)
    return y.reshape(n, cout, h, w)


class SynthesisLayer(nn.Module):
    def __init__(self, cin, cout, w_dim, resolution, up=False, use_noise=True, conv_clamp=None):
        super().__init__()
        self.up, self.use_noise, self.conv_clamp = up, use_noise, conv_clamp
        self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 3, 3))
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.register_buffer("resample_filter", fir_filter())
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def pre_activation(self, x, w, noise_mode="const"):
        y = modulated_conv(x, self.weight, self.affine(w), up=self.up, f=self.resample_filter)
        if self.use_noise and noise_mode == "const":
            y = y + self.noise_const * self.noise_strength
        return y + self.bias[None, :, None, None]

    def activate(self, a, gain=1.0):
        return lrelu_gain(a, SQRT2 * gain, None if self.conv_clamp is None else self.conv_clamp * gain)


class ToRGB(nn.Module):
    def __init__(self, cin, cout, w_dim, conv_clamp=None):
        super().__init__()
        self.affine = FullyConnected(w_dim, cin, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.conv_clamp = conv_clamp
        self.weight_gain = 1.0 / math.sqrt(cin)

    def forward(self, x, w):
        y = modulated_conv(x, self.weight, self.affine(w) * self.weight_gain, demodulate=False)
        y = y + self.bias[None, :, None, None]
        return y if self.conv_clamp is None else y.clamp(-self.conv_clamp, self.conv_clamp)


class Skip(nn.Module):
    """``resnet``: 1x1 convolution (no bias) up-sampled by the FIR filter, times sqrt(1/2)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, 1, 1))
        self.register_buffer("resample_filter", fir_filter())
        self.weight_gain = 1.0 / math.sqrt(cin)

    def forward(self, x):
        return upsample2d(F.conv2d(x, self.weight * self.weight_gain), self.resample_filter) * math.sqrt(0.5)


class Block(nn.Module):
    def __init__(self, cin, cout, w_dim, resolution, img_channels, is_last, architecture, use_noise, conv_clamp):
        super().__init__()
        self.resolution, self.architecture, self.is_last = resolution, architecture, is_last
        if cin == 0:
            self.const = nn.Parameter(torch.randn(cout, 4, 4))
        else:
            self.conv0 = SynthesisLayer(cin, cout, w_dim, resolution, up=True, use_noise=use_noise,
                                        conv_clamp=conv_clamp)
        self.conv1 = SynthesisLayer(cout, cout, w_dim, resolution, use_noise=use_noise, conv_clamp=conv_clamp)
        if is_last or architecture == "skip":
            self.torgb = ToRGB(cout, img_channels, w_dim, conv_clamp)
        if cin and architecture == "resnet":
            self.skip = Skip(cin, cout)
        self.register_buffer("resample_filter", fir_filter())


class Synthesis(nn.Module):
    def __init__(self, w_dim, resolution, img_channels, channel_base, channel_max, architecture, use_noise,
                 conv_clamp):
        super().__init__()
        self.resolutions = [2 ** i for i in range(2, int(math.log2(resolution)) + 1)]
        self.num_ws = 2 * len(self.resolutions)
        ch = {r: min(channel_base // r, channel_max) for r in self.resolutions}
        for r in self.resolutions:
            setattr(self, f"b{r}", Block(0 if r == 4 else ch[r // 2], ch[r], w_dim, r, img_channels,
                                         r == resolution, architecture, use_noise, conv_clamp))

    def run(self, ws, noise_mode="const", record: Optional[List] = None):
        x = img = None
        k = 0
        for r in self.resolutions:
            b = getattr(self, f"b{r}")
            if r == 4:
                x = b.const[None].repeat(ws.shape[0], 1, 1, 1)
            else:
                y = b.skip(x) if b.architecture == "resnet" else None
                a = b.conv0.pre_activation(x, ws[:, k], noise_mode)
                if record is not None:
                    record.append(a)
                x = b.conv0.activate(a)
                k += 1
            a = b.conv1.pre_activation(x, ws[:, k], noise_mode)
            if record is not None:
                record.append(a)
            gain = math.sqrt(0.5) if (r > 4 and b.architecture == "resnet") else 1.0
            x = b.conv1.activate(a, gain)
            if r > 4 and b.architecture == "resnet":
                x = y + x
            k += 1
            if img is not None:
                img = upsample2d(img, b.resample_filter)
            if b.is_last or b.architecture == "skip":
                y = b.torgb(x, ws[:, k])
                img = y if img is None else img + y
        return img


class TorchStyleGAN2(nn.Module):
    """``Generator(z_dim, c_dim, w_dim, img_resolution, img_channels)`` with the
    mapping and synthesis settings as keyword arguments; ``init_kwargs`` holds them
    all (the constructor arguments a pickle records)."""

    def __init__(self, z_dim=64, c_dim=0, w_dim=64, img_resolution=32, img_channels=3, mapping_layers=2,
                 channel_base=1024, channel_max=64, architecture="skip", conv_clamp=None, use_noise=True,
                 lr_multiplier=0.01):
        super().__init__()
        self.init_kwargs = dict(z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, img_resolution=img_resolution,
                                img_channels=img_channels,
                                mapping_kwargs=dict(num_layers=mapping_layers, lr_multiplier=lr_multiplier),
                                synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max,
                                                      architecture=architecture, conv_clamp=conv_clamp))
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.synthesis = Synthesis(w_dim, img_resolution, img_channels, channel_base, channel_max, architecture,
                                   use_noise, conv_clamp)
        self.num_ws = self.synthesis.num_ws
        self.mapping = Mapping(z_dim, c_dim, w_dim, self.num_ws, mapping_layers, lr_multiplier)

    def randomise(self, seed: int = 0, noise_strength: float = 0.1):
        """Random values for what a fresh network holds as constants (biases, noise
        strengths, ``w_avg``), so that a parity check sees every parameter."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("noise_strength"):
                    p.fill_(noise_strength)
                elif name.endswith("bias"):
                    p.add_(0.1 * torch.randn(p.shape, generator=g))
            self.mapping.w_avg.copy_(0.1 * torch.randn(self.w_dim, generator=g))
        return self.eval().requires_grad_(False)

    def forward(self, z, c=None, psi=1.0, cutoff=None, noise_mode="const"):
        return self.synthesis.run(self.mapping(z, c, psi, cutoff), noise_mode)

    def pre_activations(self, z, c=None, psi=1.0, cutoff=None, noise_mode="const") -> List[torch.Tensor]:
        record: List[torch.Tensor] = []
        self.synthesis.run(self.mapping(z, c, psi, cutoff), noise_mode, record)
        return record

    def state_dict_numpy(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}


def to_nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(0, 2, 3, 1).cpu().numpy()


# -- the E-GBAS decomposition, for the PyTorch references of the benchmarks ----------------

class TorchStyleGAN2Layers(MirrorBase):
    """:class:`TorchStyleGAN2` split into gbas-jax's layers (one synthesis
    convolution each), with layer states ``(x, img, ws, residual)`` as in
    :class:`gbas_jax.models.stylegan2.StyleState` (NCHW), in the Z or W view (``w =
    mean + std * u``; the statistics are the JAX model's)."""

    def __init__(self, net: TorchStyleGAN2, space: str = "z", w_mean=None, w_std=None):
        super().__init__()
        self.net, self.space = net, space
        self.resolutions = net.synthesis.resolutions
        self.num_layers = 2 * len(self.resolutions) - 1
        self.latent_dim = net.z_dim if space == "z" else net.w_dim
        self.channels_last = False
        self.register_buffer("w_mean", torch.tensor(np.zeros(net.w_dim) if w_mean is None else np.array(w_mean)).float())
        self.register_buffer("w_std", torch.tensor(np.ones(net.w_dim) if w_std is None else np.array(w_std)).float())

    @classmethod
    def from_jax(cls, gen) -> "TorchStyleGAN2Layers":
        """The mirror of a gbas-jax StyleGAN2 (the converters' key mapping reversed)."""
        m = gen.model.module
        p, stats = gen.params["params"], gen.params["stats"]
        net = TorchStyleGAN2(z_dim=m.z_dim, c_dim=m.c_dim, w_dim=m.w_dim, img_resolution=m.resolution,
                             img_channels=m.img_channels, mapping_layers=m.mapping_layers,
                             channel_base=m.channel_base, channel_max=m.channel_max, architecture=m.architecture,
                             conv_clamp=m.conv_clamp, use_noise=m.use_noise, lr_multiplier=m.mapping_lr)
        sd = {}
        for name, leaf in p.items():
            if name.startswith("mapping_"):
                sd[f"mapping.{name[8:]}.weight"] = np.asarray(leaf["weight"]).T
                sd[f"mapping.{name[8:]}.bias"] = np.asarray(leaf["bias"])
            elif name == "b4_const":
                sd["synthesis.b4.const"] = np.asarray(leaf).transpose(2, 0, 1)
            else:
                block, layer = name.split("_", 1)
                pre = f"synthesis.{block}.{layer}."
                if layer == "skip":
                    sd[pre + "weight"] = np.asarray(leaf["weight"]).T[:, :, None, None]
                    continue
                if layer == "torgb":
                    sd[pre + "weight"] = np.asarray(leaf["weight"]).T[:, :, None, None]
                else:
                    sd[pre + "weight"] = np.asarray(leaf["weight"]).transpose(3, 2, 0, 1)
                    for k in ("noise_strength", "noise_const"):
                        if k in leaf:
                            sd[pre + k] = np.asarray(leaf[k])
                sd[pre + "bias"] = np.asarray(leaf["bias"])
                sd[pre + "affine.weight"] = np.asarray(leaf["affine"]["weight"]).T
                sd[pre + "affine.bias"] = np.asarray(leaf["affine"]["bias"])
        sd["mapping.w_avg"] = np.asarray(stats["w_avg"])
        own = net.state_dict()
        for k, v in sd.items():
            own[k] = torch.from_numpy(np.array(v, np.float32)).reshape(own[k].shape)
        net.load_state_dict(own)
        out = cls(net.eval().requires_grad_(False), m.space, np.asarray(stats["w_mean"]), np.asarray(stats["w_std"]))
        return out.eval().requires_grad_(False)

    def _where(self, layer: int):
        if layer == 1:
            return 4, "conv1"
        return 4 * 2 ** (layer // 2), ("conv0" if layer % 2 == 0 else "conv1")

    def input_transform(self, z):
        if self.space == "z":
            ws = self.net.mapping(z)
        else:
            ws = (self.w_mean + self.w_std * z)[:, None].repeat(1, self.net.num_ws, 1)
        x = self.net.synthesis.b4.const[None].repeat(z.shape[0], 1, 1, 1)
        return (x, None, ws, None)

    def _torgb(self, res, x, ws, index, img):
        b = getattr(self.net.synthesis, f"b{res}")
        y = b.torgb(x, ws[:, index])
        return y if img is None else upsample2d(img, b.resample_filter) + y

    def pre_activation(self, h, layer: int):
        x, img, ws, _ = h
        if layer > self.num_layers:
            return self._torgb(self.resolutions[-1], x, ws, self.num_layers, img)
        res, kind = self._where(layer)
        return getattr(getattr(self.net.synthesis, f"b{res}"), kind).pre_activation(x, ws[:, layer - 1])

    def next_state(self, h, a, layer: int):
        if layer > self.num_layers:
            return a
        x, img, ws, residual = h
        res, kind = self._where(layer)
        b = getattr(self.net.synthesis, f"b{res}")
        resnet = b.architecture == "resnet"
        gain = math.sqrt(0.5) if (resnet and kind == "conv1" and res > 4) else 1.0
        x_new = getattr(b, kind).activate(a, gain)
        if kind == "conv0":
            if b.architecture == "skip":
                img = self._torgb(res // 2, x, ws, layer - 1, img)
            return (x_new, img, ws, b.skip(x) if resnet else None)
        return (x_new if residual is None else residual + x_new, img, ws, None)

    def activation(self, a, layer):            # the output block: the image as it is
        return a

    def features(self, z, layer: int):
        h = self.input_transform(z)
        for k in range(1, layer + 1):
            h = self.next_state(h, self.pre_activation(h, k), k)
        return h

    def decode_nchw(self, h, layer: int):
        if layer == 0:
            h = self.input_transform(h)
        for k in range(layer + 1, self.num_layers + 2):
            h = self.next_state(h, self.pre_activation(h, k), k)
        return h

    @staticmethod
    def units(h):
        return h[0]

    @staticmethod
    def with_units(h, x):
        n = x.shape[0]

        def bcast(a):
            return None if a is None else a.expand((n,) + tuple(a.shape[1:]))
        return (x, bcast(h[1]), bcast(h[2]), bcast(h[3]))

    def layer_shape_nchw(self, layer: int):
        res, _ = self._where(layer)
        b = getattr(self.net.synthesis, f"b{res}")
        return (b.conv1.weight.shape[0], res, res)


# -- the discriminator ----------------------------------------------------------------------

def downsample_fir(x, f, pad):
    """The FIR filter with ``pad`` (before, after) on both axes, no decimation."""
    return upfirdn2d(x, f, pad=pad)


class Conv2dLayer(nn.Module):
    """An equalised-learning-rate convolution; ``down``: FIR, then stride 2."""

    def __init__(self, cin, cout, k, bias=True, activation="lrelu", down=False, conv_clamp=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.register_buffer("resample_filter", fir_filter())
        self.weight_gain = 1.0 / math.sqrt(cin * k * k)
        self.activation, self.down, self.conv_clamp, self.k = activation, down, conv_clamp, k

    def forward(self, x, gain=1.0):
        w = self.weight * self.weight_gain
        if self.down and self.k == 1:
            x = downsample_fir(x, self.resample_filter, (1, 1))[:, :, ::2, ::2]
            x = F.conv2d(x, w)
        elif self.down:
            x = F.conv2d(downsample_fir(x, self.resample_filter, (2, 2)), w, stride=2)
        else:
            x = F.conv2d(x, w, padding=self.k // 2)
        if self.bias is not None:
            x = x + self.bias[None, :, None, None]
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * (SQRT2 * gain)
        else:
            x = x * gain
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return x if clamp is None else x.clamp(-clamp, clamp)


class DiscriminatorBlock(nn.Module):
    def __init__(self, cin, tmp, cout, img_channels, architecture, conv_clamp):
        super().__init__()
        self.architecture = architecture
        if cin == 0 or architecture == "skip":
            self.fromrgb = Conv2dLayer(img_channels, tmp, 1, conv_clamp=conv_clamp)
        self.conv0 = Conv2dLayer(tmp, tmp, 3, conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp, cout, 3, down=True, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = Conv2dLayer(tmp, cout, 1, bias=False, activation="linear", down=True)
        self.register_buffer("resample_filter", fir_filter())

    def forward(self, x, img):
        if hasattr(self, "fromrgb"):
            y = self.fromrgb(img)
            x = y if x is None else x + y
            if self.architecture == "skip":
                img = downsample_fir(img, self.resample_filter, (1, 1))[:, :, ::2, ::2]
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = y + self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        else:
            x = self.conv1(self.conv0(x))
        return x, img


class MinibatchStd(nn.Module):
    def __init__(self, group_size=4, num_channels=1):
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x):
        n, c, h, w = x.shape
        g, f = min(self.group_size, n), self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0).add(1e-8).sqrt()
        y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class Epilogue(nn.Module):
    def __init__(self, cin, cmap_dim, img_channels, architecture, conv_clamp, group_size=4, num_channels=1):
        super().__init__()
        self.architecture = architecture
        if architecture == "skip":          # no clamp here, unlike the blocks' fromRGB
            self.fromrgb = Conv2dLayer(img_channels, cin, 1)
        self.mbstd = MinibatchStd(group_size, num_channels)
        self.conv = Conv2dLayer(cin + num_channels, cin, 3, conv_clamp=conv_clamp)
        self.fc = FullyConnected(cin * 16, cin, activation="lrelu")
        self.out = FullyConnected(cin, cmap_dim or 1)

    def forward(self, x, img, cmap=None):
        if self.architecture == "skip":
            x = x + self.fromrgb(img)
        x = self.out(self.fc(self.conv(self.mbstd(x)).flatten(1)))
        if cmap is None:
            return x[:, 0]
        return (x * cmap).sum(dim=1) / math.sqrt(cmap.shape[1])


class TorchStyleGAN2Discriminator(nn.Module):
    """stylegan2-ada-pytorch's ``Discriminator`` (its key names), ``resnet`` by default."""

    def __init__(self, c_dim=0, img_resolution=32, img_channels=3, architecture="resnet", channel_base=1024,
                 channel_max=64, conv_clamp=None, cmap_dim=None, mapping_layers=8):
        super().__init__()
        self.init_kwargs = dict(c_dim=c_dim, img_resolution=img_resolution, img_channels=img_channels,
                                architecture=architecture, channel_base=channel_base, channel_max=channel_max,
                                conv_clamp=conv_clamp, cmap_dim=cmap_dim,
                                mapping_kwargs=dict(num_layers=mapping_layers))
        self.resolutions = [2 ** i for i in range(int(math.log2(img_resolution)), 2, -1)]
        ch = lambda r: min(channel_base // r, channel_max)  # noqa: E731
        self.c_dim = c_dim
        for i, r in enumerate(self.resolutions):
            setattr(self, f"b{r}", DiscriminatorBlock(0 if i == 0 else ch(r), ch(r), ch(r // 2), img_channels,
                                                      architecture, conv_clamp))
        cmap = (cmap_dim or ch(4)) if c_dim else 0
        if c_dim:
            self.mapping = Mapping(0, c_dim, cmap, None, mapping_layers)
            del self.mapping.w_avg          # a discriminator's mapping keeps no average
        self.b4 = Epilogue(ch(4), cmap, img_channels, architecture, conv_clamp)

    def features(self, img):
        x, out = None, []
        for r in self.resolutions:
            x, img = getattr(self, f"b{r}")(x, img)
            out.append(x)
        return out, x, img

    def forward(self, img, c=None):
        _, x, img = self.features(img)
        cmap = self.mapping.embed_map(c) if self.c_dim else None
        return self.b4(x, img, cmap)

    def state_dict_numpy(self) -> dict:
        return {k: v.detach().cpu().numpy() for k, v in self.state_dict().items()}
