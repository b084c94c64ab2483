r"""Progressive GAN (PGGAN) generator and discriminator (Flax linen) at a fixed
final resolution with the fade-in finished (``alpha = 0``).

Two PyTorch layouts are modelled exactly, because the released PGGANs come in
both and they place the pixel norm and the weight scale differently:

``layout="zoo"`` (facebookresearch/pytorch_GAN_zoo, the torch.hub ``PGAN``)
    :math:`t(z) = \mathrm{PN}(z)`; each block is *linear -> LReLU(0.2) -> PN*
    and the equalised-learning-rate constant :math:`c = \sqrt{2 / \text{fan\_in}}`
    multiplies the whole output of the linear layer, bias included:
    :math:`a = c\,(W h + b)`.
``layout="dissect"`` (the GAN-dissection ``proggan`` port, LSUN church etc.)
    each block is *PN -> linear -> scale -> LReLU(0.2)*, the constant
    :math:`c = \text{gain} / \sqrt{\text{in\_channels}}` (gain
    :math:`\sqrt 2 / k` for a ``k x k`` conv, 1 for the output) multiplies the
    convolution only and the bias is added after: :math:`a = c\,W h + b`.
    The pixel norm of block 1 is the input transform :math:`t(z)`.

Pixel norm: :math:`\mathrm{PN}(x) = x / \sqrt{\operatorname{mean}_c x^2 + 10^{-8}}`
over channels.  Parameters are the *unscaled* weights (as stored by both
layouts); the constant is a static function of the shapes.

Layers (both layouts; ``R = 4 * 2**s``, ``num_layers = 2 + 2 s``):

========================  ====================================================
layer 1                   4x4 from the latent: a dense map ``Dz -> 4*4*w_0``
                          (zoo ``formatLayer``; dissect ``layer1``, a 4x4 conv
                          with padding 3 on the 1x1 latent, which is the same
                          dense map)
layer 2                   3x3 conv at 4x4 (zoo ``groupScale0.0``; dissect ``layer2``)
layer 2k+1 (k = 1..s)     nearest-neighbour x2 upsampling, 3x3 conv (zoo
                          ``scaleLayers.{k-1}.0``; dissect ``layer{2k+1}``)
layer 2k+2                3x3 conv (zoo ``scaleLayers.{k-1}.1``; dissect ``layer{2k+2}``)
output (not probe-able)   1x1 conv to RGB (zoo ``toRGBLayers.{s}``; dissect
                          ``output_RxR``), no tanh (dissect's optional hardtanh
                          is ``output_clamp``)
========================  ====================================================

The pre-activation of a layer (its generative boundary) is the scaled linear
output ``a`` above, before the LReLU; in the dissect layout the pixel norm that
opens the *next* block belongs to that block's linear map.

Discriminator (zoo layout only: the dissect port ships no discriminator):
``fromRGB`` 1x1 conv + LReLU at ``R``, then per scale from ``R`` down to 8 two
3x3 convs + LReLU and a 2x2 average pool, then minibatch standard deviation
(groups of 4), a 3x3 conv + LReLU, a dense ``16*w_0 -> w_0`` + LReLU, and the
decision layer.  :meth:`PGGANDiscriminator.features` returns the ``fromRGB``
output and each scale's pooled output, all before the minibatch statistic
(``docs/design.md``, metrics).
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from ..core.discriminator import Discriminator
from ..core.model import ConvGeometry, Generator, LinearMap
from .adapters import FlaxDiscriminatorModel, FlaxModel
from .layers import Conv

LAYOUTS = ("zoo", "dissect")
PIXEL_NORM_EPS = 1e-8
MINIBATCH_GROUP = 4


def pixel_norm(x, eps: float = PIXEL_NORM_EPS):
    """``x / sqrt(mean(x**2 over the last axis) + eps)``."""
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=-1, keepdims=True) + eps)


def avg_pool2(x):
    b, h, w, c = x.shape
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def num_scales(resolution: int) -> int:
    """Scales ``4, 8, ..., resolution``; ``ValueError`` unless a power of two >= 4."""
    r = int(resolution)
    if r < 4 or r & (r - 1):
        raise ValueError(f"PGGAN resolution must be a power of two >= 4, got {resolution!r}")
    return int(math.log2(r)) - 1


def default_widths(resolution: int, max_width: int = 512) -> Tuple[int, ...]:
    """Channels per scale, ``min(max_width, 16384 / size)`` as in the released
    CelebA-HQ / LSUN models (512 up to 32x32, then halving)."""
    n = num_scales(resolution)
    return tuple(max(1, min(int(max_width), 16384 // (4 * 2 ** s))) for s in range(n))


def _gain_scale(layout: str, kernel: int, in_channels: int, output: bool) -> float:
    """The equalised-learning-rate constant of one linear layer."""
    if layout == "zoo":
        return math.sqrt(2.0 / (in_channels * kernel * kernel))
    gain = 1.0 if output else math.sqrt(2.0) / kernel
    return gain / math.sqrt(in_channels)


class PGGANGenerator(nn.Module):
    """``widths[s]`` channels at scale ``s`` (size ``4 * 2**s``)."""

    latent_dim: int = 512
    widths: Tuple[int, ...] = (512, 512, 512, 512, 256)
    channels: int = 3
    layout: str = "zoo"
    equalized: bool = True
    normalization: bool = True   # zoo's perChannelNormalization; always on for dissect
    leak: float = 0.2
    output_clamp: bool = False   # dissect's output hardtanh

    @property
    def num_layers(self) -> int:
        return 2 * len(self.widths)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.widths) - 1)

    def _spec(self, layer: int):
        """(in_channels, out_channels, kernel, upsample) of a layer's linear map."""
        w = self.widths
        if layer == 1:
            return self.latent_dim, w[0], 4, False
        if layer == 2:
            return w[0], w[0], 3, False
        if layer > self.num_layers:
            return w[-1], self.channels, 1, False
        s = (layer - 1) // 2           # scale index of this layer
        if layer % 2 == 1:
            return w[s - 1], w[s], 3, True
        return w[s], w[s], 3, False

    def weight_scale(self, layer: int) -> float:
        """The equalised-learning-rate constant of layer ``layer``'s linear map (1 if off)."""
        if not self.equalized:
            return 1.0
        cin, _, k, _ = self._spec(layer)
        if layer == 1 and self.layout == "zoo":
            k = 1                      # zoo's formatLayer is a Linear: fan_in = Dz
        return _gain_scale(self.layout, k, cin, layer > self.num_layers)

    def setup(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown PGGAN layout {self.layout!r}; known {LAYOUTS}")
        init = nn.initializers.normal(1.0) if self.equalized else nn.initializers.lecun_normal()
        linears = [nn.Dense(16 * self.widths[0], kernel_init=init, use_bias=False, name="linears_0")]
        for layer in range(2, self.num_layers + 2):
            _, cout, k, up = self._spec(layer)
            linears.append(Conv(cout, k, stride=1, padding=k // 2, use_bias=False, upsample=2 if up else 1,
                                kernel_init=init, name=f"linears_{layer - 1}"))
        self.linears = linears
        self.biases = [self.param(f"bias_{i}", nn.initializers.zeros,
                                  (self._spec(i + 1)[1] if i else 16 * self.widths[0],))
                       for i in range(self.num_layers + 1)]

    def _normalise(self, x):
        return pixel_norm(x) if (self.normalization or self.layout == "dissect") else x

    def input_transform(self, z):
        return self._normalise(z)

    def pre_activation(self, h, layer: int):
        if self.layout == "dissect" and layer > 1:
            h = self._normalise(h)
        y = self.linears[layer - 1](h)          # upsamples first where the layer does
        b = self.biases[layer - 1]
        c = self.weight_scale(layer)
        y = c * (y + b) if self.layout == "zoo" else c * y + b
        if layer == 1:
            y = y.reshape(y.shape[0], 4, 4, self.widths[0])
        return y

    def linear_map(self, layer: int):
        """Layer ``layer``'s linear map with the weight scale and bias folded into a
        per-channel scale and shift (:class:`~gbas_jax.core.model.LinearMap`)."""
        if not 1 <= layer <= self.num_layers:
            return None
        p = self.variables["params"]
        kernel, b, c = p[f"linears_{layer - 1}"]["kernel"], p[f"bias_{layer - 1}"], self.weight_scale(layer)
        scale = jnp.full(b.shape, c, b.dtype)
        shift = c * b if self.layout == "zoo" else b
        if layer == 1:
            return LinearMap(kernel, scale, shift)
        _, _, k, up = self._spec(layer)
        s = (layer - 1) // 2
        size = 4 * 2 ** s
        geom = ConvGeometry(k, k // 2, 1, 2 if up else 1, (size // 2 if up else size,) * 2, (size, size))
        return LinearMap(kernel, scale, shift, geom, prelude=pixel_norm if self.layout == "dissect" else None)

    def activation(self, a, layer: int):
        if layer > self.num_layers:
            return jnp.clip(a, -1.0, 1.0) if self.output_clamp else a
        h = nn.leaky_relu(a, self.leak)
        return self._normalise(h) if self.layout == "zoo" else h

    def __call__(self, z):
        h = self.input_transform(z)
        for layer in range(1, self.num_layers + 2):
            h = self.activation(self.pre_activation(h, layer), layer)
        return h


def minibatch_stddev(x, group: int = MINIBATCH_GROUP):
    """Append the minibatch standard deviation as one more channel (pytorch_GAN_zoo):
    samples are grouped consecutively in groups of ``min(B, group)`` (the whole
    batch if that does not divide ``B``); each group's unbiased std per feature,
    averaged over features, fills the new channel of its members."""
    b, h, w, c = x.shape
    g = min(b, group)
    if b % g:
        g = b
    if g == 1:
        return jnp.concatenate([x, jnp.zeros((b, h, w, 1), x.dtype)], axis=-1)
    y = x.reshape(b // g, g, h, w, c)
    std = jnp.sqrt(jnp.var(y, axis=1, ddof=1) + 1e-8).mean(axis=(1, 2, 3))
    y = jnp.broadcast_to(std[:, None, None, None, None], (b // g, g, h, w, 1)).reshape(b, h, w, 1)
    return jnp.concatenate([x, y], axis=-1)


class PGGANDiscriminator(nn.Module):
    """pytorch_GAN_zoo ``DNet`` at ``alpha = 0``; ``widths`` as the generator's."""

    widths: Tuple[int, ...] = (512, 512, 512, 512, 256)
    channels: int = 3
    minibatch_stddev: bool = True
    decision_size: int = 1
    equalized: bool = True
    leak: float = 0.2

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.widths) - 1)

    def _c(self, fan_in):
        return math.sqrt(2.0 / fan_in) if self.equalized else 1.0

    def setup(self):
        init = nn.initializers.normal(1.0) if self.equalized else nn.initializers.lecun_normal()
        w = self.widths
        self.from_rgb = Conv(w[-1], 1, kernel_init=init, name="from_rgb")
        convs = []
        for s in range(len(w) - 1, 0, -1):        # scales R .. 8
            convs.append(Conv(w[s], 3, padding=1, kernel_init=init, name=f"scale{s}_0"))
            convs.append(Conv(w[s - 1], 3, padding=1, kernel_init=init, name=f"scale{s}_1"))
        self.convs = convs
        cin = w[0] + (1 if self.minibatch_stddev else 0)
        self.conv0 = Conv(w[0], 3, padding=1, kernel_init=init, name="scale0_conv")
        self.dense0 = nn.Dense(w[0], kernel_init=init, name="scale0_dense")
        self.decision = nn.Dense(self.decision_size, kernel_init=init, name="decision")
        self._cin0 = cin

    def _act(self, x):
        return nn.leaky_relu(x, self.leak)

    def features(self, x) -> List[jax.Array]:
        w = self.widths
        x = self._act(self._c(self.channels) * self.from_rgb(x))
        out = [x]
        for i, s in enumerate(range(len(w) - 1, 0, -1)):
            x = self._act(self._c(9 * w[s]) * self.convs[2 * i](x))
            x = self._act(self._c(9 * w[s]) * self.convs[2 * i + 1](x))
            x = avg_pool2(x)
            out.append(x)
        return out

    def __call__(self, x):
        w = self.widths
        x = self.features(x)[-1]
        if self.minibatch_stddev:
            x = minibatch_stddev(x)
        x = self._act(self._c(9 * self._cin0) * self.conv0(x))
        x = x.reshape(x.shape[0], -1)
        x = self._act(self._c(16 * w[0]) * self.dense0(x))
        return (self._c(w[0]) * self.decision(x))[:, 0]


def check_widths(resolution, widths):
    n = num_scales(resolution)
    widths = tuple(int(x) for x in widths)
    if len(widths) != n or any(x < 1 for x in widths):
        raise ValueError(f"a {resolution}x{resolution} PGGAN needs {n} positive widths "
                         f"(one per scale 4..{resolution}), got {widths}")
    return widths


def _random_biases(key, variables, scale):
    params = dict(variables["params"])
    for name in sorted(params):
        key, sub = jax.random.split(key)
        if name.startswith("bias_"):
            params[name] = scale * jax.random.normal(sub, params[name].shape)
        elif isinstance(params[name], dict) and "bias" in params[name]:
            p = dict(params[name])
            p["bias"] = scale * jax.random.normal(sub, p["bias"].shape)
            params[name] = p
    return {"params": params}


def pggan(*, key: jax.Array, latent_dim: int = 512, resolution: int = 64, channels: int = 3,
          widths: Optional[Sequence[int]] = None, max_width: int = 512, layout: str = "zoo",
          bias_scale: float = 0.0) -> Generator:
    """A randomly initialised PGGAN :class:`~gbas_jax.Generator` (weights
    :math:`\\mathcal N(0, 1)` scaled at run time, as equalised learning rate does).

    Args:
      key: PRNG key (keyword-only).
      latent_dim: ``Dz``.
      resolution: final image size, a power of two >= 4.
      widths: channels per scale ``4, 8, ..., resolution``; default
        :func:`default_widths` ``(resolution, max_width)`` (512 up to 32x32,
        halving after: the released models' widths).  Reduced widths for CPU
        work: ``max_width=64`` say.
      layout: ``"zoo"`` or ``"dissect"`` (module docstring).
      bias_scale: std of random biases (0 = the zoo's zero init).
    """
    if latent_dim < 1 or channels < 1:
        raise ValueError("latent_dim and channels must be >= 1")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    widths = check_widths(resolution, widths if widths is not None else default_widths(resolution, max_width))
    module = PGGANGenerator(latent_dim=int(latent_dim), widths=widths, channels=int(channels), layout=layout)
    k_init, k_bias = jax.random.split(key)
    variables = {"params": module.init(k_init, jnp.zeros((1, latent_dim), jnp.float32))["params"]}
    if bias_scale:
        variables = _random_biases(k_bias, variables, float(bias_scale))
    return Generator(FlaxModel(module), variables)


def pggan_discriminator(*, key: jax.Array, resolution: int = 64, channels: int = 3,
                        widths: Optional[Sequence[int]] = None, max_width: int = 512,
                        minibatch_stddev: bool = True) -> Discriminator:
    """A randomly initialised pytorch_GAN_zoo PGGAN discriminator."""
    widths = check_widths(resolution, widths if widths is not None else default_widths(resolution, max_width))
    module = PGGANDiscriminator(widths=widths, channels=int(channels), minibatch_stddev=bool(minibatch_stddev))
    variables = module.init(key, jnp.zeros((1, resolution, resolution, channels), jnp.float32))
    return Discriminator(FlaxDiscriminatorModel(module), {"params": variables["params"]})
