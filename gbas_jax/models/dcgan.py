r"""DCGAN generator and discriminator (Flax linen), in the Wasserstein-GAN layout.

Generator blocks, for image size ``S`` with base resolution ``b`` (7 for 28x28,
4 otherwise) and ``u = log2(S / b)`` upsamplings:

==========================  =====================================================
layer 1                     project: dense ``Dz -> b*b*w_1`` (a transposed conv of
                            a ``b x b`` kernel on the ``1 x 1`` latent), BN, ReLU
layers 2 .. u               transposed conv 4x4, stride 2, padding 1, BN, ReLU
layers u+1 .. num_layers    "extra" conv 3x3, stride 1, padding 1, BN, ReLU
output (not probe-able)     transposed conv 4x4, stride 2, padding 1, tanh
==========================  =====================================================

A conditional DCGAN (``condition_dims = C > 0``, the common conditional form:
a one-hot label concatenated after ``z``) takes ``t(z) = [z, c]`` with ``c`` the
``view`` collection's one-hot ``label`` ``(C,)``: ``latent_dim`` counts the free
dimensions only, so E-GBAS, both baselines and their calibration move ``z`` and
never the label, and another label is another leaf value, not another program.

``num_layers = len(widths)``.  Pre-activations (the generative boundaries) are
taken after eval-mode BatchNorm and before ReLU; BatchNorm uses its running
statistics (``eps = 1e-5``, as PyTorch).  Transposed-conv kernels are stored as
Flax ``(kh, kw, in, out)`` kernels used without flipping, i.e. a PyTorch
``ConvTranspose2d`` weight ``W[in, out, kh, kw]`` maps to
``W.transpose(2, 3, 0, 1)[::-1, ::-1]`` with padding ``k - 1 - p`` per side.

The same module reads the two common PyTorch layouts (see ``converters``): the
PyTorch-examples DCGAN (``main.N`` keys, 64x64, widths ``8, 4, 2, 1 x ngf``) and the
Wasserstein-GAN ``DCGAN_G`` (``main.initial:...``, ``pyramid:...``,
``extra-layers-...`` keys), whose ``ConvTranspose2d(nz, w, 4, 1, 0)`` on the 1x1
latent is the dense layer 1 here.

The discriminator mirrors it: conv 4x4 stride 2 from ``S`` to ``S/2``, the
extra 3x3 convs, conv 4x4 stride 2 down to ``b``, each with LeakyReLU(0.2), then a
``b x b`` valid conv to one logit.  The WGAN-GP critic trained here has biases and
no normalisation; the PyTorch layouts (``batch_norm=True, use_bias=False``) have no
biases and an eval-mode BatchNorm after every conv but the first.
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
from .layers import Conv, ConvTranspose

def _geometry(image_size: int) -> Tuple[int, int]:
    s = int(image_size)
    if s != 28 and (s < 16 or s & (s - 1) or s > 1024):
        raise ValueError(f"DCGAN image_size must be 28 or a power of two in 16..1024, got {image_size!r}")
    base = 7 if image_size == 28 else 4
    return base, int(round(math.log2(image_size // base)))


def default_widths(image_size: int, base_width: int = 32, extra_layers: Optional[int] = None) -> Tuple[int, ...]:
    """Generator widths: ``base_width * 2**k`` halving towards the output, then the
    extra layers at ``base_width``.  By default enough extra layers are added to
    reach 4 probe-able layers (the paper's Table 1 probes layers 1-4)."""
    _, ups = _geometry(image_size)
    pyramid = tuple(base_width * 2 ** (ups - 1 - k) for k in range(ups))
    if extra_layers is None:
        extra_layers = max(0, 4 - ups)
    return pyramid + (base_width,) * extra_layers


def check_widths(image_size, widths):
    _, ups = _geometry(image_size)
    widths = tuple(int(w) for w in widths)
    if len(widths) < ups or any(w < 1 for w in widths):
        raise ValueError(f"a {image_size}x{image_size} DCGAN needs at least {ups} positive widths, got {widths}")
    return widths


def _conv_transpose(features):
    return ConvTranspose(features, kernel_size=4, stride=2, padding=1, use_bias=False)


class DCGANGenerator(nn.Module):
    latent_dim: int = 100
    image_size: int = 32
    channels: int = 1
    widths: Tuple[int, ...] = (128, 64, 32, 32)
    condition_dims: int = 0

    @property
    def num_layers(self) -> int:
        return len(self.widths)

    def setup(self):
        if self.condition_dims:
            self.label = self.variable("view", "label", jnp.zeros, (self.condition_dims,))
        base, ups = _geometry(self.image_size)
        linears = [nn.Dense(base * base * self.widths[0], use_bias=False)]
        for k in range(1, self.num_layers):
            if k < ups:
                linears.append(_conv_transpose(self.widths[k]))
            else:
                linears.append(Conv(self.widths[k], 3, stride=1, padding=1, use_bias=False))
        linears.append(_conv_transpose(self.channels))
        self.linears = linears
        self.norms = [nn.BatchNorm(momentum=0.9, epsilon=1e-5) for _ in range(self.num_layers)]

    def input_transform(self, z):
        """``(B, Dz) -> (B, Dz + C)``: the view's one-hot label after ``z``."""
        if not self.condition_dims:
            return z
        c = jnp.broadcast_to(self.label.value.astype(z.dtype), (z.shape[0], self.condition_dims))
        return jnp.concatenate([z, c], axis=-1)

    def pre_activation(self, h, layer: int, train: bool = False):
        x = self.linears[layer - 1](h)
        if layer == 1:
            base, _ = _geometry(self.image_size)
            x = x.reshape(x.shape[0], base, base, self.widths[0])
        if layer <= self.num_layers:
            x = self.norms[layer - 1](x, use_running_average=not train)
        return x

    def activation(self, a, layer: int):
        return jnp.tanh(a) if layer > self.num_layers else nn.relu(a)

    def linear_map(self, layer: int):
        """Layer ``layer``'s linear map with eval-mode BatchNorm folded into a
        per-channel scale and shift (:class:`~gbas_jax.core.model.LinearMap`)."""
        if not 1 <= layer <= self.num_layers:
            return None
        p, st = self.variables["params"], self.variables["batch_stats"]
        bn, stats = p[f"norms_{layer - 1}"], st[f"norms_{layer - 1}"]
        scale = bn["scale"] * jax.lax.rsqrt(stats["var"] + 1e-5)
        shift = bn["bias"] - stats["mean"] * scale
        kernel = p[f"linears_{layer - 1}"]["kernel"]
        base, ups = _geometry(self.image_size)
        if layer == 1:
            return LinearMap(kernel, jnp.tile(scale, base * base), jnp.tile(shift, base * base))
        hw_in = base * 2 ** min(layer - 2, ups - 1)
        if layer - 1 < ups:        # transposed conv 4x4, stride 2, padding 1
            geom = ConvGeometry(4, 2, 2, 1, (hw_in, hw_in), (2 * hw_in, 2 * hw_in))
        else:                      # extra conv 3x3, padding 1
            geom = ConvGeometry(3, 1, 1, 1, (hw_in, hw_in), (hw_in, hw_in))
        return LinearMap(kernel, scale, shift, geom)

    def __call__(self, z, train: bool = False):
        h = self.input_transform(z)
        for layer in range(1, self.num_layers + 2):
            h = self.activation(self.pre_activation(h, layer, train), layer)
        return h


class DCGANDiscriminator(nn.Module):
    image_size: int = 32
    channels: int = 1
    widths: Tuple[int, ...] = (32, 32, 64, 128)
    batch_norm: bool = False
    use_bias: bool = True

    @property
    def num_blocks(self) -> int:
        return len(self.widths)

    def setup(self):
        base, ups = _geometry(self.image_size)
        n_extra = len(self.widths) - ups
        convs = []
        for k, w in enumerate(self.widths):
            if 1 <= k <= n_extra:
                convs.append(Conv(w, 3, stride=1, padding=1, use_bias=self.use_bias))
            else:
                convs.append(Conv(w, 4, stride=2, padding=1, use_bias=self.use_bias))
        self.convs = convs
        if self.batch_norm:
            self.norms = [nn.BatchNorm(use_running_average=True, momentum=0.9, epsilon=1e-5)
                          for _ in range(len(self.widths) - 1)]
        self.final = Conv(1, base, stride=1, padding=0, use_bias=self.use_bias)

    def features(self, x) -> List[jax.Array]:
        out = []
        for k, conv in enumerate(self.convs):
            x = conv(x)
            if self.batch_norm and k > 0:
                x = self.norms[k - 1](x)
            x = nn.leaky_relu(x, 0.2)
            out.append(x)
        return out

    def __call__(self, x):
        return self.final(self.features(x)[-1]).reshape(x.shape[0])


def _randomise_batch_stats(key, variables):
    """Non-trivial eval-mode BatchNorm (random running statistics and affine), so
    that random models exercise the normalisation that trained ones fold in."""
    params = jax.tree_util.tree_map(lambda x: x, dict(variables["params"]))
    stats = dict(variables["batch_stats"])
    for name in sorted(stats):
        key, k1, k2, k3, k4 = jax.random.split(key, 5)
        mean, var = stats[name]["mean"], stats[name]["var"]
        stats[name] = {"mean": 0.1 * jax.random.normal(k1, mean.shape),
                       "var": jax.random.uniform(k2, var.shape, minval=0.5, maxval=1.0)}
        p = dict(params[name])
        p["scale"] = jax.random.uniform(k3, p["scale"].shape, minval=0.8, maxval=1.2)
        p["bias"] = 0.1 * jax.random.normal(k4, p["bias"].shape)
        params[name] = p
    return {"params": params, "batch_stats": stats}


def dcgan(*, key: jax.Array, latent_dim: int = 100, image_size: int = 32, channels: int = 1,
          widths: Optional[Sequence[int]] = None, base_width: int = 32,
          random_batch_stats: bool = True) -> Generator:
    """A randomly initialised DCGAN :class:`~gbas_jax.Generator`.

    Args:
      key: PRNG key (keyword-only).
      latent_dim: ``Dz``.
      image_size: 28, 32 or 64.
      channels: image channels.
      widths: channels of the probe-able layers (``len(widths) = num_layers``);
        default :func:`default_widths` ``(image_size, base_width)``.
      random_batch_stats: draw random eval-mode BatchNorm statistics (useful for
        tests); ``False`` keeps the identity statistics of a fresh model.
    """
    if latent_dim < 1 or channels < 1:
        raise ValueError("latent_dim and channels must be >= 1")
    widths = check_widths(image_size, widths if widths is not None else default_widths(image_size, base_width))
    module = DCGANGenerator(latent_dim=int(latent_dim), image_size=int(image_size),
                            channels=int(channels), widths=widths)
    k_init, k_stats = jax.random.split(key)
    variables = module.init(k_init, jnp.zeros((1, latent_dim), jnp.float32))
    variables = {"params": variables["params"], "batch_stats": variables["batch_stats"]}
    if random_batch_stats:
        variables = _randomise_batch_stats(k_stats, variables)
    return Generator(FlaxModel(module), variables)


def dcgan_discriminator(*, key: jax.Array, image_size: int = 32, channels: int = 1,
                        widths: Optional[Sequence[int]] = None, base_width: int = 32) -> Discriminator:
    """A randomly initialised DCGAN critic with per-block features."""
    if widths is None:
        widths = tuple(reversed(default_widths(image_size, base_width)))
        _, ups = _geometry(image_size)
        n_extra = len(widths) - ups
        # First block and the extras at base_width, then doubling per downsampling.
        widths = (base_width,) * (1 + n_extra) + tuple(base_width * 2 ** k for k in range(1, ups))
    widths = check_widths(image_size, widths)
    module = DCGANDiscriminator(image_size=int(image_size), channels=int(channels), widths=widths)
    variables = module.init(key, jnp.zeros((1, image_size, image_size, channels), jnp.float32))
    return Discriminator(FlaxDiscriminatorModel(module), {"params": variables["params"]})
