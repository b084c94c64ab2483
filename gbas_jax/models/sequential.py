r"""A generator described by a layer list: any PyTorch ``nn.Sequential`` stack.

A state dict carries no strides, paddings, activations, dropout or
up-sampling, so variants of the DCGAN cannot be guessed from their weights.  A
*layer list* (``architecture.json``'s generator entry ``{"type": "sequential",
"ops": [...]}``, written by ``gbas-jax convert --layers FILE``; format in
docs/models.md) states them.  Ops, in PyTorch's order, on NHWC arrays:

==================  ===============================================================
``linear``          ``x W^T + b`` on a flat ``(B, D)`` input
``reshape``         to PyTorch's ``(C, H, W)`` (or ``(D,)``) order, then NHWC
``conv``            ``Conv2d``: ``kernel``, ``stride``, ``padding``, optional bias
``convtranspose``   ``ConvTranspose2d``: ``kernel``, ``stride``, ``padding``
``upsample``        nearest-neighbour, integer ``scale``
``batchnorm``       eval mode (running statistics), ``eps``, optional affine
``relu`` / ``leakyrelu``  the nonlinearities that end a block (``slope``)
``tanh`` / ``sigmoid``    elementwise (the usual last op)
``dropout`` / ``identity``  identity in eval mode
==================  ===============================================================

Blocks: block ``l`` is the ops after the previous ReLU / LeakyReLU up to and
including the ``l``-th one; its pre-activation (the generative boundary) is
the value entering that nonlinearity.  The ops after the last one are the
output block (not probe-able); a trailing ``tanh`` / ``sigmoid`` is its
activation.  ``num_layers`` is the number of ReLU / LeakyReLU ops.
"""

from __future__ import annotations

import functools
from typing import Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from .layers import Conv, ConvTranspose
from .ops import upsample2

#: op name -> its settings (besides ``op``), in the order they are stored.
OPS = {
    "linear": ("out", "bias"), "reshape": ("shape",), "conv": ("out", "kernel", "stride", "padding", "bias"),
    "convtranspose": ("out", "kernel", "stride", "padding", "bias"), "upsample": ("scale",),
    "batchnorm": ("eps", "affine"), "relu": (), "leakyrelu": ("slope",), "tanh": (), "sigmoid": (),
    "dropout": (), "identity": (),
}
NONLINEAR = ("relu", "leakyrelu")
PARAMETRISED = ("linear", "conv", "convtranspose", "batchnorm")


def op_tuple(op: dict) -> tuple:
    """The hashable form of a normalised op dict (a module field)."""
    name = op["op"]
    return (name,) + tuple(tuple(op[k]) if isinstance(op[k], list) else op[k] for k in OPS[name])


def _op_dict(t: tuple) -> dict:
    return {"op": t[0], **dict(zip(OPS[t[0]], t[1:]))}


class SequentialGenerator(nn.Module):
    """``ops``: :func:`op_tuple` of each op; ``latent_dim``: ``Dz``."""

    latent_dim: int
    ops: Tuple[tuple, ...]

    @property
    def num_layers(self) -> int:
        return sum(t[0] in NONLINEAR for t in self.ops)

    def _blocks(self):
        """``[(first op, nonlinearity op or None)]`` per block, the output block last."""
        out, start = [], 0
        for i, t in enumerate(self.ops):
            if t[0] in NONLINEAR:
                out.append((start, i))
                start = i + 1
        out.append((start, None))
        return out

    def setup(self):
        mods = []
        for t in self.ops:
            o = _op_dict(t)
            if o["op"] == "linear":
                mods.append(nn.Dense(o["out"], use_bias=o["bias"]))
            elif o["op"] == "conv":
                mods.append(Conv(o["out"], o["kernel"], stride=o["stride"], padding=o["padding"], use_bias=o["bias"]))
            elif o["op"] == "convtranspose":
                mods.append(ConvTranspose(o["out"], o["kernel"], stride=o["stride"], padding=o["padding"],
                                          use_bias=o["bias"]))
            elif o["op"] == "batchnorm":
                mods.append(nn.BatchNorm(use_running_average=True, epsilon=o["eps"], use_scale=o["affine"],
                                         use_bias=o["affine"]))
        self.mods = mods

    def _apply(self, x, lo: int, hi: int):
        index = _module_index(self.ops)
        for i in range(lo, hi):
            o = _op_dict(self.ops[i])
            name = o["op"]
            if name in PARAMETRISED:
                x = self.mods[index[i]](x)
            elif name == "reshape":
                shape = tuple(o["shape"])
                if len(shape) == 3:   # PyTorch's (C, H, W) order, then NHWC
                    x = x.reshape((x.shape[0],) + shape).transpose(0, 2, 3, 1)
                else:
                    x = x.reshape((x.shape[0],) + shape)
            elif name == "upsample":
                x = _upsample(x, int(o["scale"]))
            else:
                x = _elementwise(o, x)
        return x

    def input_transform(self, z):
        return z

    def pre_activation(self, h, layer: int, train: bool = False):
        lo, nl = self._blocks()[layer - 1]
        if nl is None:
            hi = len(self.ops)
            if hi > lo and self.ops[-1][0] in ("tanh", "sigmoid"):
                hi -= 1
            return self._apply(h, lo, hi)
        return self._apply(h, lo, nl)

    def activation(self, a, layer: int):
        lo, nl = self._blocks()[layer - 1]
        if nl is None:
            last = self.ops[-1] if len(self.ops) > lo else ("identity",)
            return _elementwise(_op_dict(last), a) if last[0] in ("tanh", "sigmoid") else a
        return _elementwise(_op_dict(self.ops[nl]), a)

    def __call__(self, z, train: bool = False):
        h = self.input_transform(z)
        for layer in range(1, self.num_layers + 2):
            h = self.activation(self.pre_activation(h, layer), layer)
        return h


@functools.lru_cache(maxsize=64)
def _module_index(ops) -> dict:
    """Op position -> position among the parametrised ops (the ``mods`` list)."""
    return {i: j for j, i in enumerate(i for i, t in enumerate(ops) if t[0] in PARAMETRISED)}


def _upsample(x, scale: int):
    if scale & (scale - 1) == 0:        # powers of two through gbas-jax's x2 op
        while scale > 1:
            x, scale = upsample2(x), scale // 2
        return x
    return jnp.repeat(jnp.repeat(x, scale, axis=1), scale, axis=2)


def _elementwise(o: dict, x):
    name = o["op"]
    if name == "relu":
        return nn.relu(x)
    if name == "leakyrelu":
        return jnp.where(x >= 0, x, o["slope"] * x)
    if name == "tanh":
        return jnp.tanh(x)
    if name == "sigmoid":
        return jax.nn.sigmoid(x)
    return x      # dropout, identity


__all__ = ["SequentialGenerator", "OPS", "op_tuple"]
