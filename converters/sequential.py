"""``convert --layers FILE``: a generator state dict read through a layer list.

The list (JSON) names the ops of the PyTorch stack in order::

    {"layers": [
      {"op": "linear", "prefix": "l1."},
      {"op": "reshape", "shape": [128, 8, 8]},
      {"op": "batchnorm", "prefix": "conv_blocks."},
      {"op": "upsample", "scale": 2},
      {"op": "conv", "kernel": 3, "padding": 1},
      {"op": "batchnorm", "eps": 0.8},
      {"op": "leakyrelu", "slope": 0.2},
      ...
      {"op": "tanh"}]}

Keys: an op that is a module of an ``nn.Sequential`` gets ``prefix + index``, the
index counting the modules since the last ``prefix`` (default prefix ``main.``,
or the file's top-level ``"prefix"``); ``"key"`` names it outright.  A
``reshape`` is not a module (it is ``x.view(...)`` in ``forward``) unless it
says ``"module": true``.  Settings default to PyTorch's: ``stride`` 1,
``padding`` 0, LeakyReLU ``slope`` 0.01, BatchNorm ``eps`` 1e-5, ``bias`` and
``affine`` as the weights have them, ``upsample`` ``scale`` 2 (nearest only).
Every weight is checked against the shape the list implies; each error is one
line naming the layer (``layer 4 (conv conv_blocks.2)``); a weight no layer
reads is an error too.
"""

from __future__ import annotations

import json
from typing import List, Optional, Tuple

import numpy as np

from gbas_jax.models.sequential import NONLINEAR, OPS, PARAMETRISED

from .torch_pickle import CheckpointError

_SETTINGS = {
    "linear": {"out", "bias", "in"}, "reshape": {"shape", "module"},
    "conv": {"out", "in", "kernel", "stride", "padding", "bias"},
    "convtranspose": {"out", "in", "kernel", "stride", "padding", "bias", "output_padding"},
    "upsample": {"scale", "mode"}, "batchnorm": {"eps", "affine", "momentum"}, "relu": {"inplace"},
    "leakyrelu": {"slope", "inplace"}, "tanh": set(), "sigmoid": set(), "dropout": {"p", "inplace"},
    "identity": set(),
}
_COMMON = {"op", "key", "prefix"}


def read_layer_list(path: str) -> dict:
    """The layer list in ``path`` (``CheckpointError`` naming the file if unreadable)."""
    try:
        with open(path) as f:
            spec = json.load(f)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot be read ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}: not JSON ({e})") from None
    if isinstance(spec, list):
        spec = {"layers": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list) or not spec["layers"]:
        raise CheckpointError(f"{path}: a layer list is {{\"layers\": [{{\"op\": ...}}, ...]}}")
    return spec


