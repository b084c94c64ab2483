r"""StyleGAN2's discriminator (stylegan2-ada-pytorch's ``Discriminator`` settings and
defaults) in Flax linen, for the paper's Table 2 and for training.

Blocks from the image resolution ``R`` down to 8, each a 3x3 convolution and a 3x3
convolution that halves the resolution, with a 1x1 ``fromRGB`` on the image (the
first block; every block in the ``skip`` architecture) and, in ``resnet`` (the
default), a 1x1 skip branch; then the epilogue at 4x4: minibatch standard
deviation, a 3x3 convolution, a dense layer and the output.  Every layer uses the
equalised learning rate (weights times :math:`1/\sqrt{\text{fan-in}}`), leaky ReLU
with gain :math:`\sqrt 2`, optionally clamped; the halving convolutions filter
with the ``[1, 3, 3, 1]`` FIR filter first, then convolve with stride 2.  A
conditional discriminator (``c_dim > 0``) projects the output on a mapped label.

:meth:`StyleGAN2Discriminator.features` returns each block's output (post
activation), all before the minibatch statistic (docs/design.md, Table 2).
"""

from __future__ import annotations

import math
from typing import List, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..core.discriminator import Discriminator
from .adapters import FlaxDiscriminatorModel
from .ops import conv2d
from .stylegan2 import FIR, LRELU_GAIN, _Dense, channels, log2_resolution, lrelu, normalize_2nd_moment, upsample2d

del upsample2d  # the discriminator only down-samples

ARCHITECTURES = ("orig", "skip", "resnet")


