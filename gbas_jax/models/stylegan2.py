r"""StyleGAN2 generator (Karras et al., "Analyzing and Improving the Image Quality of
StyleGAN", CVPR 2020) in Flax linen, at inference, with its layers split for E-GBAS.

**Mapping.** :math:`w = f(z, c)`: the latent normalised to unit second moment
(:math:`z / \sqrt{\mathrm{mean}(z^2) + 10^{-8}}`), with ``c_dim > 0`` the label's
embedding normalised the same way and concatenated, then ``mapping_layers`` dense
layers, each :math:`\mathrm{lrelu}_{0.2}(x W g + b\,\eta)\sqrt 2` with the
learning-rate multiplier :math:`\eta` (0.01) and :math:`g = \eta / \sqrt{\text{fan-in}}`.
``w`` goes to every one of the ``num_ws`` style inputs; truncation
:math:`w \leftarrow \bar w + \psi (w - \bar w)` applies to the first
``truncation_cutoff`` of them (all when ``None``).

**Synthesis.** A constant ``4 x 4`` input, then per resolution ``r = 4, 8, .., R``
a block of modulated 3x3 convolutions (one at 4x4, two after it; the first of
two up-samples by 2).  One convolution of input :math:`x` with style
:math:`s = A w + b` (:math:`A` scaled by :math:`1/\sqrt{w_{dim}}`, the bias
initialised to 1) and raw weight :math:`W` is

.. math::
    a = d \odot \big( (x \odot s) * W \big) + \nu\,n + \beta, \qquad
    d_o = \Big(\sum_{i, k} (W_{k i o}\, s_i)^2 + 10^{-8}\Big)^{-1/2},

written as input scaling, one convolution shared by the batch, and
demodulation of the output (never per-sample grouped weights); :math:`n` the
layer's constant noise map, :math:`\nu` its strength, :math:`\beta` the bias.
``a`` is the layer's **pre-activation**: its sign pattern is the layer's
generative boundaries.  The block output is :math:`\mathrm{clamp}(\mathrm{lrelu}_{0.2}(a)
\sqrt 2\, \gamma, \pm c\gamma)` (``conv_clamp`` :math:`c`, :math:`\gamma = 1` except
:math:`\sqrt{1/2}` for the second convolution of a ``resnet`` block).  The
up-sampling convolution is a stride-2 transposed convolution followed by the
``[1, 3, 3, 1]`` FIR filter (gain 4); both are linear, so they are one transposed
convolution with the 6x6 kernel :math:`W \ast 4f` (on a CPU a sub-pixel
convolution, :func:`gbas_jax.models.ops.conv_transpose`).  ``toRGB`` is a modulated
1x1 convolution without demodulation; the ``skip`` architecture sums every
block's toRGB into the image, up-sampling it by the same FIR filter, ``orig`` and
``resnet`` only the last one (``resnet`` adds a 1x1 skip branch to every block
after the first).

**Layers for E-GBAS.** The probe-able layers are the ``2 log2(R) - 3`` synthesis
convolutions, numbered 1 (``b4.conv1``) .. ``num_layers`` in forward order, the same
in Z and in W; the mapping's dense layers are not probe-able.  A layer state
(:class:`StyleState`) carries the units ``x_l`` (what BerOpt masks), the image so
far, the styles' latents ``ws`` of every layer and, inside a ``resnet`` block, the
skip branch.  A block's toRGB is added when the next block starts (or by the
output block), so masking ``x_l`` reaches the image both through the next
convolution and through the toRGB that reads it.

**Spaces and views** (static fields of the module, so each is its own program;
:func:`stylegan2_view` makes them): ``space="z"`` is the paper's ``G`` (the mapping
and truncation inside); ``space="w"`` takes the standardised latent
:math:`u = (w - \mu) / \sigma` (per dimension, measured over mapped samples by
:func:`measure_w_statistics` and kept in the ``stats`` collection) and has no
mapping.  ``freeze_above=l`` is the control view: the style latents of every layer
above ``l`` are the query's (the ``view`` collection's ``ws_query``), so that only
layers ``1..l`` follow the latent.  A conditional model's label is the
``view`` collection's one-hot ``label``: another label is another leaf value, not
another program.  Noise is the model's constant noise maps (``noise_mode="const"``)
or none; never random, so a region is a function of the latent.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from ..core.model import Generator
from .adapters import FlaxModel
from .ops import conv2d, conv_transpose

ARCHITECTURES = ("orig", "skip", "resnet")
SPACES = ("z", "w")
NOISE_MODES = ("const", "none")
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
EPS = 1e-8
#: The [1, 3, 3, 1] resampling filter, normalised to sum 1 in 2-D.
FIR = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64.0
#: Mapped samples behind the W space's mean and standard deviation (seed 0, psi 1).
W_STATISTICS_SAMPLES = 10_000


def channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """Channels at ``resolution``: ``min(channel_base // resolution, channel_max)``."""
    return min(int(channel_base) // int(resolution), int(channel_max))


def log2_resolution(resolution: int) -> int:
    r = int(resolution)
    if r < 4 or r & (r - 1):
        raise ValueError(f"StyleGAN2 resolution must be a power of two >= 4, got {resolution!r}")
    return int(math.log2(r))


def normalize_2nd_moment(x, axis: int = -1):
    return x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + EPS)


def upsample2d(x):
    r"""The FIR x2 up-sampling of the image path (``[1, 3, 3, 1]``, gain 4, zero
    border), separable: :math:`y_{2m} = x_{m-1}/4 + 3x_m/4`,
    :math:`y_{2m+1} = 3x_m/4 + x_{m+1}/4`.  NHWC."""
    def one_axis(x, axis):
        zero = jnp.zeros_like(jax.lax.slice_in_dim(x, 0, 1, axis=axis))
        prev = jnp.concatenate([zero, jax.lax.slice_in_dim(x, 0, x.shape[axis] - 1, axis=axis)], axis=axis)
        nxt = jnp.concatenate([jax.lax.slice_in_dim(x, 1, x.shape[axis], axis=axis), zero], axis=axis)
        even, odd = 0.25 * prev + 0.75 * x, 0.75 * x + 0.25 * nxt
        y = jnp.stack([even, odd], axis=axis + 1)
        shape = list(x.shape)
        shape[axis] *= 2
        return y.reshape(shape)
    return one_axis(one_axis(x, 1), 2)


def up_kernel(weight):
    """The 6x6 kernel of a stride-2 transposed convolution followed by the FIR
    filter (gain 4), stored for :func:`gbas_jax.models.ops.conv_transpose` (the
    dilated correlation): the 3x3 weight ``(3, 3, C_in, C_out)`` spatially flipped
    and fully convolved with ``4 f`` (``f`` is symmetric)."""
    w = weight[::-1, ::-1]
    g = jnp.asarray(4.0 * FIR, weight.dtype)[:, :, None, None]
    k = jnp.zeros((6, 6) + weight.shape[2:], weight.dtype)
    for p in range(3):
        for q in range(3):
            k = k.at[p:p + 4, q:q + 4].add(w[p, q][None, None] * g)
    return k


def lrelu(x):
    return jnp.where(x >= 0, x, LRELU_SLOPE * x)


class StyleState(NamedTuple):
    """A StyleGAN2 layer state.  ``x`` ``(B, H, W, C)``: the units (maskable);
    ``img``: the image summed so far, before the current block's toRGB (``None``
    before the first block ends, and always in ``orig`` / ``resnet``); ``ws``
    ``(B, num_ws, w_dim)``: every layer's style latent; ``residual``: a ``resnet``
    block's skip branch, between its two convolutions (else ``None``)."""

    x: jax.Array
    img: Optional[jax.Array]
    ws: jax.Array
    residual: Optional[jax.Array]


class _Dense(nn.Module):
    """A dense layer with runtime gains: ``x @ (weight * lr / sqrt(in)) + bias * lr``."""

    features: int
    lr_multiplier: float = 1.0
    bias_init: float = 0.0

    @nn.compact
    def __call__(self, x):
        fan_in = x.shape[-1]
        w = self.param("weight", nn.initializers.normal(1.0 / self.lr_multiplier), (fan_in, self.features))
        b = self.param("bias", nn.initializers.constant(self.bias_init), (self.features,))
        return x @ (w * (self.lr_multiplier / math.sqrt(fan_in))) + b * self.lr_multiplier


class _ModConv(nn.Module):
    """One modulated 3x3 synthesis convolution; ``__call__`` returns its pre-activation."""

    features: int
    resolution: int
    up: bool = False
    use_noise: bool = True
    noise_mode: str = "const"

    @nn.compact
    def __call__(self, x, w):
        cin = x.shape[-1]
        s = _Dense(cin, bias_init=1.0, name="affine")(w)                       # (B, C_in)
        weight = self.param("weight", nn.initializers.normal(1.0), (3, 3, cin, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        xs = x * s[:, None, None, :].astype(x.dtype)
        if self.up:
            y = conv_transpose(xs, up_kernel(weight), 2, 2)
        else:
            y = conv2d(xs, weight, (1, 1), ((1, 1), (1, 1)), (1, 1))
        d = jax.lax.rsqrt(jnp.square(s) @ jnp.sum(jnp.square(weight), axis=(0, 1)) + EPS)   # (B, C_out)
        y = y * d[:, None, None, :].astype(y.dtype)
        if self.use_noise:
            strength = self.param("noise_strength", nn.initializers.zeros, ())
            noise = self.param("noise_const", nn.initializers.normal(1.0), (self.resolution, self.resolution))
            if self.noise_mode == "const":
                y = y + (noise * strength)[None, :, :, None].astype(y.dtype)
        return y + bias


class _ToRGB(nn.Module):
    channels: int

    @nn.compact
    def __call__(self, x, w):
        cin = x.shape[-1]
        s = _Dense(cin, bias_init=1.0, name="affine")(w) / math.sqrt(cin)
        weight = self.param("weight", nn.initializers.normal(1.0), (cin, self.channels))
        bias = self.param("bias", nn.initializers.zeros, (self.channels,))
        return (x * s[:, None, None, :].astype(x.dtype)) @ weight + bias


class _Skip(nn.Module):
    """A ``resnet`` block's skip branch: 1x1 convolution (gain ``1/sqrt(C_in)``, no
    bias), FIR x2 up-sampling, times ``sqrt(1/2)``."""

    features: int

    @nn.compact
    def __call__(self, x):
        weight = self.param("weight", nn.initializers.normal(1.0), (x.shape[-1], self.features))
        return upsample2d(x @ (weight / math.sqrt(x.shape[-1]))) * math.sqrt(0.5)


class StyleGAN2Generator(nn.Module):
    """StyleGAN2 ``G`` (stylegan2-ada-pytorch's settings and defaults).

    ``resolution`` a power of two; channels ``min(channel_base // r, channel_max)``;
    ``architecture`` ``"orig" | "skip" | "resnet"``; ``conv_clamp`` ``None`` or the
    clamp (256 in NVlabs' own training configurations).  View fields:
    ``space``, ``truncation_psi`` / ``truncation_cutoff`` (applied by the mapping, so
    in Z only), ``freeze_above`` (0: off) and ``noise_mode``.
    """

    z_dim: int = 512
    w_dim: int = 512
    c_dim: int = 0
    resolution: int = 256
    img_channels: int = 3
    channel_base: int = 32768
    channel_max: int = 512
    mapping_layers: int = 8
    mapping_lr: float = 0.01
    embed_features: Optional[int] = None
    layer_features: Optional[int] = None
    architecture: str = "skip"
    conv_clamp: Optional[float] = None
    use_noise: bool = True
    noise_mode: str = "const"
    space: str = "z"
    truncation_psi: float = 1.0
    truncation_cutoff: Optional[int] = None
    freeze_above: int = 0

    # -- static structure ---------------------------------------------------------
    @property
    def latent_dim(self) -> int:
        return self.z_dim if self.space == "z" else self.w_dim

    @property
    def num_layers(self) -> int:
        return 2 * log2_resolution(self.resolution) - 3

    @property
    def num_ws(self) -> int:
        return self.num_layers + 1

    def block_of(self, layer: int) -> Tuple[int, str]:
        """``(resolution, "conv0" | "conv1")`` of synthesis convolution ``layer``."""
        if layer == 1:
            return 4, "conv1"
        return 4 * 2 ** (layer // 2), ("conv0" if layer % 2 == 0 else "conv1")

    def ch(self, res: int) -> int:
        return channels(res, self.channel_base, self.channel_max)

    def setup(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"unknown StyleGAN2 architecture {self.architecture!r}; known {ARCHITECTURES}")
        if self.space not in SPACES:
            raise ValueError(f"unknown latent space {self.space!r}; known {SPACES}")
        if self.noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES} (never random: a region must be a function "
                             f"of the latent), got {self.noise_mode!r}")
        if not 0 <= self.freeze_above <= self.num_layers:
            raise ValueError(f"freeze_above must be in 0..{self.num_layers}, got {self.freeze_above}")
        if self.z_dim < 1 or self.w_dim < 1 or self.c_dim < 0 or self.mapping_layers < 1:
            raise ValueError("z_dim, w_dim, mapping_layers >= 1 and c_dim >= 0 are required")
        hidden = self.layer_features or self.w_dim
        self.mapping = [_Dense(hidden if i < self.mapping_layers - 1 else self.w_dim, self.mapping_lr,
                               name=f"mapping_fc{i}") for i in range(self.mapping_layers)]
        if self.c_dim:
            self.embed = _Dense(self.embed_features or self.w_dim, name="mapping_embed")
        self.w_avg = self.variable("stats", "w_avg", jnp.zeros, (self.w_dim,))
        self.w_mean = self.variable("stats", "w_mean", jnp.zeros, (self.w_dim,))
        self.w_std = self.variable("stats", "w_std", jnp.ones, (self.w_dim,))
        if self.c_dim:                  # (orbax stores no zero-size arrays)
            self.label = self.variable("view", "label", jnp.zeros, (self.c_dim,))
        self.ws_query = self.variable("view", "ws_query", jnp.zeros, (self.num_ws, self.w_dim))
        self.const = self.param("b4_const", nn.initializers.normal(1.0), (4, 4, self.ch(4)))
        convs = []
        for layer in range(1, self.num_layers + 1):
            res, kind = self.block_of(layer)
            convs.append(_ModConv(self.ch(res), res, up=(kind == "conv0"), use_noise=self.use_noise,
                                  noise_mode=self.noise_mode, name=f"b{res}_{kind}"))
        self.convs = convs
        blocks = [4 * 2 ** k for k in range(log2_resolution(self.resolution) - 1)]
        self.torgbs = {res: _ToRGB(self.img_channels, name=f"b{res}_torgb")
                       for res in blocks if self.architecture == "skip" or res == self.resolution}
        if self.architecture == "resnet":
            self.skips = {res: _Skip(self.ch(res), name=f"b{res}_skip") for res in blocks[1:]}

    # -- mapping --------------------------------------------------------------------
    def mapping_w(self, z, c=None):
        """``(B, z_dim) -> (B, w_dim)``: the mapping network; labels ``c`` ``(B, c_dim)``
        one-hot (default: the view's label)."""
        x = normalize_2nd_moment(z)
        if self.c_dim:
            c = self.label.value if c is None else c
            c = jnp.broadcast_to(c, (z.shape[0], self.c_dim)).astype(z.dtype)
            x = jnp.concatenate([x, normalize_2nd_moment(self.embed(c))], axis=-1)
        for fc in self.mapping:
            x = lrelu(fc(x)) * LRELU_GAIN
        return x

    def truncate(self, w):
        """:math:`\\bar w + \\psi (w - \\bar w)` (the whole ``w``; W's query)."""
        if self.truncation_psi == 1.0:
            return w
        return self.w_avg.value + self.truncation_psi * (w - self.w_avg.value)

    def input_transform(self, z):
        if self.space == "z":
            w = self.mapping_w(z)
            ws = jnp.repeat(w[:, None, :], self.num_ws, axis=1)
            if self.truncation_psi != 1.0:
                cut = self.num_ws if self.truncation_cutoff is None else min(self.truncation_cutoff, self.num_ws)
                ws = ws.at[:, :cut].set(self.truncate(ws[:, :cut]))
        else:
            w = self.w_mean.value + self.w_std.value * z
            ws = jnp.repeat(w[:, None, :], self.num_ws, axis=1)
        if self.freeze_above:
            ws = ws.at[:, self.freeze_above:].set(self.ws_query.value[self.freeze_above:])
        x = jnp.broadcast_to(self.const[None], (z.shape[0],) + self.const.shape).astype(z.dtype)
        return StyleState(x, None, ws, None)

    # -- the layers ---------------------------------------------------------------------
    def _torgb(self, res, x, ws, index, img):
        y = self.torgbs[res](x, ws[:, index])
        if self.conv_clamp is not None:
            y = jnp.clip(y, -self.conv_clamp, self.conv_clamp)
        return y if img is None else upsample2d(img) + y

    def pre_activation(self, h: StyleState, layer: int):
        if layer > self.num_layers:           # the output block: the last toRGB
            return self._torgb(self.resolution, h.x, h.ws, self.num_layers, h.img)
        return self.convs[layer - 1](h.x, h.ws[:, layer - 1])

    def _gain(self, layer: int) -> float:
        res, kind = self.block_of(layer)
        return math.sqrt(0.5) if (self.architecture == "resnet" and kind == "conv1" and res > 4) else 1.0

    def activation(self, a, layer: int):
        if layer > self.num_layers:
            return a
        gain = self._gain(layer)
        x = lrelu(a) * (LRELU_GAIN * gain)
        if self.conv_clamp is not None:
            x = jnp.clip(x, -self.conv_clamp * gain, self.conv_clamp * gain)
        return x

    def next_state(self, h: StyleState, a, layer: int):
        if layer > self.num_layers:
            return a
        x = self.activation(a, layer)
        res, kind = self.block_of(layer)
        if kind == "conv0":                 # a new block: the last block's toRGB, the skip branch
            img = h.img
            if self.architecture == "skip":
                img = self._torgb(res // 2, h.x, h.ws, layer - 1, h.img)
            residual = self.skips[res](h.x) if self.architecture == "resnet" else None
            return StyleState(x, img, h.ws, residual)
        if h.residual is not None:
            x = h.residual + x
        return StyleState(x, h.img, h.ws, None)

    @staticmethod
    def units(h: StyleState):
        return h.x

    @staticmethod
    def with_units(h: StyleState, x):
        n = x.shape[0]

        def bcast(a):
            return None if a is None else jnp.broadcast_to(a, (n,) + a.shape[1:])
        return StyleState(x, bcast(h.img), bcast(h.ws), bcast(h.residual))

    def __call__(self, z):
        h = self.input_transform(z)
        for layer in range(1, self.num_layers + 2):
            h = self.next_state(h, self.pre_activation(h, layer), layer)
        return h


# -- building, views, statistics ----------------------------------------------------------

def _module(gen: Generator) -> StyleGAN2Generator:
    module = getattr(gen.model, "module", None)
    if not isinstance(module, StyleGAN2Generator):
        raise ValueError("a StyleGAN2 generator is needed here (this one is "
                         f"{type(module or gen.model).__name__})")
    return module


def is_stylegan2(gen: Generator) -> bool:
    return isinstance(getattr(gen.model, "module", None), StyleGAN2Generator)


def with_variable(variables, collection, name, value):
    """``variables`` with ``collection/name`` set to ``value`` (float32); the others shared."""
    out = dict(variables)
    out[collection] = {**dict(variables[collection]), name: jnp.asarray(value, jnp.float32)}
    return out


def mapped_w(gen: Generator, z, label: Optional[int] = None):
    """``w`` of latents ``z`` ``(B, z_dim)`` through the mapping (psi 1), with the
    generator's label or ``label``."""
    module = _module(gen)
    variables = gen.params if label is None else with_variable(gen.params, "view", "label", one_hot(module, label))
    return module.apply(variables, jnp.asarray(z, jnp.float32), method="mapping_w")


def one_hot(module: StyleGAN2Generator, label: int) -> jax.Array:
    if module.c_dim == 0:
        raise ValueError("this StyleGAN2 has no labels (c_dim 0)")
    if isinstance(label, bool) or not isinstance(label, (int, np.integer)) or not 0 <= int(label) < module.c_dim:
        raise ValueError(f"label must be an integer in 0..{module.c_dim - 1}, got {label!r}")
    return jax.nn.one_hot(int(label), module.c_dim, dtype=jnp.float32)


def measure_w_statistics(gen: Generator, samples: int = W_STATISTICS_SAMPLES, seed: int = 0,
                         batch: int = 1000):
    """Per-dimension mean and standard deviation of ``w`` over ``samples`` mapped
    ``N(0, I)`` latents drawn from ``jax.random.key(seed)`` (psi 1; a conditional
    model's labels drawn uniformly from ``fold_in(key, 1)``): ``(w_dim,)`` each."""
    module = _module(gen)
    key = jax.random.key(seed)
    z = jax.random.normal(key, (samples, module.z_dim))
    c = (jax.nn.one_hot(jax.random.randint(jax.random.fold_in(key, 1), (samples,), 0, module.c_dim), module.c_dim)
         if module.c_dim else jnp.zeros((samples, 0)))
    apply = jax.jit(lambda v, z, c: module.apply(v, z, c if module.c_dim else None, method="mapping_w"))
    total, total_sq = np.zeros(module.w_dim), np.zeros(module.w_dim)
    for start in range(0, samples, batch):
        w = np.asarray(apply(gen.params, z[start:start + batch], c[start:start + batch]), np.float64)
        total += w.sum(0)
        total_sq += np.square(w).sum(0)
    mean = total / samples
    std = np.sqrt(np.maximum(total_sq / samples - mean ** 2, 0.0))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def with_w_statistics(gen: Generator, mean, std) -> Generator:
    """``gen`` with the W space's statistics set."""
    variables = with_variable(gen.params, "stats", "w_mean", mean)
    return Generator(gen.model, with_variable(variables, "stats", "w_std", std))


def stylegan2_view(gen: Generator, *, space: Optional[str] = None, label: Optional[int] = None,
                   truncation_psi: Optional[float] = None, truncation_cutoff=-1) -> Generator:
    """Another view of the same StyleGAN2 (the same parameters).

    Args:
      space: ``"z"`` (the mapping inside ``G``) or ``"w"`` (``G(u)`` with
        ``w = mean + std * u``).
      label: a conditional model's class (a leaf: another label, same program).
      truncation_psi, truncation_cutoff: the mapping's truncation (Z only; in W
        :func:`w_query` truncates the query instead).
    Unset arguments keep the view's current value; the frozen-styles view is
    :func:`frozen_styles_view`.
    """
    module = _module(gen)
    fields = {}
    if space is not None:
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        fields["space"] = space
    if truncation_psi is not None:
        fields["truncation_psi"] = float(truncation_psi)
    if truncation_cutoff != -1:
        fields["truncation_cutoff"] = None if truncation_cutoff is None else int(truncation_cutoff)
    module = module.clone(**fields) if fields else module
    variables = gen.params
    if label is not None:
        variables = with_variable(variables, "view", "label", one_hot(module, label))
    return Generator(FlaxModel(module), variables)


def frozen_styles_view(gen: Generator, layer: int, query) -> Generator:
    """The control view of ``gen`` for a query (a latent of ``gen``'s space): the
    style latents of the layers above ``layer`` are the query's, so only layers
    ``1 .. layer`` follow the latent (the query's own image is unchanged)."""
    module = _module(gen)
    if not 1 <= layer <= module.num_layers:
        raise ValueError(f"layer must be in 1..{module.num_layers}, got {layer}")
    free = Generator(FlaxModel(module.clone(freeze_above=0)), gen.params)
    ws0 = free.features(jnp.asarray(query, jnp.float32).reshape(1, module.latent_dim), 0).ws[0]
    return Generator(FlaxModel(module.clone(freeze_above=int(layer))),
                     with_variable(gen.params, "view", "ws_query", ws0))


def w_query(gen: Generator, z0) -> np.ndarray:
    """The query's ``w`` from a ``(z_dim,)`` latent: the mapping with the view's
    label, then the view's truncation applied to the whole ``w`` (a single ``w``
    cannot hold a per-layer cutoff, so ``truncation_cutoff`` does not apply here)."""
    module = _module(gen)
    w = module.apply(gen.params, jnp.asarray(z0, jnp.float32).reshape(1, module.z_dim), method="mapping_w")
    return np.asarray(module.apply(gen.params, w, method="truncate")[0], np.float32)


def latent_from_z(gen: Generator, z0) -> np.ndarray:
    """The query of ``gen``'s space for a ``(z_dim,)`` latent: ``z0`` itself in Z,
    :math:`u_0 = (w_0 - \\mu) / \\sigma` in W (``w_0`` from :func:`w_query`)."""
    module = _module(gen)
    if module.space == "z":
        return np.asarray(z0, np.float32)
    stats = gen.params["stats"]
    return ((w_query(gen, z0) - np.asarray(stats["w_mean"])) / np.asarray(stats["w_std"])).astype(np.float32)


def stylegan2(*, key: jax.Array, resolution: int = 32, z_dim: int = 64, w_dim: int = 64, c_dim: int = 0,
              img_channels: int = 3, channel_base: int = 1024, channel_max: int = 64, mapping_layers: int = 2,
              architecture: str = "skip", conv_clamp: Optional[float] = None, noise_strength: float = 0.1,
              w_statistics_samples: int = 2000) -> Generator:
    """A randomly initialised StyleGAN2 :class:`~gbas_jax.Generator` (Z space),
    small by default.  Noise strengths are set to ``noise_strength`` (a fresh
    NVlabs model has 0), ``w_avg`` to the mean mapped ``w``; the W statistics are
    measured over ``w_statistics_samples`` mapped latents."""
    module = StyleGAN2Generator(z_dim=int(z_dim), w_dim=int(w_dim), c_dim=int(c_dim), resolution=int(resolution),
                                img_channels=int(img_channels), channel_base=int(channel_base),
                                channel_max=int(channel_max), mapping_layers=int(mapping_layers),
                                architecture=architecture, conv_clamp=conv_clamp)
    variables = module.init(key, jnp.zeros((1, z_dim), jnp.float32))
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.full_like(x, noise_strength) if path[-1].key == "noise_strength" else x,
        variables["params"])
    variables = {**variables, "params": params}
    gen = Generator(FlaxModel(module), variables)
    if c_dim:
        gen = stylegan2_view(gen, label=0)
    mean, std = measure_w_statistics(gen, w_statistics_samples)
    gen = with_w_statistics(gen, mean, std)
    return Generator(gen.model, with_variable(gen.params, "stats", "w_avg", mean))


def from_params(module: StyleGAN2Generator, params: dict, w_avg, *, w_statistics=None,
                w_statistics_samples: int = W_STATISTICS_SAMPLES) -> Generator:
    """A StyleGAN2 :class:`~gbas_jax.Generator` from its ``params`` collection and
    ``w_avg`` (a converted checkpoint): the view collection empty (no label), the W
    statistics given as ``(mean, std)`` or measured (:func:`measure_w_statistics`)."""
    w_dim = module.w_dim
    variables = {"params": params,
                 "stats": {"w_avg": jnp.asarray(w_avg, jnp.float32), "w_mean": jnp.zeros((w_dim,), jnp.float32),
                           "w_std": jnp.ones((w_dim,), jnp.float32)},
                 "view": {"ws_query": jnp.zeros((module.num_ws, w_dim), jnp.float32)}}
    if module.c_dim:
        variables["view"]["label"] = jnp.zeros((module.c_dim,), jnp.float32)
    gen = Generator(FlaxModel(module.clone(space="z", freeze_above=0)), variables)
    mean, std = w_statistics if w_statistics is not None else measure_w_statistics(gen, w_statistics_samples)
    return Generator(FlaxModel(module), with_w_statistics(gen, mean, std).params)