def _int(entry, name, where, default=None, lo=0):
    v = entry.get(name, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise CheckpointError(f"{where}: {name} must be an integer >= {lo}, got {v!r}")
    return v


def sequential_generator(sd: dict, layer_list: dict):
    """``(spec, variables, sources)`` of the generator ``sd`` described by ``layer_list``."""
    sd = {k: np.asarray(v) for k, v in sd.items()}
    used = set()
    top_prefix = layer_list.get("prefix", "main.")
    prefix, index = top_prefix, 0
    ops: List[dict] = []
    tree: dict = {"params": {}, "batch_stats": {}}
    sources = {}
    shape: Optional[Tuple[int, ...]] = None          # PyTorch order: (D,) or (C, H, W)
    latent_dim = layer_list.get("latent_dim")
    n_param = 0

    def take(key, where, want_ndim=None):
        if key not in sd:
            raise CheckpointError(f"{where}: missing weight {key!r}")
        used.add(key)
        w = sd[key]
        if want_ndim is not None and w.ndim != want_ndim:
            raise CheckpointError(f"{where}: {key!r} has shape {tuple(w.shape)}, expected {want_ndim} dimensions")
        return w

    def put(path, value, key):
        node = tree
        for p in path[:-1]:
            node = node.setdefault(p, {})
        node[path[-1]] = np.ascontiguousarray(value, np.float32)
        sources[path] = key

    for n, entry in enumerate(layer_list["layers"], start=1):
        if not isinstance(entry, dict) or entry.get("op") not in OPS:
            op = entry.get("op") if isinstance(entry, dict) else entry
            raise CheckpointError(f"layer {n}: unknown op {op!r} (known: {', '.join(OPS)})")
        name = entry["op"]
        unknown = sorted(set(entry) - _SETTINGS[name] - _COMMON)
        if unknown:
            raise CheckpointError(f"layer {n} ({name}): unknown settings {unknown}")
        if "prefix" in entry:
            prefix, index = str(entry["prefix"]), 0
        module = entry.get("module", name != "reshape")
        key = str(entry["key"]) if "key" in entry else (f"{prefix}{index}" if module else None)
        if module:
            index += 1
        where = f"layer {n} ({name}{' ' + key if key and name in PARAMETRISED else ''})"
        if shape is None:                            # the input: the latent
            if name == "linear":
                latent_dim = latent_dim or int(take(f"{key}.weight", where, 2).shape[1])
            elif name == "reshape":
                latent_dim = latent_dim or int(np.prod(entry.get("shape", [0])))
            else:
                raise CheckpointError(f"{where}: the first layer must be a linear or a reshape of the latent "
                                      "(a DCGAN: reshape to [latent_dim, 1, 1])")
            shape = (int(latent_dim),)
        op = {"op": name}
        if name == "linear":
            w = take(f"{key}.weight", where, 2)
            if len(shape) != 1:
                raise CheckpointError(f"{where}: a linear layer needs a flat input, the layer before gives {shape}")
            if w.shape[1] != shape[0] or entry.get("in", w.shape[1]) != w.shape[1]:
                raise CheckpointError(f"{where}: {key}.weight has shape {tuple(w.shape)}: {w.shape[1]} inputs, "
                                      f"but the layer before gives {shape[0]}")
            bias = _bias(entry, sd, key, where)
            j = f"mods_{n_param}"
            put(("params", j, "kernel"), w.T, f"{key}.weight")
            if bias:
                put(("params", j, "bias"), take(f"{key}.bias", where, 1), f"{key}.bias")
            op.update(out=int(w.shape[0]), bias=bias)
            shape = (int(w.shape[0]),)
            n_param += 1
        elif name == "reshape":
            new = entry.get("shape")
            if not isinstance(new, list) or len(new) not in (1, 3) or not all(
                    isinstance(v, int) and v > 0 for v in new):
                raise CheckpointError(f"{where}: shape must be [C, H, W] or [D] (PyTorch order), got {new!r}")
            if int(np.prod(new)) != int(np.prod(shape)):
                raise CheckpointError(f"{where}: cannot reshape {shape} ({int(np.prod(shape))} values) to {new}")
            op["shape"] = list(new)
            shape = tuple(new)
        elif name in ("conv", "convtranspose"):
            w = take(f"{key}.weight", where, 4)
            if len(shape) != 3:
                raise CheckpointError(f"{where}: a convolution needs a [C, H, W] input, the layer before gives "
                                      f"{shape}: add a reshape")
            cin, cout = (w.shape[1], w.shape[0]) if name == "conv" else (w.shape[0], w.shape[1])
            if cin != shape[0]:
                raise CheckpointError(f"{where}: {key}.weight has shape {tuple(w.shape)}: {cin} input channels, "
                                      f"but the layer before gives {shape[0]}")
            k = int(w.shape[2])
            if w.shape[3] != k or entry.get("kernel", k) != k:
                raise CheckpointError(f"{where}: {key}.weight has a {w.shape[2]}x{w.shape[3]} kernel"
                                      + (f", the list says {entry['kernel']}" if "kernel" in entry else
                                         " (only square kernels)"))
            stride, pad = _int(entry, "stride", where, 1, 1), _int(entry, "padding", where, 0)
            if entry.get("output_padding", 0) != 0:
                raise CheckpointError(f"{where}: output_padding other than 0 is not supported")
            h = shape[1]
            if name == "conv":
                size = (h + 2 * pad - k) // stride + 1
                kernel = w.transpose(2, 3, 1, 0)
            else:
                size = (h - 1) * stride - 2 * pad + k
                kernel = w.transpose(2, 3, 0, 1)[::-1, ::-1]
            if size < 1 or shape[1] != shape[2]:
                raise CheckpointError(f"{where}: kernel {k}, stride {stride}, padding {pad} on a {h}x{shape[2]} "
                                      "input gives no square output")
            bias = _bias(entry, sd, key, where)
            j = f"mods_{n_param}"
            put(("params", j, "kernel"), kernel, f"{key}.weight")
            if bias:
                put(("params", j, "bias"), take(f"{key}.bias", where, 1), f"{key}.bias")
            op.update(out=int(cout), kernel=k, stride=stride, padding=pad, bias=bias)
            shape = (int(cout), size, size)
            n_param += 1
        elif name == "upsample":
            if entry.get("mode", "nearest") != "nearest":
                raise CheckpointError(f"{where}: only nearest-neighbour up-sampling is supported")
            if len(shape) != 3:
                raise CheckpointError(f"{where}: up-sampling needs a [C, H, W] input, the layer before gives {shape}")
            scale = _int(entry, "scale", where, 2, 1)
            op["scale"] = scale
            shape = (shape[0], shape[1] * scale, shape[2] * scale)
        elif name == "batchnorm":
            affine = entry.get("affine", f"{key}.weight" in sd)
            eps = entry.get("eps", 1e-5)
            if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
                raise CheckpointError(f"{where}: eps must be a number > 0, got {eps!r}")
            j = f"mods_{n_param}"
            for stat, leaf in (("running_mean", "mean"), ("running_var", "var")):
                v = take(f"{key}.{stat}", where, 1)
                if v.shape[0] != shape[0]:
                    raise CheckpointError(f"{where}: {key}.{stat} has {v.shape[0]} channels, the layer before "
                                          f"gives {shape[0]}")
                put(("batch_stats", j, leaf), v, f"{key}.{stat}")
            if affine:
                put(("params", j, "scale"), take(f"{key}.weight", where, 1), f"{key}.weight")
                put(("params", j, "bias"), take(f"{key}.bias", where, 1), f"{key}.bias")
            used.add(f"{key}.num_batches_tracked")
            op.update(eps=float(eps), affine=bool(affine))
            n_param += 1
        elif name == "leakyrelu":
            slope = entry.get("slope", 0.01)
            if isinstance(slope, bool) or not isinstance(slope, (int, float)):
                raise CheckpointError(f"{where}: slope must be a number, got {slope!r}")
            op["slope"] = float(slope)
        ops.append(op)
    extra = sorted(set(sd) - used)
    if extra:
        raise CheckpointError(f"unexpected weight {extra[0]!r}: no layer of the list reads it"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    if len(shape) != 3 or shape[1] != shape[2]:
        raise CheckpointError(f"the last layer gives {shape}, not a square image [C, S, S]")
    if not any(o["op"] in NONLINEAR for o in ops):
        raise CheckpointError("the list has no ReLU / LeakyReLU: no layer to probe")
    spec = {"type": "sequential", "latent_dim": int(latent_dim), "image_size": int(shape[1]),
            "channels": int(shape[0]), "ops": ops}
    if not tree["batch_stats"]:
        del tree["batch_stats"]
    return spec, tree, sources


def _bias(entry, sd, key, where) -> bool:
    has = f"{key}.bias" in sd
    want = entry.get("bias", has)
    if want and not has:
        raise CheckpointError(f"{where}: the list says bias, but {key}.bias is missing")
    if has and not want:
        raise CheckpointError(f"{where}: {key}.bias exists, but the list says no bias")
    return bool(want)


__all__ = ["read_layer_list", "sequential_generator"]