def fir(x, pad: int):
    """The ``[1, 3, 3, 1]`` FIR filter (gain 1) with ``pad`` zeros on every side, per channel."""
    c = x.shape[-1]
    f = jnp.broadcast_to(jnp.asarray(FIR, x.dtype)[:, :, None, None], (4, 4, 1, c))
    return jax.lax.conv_general_dilated(x, f, (1, 1), ((pad, pad), (pad, pad)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c)


def fir_down2(x):
    """FIR filter (padding 1) then every second sample: ``(B, H, W, C) -> (B, H/2, W/2, C)``."""
    c = x.shape[-1]
    f = jnp.broadcast_to(jnp.asarray(FIR, x.dtype)[:, :, None, None], (4, 4, 1, c))
    return jax.lax.conv_general_dilated(x, f, (2, 2), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=c)


class _Conv(nn.Module):
    """An equalised-learning-rate convolution ``k x k`` (optionally halving), bias,
    activation ``"lrelu"`` (gain sqrt 2 times ``gain``) or linear, clamp."""

    features: int
    kernel: int = 3
    down: bool = False
    bias: bool = True
    activation: str = "lrelu"
    conv_clamp: Optional[float] = None

    @nn.compact
    def __call__(self, x, gain: float = 1.0):
        cin = x.shape[-1]
        w = self.param("weight", nn.initializers.normal(1.0), (self.kernel, self.kernel, cin, self.features))
        w = w / math.sqrt(cin * self.kernel * self.kernel)
        if self.kernel == 1:
            y = (fir_down2(x) if self.down else x) @ w[0, 0]
        elif self.down:              # FIR (padding 2: H + 1), then the stride-2 correlation
            y = conv2d(fir(x, 2), w, (2, 2), ((0, 0), (0, 0)), (1, 1))
        else:
            y = conv2d(x, w, (1, 1), ((self.kernel // 2,) * 2,) * 2, (1, 1))
        if self.bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        if self.activation == "lrelu":
            y = lrelu(y) * (LRELU_GAIN * gain)
        else:
            y = y * gain
        if self.conv_clamp is not None:
            y = jnp.clip(y, -self.conv_clamp * gain, self.conv_clamp * gain)
        return y


def minibatch_stddev(x, group_size: int = 4, num_channels: int = 1):
    """stylegan2-ada-pytorch's minibatch standard deviation: groups of ``min(group,
    B)`` samples taken with a stride of ``B / group`` (sample ``i`` is in group
    ``i mod (B / G)``), the std over the group per feature, averaged over features,
    ``num_channels`` extra channels."""
    b, h, w, c = x.shape
    g = min(group_size, b)
    f = num_channels
    y = x.reshape(g, b // g, h, w, f, c // f)
    y = y - y.mean(axis=0)
    y = jnp.sqrt(jnp.mean(jnp.square(y), axis=0) + 1e-8)          # (B/G, H, W, F, C/F)
    y = y.mean(axis=(1, 2, 4))                                      # (B/G, F)
    y = jnp.tile(y, (g, 1))[:, None, None, :]                       # (B, 1, 1, F)
    return jnp.concatenate([x, jnp.broadcast_to(y, (b, h, w, f))], axis=-1)


class StyleGAN2Discriminator(nn.Module):
    """stylegan2-ada-pytorch's ``Discriminator`` (``architecture="resnet"`` default)."""

    resolution: int = 256
    img_channels: int = 3
    c_dim: int = 0
    channel_base: int = 32768
    channel_max: int = 512
    architecture: str = "resnet"
    conv_clamp: Optional[float] = None
    mbstd_group_size: int = 4
    mbstd_num_channels: int = 1
    cmap_dim: Optional[int] = None
    mapping_layers: int = 8

    def ch(self, res: int) -> int:
        return channels(res, self.channel_base, self.channel_max)

    def setup(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown discriminator architecture {self.architecture!r}; known {ARCHITECTURES}")
        resolutions = [2 ** i for i in range(log2_resolution(self.resolution), 2, -1)]
        self.resolutions = resolutions
        fromrgb, conv0, conv1, skip = {}, {}, {}, {}
        for i, r in enumerate(resolutions):
            tmp, out = self.ch(r), self.ch(r // 2)
            if i == 0 or self.architecture == "skip":
                fromrgb[r] = _Conv(tmp, 1, conv_clamp=self.conv_clamp, name=f"b{r}_fromrgb")
            conv0[r] = _Conv(tmp, 3, conv_clamp=self.conv_clamp, name=f"b{r}_conv0")
            conv1[r] = _Conv(out, 3, down=True, conv_clamp=self.conv_clamp, name=f"b{r}_conv1")
            if self.architecture == "resnet":
                skip[r] = _Conv(out, 1, down=True, bias=False, activation="linear", name=f"b{r}_skip")
        self.fromrgb, self.conv0, self.conv1, self.skip = fromrgb, conv0, conv1, skip
        c4 = self.ch(4)
        if self.architecture == "skip":      # (unclamped in NVIDIA's epilogue, unlike the blocks' fromRGB)
            self.b4_fromrgb = _Conv(c4, 1, name="b4_fromrgb")
        self.b4_conv = _Conv(c4, 3, conv_clamp=self.conv_clamp, name="b4_conv")
        self.b4_fc = _Dense(c4, name="b4_fc")
        cmap = self.cmap_dim or c4
        self.b4_out = _Dense(cmap if self.c_dim else 1, name="b4_out")
        if self.c_dim:
            self.mapping_embed = _Dense(cmap, name="mapping_embed")
            self.mapping = [_Dense(cmap, 0.01, name=f"mapping_fc{i}") for i in range(self.mapping_layers)]

    def _blocks(self, img):
        """Each block's output ``(B, r/2, r/2, C)``, and the image (``skip``) at 4x4."""
        x, outs = None, []
        for r in self.resolutions:
            if r in self.fromrgb:
                y = self.fromrgb[r](img)
                x = y if x is None else x + y
                if self.architecture == "skip":
                    img = fir_down2(img)
            if self.architecture == "resnet":
                y = self.skip[r](x, gain=math.sqrt(0.5))
                x = y + self.conv1[r](self.conv0[r](x), gain=math.sqrt(0.5))
            else:
                x = self.conv1[r](self.conv0[r](x))
            outs.append(x)
        return outs, img

    def features(self, img) -> List[jax.Array]:
        """Post-activation outputs of the blocks ``R .. 8`` (before the minibatch statistic)."""
        return self._blocks(img)[0]

    def __call__(self, img, c=None):
        outs, img = self._blocks(img)
        x = outs[-1]
        if self.architecture == "skip":
            x = x + self.b4_fromrgb(img)
        x = minibatch_stddev(x, self.mbstd_group_size, self.mbstd_num_channels)
        x = self.b4_conv(x)
        # NVlabs flattens NCHW: the dense layer's input order is (channel, row, column)
        x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
        x = lrelu(self.b4_fc(x)) * LRELU_GAIN
        x = self.b4_out(x)
        if not self.c_dim:
            return x[:, 0]
        if c is None:
            raise ValueError("a conditional discriminator needs labels c")
        cmap = normalize_2nd_moment(self.mapping_embed(c))
        for fc in self.mapping:
            cmap = lrelu(fc(cmap)) * LRELU_GAIN
        return jnp.sum(x * cmap, axis=-1) / math.sqrt(cmap.shape[-1])


def stylegan2_discriminator(*, key: jax.Array, resolution: int = 32, img_channels: int = 3,
                            channel_base: int = 1024, channel_max: int = 64, architecture: str = "resnet",
                            c_dim: int = 0) -> Discriminator:
    """A randomly initialised StyleGAN2 :class:`~gbas_jax.Discriminator` (small by default)."""
    module = StyleGAN2Discriminator(resolution=int(resolution), img_channels=int(img_channels),
                                    channel_base=int(channel_base), channel_max=int(channel_max),
                                    architecture=architecture, c_dim=int(c_dim))
    x = jnp.zeros((1, resolution, resolution, img_channels), jnp.float32)
    c = jnp.zeros((1, c_dim), jnp.float32) if c_dim else None
    variables = module.init(key, x, c)
    return Discriminator(FlaxDiscriminatorModel(module), variables)
