r"""The layered-generator interface shared by every model.

A generator is written as

.. math::  G(z) = f_{L}(f_{L-1}(\dots f_1(t(z))))

with an optional input transform :math:`t` and blocks
:math:`f_l(h) = \sigma_l(A_l h)`: a linear map :math:`A_l` (conv, transposed conv,
dense, with eval-mode normalisation folded in) followed by a nonlinearity
:math:`\sigma_l`.  Blocks ``1 .. num_layers`` are probe-able; block
``num_layers + 1`` is the output block (to-RGB, tanh) and is not.

A model plugs in by implementing :class:`LayeredModel` (three functions of
``(params, x)``, optionally its linear maps).  :class:`Generator` pairs a model
(static, hashable) with its parameters (pytree leaves) and derives ``generate``, ``features``, ``boundary``
and ``decode`` from those three functions, so the invariant
``decode(features(z, l), l) == generate(z)`` holds by construction.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp

from .pytree import ModelPytree

Array = jax.Array


def subpixel_applies(size: int, stride: int, padding: int) -> bool:
    """Whether a transposed convolution (kernel ``size``, ``stride``, PyTorch
    ``padding``) has a sub-pixel form: the output is exactly ``stride`` times the
    input, ``(n - 1) s - 2p + K = n s`` (for every ``n``: ``K = s + 2p``), and ``K``
    is a multiple of ``s`` (:func:`gbas_jax.models.ops.conv_transpose`)."""
    return stride > 1 and size % stride == 0 and size == stride + 2 * padding


def upsample_subpixel_applies(kernel: int, padding: int) -> bool:
    """Whether a conv of a x2 nearest-neighbour upsampled input folds into a
    sub-pixel convolution (:func:`gbas_jax.models.ops.upsample_conv`): 3x3, padding 1."""
    return (kernel, padding) == (3, 1)


class ConvGeometry(NamedTuple):
    """Static geometry of a conv layer's linear map: ``kernel`` (square),
    ``padding`` (per side), ``dilation`` (input dilation, i.e. a transposed conv's
    stride), ``upsample`` (nearest-neighbour factor applied before the conv), input
    and output spatial sizes."""
    kernel: int
    padding: int
    dilation: int
    upsample: int
    in_hw: Tuple[int, int]
    out_hw: Tuple[int, int]

    def computed_taps(self, platform: str) -> int:
        """Kernel taps per output unit in the program XLA runs for the full layer:
        ``k^2`` (every tap, also on the zeros of a dilated input or the copies of an
        upsampled one), except on a CPU where gbas-jax's own layers use their
        sub-pixel forms: ``(k / s)^2`` for a transposed conv, 4 for a 3x3 conv of a
        x2 upsampled input.  The kept-path rule's cost model (:func:`gbas_jax.core.kept.plan`)."""
        k = self.kernel
        if platform == "cpu":
            if self.dilation > 1 and subpixel_applies(k, self.dilation, k - 1 - self.padding):
                return (k // self.dilation) ** 2
            if self.upsample == 2 and upsample_subpixel_applies(k, self.padding):
                return 4
        return k * k


class LinearMap(NamedTuple):
    r"""Layer ``l``'s linear map: :math:`a = s \odot (W x) + b` with
    :math:`x = \pi(h_{l-1})`.

    ``kernel``: dense ``(D_in, D_l)``, or conv ``(k, k, C_in, C_out)`` used as a
    correlation over the (upsampled, dilated, padded) input.  ``scale`` / ``shift``:
    ``(D_l,)`` for dense, ``(C_out,)`` for conv (eval-mode BatchNorm or an
    equalised-learning-rate constant folded in).  ``geometry`` is ``None`` for a
    dense map.  ``prelude`` is :math:`\pi`, an optional per-position function
    applied to the previous block's output first (``None``: identity), for
    architectures whose block opens with a normalisation.
    """
    kernel: jax.Array
    scale: jax.Array
    shift: jax.Array
    geometry: Optional[ConvGeometry] = None
    prelude: Optional[Callable[[Array], Array]] = None


class LayeredModel:
    """What a generator architecture provides.  Subclasses must be hashable.

    Attributes:
      latent_dim: ``Dz``.
      num_layers: number of probe-able blocks (the output block not counted).

    Methods (``layer`` is a Python int in ``1 .. num_layers + 1``):
      input_transform(params, z): ``(B, Dz) -> h_0`` (default: identity).
      pre_activation(params, h, layer): ``h_{layer-1} -> a_layer``, the output of
        the block's linear map, any shape ``(B, ...)``, NHWC for images.
      activation(params, a, layer): ``a_layer -> h_layer``; for the output block
        this returns the image ``(B, H, W, C)``.
      linear_map(params, layer): optional; the block's linear map as a
        :class:`LinearMap` (enables the kept-boundary path of
        :mod:`gbas_jax.core.kept`), or ``None`` (default: the full layer is used).

    **Layer states.**  By default a block's output ``h_l`` is one array, and all of
    it is the layer's units (what BerOpt masks).  An architecture whose blocks
    carry more than the units from one layer to the next (StyleGAN2: the image
    so far and the styles of the later layers) makes ``h_l`` a pytree and
    overrides three methods:

      next_state(params, h, a, layer): ``(h_{layer-1}, a_layer) -> h_layer``
        (default: ``activation(params, a, layer)``);
      units(h): the maskable array of a state ``(B, *shape_l)`` (default: ``h``);
      with_units(h, x): the state ``h`` (batch 1 or ``S``) with its units replaced
        by ``x`` (batch ``S``), the rest broadcast to ``S`` (default: ``x``).
    """

    latent_dim: int
    num_layers: int

    def input_transform(self, params, z: Array) -> Array:
        return z

    def pre_activation(self, params, h: Array, layer: int) -> Array:  # pragma: no cover
        raise NotImplementedError

    def activation(self, params, a: Array, layer: int) -> Array:  # pragma: no cover
        raise NotImplementedError

    def linear_map(self, params, layer: int) -> Optional[LinearMap]:
        return None

    def next_state(self, params, h, a: Array, layer: int):
        return self.activation(params, a, layer)

    def units(self, h) -> Array:
        return h

    def with_units(self, h, x: Array):
        return x

    def cache_identity(self) -> Optional[str]:
        """A string that fixes this architecture's code and settings across
        processes, or ``None`` (default) when there is none; traced stages are
        stored between processes (:mod:`gbas_jax.runtime.program_store`) only for models that
        give one."""
        return None


@dataclasses.dataclass(frozen=True)
class FunctionalModel(LayeredModel):
    """A :class:`LayeredModel` from plain functions, for wrapping your own generator.

    Args:
      latent_dim: ``Dz``.
      pre_activations: ``num_layers + 1`` functions ``f(params, h) -> a``, one per
        block, the last being the output block.
      activations: the matching nonlinearities ``g(params, a) -> h`` (the last one
        returns the image, NHWC).
      transform: optional ``t(params, z)``.

    The functions must be hashable (module-level functions are) and pure.
    """

    latent_dim: int
    pre_activations: Tuple[Callable, ...]
    activations: Tuple[Callable, ...]
    transform: Optional[Callable] = None

    def __post_init__(self):
        object.__setattr__(self, "pre_activations", tuple(self.pre_activations))
        object.__setattr__(self, "activations", tuple(self.activations))
        if len(self.pre_activations) != len(self.activations):
            raise ValueError("pre_activations and activations must have the same length")
        if len(self.pre_activations) < 2:
            raise ValueError("a generator needs at least one probe-able block and an output block")

    @property
    def num_layers(self) -> int:
        return len(self.pre_activations) - 1

    def input_transform(self, params, z):
        return z if self.transform is None else self.transform(params, z)

    def pre_activation(self, params, h, layer):
        return self.pre_activations[layer - 1](params, h)

    def activation(self, params, a, layer):
        return self.activations[layer - 1](params, a)


@jax.tree_util.register_pytree_node_class
class Generator(ModelPytree):
    """A generator as a pytree: ``params`` are the leaves, ``model`` (a
    :class:`LayeredModel`) is static.

    Shapes: latents ``(B, Dz)``; images ``(B, H, W, C)`` float32; ``layer`` is a
    Python int in ``1 .. num_layers``.
    """

    __slots__ = ()

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    # -- the decomposition ---------------------------------------------------
    def _block(self, h, layer):
        return self.model.next_state(self.params, h, self.model.pre_activation(self.params, h, layer), layer)

    def features(self, z: Array, layer: int):
        r"""Output of block ``layer``, :math:`f_{l:1}(t(z))`: ``(B, Dz) -> (B, *shape_l)``
        (a layer state, :class:`LayeredModel`; its :meth:`units` are the array).

        ``layer = 0`` gives the transformed latent :math:`t(z)`.
        """
        if getattr(z, "ndim", None) != 2 or z.shape[-1] != self.latent_dim:
            raise ValueError(f"latents must have shape (B, {self.latent_dim}) for this generator, "
                             f"got {getattr(z, 'shape', type(z).__name__)}")
        h = self.model.input_transform(self.params, z)
        for k in range(1, layer + 1):
            h = self._block(h, k)
        return h

    def boundary(self, z: Array, layer: int) -> Array:
        r"""Pre-activations :math:`a_l(z)` flattened row-major (NHWC): ``(B, Dz) -> (B, D_l)``.

        The generative boundaries of layer ``l`` are their zero sets.
        """
        a = self.model.pre_activation(self.params, self.features(z, layer - 1), layer)
        return a.reshape(a.shape[0], -1)

    def linear_map(self, layer: int) -> Optional[LinearMap]:
        """The model's :class:`LinearMap` of ``layer``, or ``None``."""
        return self.model.linear_map(self.params, layer)

    def units(self, h) -> Array:
        """The maskable units of a layer state ``h`` (the state itself for most models)."""
        return self.model.units(h)

    def with_units(self, h, x: Array):
        """The layer state ``h`` with its units replaced by ``x`` (leading axis ``S``;
        ``h`` has a leading axis of 1 or ``S``)."""
        return self.model.with_units(h, x)

    def layer_shape(self, layer: int) -> Tuple[int, ...]:
        """Shape of one sample's features at ``layer`` (no batch axis)."""
        return _layer_shape(self.model, shape_signature(self.params), layer)

    def layer_size(self, layer: int) -> int:
        """``D_l``, the number of units (boundaries) of ``layer``."""
        n = 1
        for s in self.layer_shape(layer):
            n *= s
        return n

    def decode(self, h, layer: int) -> Array:
        r"""The remaining blocks :math:`f_{L:l+1}(h)`: a layer state (``(B, *shape_l)``
        for most models) ``-> (B, H, W, C)``."""
        for k in range(layer + 1, self.num_layers + 2):
            h = self._block(h, k)
        return h

    def generate(self, z: Array) -> Array:
        """``G(z)``: ``(B, Dz) -> (B, H, W, C)``."""
        return self.decode(self.features(z, 0), 0)

    @property
    def image_shape(self) -> Tuple[int, ...]:
        z = jax.ShapeDtypeStruct((1, self.latent_dim), jnp.float32)
        return jax.eval_shape(lambda g, z: g.generate(z), self, z).shape[1:]


def shape_signature(params) -> Tuple[Any, Tuple]:
    """A hashable key of a parameter pytree's structure, shapes and dtypes, for
    caches of abstract traces (which cost milliseconds and run on every call)."""
    leaves, treedef = jax.tree_util.tree_flatten(params)
    # dtype objects, not their names: ``str(dtype)`` costs ~15 us a leaf in NumPy,
    # and this runs a few times in every call of ``egbas`` / ``gb_rrt``.
    return treedef, tuple((x.shape, x.dtype) for x in leaves)


def abstract_params(signature):
    """Abstract parameters (``ShapeDtypeStruct`` leaves) from :func:`shape_signature`."""
    treedef, shapes = signature
    return jax.tree_util.tree_unflatten(treedef, [jax.ShapeDtypeStruct(s, d) for s, d in shapes])


@functools.lru_cache(maxsize=256)
def _layer_shape(model, signature, layer):
    params = abstract_params(signature)
    z = jax.ShapeDtypeStruct((1, model.latent_dim), jnp.float32)
    return jax.eval_shape(lambda p, z: model.units(Generator(model, p).features(z, layer)), params, z).shape[1:]
